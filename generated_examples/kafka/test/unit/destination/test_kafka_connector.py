"""Tests of the Apache Kafka destination: models, form, registration, dispatch."""

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
from tracardi.process_engine.destination.kafka_connector import (
    DESTINATION_NAME,
    KafkaConfiguration,
    KafkaConnector,
    KafkaCredentials,
)
from tracardi.process_engine.destination.transport.record import DispatchRecord, PayloadError
from tracardi.process_engine.destination.transport.validation import SettingsError
from tracardi.service.setup.destinations.kafka_resource import KAFKA_RESOURCE

# A value each field accepts, and one of the wrong type.
VALID_CREDENTIALS: dict[str, Any] = {
    "bootstrap_servers": "sample text",
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "username": "sample text",
    "password": "s3cr3t-value",
    "ssl_ca_file": "sample text",
}
VALID_INIT: dict[str, Any] = {
    "topic": "sample text",
    "acks": "0",
    "partition_key": "none",
    "compression": "zstd",
    "enable_idempotence": True,
    "linger_ms": 7,
    "max_record_bytes": 7,
    "max_in_flight": 7,
    "request_timeout_seconds": 2.5,
    "connect_timeout_seconds": 2.5,
    "unreachable_backoff_seconds": 2.5,
    "headers": {
        "key": "value",
    },
}
WRONG_CREDENTIALS: dict[str, Any] = {
    "bootstrap_servers": 12,
    "security_protocol": "not-one-of-the-choices",
    "sasl_mechanism": "not-one-of-the-choices",
    "username": 12,
    "password": 12,
    "ssl_ca_file": 12,
}
WRONG_INIT: dict[str, Any] = {
    "topic": 12,
    "acks": "not-one-of-the-choices",
    "partition_key": "not-one-of-the-choices",
    "compression": "not-one-of-the-choices",
    "enable_idempotence": "maybe",
    "linger_ms": "seven",
    "max_record_bytes": "seven",
    "max_in_flight": "seven",
    "request_timeout_seconds": "two and a half",
    "connect_timeout_seconds": "two and a half",
    "unreachable_backoff_seconds": "two and a half",
    "headers": [
        "not",
        "a",
        "dict",
    ],
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
) -> KafkaConnector:
    connector: KafkaConnector = destination_contract.make_connector(
        KafkaConnector,
        KAFKA_RESOURCE,
        VALID_CREDENTIALS if production is None else production,
        VALID_INIT if init is None else init,
        debug=debug,
        test_credentials=test,
    )
    return connector


def test_the_registration_agrees_with_the_models() -> None:
    destination_contract.check_registration(
        KAFKA_RESOURCE, KafkaConnector, KafkaCredentials, KafkaConfiguration, VALID_INIT
    )


def test_models_accept_valid_values() -> None:
    assert make_connector().credentials() == KafkaCredentials.model_validate(VALID_CREDENTIALS)
    assert make_connector().configuration() == KafkaConfiguration.model_validate(VALID_INIT)


@pytest.mark.parametrize("field", list(WRONG_CREDENTIALS))
def test_wrong_credential_type_is_refused_naming_the_field(field: str) -> None:
    production = {**VALID_CREDENTIALS, field: WRONG_CREDENTIALS[field]}
    with pytest.raises(SettingsError, match=rf"production credentials.*\b{field}:"):
        make_connector(production=production).credentials()


def test_debug_selects_test_credentials() -> None:
    debug_connector = make_connector(debug=True, production=WRONG_CREDENTIALS, test=VALID_CREDENTIALS)
    assert debug_connector.credentials() == KafkaCredentials.model_validate(VALID_CREDENTIALS)
    with pytest.raises(SettingsError, match="production credentials"):
        make_connector(production=WRONG_CREDENTIALS, test=VALID_CREDENTIALS).credentials()


@pytest.mark.parametrize("field", list(WRONG_INIT))
def test_wrong_init_type_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(SettingsError, match=rf"init settings.*\b{field}:"):
        make_connector(init={**VALID_INIT, field: WRONG_INIT[field]}).configuration()


def test_secrets_are_masked() -> None:
    credentials = make_connector().credentials()
    for text in (repr(credentials), str(credentials), credentials.model_dump_json()):
        assert VALID_CREDENTIALS["password"] not in text


def test_settings_errors_do_not_repeat_secrets() -> None:
    probe = "bootstrap_servers"
    with pytest.raises(SettingsError) as raised:
        make_connector(production={**VALID_CREDENTIALS, probe: WRONG_CREDENTIALS[probe]}).credentials()
    assert VALID_CREDENTIALS["password"] not in str(raised.value)


@pytest.mark.asyncio
async def test_dispatch_event_hands_the_mapped_data_to_the_transport(mocker: MockerFixture) -> None:
    send = mocker.patch.object(KafkaConnector, "_send", autospec=True)
    connector = make_connector()
    data = {"email": "ann@example.com", "visits": 3}
    await connector.dispatch_event(data, profile=PROFILE, session=SESSION, event=EVENT)
    record = DispatchRecord(DESTINATION_NAME, "event", data, "profile-1", "session-1", "event-1", "page-view")
    send.assert_awaited_once_with(connector, connector.credentials(), connector.configuration(), record)


@pytest.mark.asyncio
async def test_dispatch_profile_hands_the_mapped_data_to_the_transport(mocker: MockerFixture) -> None:
    send = mocker.patch.object(KafkaConnector, "_send", autospec=True)
    connector = make_connector(debug=True)
    data = {"traits": {"plan": "pro"}}
    await connector.dispatch_profile(data, profile=PROFILE, session=None, changed_fields=[{"traits.plan": "pro"}])
    record = DispatchRecord(DESTINATION_NAME, "profile", data, "profile-1", None)
    send.assert_awaited_once_with(connector, connector.credentials(), connector.configuration(), record)


@pytest.mark.asyncio
async def test_dispatch_with_bad_init_sends_nothing(mocker: MockerFixture) -> None:
    send = mocker.patch.object(KafkaConnector, "_send", autospec=True)
    with pytest.raises(SettingsError, match="init settings"):
        await make_connector(init=WRONG_INIT).dispatch_event({}, profile=PROFILE, session=SESSION, event=EVENT)
    send.assert_not_awaited()


@pytest.mark.asyncio
async def test_unserialisable_data_fails_before_any_connection() -> None:
    # The bootstrap servers point nowhere: the payload error must come first, and fast.
    connector = make_connector()
    with pytest.raises(PayloadError, match="as JSON"):
        await connector.dispatch_event(float("nan"), profile=PROFILE, session=SESSION, event=EVENT)
