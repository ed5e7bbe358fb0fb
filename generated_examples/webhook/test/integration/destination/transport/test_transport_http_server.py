"""The shared HTTP delivery against a real HTTP server, through its own API (no connector).

An aiohttp web server on a free loopback port answers as each test scripts it and records what
it received; a raw asyncio server stands in for peers that reset, drop or never answer. Nothing
here leaves 127.0.0.1, and nothing needs more than aiohttp, which Tracardi already depends on.
Settings are built from the same credential and init dicts a connector would validate.
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

from tracardi.process_engine.destination.transport import http as http_transport
from tracardi.process_engine.destination.transport.http import (
    CONNECTION_LIMIT_PER_HOST,
    AttemptFailed,
    HttpAuthError,
    HttpConnectionError,
    HttpDeliveryError,
    HttpRateLimitedError,
    HttpRejectedError,
    HttpServerError,
    HttpSettings,
    HttpTimeoutError,
    Timing,
    close_http_sessions,
    deliver,
    http_session,
    prepare,
    send_once,
)
from tracardi.process_engine.destination.transport.outages import Outages
from tracardi.process_engine.destination.transport.record import DispatchRecord

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
    monkeypatch.setattr(http_transport, "TIMING", Timing(uniform=lambda low, high: low))
    monkeypatch.setattr(http_transport, "outages", Outages())
    yield


DESTINATION = "Order hooks"
RESOURCE_TYPE = "order-hooks"
DATA = {"email": "ann@example.com", "name": "Zoë", "total": 12.5}
EVENT = DispatchRecord(DESTINATION, "event", DATA, "profile-1", "session-1", "event-1", "purchase-order")


# The credentials and init a destination's models give when only the URL is set: the defaults
# (and bounds) are the models', which these tests do not have.
UNSET: dict[str, Any] = {
    "auth_type": "none",
    "token": None,
    "username": None,
    "password": None,
    "api_key_header": "X-API-Key",
    "signing_secret": None,
    "ssl_ca_file": "",
    "method": "POST",
    "headers": {},
    "timeout_seconds": 10.0,
    "connect_timeout_seconds": 5.0,
    "max_attempts": 3,
    "deadline_seconds": 15.0,
    "max_retry_after_seconds": 10.0,
    "verify_tls": True,
    "max_body_bytes": 1024 * 1024,
    "unreachable_backoff_seconds": 5.0,
}


def settings(credentials: dict[str, Any], init: dict[str, Any] | None = None, **names: str) -> HttpSettings:
    """HttpSettings from a resource's credentials and a destination's init, as a connector makes them."""
    values = {
        "destination": DESTINATION,
        "resource_type": RESOURCE_TYPE,
        **UNSET,
        **names,
        **credentials,
        **(init or {}),
    }
    values["headers"] = tuple(values["headers"].items())
    return HttpSettings(**values)


async def send(request_settings: HttpSettings, record: DispatchRecord = EVENT) -> None:
    await deliver(request_settings, record.json_payload(), record.properties())


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_the_request_carries_the_method_headers_and_exact_body(server: Server, method: str) -> None:
    request_settings = settings({"url": server.url()}, {"method": method, "headers": {"X-Team": "blue"}})
    await send(request_settings)
    [request] = server.received
    assert request.method == method
    assert request.path_qs == f"/hook?key={QUERY_SECRET}"
    assert json.loads(request.body) == DATA
    assert request.body == EVENT.json_payload()
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(request.body))
    assert headers["X-Team"] == "blue"
    assert headers["User-Agent"] == f"Tracardi-order-hooks-destination aiohttp/{aiohttp.__version__}"
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
    request_settings = settings({"url": server.url(), "signing_secret": SIGNING_SECRET, **credentials}, FAST)
    await send(request_settings)
    assert len(server.received) == 3
    for request in server.received:
        assert request.headers[header] == value
        # Checked as a receiver checks it: over the bytes that arrived.
        assert request.headers["X-Signature-256"] == signature(request.body)


@pytest.mark.asyncio
async def test_503_503_200_delivers_in_three_requests_with_one_idempotency_key(server: Server) -> None:
    server.script = [status(503), status(503)]
    await send(settings({"url": server.url()}, FAST))
    assert len(server.received) == 3
    assert len({request.headers["Idempotency-Key"] for request in server.received}) == 1
    assert len({request.body for request in server.received}) == 1
    # The next dispatch is another delivery, with its own key.
    await send(settings({"url": server.url()}, FAST))
    assert server.received[3].headers["Idempotency-Key"] != server.received[0].headers["Idempotency-Key"]


@pytest.mark.asyncio
async def test_always_500_fails_after_max_attempts_requests(server: Server) -> None:
    server.script = [status(500)] * 10
    with pytest.raises(HttpServerError) as raised:
        await send(settings({"url": server.url()}, {**FAST, "max_attempts": 4}))
    assert len(server.received) == 4
    message = str(raised.value)
    assert "POST" in message and f"127.0.0.1:{server.port}/hook?key=***" in message
    assert "HTTP 500" in message and "4 attempts in" in message


@pytest.mark.asyncio
async def test_retry_after_in_seconds_is_honoured(server: Server) -> None:
    server.script = [status(429, {"Retry-After": "1"})]
    started = time.monotonic()
    await send(settings({"url": server.url()}, FAST))
    assert len(server.received) == 2
    assert time.monotonic() - started >= 1.0


@pytest.mark.asyncio
async def test_retry_after_as_a_date_is_honoured(server: Server) -> None:
    # An HTTP date counts whole seconds: two from now is one to two seconds away.
    server.script = [status(503, {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)})]
    started = time.monotonic()
    await send(settings({"url": server.url()}, FAST))
    assert len(server.received) == 2
    assert 0.9 <= time.monotonic() - started < 3.5


@pytest.mark.asyncio
@pytest.mark.parametrize("retry_after", ["30", "3"], ids=["over-max-retry-after", "over-the-deadline"])
async def test_retry_after_past_the_budget_fails_after_one_request(server: Server, retry_after: str) -> None:
    server.script = [status(429, {"Retry-After": retry_after})]
    init = {**FAST, "deadline_seconds": 2.0, "max_retry_after_seconds": 10.0}
    started = time.monotonic()
    with pytest.raises(HttpRateLimitedError, match="HTTP 429") as raised:
        await send(settings({"url": server.url()}, init))
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
        await send(settings({"url": server.url()}, FAST))
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
        await send(settings({"url": server.url()}, init))
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
        await send(settings({"url": server.url()}, init))


@pytest.mark.asyncio
@pytest.mark.parametrize("behaviour", ["close", "reset"], ids=["disconnect", "reset"])
async def test_disconnect_and_reset_raise_the_connection_error_naming_host_and_port(
    raw_servers: list[RawServer], behaviour: str
) -> None:
    raw = await start_raw(raw_servers, behaviour)
    url = f"http://127.0.0.1:{raw.port}/hook?key={QUERY_SECRET}"
    with pytest.raises(HttpConnectionError, match=f"127.0.0.1:{raw.port}") as raised:
        await send(settings({"url": url}, {**FAST, "max_attempts": 2}))
    assert raw.connections == 2
    assert "2 attempts in" in str(raised.value)


@pytest.mark.asyncio
async def test_a_refused_port_raises_the_connection_error_naming_host_and_port() -> None:
    port = free_port()
    with pytest.raises(HttpConnectionError, match=f"cannot connect to 127.0.0.1:{port}: connection refused"):
        await send(settings({"url": f"http://127.0.0.1:{port}/hook"}, FAST))


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
        await send(settings({"url": "https://hooks.example.invalid:8443/hook"}, FAST))


@pytest.mark.asyncio
async def test_many_dispatches_share_one_session_and_its_keep_alive_connections(server: Server) -> None:
    for _ in range(20):
        await send(settings({"url": server.url()}))
    assert len({request.peer_port for request in server.received}) == 1
    session = await http_session()
    await asyncio.gather(*(send(settings({"url": server.url()})) for _ in range(100)))
    assert await http_session() is session
    assert len({request.peer_port for request in server.received}) <= CONNECTION_LIMIT_PER_HOST
    assert len(server.received) == 120


@pytest.mark.asyncio
async def test_two_event_loops_each_get_their_own_session(server: Server) -> None:
    def dispatch_on_a_new_loop() -> aiohttp.ClientSession:
        async def twice() -> aiohttp.ClientSession:
            await send(settings({"url": server.url()}))
            await send(settings({"url": server.url()}))
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
    assert http_transport._sessions.keys() == {asyncio.get_running_loop()}
    assert mine is not first and mine is not second


@pytest.mark.asyncio
async def test_a_closed_session_is_made_again(server: Server) -> None:
    await send(settings({"url": server.url()}))
    closed = await http_session()
    await closed.close()
    await send(settings({"url": server.url()}))
    assert await http_session() is not closed
    assert len(server.received) == 2


LEAK_CHECK = """
import asyncio
import json
import sys

from aiohttp import web

from tracardi.process_engine.destination.transport.http import (
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
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    # The test module's UNSET, handed over as JSON.
    unset = {**json.loads(sys.argv[1]), "headers": ()}
    settings = HttpSettings(**{**unset, "destination": "Leak check", "resource_type": "leak-check", "url": url})
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
        [sys.executable, "-W", "error", "-X", "tracemalloc", "-c", LEAK_CHECK, json.dumps(UNSET)],
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
            await send(settings({"url": url, **credentials}, FAST))
        except HttpDeliveryError as error:
            errors.append(str(error))
    basic = {"url": server.url(), "auth_type": "basic", "username": "ann", "password": PASSWORD}
    for request_settings in (
        settings(basic, FAST),
        settings({"url": f"ftp://ann:{PASSWORD}@127.0.0.1/x?key={QUERY_SECRET}"}),
    ):
        try:
            await send(request_settings)
        except Exception as error:
            errors.append(str(error))
    # The test server's own access log shows the query; every other line is the destination's.
    lines = errors + [record.getMessage() for record in caplog.records if record.name != "aiohttp.access"]
    assert len(errors) == 5 and all(errors)
    assert not [line for line in lines if any(secret in line for secret in SECRETS)]


async def timed_failure(request_settings: HttpSettings) -> tuple[float, str]:
    started = time.monotonic()
    with pytest.raises(HttpDeliveryError) as raised:
        await send(request_settings)
    return time.monotonic() - started, str(raised.value)


@pytest.mark.asyncio
async def test_a_silent_server_costs_one_slow_dispatch_then_fast_failures_then_recovers(
    raw_servers: list[RawServer],
) -> None:
    raw = await start_raw(raw_servers, "silent")
    init = {"timeout_seconds": 0.5, "max_attempts": 1, "unreachable_backoff_seconds": 1.0}
    request_settings = settings({"url": f"http://127.0.0.1:{raw.port}/hook"}, init)
    slow, first_error = await timed_failure(request_settings)
    assert slow >= 0.5 and "timed out" in first_error and f"127.0.0.1:{raw.port}" in first_error
    for _ in range(5):
        fast, error = await timed_failure(settings({"url": f"http://127.0.0.1:{raw.port}/hook"}, init))
        assert fast < 0.1
        assert error.startswith(first_error) and "not tried again for another" in error
    assert raw.connections == 1
    raw.behaviour = "answer"
    await asyncio.sleep(1.0)
    await send(settings({"url": f"http://127.0.0.1:{raw.port}/hook"}, init))
    await send(settings({"url": f"http://127.0.0.1:{raw.port}/hook"}, init))
    assert raw.connections == 3


@pytest.mark.asyncio
async def test_a_refused_port_fails_fast_in_its_window_and_recovers_once_a_server_listens(
    raw_servers: list[RawServer],
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    init = {**FAST, "max_attempts": 1, "unreachable_backoff_seconds": 1.0}
    _, first_error = await timed_failure(settings({"url": url}, init))
    assert f"cannot connect to 127.0.0.1:{port}" in first_error
    raw = await start_raw(raw_servers, "answer", port)
    fast, error = await timed_failure(settings({"url": url}, init))
    assert fast < 0.1 and error.startswith(first_error)
    assert raw.connections == 0
    await asyncio.sleep(1.0)
    await send(settings({"url": url}, init))
    await send(settings({"url": url}, init))
    assert raw.connections == 2


@pytest.mark.asyncio
async def test_two_destinations_share_one_session_and_its_keep_alive_connections(server: Server) -> None:
    orders = settings({"url": server.url("/orders")})
    crm = settings({"url": server.url("/crm")}, destination="CRM hooks", resource_type="crm-hooks")
    await send(orders)
    session = await http_session()
    for request_settings in (crm, orders, crm):
        await send(request_settings)
    assert await http_session() is session
    assert [request.path_qs.split("?")[0] for request in server.received] == ["/orders", "/crm", "/orders", "/crm"]
    assert len({request.peer_port for request in server.received}) == 1
    agents = [request.headers["User-Agent"].split()[0] for request in server.received]
    assert agents == ["Tracardi-order-hooks-destination", "Tracardi-crm-hooks-destination"] * 2


@pytest.mark.asyncio
async def test_two_destinations_share_the_outage_window_of_their_endpoint(raw_servers: list[RawServer]) -> None:
    raw = await start_raw(raw_servers, "silent")
    init = {"timeout_seconds": 0.5, "max_attempts": 1, "unreachable_backoff_seconds": 1.0}
    orders = settings({"url": f"http://127.0.0.1:{raw.port}/orders"}, init)
    crm = settings({"url": f"http://127.0.0.1:{raw.port}/crm"}, init, destination="CRM hooks")
    slow, first_error = await timed_failure(orders)
    assert slow >= 0.5 and first_error.startswith(f"Order hooks: POST http://127.0.0.1:{raw.port}/orders failed")
    # The other destination's dispatch fails at once with the error that opened the window.
    fast, error = await timed_failure(crm)
    assert fast < 0.1 and error.startswith(first_error) and "not tried again for another" in error
    assert raw.connections == 1
    raw.behaviour = "answer"
    await asyncio.sleep(1.0)
    # One probe after the window, by whichever destination comes first, reopens it for both.
    await send(crm)
    await send(orders)
    assert raw.connections == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("given", [0.0, -0.5], ids=["no-time", "less-than-none"])
async def test_an_attempt_given_no_time_sends_nothing(raw_servers: list[RawServer], given: float) -> None:
    # aiohttp takes a total timeout of 0 or less for no timeout: such a request to a silent
    # server would wait for ever.
    raw = await start_raw(raw_servers, "silent")
    request = prepare(settings({"url": f"http://127.0.0.1:{raw.port}/hook"}), b"{}", {})
    with pytest.raises(AttemptFailed) as raised:
        await asyncio.wait_for(send_once(request, given), 2.0)
    assert raised.value.error_type is HttpTimeoutError and "no time left" in raised.value.problem
    assert raw.connections == 0


@pytest.mark.asyncio
async def test_a_free_connection_that_comes_after_the_attempts_time_is_up_sends_nothing(
    raw_servers: list[RawServer],
) -> None:
    raw = await start_raw(raw_servers, "silent")
    request = prepare(settings({"url": f"http://127.0.0.1:{raw.port}/hook"}), b"{}", {})
    gate = (await http_transport._loop_session()).gates[request.endpoint] = http_transport._FairGate(1)
    assert gate.try_enter()
    waiting = asyncio.create_task(send_once(request, 0.05))
    await asyncio.sleep(0)
    # The loop is held up past the waiter's deadline, and the place is freed before its timer
    # runs: the waiter gets the place with no time left of its attempt.
    time.sleep(0.1)
    gate.leave()
    with pytest.raises(AttemptFailed) as raised:
        await asyncio.wait_for(waiting, 2.0)
    assert raised.value.error_type is HttpTimeoutError
    assert f"no free connection to 127.0.0.1:{raw.port} within 0.05 s" in raised.value.problem
    assert raw.connections == 0
    # The place it was given is free again.
    assert gate.try_enter()


@pytest.mark.asyncio
async def test_an_endless_2xx_body_is_read_only_so_far_then_its_connection_closed(server: Server) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            while not server.stopping.is_set():
                await response.write(b"x" * 65536)
        return response

    server.script = [endless]
    started = time.monotonic()
    await send(settings({"url": server.url()}, {"timeout_seconds": 3.0, "max_attempts": 1}))
    assert time.monotonic() - started < 1.0
    # The rest was never read, so the connection could not serve another request.
    await send(settings({"url": server.url()}))
    first, second = server.received
    assert first.peer_port != second.peer_port


@pytest.mark.asyncio
@pytest.mark.parametrize(("size", "kept"), [(0, True), (64 * 1024, True), (4 * 1024 * 1024, False)])
async def test_a_long_2xx_body_is_not_read_to_its_end_and_its_connection_is_closed(
    server: Server, size: int, kept: bool
) -> None:
    # aiohttp stops reading the socket at 128 KiB unread, so 4 MiB cannot all have arrived.
    async def sized(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * size)

    server.script = [sized]
    await send(settings({"url": server.url()}))
    await send(settings({"url": server.url()}))
    first, second = server.received
    assert (first.peer_port == second.peer_port) is kept


@pytest.mark.asyncio
@pytest.mark.parametrize(("answer", "window"), [("503", False), ("refused", True)])
async def test_a_deadline_passed_between_attempts_opens_a_window_only_if_the_last_attempt_got_no_answer(
    server: Server, answer: str, window: bool
) -> None:
    server.script = [status(503)]
    url = server.url() if answer == "503" else f"http://127.0.0.1:{free_port()}/hook"
    request_settings = settings({"url": url}, {"deadline_seconds": 0.5, "unreachable_backoff_seconds": 30.0})

    async def late(seconds: float) -> None:
        await asyncio.sleep(seconds + 0.6)

    timing = Timing(sleep=late, uniform=lambda low, high: low)
    with pytest.raises(HttpTimeoutError, match=r"deadline_seconds \(0\.5 s\) passed before attempt 2 could start"):
        await deliver(request_settings, b"{}", {}, timing=timing)
    if window:
        with pytest.raises(HttpTimeoutError, match="not tried again for another"):
            await send(request_settings)
    else:
        await send(request_settings)
        assert len(server.received) == 2
