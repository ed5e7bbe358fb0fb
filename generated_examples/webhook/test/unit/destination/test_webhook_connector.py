"""Tests of the Webhook destination: models, form, registration, dispatch."""

from typing import Any

import destination_contract
import pytest
from destination_contract import EVENT, PROFILE, SESSION
from pytest_mock import MockerFixture

from tracardi.process_engine.destination.webhook_connector import WebhookConnector
from tracardi.service.setup.destinations.webhook_resource import WEBHOOK_RESOURCE


def make_connector(**settings: Any) -> WebhookConnector:
    """The connector as Tracardi builds it for a dispatch: sample settings unless given."""
    connector: WebhookConnector = destination_contract.make_connector(WebhookConnector, WEBHOOK_RESOURCE, **settings)
    return connector


def test_the_registration_agrees_with_the_models() -> None:
    destination_contract.check_registration(WEBHOOK_RESOURCE, WebhookConnector)


def test_the_models_take_valid_settings_and_refuse_wrong_ones_naming_the_field() -> None:
    destination_contract.check_models(WEBHOOK_RESOURCE, WebhookConnector)


def test_no_secret_shows_in_the_credentials_or_their_errors() -> None:
    destination_contract.check_secrets_hidden(WEBHOOK_RESOURCE, WebhookConnector)


@pytest.mark.asyncio
async def test_the_record_goes_to_the_shared_delivery_with_settings_made_once(mocker: MockerFixture) -> None:
    connector_module = "tracardi.process_engine.destination.webhook_connector"
    deliver = mocker.patch(f"{connector_module}.deliver")
    for _ in range(2):
        await make_connector().dispatch_event({"a": 1}, profile=PROFILE, session=SESSION, event=EVENT)
    (first, body, headers), (second, _, _) = (call.args for call in deliver.call_args_list)
    assert second is first
    # What is the destination's goes with the settings: its name for errors, its type for the User-Agent.
    assert first.destination == WEBHOOK_RESOURCE.name
    assert first.resource_type == WEBHOOK_RESOURCE.id
    connector = make_connector()
    assert first.url == str(connector.credentials().url)
    assert first.timeout_seconds == connector.configuration().timeout_seconds
    assert body == b'{"a":1}' and headers["tracardi-kind"] == "event" and headers["tracardi-event-id"] == EVENT.id
