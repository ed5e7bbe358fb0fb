"""Tests of the Apache Kafka destination: models, form, registration, dispatch."""

from typing import Any

import destination_contract
import pytest
from destination_contract import EVENT, PROFILE, SESSION

from tracardi.process_engine.destination.kafka_connector import KafkaConnector
from tracardi.process_engine.destination.transport.record import PayloadError
from tracardi.service.setup.destinations.kafka_resource import KAFKA_RESOURCE


def make_connector(**settings: Any) -> KafkaConnector:
    """The connector as Tracardi builds it for a dispatch: sample settings unless given."""
    connector: KafkaConnector = destination_contract.make_connector(KafkaConnector, KAFKA_RESOURCE, **settings)
    return connector


def test_the_registration_agrees_with_the_models() -> None:
    destination_contract.check_registration(KAFKA_RESOURCE, KafkaConnector)


def test_the_models_take_valid_settings_and_refuse_wrong_ones_naming_the_field() -> None:
    destination_contract.check_models(KAFKA_RESOURCE, KafkaConnector)


def test_no_secret_shows_in_the_credentials_or_their_errors() -> None:
    destination_contract.check_secrets_hidden(KAFKA_RESOURCE, KafkaConnector)


@pytest.mark.asyncio
async def test_unserialisable_data_fails_before_any_connection() -> None:
    # The bootstrap servers point nowhere: the payload error must come first, and fast.
    connector = make_connector()
    with pytest.raises(PayloadError, match="as JSON"):
        await connector.dispatch_event(float("nan"), profile=PROFILE, session=SESSION, event=EVENT)
