"""Tests of the Webhook destination: models, form, registration, dispatch."""

from typing import Any

import destination_contract
import pytest
from pytest_mock import MockerFixture

from tracardi.domain.entity import Entity
from tracardi.domain.event import Event
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.profile import Profile
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination.transport.record import DispatchRecord
from tracardi.process_engine.destination.transport.validation import SettingsError
from tracardi.process_engine.destination.webhook_connector import (
    DESTINATION_NAME,
    WebhookConfiguration,
    WebhookConnector,
    WebhookCredentials,
)
from tracardi.service.setup.destinations.webhook_resource import WEBHOOK_RESOURCE

# A value each field accepts, and one of the wrong type.
VALID_CREDENTIALS: dict[str, Any] = {
    "url": "https://example.com/api",
    "auth_type": "api_key",
    "token": "s3cr3t-value",
    "username": "sample text",
    "password": "s3cr3t-value",
    "api_key_header": "sample text",
    "signing_secret": "s3cr3t-value",
}
VALID_INIT: dict[str, Any] = {
    "method": "PATCH",
    "headers": {
        "key": "value",
    },
    "timeout_seconds": 2.5,
    "connect_timeout_seconds": 2.5,
    "max_attempts": 7,
    "deadline_seconds": 2.5,
    "max_retry_after_seconds": 2.5,
    "verify_tls": True,
    "max_body_bytes": 7,
    "unreachable_backoff_seconds": 2.5,
}
WRONG_CREDENTIALS: dict[str, Any] = {
    "url": "not a url",
    "auth_type": "not-one-of-the-choices",
    "token": 12,
    "username": 12,
    "password": 12,
    "api_key_header": 12,
    "signing_secret": 12,
}
WRONG_INIT: dict[str, Any] = {
    "method": "not-one-of-the-choices",
    "headers": [
        "not",
        "a",
        "dict",
    ],
    "timeout_seconds": "two and a half",
    "connect_timeout_seconds": "two and a half",
    "max_attempts": "seven",
    "deadline_seconds": "two and a half",
    "max_retry_after_seconds": "two and a half",
    "verify_tls": "maybe",
    "max_body_bytes": "seven",
    "unreachable_backoff_seconds": "two and a half",
}

PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(id="event-1", type="page-view", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))


def make_connector(
    *,
    debug: bool = False,
    production: dict[str, Any] | None = None,
    test: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
) -> WebhookConnector:
    connector: WebhookConnector = destination_contract.make_connector(
        WebhookConnector,
        WEBHOOK_RESOURCE,
        VALID_CREDENTIALS if production is None else production,
        VALID_INIT if init is None else init,
        debug=debug,
        test_credentials=test,
    )
    return connector


def test_the_registration_agrees_with_the_models() -> None:
    destination_contract.check_registration(
        WEBHOOK_RESOURCE, WebhookConnector, WebhookCredentials, WebhookConfiguration, VALID_INIT
    )


def test_models_accept_valid_values() -> None:
    assert make_connector().credentials() == WebhookCredentials.model_validate(VALID_CREDENTIALS)
    assert make_connector().configuration() == WebhookConfiguration.model_validate(VALID_INIT)


@pytest.mark.parametrize("field", list(WRONG_CREDENTIALS))
def test_wrong_credential_type_is_refused_naming_the_field(field: str) -> None:
    production = {**VALID_CREDENTIALS, field: WRONG_CREDENTIALS[field]}
    with pytest.raises(SettingsError, match=rf"production credentials.*\b{field}:"):
        make_connector(production=production).credentials()


def test_debug_selects_test_credentials() -> None:
    debug_connector = make_connector(debug=True, production=WRONG_CREDENTIALS, test=VALID_CREDENTIALS)
    assert debug_connector.credentials() == WebhookCredentials.model_validate(VALID_CREDENTIALS)
    with pytest.raises(SettingsError, match="production credentials"):
        make_connector(production=WRONG_CREDENTIALS, test=VALID_CREDENTIALS).credentials()


@pytest.mark.parametrize("field", list(WRONG_INIT))
def test_wrong_init_type_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(SettingsError, match=rf"init settings.*\b{field}:"):
        make_connector(init={**VALID_INIT, field: WRONG_INIT[field]}).configuration()


def test_secrets_are_masked() -> None:
    credentials = make_connector().credentials()
    for text in (repr(credentials), str(credentials), credentials.model_dump_json()):
        assert VALID_CREDENTIALS["token"] not in text
        assert VALID_CREDENTIALS["password"] not in text
        assert VALID_CREDENTIALS["signing_secret"] not in text


def test_settings_errors_do_not_repeat_secrets() -> None:
    probe = "url"
    with pytest.raises(SettingsError) as raised:
        make_connector(production={**VALID_CREDENTIALS, probe: WRONG_CREDENTIALS[probe]}).credentials()
    assert VALID_CREDENTIALS["token"] not in str(raised.value)
    assert VALID_CREDENTIALS["password"] not in str(raised.value)
    assert VALID_CREDENTIALS["signing_secret"] not in str(raised.value)


@pytest.mark.asyncio
async def test_dispatch_event_hands_the_mapped_data_to_the_transport(mocker: MockerFixture) -> None:
    send = mocker.patch.object(WebhookConnector, "_send", autospec=True)
    connector = make_connector()
    data = {"email": "ann@example.com", "visits": 3}
    await connector.dispatch_event(data, profile=PROFILE, session=SESSION, event=EVENT)
    record = DispatchRecord(DESTINATION_NAME, "event", data, "profile-1", "session-1", "event-1", "page-view")
    send.assert_awaited_once_with(connector, connector.credentials(), connector.configuration(), record)


@pytest.mark.asyncio
async def test_dispatch_profile_hands_the_mapped_data_to_the_transport(mocker: MockerFixture) -> None:
    send = mocker.patch.object(WebhookConnector, "_send", autospec=True)
    connector = make_connector(debug=True)
    data = {"traits": {"plan": "pro"}}
    await connector.dispatch_profile(data, profile=PROFILE, session=None, changed_fields=[{"traits.plan": "pro"}])
    record = DispatchRecord(DESTINATION_NAME, "profile", data, "profile-1", None)
    send.assert_awaited_once_with(connector, connector.credentials(), connector.configuration(), record)


@pytest.mark.asyncio
async def test_dispatch_with_bad_init_sends_nothing(mocker: MockerFixture) -> None:
    send = mocker.patch.object(WebhookConnector, "_send", autospec=True)
    with pytest.raises(SettingsError, match="init settings"):
        await make_connector(init=WRONG_INIT).dispatch_event({}, profile=PROFILE, session=SESSION, event=EVENT)
    send.assert_not_awaited()


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
    assert first.url == VALID_CREDENTIALS["url"] and first.timeout_seconds == VALID_INIT["timeout_seconds"]
    assert body == b'{"a":1}' and headers["tracardi-kind"] == "event" and headers["tracardi-event-id"] == EVENT.id
