"""The Webhook destination against a real HTTP server.

An aiohttp web server on a free loopback port answers as each test scripts it and records what
it received; a raw asyncio server stands in for peers that reset, drop or never answer. Nothing
here leaves 127.0.0.1, and nothing needs more than aiohttp, which Tracardi already depends on.
"""

import asyncio
import base64
import contextlib
import email.utils
import hashlib
import hmac
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from tracardi.domain.destination import Destination, DestinationConfig
from tracardi.domain.entity import Entity
from tracardi.domain.event import Event
from tracardi.domain.event_metadata import EventMetadata
from tracardi.domain.named_entity import NamedEntity
from tracardi.domain.profile import Profile
from tracardi.domain.resource import Resource, ResourceCredentials
from tracardi.domain.session import Session, SessionMetadata
from tracardi.domain.time import EventTime
from tracardi.process_engine.destination import webhook_http
from tracardi.process_engine.destination.webhook_connector import DispatchRecord, WebhookConnector
from tracardi.process_engine.destination.webhook_http import (
    CONNECTION_LIMIT_PER_HOST,
    HttpAuthError,
    HttpConnectionError,
    HttpDeliveryError,
    HttpRateLimitedError,
    HttpRejectedError,
    HttpServerError,
    HttpTimeoutError,
    Timing,
    close_http_sessions,
    http_session,
)
from tracardi.process_engine.destination.transport.outages import Outages
from tracardi.service.setup.destinations.webhook_resource import (
    WEBHOOK_RESOURCE,
)

# Never sent anywhere but to the test server, and never to appear in an error or a log line.
TOKEN = "tok-7f3a-secret"
PASSWORD = "pw-91c2-secret"
SIGNING_SECRET = "sign-4be0-secret"
QUERY_SECRET = "q-55d1-secret"
SECRETS = (TOKEN, PASSWORD, SIGNING_SECRET, QUERY_SECRET)
# Short, so that failures show within a second or two.
FAST = {"timeout_seconds": 1.0, "connect_timeout_seconds": 1.0, "deadline_seconds": 4.0}

Respond = Callable[[web.Request], Awaitable[web.StreamResponse]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Received:
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes
    peer_port: int


@dataclass
class Server:
    """An aiohttp web server answering with the scripted responses in turn, then 200."""

    port: int = 0
    script: list[Respond] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}?key={QUERY_SECRET}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        headers = dict(request.headers)
        self.received.append(Received(request.method, request.path_qs, headers, body, peer[1] if peer else 0))
        if self.script:
            return await self.script.pop(0)(request)
        return web.Response(text="ok")

    async def stall(self) -> None:
        """Wait until the test ends (or half a minute), as a server that hangs does."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), 30)


def status(code: int, headers: dict[str, str] | None = None, text: str = "") -> Respond:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers=headers, text=text)

    return respond


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    endpoint = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    endpoint.port = runner.addresses[0][1]
    yield endpoint
    endpoint.stopping.set()
    await close_http_sessions()
    await runner.cleanup()


class RawServer:
    """A TCP listener that reads a request, then answers, closes, resets or stays silent."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.stopping = asyncio.Event()
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.behaviour == "silent":
                await asyncio.wait_for(self.stopping.wait(), 30)
                return
            await reader.readuntil(b"\r\n\r\n")
            if self.behaviour == "answer":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
            elif self.behaviour == "reset":
                # Linger 0: close() sends a TCP reset instead of an orderly end.
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest_asyncio.fixture
async def raw_servers() -> AsyncIterator[list[RawServer]]:
    started: list[RawServer] = []
    yield started
    for raw in started:
        await raw.stop()


async def start_raw(raw_servers: list[RawServer], behaviour: str, port: int = 0) -> RawServer:
    raw = RawServer(behaviour)
    await raw.start(port)
    raw_servers.append(raw)
    return raw


@pytest.fixture(autouse=True)
def no_jitter_and_no_outages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Retries wait the shortest back-off, so retried tests take no time; the waits themselves
    # are the unit tests' subject. Each test starts with no endpoint in its back-off window.
    monkeypatch.setattr(webhook_http, "TIMING", Timing(uniform=lambda low, high: low))
    monkeypatch.setattr(webhook_http, "outages", Outages())
    yield


def make_connector(
    production: dict[str, Any],
    init: dict[str, Any] | None = None,
    *,
    test: dict[str, Any] | None = None,
    debug: bool = False,
) -> WebhookConnector:
    """A new connector, built the way Tracardi builds one for every dispatch."""
    registered = WEBHOOK_RESOURCE.destination
    assert registered is not None
    resource = Resource(
        id="resource-1",
        name="Webhook",
        type="webhook",
        credentials=ResourceCredentials(production=production, test=test or {}),
    )
    destination = Destination(
        id="destination-1",
        name="Webhook destination",
        destination=DestinationConfig(package=registered.package, init={**(registered.init or {}), **(init or {})}),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    return WebhookConnector(debug, resource, destination)


EVENT = Event(
    id="event-1", type="purchase-order", metadata=EventMetadata(time=EventTime()), source=Entity(id="source-1")
)
PROFILE = Profile(id="profile-1")
SESSION = Session(id="session-1", metadata=SessionMetadata())
DATA = {"email": "ann@example.com", "name": "Zoë", "total": 12.5}


async def send_event(connector: WebhookConnector, data: Any = DATA) -> None:
    await connector.dispatch_event(data, profile=PROFILE, session=SESSION, event=EVENT)


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_the_request_carries_the_method_headers_and_exact_body(server: Server, method: str) -> None:
    connector = make_connector({"url": server.url()}, {"method": method, "headers": {"X-Team": "blue"}})
    await send_event(connector)
    [request] = server.received
    assert request.method == method
    assert request.path_qs == f"/hook?key={QUERY_SECRET}"
    assert json.loads(request.body) == DATA
    record = DispatchRecord(
        kind="event",
        data=DATA,
        profile_id="profile-1",
        session_id="session-1",
        event_id="event-1",
        event_type="purchase-order",
    )
    assert request.body == record.json_payload()
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(request.body))
    assert headers["X-Team"] == "blue"
    assert headers["User-Agent"].startswith("Tracardi-webhook-destination aiohttp/")
    assert headers["tracardi-kind"] == "event" and headers["tracardi-event-id"] == "event-1"
    assert headers["tracardi-profile-id"] == "profile-1" and headers["tracardi-session-id"] == "session-1"
    assert headers["tracardi-event-type"] == "purchase-order"
    assert len(headers["Idempotency-Key"]) == 36
    assert "Authorization" not in headers and "X-Signature-256" not in headers and "Cookie" not in headers


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("credentials", "header", "value"),
    [
        ({"auth_type": "bearer", "token": TOKEN}, "Authorization", f"Bearer {TOKEN}"),
        ({"auth_type": "api_key", "token": TOKEN}, "X-API-Key", TOKEN),
        ({"auth_type": "api_key", "token": TOKEN, "api_key_header": "Api-Token"}, "Api-Token", TOKEN),
        (
            {"auth_type": "basic", "username": "ann", "password": PASSWORD},
            "Authorization",
            "Basic " + base64.b64encode(f"ann:{PASSWORD}".encode()).decode(),
        ),
    ],
    ids=["bearer", "api-key", "api-key-own-header", "basic"],
)
async def test_every_auth_style_and_the_signature_reach_the_server_on_every_attempt(
    server: Server, credentials: dict[str, str], header: str, value: str
) -> None:
    server.script = [status(503), status(503)]
    connector = make_connector({"url": server.url(), "signing_secret": SIGNING_SECRET, **credentials}, FAST)
    await send_event(connector)
    assert len(server.received) == 3
    for request in server.received:
        assert request.headers[header] == value
        # Checked as a receiver checks it: over the bytes that arrived.
        assert request.headers["X-Signature-256"] == signature(request.body)


@pytest.mark.asyncio
async def test_503_503_200_delivers_in_three_requests_with_one_idempotency_key(server: Server) -> None:
    server.script = [status(503), status(503)]
    await send_event(make_connector({"url": server.url()}, FAST))
    assert len(server.received) == 3
    assert len({request.headers["Idempotency-Key"] for request in server.received}) == 1
    assert len({request.body for request in server.received}) == 1
    # The next dispatch is another delivery, with its own key.
    await send_event(make_connector({"url": server.url()}, FAST))
    assert server.received[3].headers["Idempotency-Key"] != server.received[0].headers["Idempotency-Key"]


@pytest.mark.asyncio
async def test_always_500_fails_after_max_attempts_requests(server: Server) -> None:
    server.script = [status(500)] * 10
    with pytest.raises(HttpServerError) as raised:
        await send_event(make_connector({"url": server.url()}, {**FAST, "max_attempts": 4}))
    assert len(server.received) == 4
    message = str(raised.value)
    assert "POST" in message and f"127.0.0.1:{server.port}/hook?key=***" in message
    assert "HTTP 500" in message and "4 attempts in" in message


@pytest.mark.asyncio
async def test_retry_after_in_seconds_is_honoured(server: Server) -> None:
    server.script = [status(429, {"Retry-After": "1"})]
    started = time.monotonic()
    await send_event(make_connector({"url": server.url()}, FAST))
    assert len(server.received) == 2
    assert time.monotonic() - started >= 1.0


@pytest.mark.asyncio
async def test_retry_after_as_a_date_is_honoured(server: Server) -> None:
    # An HTTP date counts whole seconds: two from now is one to two seconds away.
    server.script = [status(503, {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)})]
    started = time.monotonic()
    await send_event(make_connector({"url": server.url()}, FAST))
    assert len(server.received) == 2
    assert 0.9 <= time.monotonic() - started < 3.5


@pytest.mark.asyncio
@pytest.mark.parametrize("retry_after", ["30", "3"], ids=["over-max-retry-after", "over-the-deadline"])
async def test_retry_after_past_the_budget_fails_after_one_request(server: Server, retry_after: str) -> None:
    server.script = [status(429, {"Retry-After": retry_after})]
    init = {**FAST, "deadline_seconds": 2.0, "max_retry_after_seconds": 10.0}
    started = time.monotonic()
    with pytest.raises(HttpRateLimitedError, match="HTTP 429") as raised:
        await send_event(make_connector({"url": server.url()}, init))
    assert len(server.received) == 1
    assert time.monotonic() - started < 1.0
    assert "1 attempt in" in str(raised.value)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (400, HttpRejectedError, "HTTP 400 Bad Request: rejected; the response began: no such field"),
        (401, HttpAuthError, "HTTP 401 Unauthorized: the credentials were refused"),
        (403, HttpAuthError, "HTTP 403 Forbidden: the credentials were refused"),
        (410, HttpRejectedError, "HTTP 410 Gone: rejected"),
        (302, HttpRejectedError, "HTTP 302 Found: rejected"),
    ],
)
async def test_answers_that_will_not_change_make_one_request(
    server: Server, code: int, error: type[HttpDeliveryError], words: str
) -> None:
    headers = {"Location": server.url("/elsewhere")} if code == 302 else None
    server.script = [status(code, headers, "no such field " + "x" * 1000)]
    with pytest.raises(error) as raised:
        await send_event(make_connector({"url": server.url()}, FAST))
    assert len(server.received) == 1
    message = str(raised.value)
    assert words in message and "1 attempt in" in message and "not retried" in message
    # At most 300 characters of the answer.
    assert "x" * 300 not in message and len(message) < 700


@pytest.mark.asyncio
async def test_slow_headers_time_out_waiting_for_the_response_within_the_deadline(server: Server) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await server.stall()
        return web.Response()

    server.script = [slow, slow, slow]
    init = {"timeout_seconds": 0.5, "deadline_seconds": 1.2, "max_attempts": 3}
    started = time.monotonic()
    with pytest.raises(HttpTimeoutError, match=r"timed out after 0\.\d\d s waiting for the response") as raised:
        await send_event(make_connector({"url": server.url()}, init))
    elapsed = time.monotonic() - started
    assert elapsed < 1.2 + 0.3
    assert len(server.received) == 3
    # The last attempt only had what was left of the deadline.
    assert "3 attempts in" in str(raised.value) and "0.50 s" not in str(raised.value)


@pytest.mark.asyncio
async def test_a_stalled_body_times_out_reading_the_response(server: Server) -> None:
    async def stalled(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"x" * 10)
        await server.stall()
        return response

    server.script = [stalled]
    init = {"timeout_seconds": 0.5, "deadline_seconds": 2.0, "max_attempts": 1}
    with pytest.raises(HttpTimeoutError, match="waiting for the rest of the HTTP 200 response"):
        await send_event(make_connector({"url": server.url()}, init))


@pytest.mark.asyncio
@pytest.mark.parametrize("behaviour", ["close", "reset"], ids=["disconnect", "reset"])
async def test_disconnect_and_reset_raise_the_connection_error_naming_host_and_port(
    raw_servers: list[RawServer], behaviour: str
) -> None:
    raw = await start_raw(raw_servers, behaviour)
    url = f"http://127.0.0.1:{raw.port}/hook?key={QUERY_SECRET}"
    with pytest.raises(HttpConnectionError, match=f"127.0.0.1:{raw.port}") as raised:
        await send_event(make_connector({"url": url}, {**FAST, "max_attempts": 2}))
    assert raw.connections == 2
    assert "2 attempts in" in str(raised.value)


@pytest.mark.asyncio
async def test_a_refused_port_raises_the_connection_error_naming_host_and_port() -> None:
    port = free_port()
    with pytest.raises(HttpConnectionError, match=f"cannot connect to 127.0.0.1:{port}: connection refused"):
        await send_event(make_connector({"url": f"http://127.0.0.1:{port}/hook"}, FAST))


class UnresolvableNames:
    """A resolver that knows no name, so that the test never asks a real DNS server."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    async def resolve(self, host: str, port: int = 0, family: object = None) -> list[dict[str, object]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


@pytest.mark.asyncio
async def test_an_unresolvable_host_raises_the_connection_error_naming_host_and_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", UnresolvableNames)
    with pytest.raises(HttpConnectionError, match=r"cannot resolve the host of hooks\.example\.invalid:8443"):
        await send_event(make_connector({"url": "https://hooks.example.invalid:8443/hook"}, FAST))


@pytest.mark.asyncio
async def test_many_connectors_share_one_session_and_its_keep_alive_connections(server: Server) -> None:
    for _ in range(20):
        await send_event(make_connector({"url": server.url()}))
    assert len({request.peer_port for request in server.received}) == 1
    session = await http_session()
    await asyncio.gather(*(send_event(make_connector({"url": server.url()})) for _ in range(100)))
    assert await http_session() is session
    assert len({request.peer_port for request in server.received}) <= CONNECTION_LIMIT_PER_HOST
    assert len(server.received) == 120


@pytest.mark.asyncio
async def test_two_event_loops_each_get_their_own_session(server: Server) -> None:
    def dispatch_on_a_new_loop() -> aiohttp.ClientSession:
        async def twice() -> aiohttp.ClientSession:
            await send_event(make_connector({"url": server.url()}))
            await send_event(make_connector({"url": server.url()}))
            return await http_session()

        return asyncio.run(twice())

    first, second = await asyncio.gather(
        asyncio.to_thread(dispatch_on_a_new_loop), asyncio.to_thread(dispatch_on_a_new_loop)
    )
    assert first is not second
    # Each loop kept one connection for its two dispatches, and closed its session as it ended.
    assert len({request.peer_port for request in server.received}) == 2
    assert first.closed and second.closed
    # The next session made drops the closed loops' entries from the registry.
    mine = await http_session()
    assert webhook_http._sessions.keys() == {asyncio.get_running_loop()}
    assert mine is not first and mine is not second


@pytest.mark.asyncio
async def test_a_closed_session_is_made_again(server: Server) -> None:
    await send_event(make_connector({"url": server.url()}))
    closed = await http_session()
    await closed.close()
    await send_event(make_connector({"url": server.url()}))
    assert await http_session() is not closed
    assert len(server.received) == 2


LEAK_CHECK = """
import asyncio

from aiohttp import web

from tracardi.process_engine.destination.webhook_http import (
    HttpSettings,
    close_http_sessions,
    deliver,
)


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def main() -> None:
    app = web.Application()
    app.router.add_post("/hook", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    settings = HttpSettings(url=f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
    await deliver(settings, b"{}", {})
    await close_http_sessions()
    await close_http_sessions()
    await deliver(settings, b"{}", {})
    await runner.cleanup()


asyncio.run(main())
print("delivered twice")
"""


def test_after_close_http_sessions_nothing_leaks_and_the_next_dispatch_works() -> None:
    # A fresh interpreter with every warning an error: an unclosed session, connector or
    # transport would print one at exit. The second session is left to asyncio.run to close.
    result = subprocess.run(
        [sys.executable, "-W", "error", "-X", "tracemalloc", "-c", LEAK_CHECK],
        cwd=os.getcwd(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "delivered twice"
    assert result.stderr == ""


@pytest.mark.asyncio
async def test_no_secret_or_query_value_in_any_error_or_log_line(
    server: Server, raw_servers: list[RawServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = await start_raw(raw_servers, "reset")
    credentials = {"auth_type": "bearer", "token": TOKEN, "signing_secret": SIGNING_SECRET}
    server.script = [status(503), status(503), status(500), status(401), status(400, text="bad")]
    errors: list[str] = []
    for url in (server.url(), server.url(), f"http://127.0.0.1:{raw.port}/x?key={QUERY_SECRET}"):
        try:
            await send_event(make_connector({"url": url, **credentials}, FAST))
        except HttpDeliveryError as error:
            errors.append(str(error))
    basic = {"url": server.url(), "auth_type": "basic", "username": "ann", "password": PASSWORD}
    for connector in (
        make_connector(basic, FAST),
        make_connector({"url": f"ftp://ann:{PASSWORD}@127.0.0.1/x?key={QUERY_SECRET}"}),
    ):
        try:
            await send_event(connector)
        except Exception as error:
            errors.append(str(error))
    # The test server's own access log shows the query; every other line is the destination's.
    lines = errors + [record.getMessage() for record in caplog.records if record.name != "aiohttp.access"]
    assert len(errors) == 5 and all(errors)
    assert not [line for line in lines if any(secret in line for secret in SECRETS)]


@pytest.mark.asyncio
async def test_profiles_and_events_with_production_and_debug_credentials(server: Server) -> None:
    production = {"url": server.url("/production"), "auth_type": "bearer", "token": "production-token"}
    test = {"url": server.url("/test"), "auth_type": "bearer", "token": "test-token"}
    await make_connector(production, test=test).dispatch_profile({"a": 1}, profile=PROFILE, session=None)
    await make_connector(production, test=test, debug=True).dispatch_profile({"a": 2}, PROFILE, SESSION)
    await send_event(make_connector(production, test=test, debug=True))
    first, second, third = server.received
    assert first.path_qs.startswith("/production") and first.headers["Authorization"] == "Bearer production-token"
    assert first.headers["tracardi-kind"] == "profile" and "tracardi-session-id" not in first.headers
    assert json.loads(first.body) == {"a": 1}
    assert second.path_qs.startswith("/test") and second.headers["Authorization"] == "Bearer test-token"
    assert second.headers["tracardi-session-id"] == "session-1"
    assert third.path_qs.startswith("/test") and third.headers["tracardi-kind"] == "event"


async def timed_failure(connector: WebhookConnector) -> tuple[float, str]:
    started = time.monotonic()
    with pytest.raises(HttpDeliveryError) as raised:
        await send_event(connector)
    return time.monotonic() - started, str(raised.value)


@pytest.mark.asyncio
async def test_a_silent_server_costs_one_slow_dispatch_then_fast_failures_then_recovers(
    raw_servers: list[RawServer],
) -> None:
    raw = await start_raw(raw_servers, "silent")
    init = {"timeout_seconds": 0.5, "max_attempts": 1, "unreachable_backoff_seconds": 1.0}
    connector = make_connector({"url": f"http://127.0.0.1:{raw.port}/hook"}, init)
    slow, first_error = await timed_failure(connector)
    assert slow >= 0.5 and "timed out" in first_error and f"127.0.0.1:{raw.port}" in first_error
    for _ in range(5):
        fast, error = await timed_failure(make_connector({"url": f"http://127.0.0.1:{raw.port}/hook"}, init))
        assert fast < 0.1
        assert error.startswith(first_error) and "not tried again for another" in error
    assert raw.connections == 1
    raw.behaviour = "answer"
    await asyncio.sleep(1.0)
    await send_event(make_connector({"url": f"http://127.0.0.1:{raw.port}/hook"}, init))
    await send_event(make_connector({"url": f"http://127.0.0.1:{raw.port}/hook"}, init))
    assert raw.connections == 3


@pytest.mark.asyncio
async def test_a_refused_port_fails_fast_in_its_window_and_recovers_once_a_server_listens(
    raw_servers: list[RawServer],
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    init = {**FAST, "max_attempts": 1, "unreachable_backoff_seconds": 1.0}
    _, first_error = await timed_failure(make_connector({"url": url}, init))
    assert f"cannot connect to 127.0.0.1:{port}" in first_error
    raw = await start_raw(raw_servers, "answer", port)
    fast, error = await timed_failure(make_connector({"url": url}, init))
    assert fast < 0.1 and error.startswith(first_error)
    assert raw.connections == 0
    await asyncio.sleep(1.0)
    await send_event(make_connector({"url": url}, init))
    await send_event(make_connector({"url": url}, init))
    assert raw.connections == 2
