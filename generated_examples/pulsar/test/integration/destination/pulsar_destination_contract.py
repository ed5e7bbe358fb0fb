"""What every Pulsar destination's own broker test checks, written once: an event, and a profile
in debug mode, dispatched through the destination's connector and the shared producer, reach a
pulsar-lite broker with their payload, properties and key.

Shared by every Pulsar destination rendered from tracardi-destination-template into this
checkout; the shared producer's own broker tests are in transport/.
"""

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
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
from tracardi.domain.resource_settings import ResourceSettings
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination.destination_interface import DestinationInterface
from tracardi.process_engine.destination.transport.pulsar import close_all_producers
from tracardi.process_engine.destination.transport.record import PayloadError

PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(id="event-1", type="purchase", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))
# The credentials a connector must not use: nothing listens on the discard port.
NOWHERE = {"host": "pulsar://127.0.0.1:9"}


@contextlib.contextmanager
def embedded_broker(data: Path) -> Iterator[str]:
    """pulsar-lite on a free loopback port, its metrics server (0.0.0.0:8080) off: its service URL."""
    binaries = pytest.importorskip("pulsar_lite.binary_finder", reason="needs pip install pulsar-lite")
    (data / "lite.toml").write_text("[metrics]\nenabled = false\n")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    options = ["--addr", f"127.0.0.1:{port}", "--config", str(data / "lite.toml"), "--db-path", str(data / "db")]
    with subprocess.Popen([binaries.find_pulsar_lite_binary(), *options]) as broker:
        try:
            for _ in range(200):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                time.sleep(0.05)
            else:
                pytest.fail(f"pulsar-lite did not listen on 127.0.0.1:{port} within 10 s")
            yield f"pulsar://127.0.0.1:{port}"
        finally:
            close_all_producers()
            broker.terminate()


def make_connector(
    connector_class: type[DestinationInterface],
    registration: ResourceSettings,
    credentials: dict[str, Any],
    init: dict[str, Any],
    debug: bool = False,
) -> Any:
    """The connector as Tracardi builds it for a dispatch; the credentials it must not use lead nowhere."""
    registered = registration.destination
    assert registered is not None
    production, test = (NOWHERE, credentials) if debug else (credentials, NOWHERE)
    resource = Resource(
        id="resource-1",
        name=registration.name,
        type=registration.id,
        credentials=ResourceCredentials(production=production, test=test),
    )
    destination = Destination(
        id="destination-1",
        name=f"{registration.name} destination",
        destination=DestinationConfig(package=registered.package, init={**(registered.init or {}), **init}),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    return connector_class(debug, resource, destination)


def receive(service_url: str, topic: str, count: int) -> list[pulsar.Message]:
    """The first `count` messages of the topic, read by a client of its own."""
    client = pulsar.Client(service_url)
    try:
        consumer = client.subscribe(topic, "check", initial_position=pulsar.InitialPosition.Earliest)
        return [consumer.receive(timeout_millis=20_000) for _ in range(count)]
    finally:
        client.close()


async def check_an_event_and_a_debug_profile_arrive(
    connector_class: type[DestinationInterface], registration: ResourceSettings, service_url: str, topic: str
) -> None:
    """The event with the production credentials, the profile in debug mode with the test ones."""
    # The broker speaks no TLS: a CA file the destination's defaults may name is not for it.
    credentials = {"host": service_url, "ssl_ca_file": ""}
    init = {"topic": topic, "partition_key": "profile_id", "properties": {}}
    connector = make_connector(connector_class, registration, credentials, init)
    with pytest.raises(PayloadError, match="as JSON"):
        await connector.dispatch_event({"bad": float("nan")}, profile=PROFILE, session=SESSION, event=EVENT)
    await connector.dispatch_event({"total": 9.5, "customer": "Zoë"}, profile=PROFILE, session=SESSION, event=EVENT)
    init = {"topic": topic, "partition_key": "session_id", "properties": {"env": "qa"}}
    debug = make_connector(connector_class, registration, credentials, init, debug=True)
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
