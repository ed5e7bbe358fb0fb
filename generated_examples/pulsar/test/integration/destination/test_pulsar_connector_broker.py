"""The Apache Pulsar destination end to end, through the shared producer to pulsar-lite
(pip install pulsar-lite, or these tests skip); the producer's own are in ./transport/."""

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pulsar
import pytest

from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.event import Event
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.profile import Profile
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination.pulsar_connector import (
    PulsarConnector,
)
from tracardi.process_engine.destination.transport.pulsar import close_all_producers
from tracardi.process_engine.destination.transport.record import PayloadError
from tracardi.service.setup.destinations.pulsar_resource import (
    PULSAR_RESOURCE,
)

PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(id="event-1", type="purchase", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pulsar-lite on a free loopback port, its metrics server (0.0.0.0:8080) off."""
    binaries = pytest.importorskip("pulsar_lite.binary_finder", reason="needs pip install pulsar-lite")
    data = tmp_path_factory.mktemp("pulsar-lite")
    (data / "lite.toml").write_text("[metrics]\nenabled = false\n")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    options = ["--addr", f"127.0.0.1:{port}", "--config", str(data / "lite.toml"), "--db-path", str(data / "db")]
    with subprocess.Popen([binaries.find_pulsar_lite_binary(), *options]) as broker:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"pulsar://127.0.0.1:{port}"
        close_all_producers()
        broker.terminate()


def make_connector(credentials: dict[str, Any], init: dict[str, Any], debug: bool = False) -> Any:
    """A connector as Tracardi builds one; the credentials it must not use lead nowhere."""
    registered = PULSAR_RESOURCE.destination
    assert registered is not None
    nowhere = {"host": "pulsar://127.0.0.1:9"}
    production, test = (nowhere, credentials) if debug else (credentials, nowhere)
    resource = Resource(id="r-1", name="R", type="t", credentials=ResourceCredentials(production=production, test=test))
    config = DestinationConfig(package=registered.package, init={**(registered.init or {}), **init})
    source = NamedEntity(id="source-1", name="Source")
    destination = Destination(id="d-1", name="D", destination=config, resource=Entity(id="r-1"), source=source)
    return PulsarConnector(debug, resource, destination)


def receive(service_url: str, topic: str, count: int) -> list[pulsar.Message]:
    client = pulsar.Client(service_url)
    try:
        consumer = client.subscribe(topic, "check", initial_position=pulsar.InitialPosition.Earliest)
        return [consumer.receive(timeout_millis=20_000) for _ in range(count)]
    finally:
        client.close()


@pytest.mark.asyncio
async def test_an_event_and_a_debug_profile_arrive_with_their_payload_properties_and_key(service_url: str) -> None:
    # A broker of its own, so the topic holds only this test's messages.
    topic = "persistent://public/default/tracardi"
    connector = make_connector({"host": service_url}, {"topic": topic, "partition_key": "profile_id"})
    with pytest.raises(PayloadError, match="as JSON"):
        await connector.dispatch_event({"bad": float("nan")}, profile=PROFILE, session=SESSION, event=EVENT)
    await connector.dispatch_event({"total": 9.5, "customer": "Zoë"}, profile=PROFILE, session=SESSION, event=EVENT)
    init = {"topic": topic, "partition_key": "session_id", "properties": {"env": "qa"}}
    debug = make_connector({"host": service_url}, init, debug=True)
    await debug.dispatch_profile({"traits": {"plan": "pro"}}, profile=PROFILE, session=SESSION, changed_fields=[])
    # One producer keeps order: had the refused record gone out, it would come first.
    event, profile = await asyncio.to_thread(receive, service_url, topic, 2)
    routing = {"tracardi-profile-id": "profile-1", "tracardi-session-id": "session-1"}
    assert json.loads(event.data()) == {"total": 9.5, "customer": "Zoë"}
    event_ids = {"tracardi-event-id": "event-1", "tracardi-event-type": "purchase"}
    assert event.properties() == {"tracardi-kind": "event", **routing, **event_ids}
    assert event.partition_key() == "profile-1"
    assert json.loads(profile.data()) == {"traits": {"plan": "pro"}}
    assert profile.properties() == {"env": "qa", "tracardi-kind": "profile", **routing}
    assert profile.partition_key() == "session-1"
