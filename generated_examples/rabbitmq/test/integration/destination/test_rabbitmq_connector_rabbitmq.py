"""The RabbitMQ destination end to end: an event and a profile through its connector to RabbitMQ."""

import amqp_destination_contract
import pytest

from tracardi.process_engine.destination.rabbitmq_connector import (
    RabbitmqConnector,
)
from tracardi.service.setup.destinations.rabbitmq_resource import (
    RABBITMQ_RESOURCE,
)


@pytest.mark.asyncio
async def test_an_event_and_a_debug_profile_arrive_with_their_body_properties_and_headers() -> None:
    await amqp_destination_contract.check_an_event_and_a_debug_profile_arrive(RabbitmqConnector, RABBITMQ_RESOURCE)
