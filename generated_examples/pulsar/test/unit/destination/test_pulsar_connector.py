"""Tests of the Apache Pulsar destination: models, form, registration, dispatch."""

from typing import Any

import destination_contract
import pytest
from destination_contract import EVENT, PROFILE, SESSION

from tracardi.process_engine.destination.pulsar_connector import PulsarConnector
from tracardi.process_engine.destination.transport.record import PayloadError
from tracardi.service.setup.destinations.pulsar_resource import PULSAR_RESOURCE


def make_connector(**settings: Any) -> PulsarConnector:
    """The connector as Tracardi builds it for a dispatch: sample settings unless given."""
    connector: PulsarConnector = destination_contract.make_connector(PulsarConnector, PULSAR_RESOURCE, **settings)
    return connector


def test_the_registration_agrees_with_the_models() -> None:
    destination_contract.check_registration(PULSAR_RESOURCE, PulsarConnector)


def test_the_models_take_valid_settings_and_refuse_wrong_ones_naming_the_field() -> None:
    destination_contract.check_models(PULSAR_RESOURCE, PulsarConnector)


def test_no_secret_shows_in_the_credentials_or_their_errors() -> None:
    destination_contract.check_secrets_hidden(PULSAR_RESOURCE, PulsarConnector)


@pytest.mark.asyncio
async def test_unserialisable_data_fails_before_any_connection() -> None:
    # The service URL points nowhere: the payload error must come first, and fast.
    connector = make_connector()
    with pytest.raises(PayloadError, match="as JSON"):
        await connector.dispatch_event(float("nan"), profile=PROFILE, session=SESSION, event=EVENT)
