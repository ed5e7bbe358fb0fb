"""Tests of the Apache Kafka destination: models, form, registration, dispatch."""

import importlib
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pytest_mock import MockerFixture

from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.event import Event
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.profile import Profile
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.domain.resource_settings import DestinationData
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination.kafka_connector import (
    DispatchRecord,
    KafkaConfiguration,
    KafkaConfigurationError,
    KafkaConnector,
    KafkaCredentials,
    KafkaPayloadError,
)
from tracardi.service.plugin.domain.register import Form
from tracardi.service.setup.destinations.kafka_resource import (
    KAFKA_RESOURCE,
)

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

# The models under test, by names that keep lines short whatever the class prefix.
Credentials = KafkaCredentials
Configuration = KafkaConfiguration

PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(
    id="event-1",
    type="page-view",
    metadata=EventMetadata(time=EventTime()),
    source=Entity(id="source-1"),
)


def registered_destination() -> DestinationData:
    assert KAFKA_RESOURCE.destination is not None
    return KAFKA_RESOURCE.destination


def make_connector(
    *,
    debug: bool = False,
    production: dict[str, Any] | None = None,
    test: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
) -> KafkaConnector:
    resource = Resource(
        id="resource-1",
        name="Apache Kafka",
        type="apache-kafka",
        credentials=ResourceCredentials(
            production=VALID_CREDENTIALS if production is None else production,
            test=VALID_CREDENTIALS if test is None else test,
        ),
    )
    destination = Destination(
        id="destination-1",
        name="Apache Kafka destination",
        destination=DestinationConfig(
            package=registered_destination().package,
            init=VALID_INIT if init is None else init,
        ),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    return KafkaConnector(debug, resource, destination)


def test_registered_package_is_the_connector() -> None:
    module_path, _, class_name = registered_destination().package.rpartition(".")
    connector_class = getattr(importlib.import_module(module_path), class_name)
    assert connector_class is KafkaConnector


def test_registered_config_has_one_entry_per_credential_field() -> None:
    model_fields = Credentials.model_fields
    model_keys = [field.alias or name for name, field in model_fields.items()]
    assert list(KAFKA_RESOURCE.config) == model_keys


def test_form_agrees_with_configuration_model() -> None:
    form = registered_destination().form
    fields_by_name = Configuration.model_fields
    model_fields = {field.alias or name: field for name, field in fields_by_name.items()}
    form_fields = [field for group in form.groups or [] for field in group.fields] if isinstance(form, Form) else []
    assert [field.id for field in form_fields] == list(model_fields)
    assert list(registered_destination().init or {}) == list(model_fields)
    for form_field in form_fields:
        model_field = model_fields[form_field.id]
        assert form_field.required == model_field.is_required(), form_field.id
        assert form_field.description == model_field.description, form_field.id


def test_registered_init_is_valid_and_agrees_with_model_defaults() -> None:
    init = dict(registered_destination().init or {})
    required: dict[str, Any] = {}
    for name, field in Configuration.model_fields.items():
        key = field.alias or name
        if field.is_required():
            # A required field without a default starts empty on the form.
            required[key] = VALID_INIT[key] if init[key] is None else init[key]
    configuration = Configuration.model_validate({**init, **required})
    # Validated, the registered init equals the model's own defaults (a URL default is an
    # AnyUrl on the model, a str in the init).
    assert configuration == Configuration.model_validate(required)


def test_models_accept_valid_values() -> None:
    credentials = Credentials.model_validate(VALID_CREDENTIALS)
    configuration = Configuration.model_validate(VALID_INIT)
    assert make_connector().credentials() == credentials
    assert make_connector().configuration() == configuration


@pytest.mark.parametrize("field", list(WRONG_CREDENTIALS))
def test_wrong_credential_type_is_refused_naming_the_field(field: str) -> None:
    production = {**VALID_CREDENTIALS, field: WRONG_CREDENTIALS[field]}
    with pytest.raises(
        KafkaConfigurationError,
        match=rf"production credentials.*\b{field}:",
    ):
        make_connector(production=production).credentials()


def test_debug_selects_test_credentials() -> None:
    debug_connector = make_connector(debug=True, production=WRONG_CREDENTIALS, test=VALID_CREDENTIALS)
    expected = Credentials.model_validate(VALID_CREDENTIALS)
    assert debug_connector.credentials() == expected
    production_connector = make_connector(debug=False, production=WRONG_CREDENTIALS, test=VALID_CREDENTIALS)
    with pytest.raises(
        KafkaConfigurationError,
        match="production credentials",
    ):
        production_connector.credentials()


@pytest.mark.parametrize("field", list(WRONG_INIT))
def test_wrong_init_type_is_refused_naming_the_field(field: str) -> None:
    init = {**VALID_INIT, field: WRONG_INIT[field]}
    with pytest.raises(
        KafkaConfigurationError,
        match=rf"init settings.*\b{field}:",
    ):
        make_connector(init=init).configuration()


def test_secrets_are_masked() -> None:
    credentials = make_connector().credentials()
    for text in (repr(credentials), str(credentials), credentials.model_dump_json()):
        assert VALID_CREDENTIALS["password"] not in text


def test_configuration_errors_do_not_repeat_secrets() -> None:
    probe = "bootstrap_servers"
    broken = {**VALID_CREDENTIALS, probe: WRONG_CREDENTIALS[probe]}
    with pytest.raises(
        KafkaConfigurationError,
    ) as raised:
        make_connector(production=broken).credentials()
    assert VALID_CREDENTIALS["password"] not in str(raised.value)


def test_record_properties_carry_routing_facts() -> None:
    record = DispatchRecord(
        kind="event",
        data={},
        profile_id="profile-1",
        session_id="session-1",
        event_id="event-1",
        event_type="page-view",
    )
    assert record.properties() == {
        "tracardi-kind": "event",
        "tracardi-profile-id": "profile-1",
        "tracardi-session-id": "session-1",
        "tracardi-event-id": "event-1",
        "tracardi-event-type": "page-view",
    }
    profile_record = DispatchRecord(kind="profile", data={}, profile_id="profile-1", session_id=None)
    assert profile_record.properties() == {
        "tracardi-kind": "profile",
        "tracardi-profile-id": "profile-1",
    }


def test_json_payload_is_compact_utf8_with_dates_uuids_and_decimals_as_strings() -> None:
    data = {
        "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "id": UUID(int=1),
        "price": Decimal("9.99"),
        "name": "Zoë",
        "tags": ["a", "b"],
    }
    record = DispatchRecord(kind="event", data=data, profile_id=None, session_id=None)
    expected = (
        '{"at":"2024-01-02 03:04:05+00:00","id":"00000000-0000-0000-0000-000000000001",'
        '"price":"9.99","name":"Zoë","tags":["a","b"]}'
    )
    assert record.json_payload() == expected.encode("utf-8")


def circular_data() -> dict[str, Any]:
    data: dict[str, Any] = {}
    data["self"] = data
    return data


@pytest.mark.parametrize(
    "data",
    [float("nan"), {("tuple", "key"): 1}, circular_data()],
    ids=["nan", "tuple-key", "circular"],
)
def test_unserialisable_data_is_refused_clearly(data: Any) -> None:
    record = DispatchRecord(kind="event", data=data, profile_id=None, session_id=None)
    with pytest.raises(
        KafkaPayloadError,
        match="as JSON",
    ):
        record.json_payload()


@pytest.mark.asyncio
async def test_dispatch_event_hands_the_mapped_data_to_the_transport(
    mocker: MockerFixture,
) -> None:
    send = mocker.patch.object(KafkaConnector, "_send", autospec=True)
    connector = make_connector()
    data = {"email": "ann@example.com", "visits": 3}
    await connector.dispatch_event(data, profile=PROFILE, session=SESSION, event=EVENT)
    send.assert_awaited_once_with(
        connector,
        Credentials.model_validate(VALID_CREDENTIALS),
        Configuration.model_validate(VALID_INIT),
        DispatchRecord(
            kind="event",
            data=data,
            profile_id="profile-1",
            session_id="session-1",
            event_id="event-1",
            event_type="page-view",
        ),
    )


@pytest.mark.asyncio
async def test_dispatch_profile_hands_the_mapped_data_to_the_transport(
    mocker: MockerFixture,
) -> None:
    send = mocker.patch.object(KafkaConnector, "_send", autospec=True)
    connector = make_connector(debug=True)
    data = {"traits": {"plan": "pro"}}
    await connector.dispatch_profile(data, profile=PROFILE, session=None, changed_fields=[{"traits.plan": "pro"}])
    send.assert_awaited_once_with(
        connector,
        Credentials.model_validate(VALID_CREDENTIALS),
        Configuration.model_validate(VALID_INIT),
        DispatchRecord(kind="profile", data=data, profile_id="profile-1", session_id=None),
    )


@pytest.mark.asyncio
async def test_dispatch_with_bad_init_sends_nothing(mocker: MockerFixture) -> None:
    send = mocker.patch.object(KafkaConnector, "_send", autospec=True)
    connector = make_connector(init=WRONG_INIT)
    with pytest.raises(
        KafkaConfigurationError,
        match="init settings",
    ):
        await connector.dispatch_event({}, profile=PROFILE, session=SESSION, event=EVENT)
    send.assert_not_awaited()


def test_the_settings_tracardi_hands_again_are_validated_once_and_shared() -> None:
    # As Tracardi does: a new connector per dispatch, the resource and destination it caches.
    connector = make_connector()
    again = KafkaConnector(False, connector.resource, connector.destination)
    assert again.configuration() is connector.configuration()
    assert again.credentials() is connector.credentials()
    other = make_connector(init={**VALID_INIT, "not_a_field": 1}).configuration()
    assert other is not connector.configuration()
    assert other == connector.configuration()


def test_settings_changed_in_place_are_validated_again() -> None:
    connector = make_connector()
    configuration = connector.configuration()
    assert connector.configuration() is configuration
    connector.destination.destination.init["not_a_field"] = 1
    assert connector.configuration() is not configuration


def test_bad_settings_are_refused_every_time_not_only_the_first() -> None:
    for _ in range(2):
        with pytest.raises(KafkaConfigurationError, match="init settings"):
            make_connector(init=WRONG_INIT).configuration()


@pytest.mark.asyncio
async def test_unserialisable_data_fails_before_any_connection() -> None:
    # The bootstrap servers point nowhere: the payload error must come first, and fast.
    connector = make_connector()
    with pytest.raises(KafkaPayloadError, match="as JSON"):
        await connector.dispatch_event(float("nan"), profile=PROFILE, session=SESSION, event=EVENT)
