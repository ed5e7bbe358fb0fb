"""The HTTP rows of the dispatch benchmark (benchmarks/harness.py says how it runs).

    ./dev bench --transport http
    ./dev bench --transport http --events 5000 --rounds 3 --concurrency 1,64,256

The server is a plain aiohttp web application answering 200 to every POST, in a process of its
own on a free loopback port, so that its work does not share the dispatching event loop.

Every scenario but the last sends the same request on the wire, which the benchmark checks
before it starts (the server shows it the last request it got): POST to the same URL, the same
JSON body bytes (the committed webhook example's compact UTF-8 JSON of the record), and the
same headers in the same order: tracardi-kind, tracardi-profile-id, User-Agent, Content-Type
and an Idempotency-Key unique per request (the rendered one a random UUID, the raw one the
cheapest unique text, ``bench-<number>-<counter>``), besides what aiohttp adds to both.
  rendered     the example's WebhookConnector, a NEW instance per dispatch as Tracardi builds
               it, through its shared per-loop session (dispatch_profile, no session)
  closed loop  aiohttp alone: one shared ClientSession with the runtime module's connection
               pool (TCPConnector limit 100, 64 per host) and cookie jar (none), the URL parsed
               once, each request's answer read and its status checked, awaited
  open loop    the same raw request, every one of a run's requests at once on that session
               (asyncio.gather): the ceiling
  other        Tracardi's own http_connector approach: a new ClientSession, and so a new
               connection, for every dispatch, posting {"data": ..., "changes": []}
The runtime module's session (tracardi.process_engine.destination.transport.http, shared by every
http destination) is closed at the end (close_http_sessions()).
"""

import asyncio
import contextlib
import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import harness
from yarl import URL

SERVER = """
import sys
from aiohttp import web

last = [None]

async def hook(request):
    body = await request.read()
    last[0] = (request, body)
    return web.Response(text="ok")

async def last_request(request):
    seen, body = last[0]
    headers = [[name.decode(), value.decode()] for name, value in seen.raw_headers]
    return web.json_response(
        {"method": seen.method, "path": seen.raw_path, "headers": headers, "body": body.decode()}
    )

app = web.Application()
app.router.add_post("/hook", hook)
app.router.add_get("/last", last_request)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the benchmark's aiohttp server did not start")


def payload(number: int) -> dict[str, Any]:
    return {
        "id": f"profile-{number % harness.PROFILES}",
        "traits": {"plan": "pro", "visits": number},
        "email": "ann@example.com",
        "name": "Zoë",
    }


class HttpBench:
    """The ways to send the records, against one server."""

    name = "http"

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        harness.example_checkout("webhook")
        import tracardi.process_engine.destination.transport.http as http_module
        import tracardi.process_engine.destination.webhook_connector as connector_module
        from tracardi.domain.destination import Destination, DestinationConfig
        from tracardi.domain.entity import Entity
        from tracardi.domain.named_entity import NamedEntity
        from tracardi.domain.profile import Profile
        from tracardi.domain.resource import Resource, ResourceCredentials
        from tracardi.service.setup.destinations.webhook_resource import WEBHOOK_RESOURCE

        self.connector_module, self.http_module = connector_module, http_module
        self.server = f"aiohttp {aiohttp.__version__} server in its own process on 127.0.0.1"
        self.versions = f"aiohttp {aiohttp.__version__}"
        self.base_url = base_url
        self.url = f"{base_url}/hook"
        self.session = session
        registered = WEBHOOK_RESOURCE.destination
        assert registered is not None
        self.resource = Resource(
            id="resource-1",
            name="Webhook",
            type="webhook",
            credentials=ResourceCredentials(production={"url": self.url}, test={}),
        )
        # As the form saves it: every init field with its default.
        self.destination = Destination(
            id="destination-1",
            name="Webhook destination",
            destination=DestinationConfig(
                package=registered.package, init=dict(registered.init or {})
            ),
            resource=Entity(id="resource-1"),
            source=NamedEntity(id="source-1", name="Source"),
        )
        self.profiles = [Profile(id=f"profile-{number}") for number in range(harness.PROFILES)]
        self.others = {
            "Tracardi's http_connector: a session per dispatch": self.session_per_dispatch
        }
        self._raw = self._raw_dispatch()

    def rendered(self) -> harness.Dispatch:
        connector_class = self.connector_module.WebhookConnector
        resource, destination, profiles = self.resource, self.destination, self.profiles

        async def dispatch(number: int) -> None:
            # A new connector for every dispatch, as Tracardi builds one.
            connector = connector_class(False, resource, destination)
            profile = profiles[number % harness.PROFILES]
            await connector.dispatch_profile(payload(number), profile, None)

        return dispatch

    def _raw_dispatch(self) -> harness.Dispatch:
        session = self.session
        # What the rendered request carries, found the cheapest way a raw client can: the URL
        # parsed once, an encoder made once, the fixed header values as constants.
        url = URL(self.url)
        encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        user_agent = self.http_module.user_agent("webhook")
        counter = itertools.count()

        async def dispatch(number: int) -> None:
            body = encode(payload(number)).encode()
            headers = {
                "tracardi-kind": "profile",
                "tracardi-profile-id": f"profile-{number % harness.PROFILES}",
                "User-Agent": user_agent,
                "Content-Type": "application/json",
                "Idempotency-Key": f"bench-{number}-{next(counter)}",
            }
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    raise RuntimeError(f"HTTP {response.status} from {url}")

        return dispatch

    def closed_loop(self) -> harness.Dispatch:
        return self._raw

    async def open_loop(self, events: int) -> harness.OpenLoop:
        send = self._raw
        await send(-1)
        cpu_started, started = time.thread_time(), time.perf_counter()
        await asyncio.gather(*(send(number) for number in range(events)))
        seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
        return harness.OpenLoop(seconds, cpu_seconds)

    def session_per_dispatch(self) -> harness.Dispatch:
        url = self.url

        async def dispatch(number: int) -> None:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
                session.post(url, json={"data": payload(number), "changes": []}) as response,
            ):
                await response.read()
                response.raise_for_status()

        return dispatch

    async def last_request(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base_url}/last") as response:
            seen: dict[str, Any] = await response.json()
            return seen

    async def check_same_request(self) -> None:
        """Stop unless the raw closed loop sends what the rendered connector sends."""
        await self.rendered()(7)
        ours = await self.last_request()
        await self._raw(7)
        theirs = await self.last_request()
        keys = []
        for seen in (ours, theirs):
            # Unique per request, so never equal; the rest must be.
            for header in seen["headers"]:
                if header[0] == "Idempotency-Key":
                    keys.append(header[1])
                    header[1] = "<unique>"
        if ours != theirs or len(keys) != 2:
            raise SystemExit(
                "The raw closed loop does not send the rendered connector's request:\n"
                f"rendered: {ours}\nraw:      {theirs}"
            )

    async def close(self) -> None:
        await self.http_module.close_http_sessions()


@contextlib.asynccontextmanager
async def bench(options: Any) -> AsyncIterator[HttpBench]:
    process, base_url = start_server()
    try:
        harness.example_checkout("webhook")
        from tracardi.process_engine.destination.transport.http import (
            CONNECTION_LIMIT,
            CONNECTION_LIMIT_PER_HOST,
        )

        # The runtime module's own pool and cookie jar, so that both wait for the same
        # connections and neither handles cookies.
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=CONNECTION_LIMIT, limit_per_host=CONNECTION_LIMIT_PER_HOST
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
        ) as session:
            transport = HttpBench(base_url, session)
            try:
                await transport.check_same_request()
                yield transport
            finally:
                await transport.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    harness.main(["http"])
