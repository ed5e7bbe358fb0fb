"""The connector every destination builds on: settings validated against its models and shared,
dispatches turned into records and handed to its _send."""

from typing import Any, ClassVar

import pytest
from destination_contract import EVENT, PROFILE, SESSION
from pydantic import BaseModel, ConfigDict, SecretStr

from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.process_engine.destination.transport.connector import RecordConnector
from tracardi.process_engine.destination.transport.record import DispatchRecord
from tracardi.process_engine.destination.transport.validation import SettingsError


class Credentials(BaseModel):
    model_config = ConfigDict(frozen=True)
    token: SecretStr


class Configuration(BaseModel):
    model_config = ConfigDict(frozen=True)
    topic: str


class Connector(RecordConnector[Credentials, Configuration]):
    destination_name = "Acme"
    credentials_model = Credentials
    configuration_model = Configuration
    sent: ClassVar[list[tuple[Credentials, Configuration, DispatchRecord]]] = []

    async def _send(self, credentials: Credentials, configuration: Configuration, record: DispatchRecord) -> None:
        self.sent.append((credentials, configuration, record))


class Unwritten(RecordConnector[Credentials, Configuration]):
    destination_name = "Acme"
    credentials_model = Credentials
    configuration_model = Configuration


PRODUCTION = {"token": "production-token"}
TEST = {"token": "test-token"}


def make_connector(
    connector_class: type[RecordConnector[Credentials, Configuration]] = Connector,
    *,
    debug: bool = False,
    production: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
) -> Any:
    resource = Resource(
        id="resource-1",
        name="Acme",
        type="acme",
        credentials=ResourceCredentials(production=PRODUCTION if production is None else production, test=TEST),
    )
    destination = Destination(
        id="destination-1",
        name="Acme destination",
        destination=DestinationConfig(package="acme.Connector", init={"topic": "orders"} if init is None else init),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    return connector_class(debug, resource, destination)


@pytest.fixture(autouse=True)
def nothing_sent() -> None:
    Connector.sent.clear()


@pytest.mark.asyncio
async def test_an_event_dispatch_hands_the_validated_settings_and_the_record_to_send() -> None:
    connector = make_connector()
    await connector.dispatch_event({"email": "ann@example.com"}, profile=PROFILE, session=SESSION, event=EVENT)
    record = DispatchRecord(
        "Acme", "event", {"email": "ann@example.com"}, "profile-1", "session-1", "event-1", "page-view"
    )
    assert Connector.sent == [(Credentials(token=SecretStr("production-token")), Configuration(topic="orders"), record)]


@pytest.mark.asyncio
async def test_a_profile_dispatch_in_debug_mode_sends_with_the_test_credentials_and_the_changes() -> None:
    changes = [{"field": "traits.plan", "value": "pro", "old_value": "free"}]
    await make_connector(debug=True).dispatch_profile({"plan": "pro"}, PROFILE, None, changed_fields=changes)
    ((credentials, _, record),) = Connector.sent
    assert credentials.token.get_secret_value() == "test-token"
    assert record == DispatchRecord(
        "Acme", "profile", {"plan": "pro"}, "profile-1", None, changed_fields=("traits.plan",)
    )


def test_the_settings_tracardi_hands_again_are_validated_once_and_shared() -> None:
    # As Tracardi does: a new connector per dispatch, with the resource and destination it caches.
    connector = make_connector()
    again = Connector(False, connector.resource, connector.destination)
    assert again.configuration() is connector.configuration()
    assert again.credentials() is connector.credentials()


@pytest.mark.asyncio
async def test_bad_settings_are_refused_naming_the_destination_and_nothing_is_sent() -> None:
    with pytest.raises(SettingsError, match=r"^Invalid init settings for the Acme destination: topic: "):
        await make_connector(init={"topic": 12}).dispatch_event({}, profile=PROFILE, session=SESSION, event=EVENT)
    with pytest.raises(SettingsError, match=r"^Invalid production credentials for the Acme destination: token: "):
        await make_connector(production={}).dispatch_event({}, profile=PROFILE, session=SESSION, event=EVENT)
    assert Connector.sent == []


@pytest.mark.asyncio
async def test_a_connector_whose_send_is_not_written_says_so() -> None:
    with pytest.raises(NotImplementedError, match=r"^Unwritten\._send is not written$"):
        await make_connector(Unwritten).dispatch_event({}, profile=PROFILE, session=SESSION, event=EVENT)
