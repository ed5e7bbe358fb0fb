"""What every http destination's own end-to-end test checks, written once: an event, and a
profile in debug mode, dispatched through the destination's connector and the shared delivery,
reach a real HTTP server on a free loopback port with their JSON body, their routing headers and
the credentials of their mode.

Shared by every http destination rendered from tracardi-destination-template into this
checkout; the shared delivery's own tests are in transport/.
"""

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

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
from tracardi.process_engine.destination.transport.http import close_http_sessions

PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
EVENT = Event(id="event-1", type="page-view", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1"))
# What the server got: the path, the headers and the body of each request.
Received = list[tuple[str, dict[str, str], bytes]]


@contextlib.asynccontextmanager
async def recording_server() -> AsyncIterator[tuple[str, Received]]:
    """A server on a free loopback port that answers 200 and records every request: its URL."""
    received: Received = []

    async def record(request: web.Request) -> web.Response:
        received.append((request.path, dict(request.headers), await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with TestServer(app, host="127.0.0.1") as server:
        try:
            yield f"http://127.0.0.1:{server.port}", received
        finally:
            await close_http_sessions()


def make_connector(
    connector_class: type[DestinationInterface], registration: ResourceSettings, base_url: str, debug: bool
) -> Any:
    """The connector as Tracardi builds it for a dispatch, with the destination's default init;
    each mode's credentials send to a path and with a token of their own."""
    registered = registration.destination
    assert registered is not None
    credentials = {
        mode: {"url": f"{base_url}/{mode}", "auth_type": "bearer", "token": f"{mode}-token"}
        for mode in ("production", "test")
    }
    resource = Resource(
        id="resource-1",
        name=registration.name,
        type=registration.id,
        credentials=ResourceCredentials(**credentials),
    )
    destination = Destination(
        id="destination-1",
        name=f"{registration.name} destination",
        destination=DestinationConfig(package=registered.package, init=dict(registered.init or {})),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    return connector_class(debug, resource, destination)


async def check_an_event_and_a_debug_profile(
    connector_class: type[DestinationInterface], registration: ResourceSettings
) -> None:
    """An event with the production credentials, then a profile in debug mode with the test ones."""
    data = {"email": "ann@example.com", "name": "Zoë", "total": 12.5}
    async with recording_server() as (base_url, received):
        connector = make_connector(connector_class, registration, base_url, debug=False)
        await connector.dispatch_event(data, profile=PROFILE, session=SESSION, event=EVENT)
        connector = make_connector(connector_class, registration, base_url, debug=True)
        await connector.dispatch_profile({"plan": "pro"}, profile=PROFILE, session=None)
    (event_path, event_headers, event_body), (profile_path, profile_headers, profile_body) = received
    assert event_path == "/production" and event_headers["Authorization"] == "Bearer production-token"
    assert event_body == json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    assert event_headers["tracardi-kind"] == "event" and event_headers["tracardi-profile-id"] == "profile-1"
    assert event_headers["tracardi-session-id"] == "session-1" and event_headers["tracardi-event-id"] == "event-1"
    assert event_headers["tracardi-event-type"] == "page-view"
    assert event_headers["User-Agent"] == f"Tracardi-{registration.id}-destination aiohttp/{aiohttp.__version__}"
    assert profile_path == "/test" and profile_headers["Authorization"] == "Bearer test-token"
    assert json.loads(profile_body) == {"plan": "pro"} and profile_headers["tracardi-kind"] == "profile"
    assert profile_headers["tracardi-profile-id"] == "profile-1"
    assert "tracardi-session-id" not in profile_headers and "tracardi-event-id" not in profile_headers
