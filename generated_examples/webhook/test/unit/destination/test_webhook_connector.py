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
async def test_equal_settings_make_one_request_settings(mocker: MockerFixture) -> None:
    connector_module = "tracardi.process_engine.destination.webhook_connector"
    deliver = mocker.patch(f"{connector_module}.deliver")
    for _ in range(2):
        await make_connector().dispatch_event({"a": 1}, profile=PROFILE, session=SESSION, event=EVENT)
    first, second = (call.args[0] for call in deliver.call_args_list)
    assert second is first
