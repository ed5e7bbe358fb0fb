"""Throughput, latency, event-loop lag and memory of HTTP dispatch, in one table.

    python benchmarks/http_dispatch.py                 # 3 rounds, 3,000 dispatches a run
    python benchmarks/http_dispatch.py --events 1000   # quicker

The server is a plain aiohttp web application answering 200 to every POST, in a process of its
own on a free loopback port, so that its work does not share the dispatching event loop.

Scenarios, each at 1, 64 and 256 concurrent dispatchers (every dispatcher awaits its answer):
  rendered     the committed webhook example's WebhookConnector, a NEW instance per dispatch as
               Tracardi builds it, through its shared per-loop session
  raw          aiohttp alone with one shared ClientSession, posting the same bytes with the
               same headers and reading each answer: the strongest honest baseline
  per-session  Tracardi's own http_connector approach: a new ClientSession (and so a new
               connection) for every dispatch
  loop lag     a 1 ms ticker's lateness while the rendered connector dispatches a paced 500/s

The rendered and raw runs alternate for --rounds rounds (each going first in every other round)
and the table shows each one's median round, with the ratio to raw taken within each round (its
median, and its range over the rounds): on a shared machine, absolute figures move by a third
from one minute to the next.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import aiohttp
from harness import Dispatch, Run, loop_lag, median_run, rss_mb
from harness import dispatch_concurrently as timed

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "generated_examples" / "webhook"
STAND_IN = REPO_ROOT / "tests" / "tracardi_host" / "tracardi"

SERVER = """
import sys
from aiohttp import web

async def ok(request):
    await request.read()
    return web.Response(text="ok")

app = web.Application()
app.router.add_post("/hook", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    deadline = time.monotonic() + 20
    import socket

    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}/hook"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the benchmark's aiohttp server did not start")


def import_example(workdir: Path) -> Any:
    """The committed webhook example, imported from a checkout laid out like Tracardi's."""
    shutil.copytree(STAND_IN, workdir / "tracardi", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXAMPLE / "tracardi", workdir / "tracardi", dirs_exist_ok=True)
    sys.path.insert(0, str(workdir))
    import importlib

    return importlib.import_module("tracardi.process_engine.destination.webhook_connector")


def rendered_dispatch(url: str) -> Dispatch:
    connector_module = import_example(Path(tempfile.mkdtemp(prefix="http-bench-")))
    from tracardi.domain.destination import Destination, DestinationConfig
    from tracardi.domain.entity import Entity
    from tracardi.domain.named_entity import NamedEntity
    from tracardi.domain.profile import Profile
    from tracardi.domain.resource import Resource, ResourceCredentials
    from tracardi.service.setup.destinations.webhook_resource import WEBHOOK_RESOURCE

    registered = WEBHOOK_RESOURCE.destination
    assert registered is not None
    resource = Resource(
        id="resource-1",
        name="Webhook",
        type="webhook",
        credentials=ResourceCredentials(production={"url": url}, test={}),
    )
    destination = Destination(
        id="destination-1",
        name="Webhook destination",
        destination=DestinationConfig(package=registered.package, init=dict(registered.init or {})),
        resource=Entity(id="resource-1"),
        source=NamedEntity(id="source-1", name="Source"),
    )
    profiles = [Profile(id=f"profile-{number}") for number in range(500)]

    async def dispatch(number: int) -> None:
        # A new connector for every dispatch, as Tracardi builds one.
        connector = connector_module.WebhookConnector(False, resource, destination)
        profile = profiles[number % 500]
        await connector.dispatch_profile(payload(number), profile, None)

    return dispatch


def payload(number: int) -> dict[str, Any]:
    return {
        "id": f"profile-{number % 500}",
        "traits": {"plan": "pro", "visits": number},
        "email": "ann@example.com",
    }


def raw_dispatch(url: str, session: aiohttp.ClientSession) -> Dispatch:
    async def dispatch(number: int) -> None:
        body = json.dumps(payload(number), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "tracardi-kind": "profile"}
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            response.raise_for_status()

    return dispatch


def session_per_dispatch(url: str) -> Dispatch:
    async def dispatch(number: int) -> None:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(url, json={"data": payload(number), "changes": []}) as response,
        ):
            await response.read()

    return dispatch


def row(name: str, concurrency: int, run: Run, ratio: str) -> str:
    return (
        f"| {name} | {concurrency} | {run.rate:,.0f} | {run.percentile(50):.2f} "
        f"| {run.percentile(99):.2f} "
        f"| {run.cpu_seconds / run.events * 1e6:.0f} | {ratio} | {run.rss_change_mb:+.1f} |"
    )


async def benchmark(options: argparse.Namespace, url: str) -> None:
    rendered = rendered_dispatch(url)
    connector_module = sys.modules["tracardi.process_engine.destination.webhook_http"]
    async with aiohttp.ClientSession() as session:
        raw = raw_dispatch(url, session)
        lines = []
        for concurrency in options.concurrency:
            events = options.events if concurrency > 1 else options.events_at_1
            pairs: list[tuple[Run, Run]] = []
            for number in range(options.rounds):
                # Each goes first in every other round, so that a drift in the machine's load
                # does not favour either.
                if number % 2:
                    theirs_first = await timed(events, concurrency, raw)
                    pairs.append((await timed(events, concurrency, rendered), theirs_first))
                else:
                    pairs.append(
                        (
                            await timed(events, concurrency, rendered),
                            await timed(events, concurrency, raw),
                        )
                    )
            ratios = [mine.rate / theirs.rate for mine, theirs in pairs]
            spread = f"{median(ratios):.2f} ({min(ratios):.2f} to {max(ratios):.2f})"
            mine = median_run([pair[0] for pair in pairs])
            theirs = median_run([pair[1] for pair in pairs])
            per_session = await timed(max(events // 4, 100), concurrency, session_per_dispatch(url))
            lines.append(row("rendered (new instance each)", concurrency, mine, spread))
            lines.append(row("raw aiohttp, one session", concurrency, theirs, "1.00"))
            lines.append(
                row(
                    "session per dispatch",
                    concurrency,
                    per_session,
                    f"{per_session.rate / theirs.rate:.2f}",
                )
            )
        lags = await loop_lag(rendered, options.lag_events, 500)
        rss_after = rss_mb()
    await connector_module.close_http_sessions()
    print(f"HTTP dispatch, {date_line()}")
    print()
    print(
        "| scenario | concurrency | msg/s | p50 ms | p99 ms | loop CPU µs/msg | ratio to raw "
        "| RSS change MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    print()
    lag_ms = quantiles(lags, n=100, method="inclusive")
    print(
        "Loop lag while the rendered connector dispatches a paced 500/s "
        f"({options.lag_events} dispatches): p50 {lag_ms[49] * 1000:.2f} ms, "
        f"p99 {lag_ms[98] * 1000:.2f} ms, max {max(lags) * 1000:.2f} ms; "
        f"RSS at the end {rss_after:.0f} MB"
    )


def date_line() -> str:
    return (
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs (shared), server: aiohttp in its own process on 127.0.0.1"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=3000, help="dispatches a run (at concurrency > 1)"
    )
    parser.add_argument(
        "--events-at-1", type=int, default=1000, help="dispatches a run at concurrency 1"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--lag-events", type=int, default=2500)
    options = parser.parse_args()
    process, url = start_server()
    try:
        asyncio.run(benchmark(options, url))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
