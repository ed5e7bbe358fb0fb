"""What every amqp destination's own RabbitMQ test checks, written once: an event, and a profile
in debug mode, dispatched through the destination's connector and the shared connection, reach
a queue of a real RabbitMQ with their body, properties and headers.

Shared by every amqp destination rendered from tracardi-destination-template into this
checkout; the shared connection's own RabbitMQ tests are in transport/. The broker comes from
the RABBITMQ_* variables scripts/rabbitmq prints: without them the test skips, or fails when
REQUIRE_RABBITMQ=1.
"""

import json
import os
import uuid
from typing import Any

import aio_pika
import pytest
from yarl import URL

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
from tracardi.process_engine.destination.transport.amqp import close_connections
from tracardi.process_engine.destination.transport.record import PayloadError

PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(id="event-1", type="purchase", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))
# The credentials a connector must not use: nothing listens on the discard port.
NOWHERE = {"url": "amqp://127.0.0.1:9/"}
VARIABLES = ("RABBITMQ_URL", "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD")


def rabbitmq() -> dict[str, str]:
    """The RABBITMQ_* variables naming the broker; skips without them, fails if REQUIRE_RABBITMQ=1."""
    missing = [name for name in VARIABLES if not os.environ.get(name)]
    if missing:
        reason = f"no RabbitMQ ({', '.join(missing)} unset): run scripts/rabbitmq run -- pytest ..."
        if os.environ.get("REQUIRE_RABBITMQ") == "1":
            pytest.fail(f"REQUIRE_RABBITMQ=1 but {reason}")
        pytest.skip(reason)
    return dict(os.environ)


def consumer_url(env: dict[str, str]) -> str:
    """The broker's URL with the user that may read, for a consumer of the test's own."""
    return str(URL(env["RABBITMQ_URL"]).with_user(env["RABBITMQ_USERNAME"]).with_password(env["RABBITMQ_PASSWORD"]))


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


async def check_an_event_and_a_debug_profile_arrive(
    connector_class: type[DestinationInterface], registration: ResourceSettings
) -> None:
    """The event with the production credentials, the profile in debug mode with the test ones."""
    env = rabbitmq()
    credentials = {
        "url": env["RABBITMQ_URL"],
        "username": env["RABBITMQ_USERNAME"],
        "password": env["RABBITMQ_PASSWORD"],
    }
    consumer = await aio_pika.connect(consumer_url(env))
    try:
        channel = await consumer.channel()
        queue = await channel.declare_queue(f"destination-{uuid.uuid4().hex}", auto_delete=False)
        try:
            init = {"exchange": "", "routing_key": queue.name, "headers": {}}
            connector = make_connector(connector_class, registration, credentials, init)
            with pytest.raises(PayloadError, match="as JSON"):
                await connector.dispatch_event({"bad": float("nan")}, profile=PROFILE, session=SESSION, event=EVENT)
            data = {"total": 9.5, "customer": "Zoë"}
            await connector.dispatch_event(data, profile=PROFILE, session=SESSION, event=EVENT)
            init = {**init, "headers": {"env": "qa"}, "persistent": False}
            debug = make_connector(connector_class, registration, credentials, init, debug=True)
            await debug.dispatch_profile({"traits": {"plan": "pro"}}, profile=PROFILE, session=SESSION)
            # Confirmed before the consumer reads: the queue holds them.
            event = await queue.get(timeout=10)
            profile = await queue.get(timeout=10)
            assert await queue.get(fail=False) is None
        finally:
            await queue.delete(if_unused=False, if_empty=False)
    finally:
        await consumer.close()
        await close_connections()
    routing = {"tracardi-profile-id": "profile-1", "tracardi-session-id": "session-1"}
    assert event.body == json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    assert event.headers == {
        "tracardi-kind": "event",
        **routing,
        "tracardi-event-id": "event-1",
        "tracardi-event-type": "purchase",
    }
    assert (event.content_type, event.delivery_mode, event.app_id) == ("application/json", 2, "tracardi")
    assert json.loads(profile.body) == {"traits": {"plan": "pro"}}
    assert profile.headers == {"env": "qa", "tracardi-kind": "profile", **routing}
    assert profile.delivery_mode == 1
    assert event.message_id and profile.message_id and event.message_id != profile.message_id
    assert event.timestamp is not None
