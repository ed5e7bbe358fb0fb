"""The Apache Kafka destination end to end against Apache Kafka, as Tracardi dispatches to it."""

import kafka_destination_contract
import pytest

from tracardi.process_engine.destination.kafka_connector import KafkaConnector
from tracardi.service.setup.destinations.kafka_resource import KAFKA_RESOURCE

kafka_destination_contract.require_apache_kafka()


@pytest.mark.asyncio
async def test_an_event_and_a_profile_arrive_with_value_key_and_headers() -> None:
    await kafka_destination_contract.check_an_event_and_a_profile_arrive(KafkaConnector, KAFKA_RESOURCE)
