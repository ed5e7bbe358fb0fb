"""Tests of the RabbitMQ destination: models, form, registration, dispatch."""

from typing import Any

import destination_contract
import pytest
from destination_contract import EVENT, PROFILE, SESSION

from tracardi.process_engine.destination.rabbitmq_connector import RabbitmqConnector
from tracardi.process_engine.destination.transport.record import PayloadError
from tracardi.service.setup.destinations.rabbitmq_resource import RABBITMQ_RESOURCE


def make_connector(**settings: Any) -> RabbitmqConnector:
    """The connector as Tracardi builds it for a dispatch: sample settings unless given."""
    connector: RabbitmqConnector = destination_contract.make_connector(RabbitmqConnector, RABBITMQ_RESOURCE, **settings)
    return connector


def test_the_registration_agrees_with_the_models() -> None:
    destination_contract.check_registration(RABBITMQ_RESOURCE, RabbitmqConnector)


def test_the_models_take_valid_settings_and_refuse_wrong_ones_naming_the_field() -> None:
    destination_contract.check_models(RABBITMQ_RESOURCE, RabbitmqConnector)


def test_no_secret_shows_in_the_credentials_or_their_errors() -> None:
    destination_contract.check_secrets_hidden(RABBITMQ_RESOURCE, RabbitmqConnector)


@pytest.mark.asyncio
async def test_unserialisable_data_fails_before_any_connection() -> None:
    # The broker URL points nowhere: the payload error must come first, and fast.
    connector = make_connector()
    with pytest.raises(PayloadError, match="as JSON"):
        await connector.dispatch_event(float("nan"), profile=PROFILE, session=SESSION, event=EVENT)
