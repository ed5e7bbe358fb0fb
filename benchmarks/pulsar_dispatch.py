"""Throughput, latency, event-loop lag and memory of Pulsar dispatch, in one table.

    ./dev bench                         # pulsar-lite started here, 20,000 events a scenario
    ./dev bench --events 5000           # quicker
    PULSAR_SERVICE_URL=... PULSAR_TOKEN=... ./dev bench   # against another broker

Scenarios:
  tutorial    the tutorial's connector: a new client and producer and a blocking send for
              every dispatch, inside the async method (closing the client, which the tutorial
              does not, so the process survives 20,000 of them)
  raw         pulsar-client alone: one batching producer, send_async without waiting: the ceiling
  rendered    the rendered PulsarConnector, a new instance for every dispatch as Tracardi does,
              with 1 and with 64 concurrent dispatchers
  loop lag    a 1 ms ticker's lateness while dispatching at a paced 500 a second

The ceiling and the 64-concurrent run alternate for --rounds rounds and the table shows each
one's median round: on a shared machine a single pair of runs can differ by a third.
"""

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from statistics import quantiles
from typing import Any

import pulsar

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from rendering import IGNORED, make_checkout  # noqa: E402


@dataclass
class Row:
    scenario: str
    events: int
    seconds: float
    latencies: list[float]
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def percentile(self, share: int) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return quantiles(self.latencies, n=100, method="inclusive")[share - 1] * 1000


def median_row(rows: list[Row]) -> Row:
    return sorted(rows, key=lambda row: row.rate)[(len(rows) - 1) // 2]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_example(workdir: Path) -> Any:
    """Put the committed Pulsar example in a stand-in Tracardi checkout; import its connector."""
    checkout = make_checkout(workdir / "checkout")
    shutil.copytree(
        REPO_ROOT / "generated_examples/pulsar", checkout, dirs_exist_ok=True, ignore=IGNORED
    )
    sys.path[:0] = [str(checkout), str(checkout / "test/integration/destination")]
    import tracardi.process_engine.destination.pulsar_connector as connector_module

    return connector_module


def start_pulsar_lite(workdir: Path) -> Any:
    """pulsar-lite on a free loopback port, started as the example's own broker tests start it."""
    from pulsar_lite.binary_finder import find_pulsar_lite_binary
    from test_pulsar_connector_broker import EmbeddedBroker

    broker = EmbeddedBroker(find_pulsar_lite_binary(), workdir)
    broker.start()
    return broker


class Fixtures:
    """The Tracardi objects a dispatch needs, built once as Tracardi's cache would hold them."""

    def __init__(self, service_url: str, token: str | None) -> None:
        from tracardi.domain.destination import Destination, DestinationConfig
        from tracardi.domain.entity import Entity
        from tracardi.domain.event import Event
        from tracardi.domain.event_metadata import EventMetadata
        from tracardi.domain.named_entity import NamedEntity
        from tracardi.domain.profile import Profile
        from tracardi.domain.resource import Resource, ResourceCredentials
        from tracardi.domain.session import Session, SessionMetadata
        from tracardi.domain.time import EventTime
        from tracardi.service.setup.destinations.pulsar_resource import PULSAR_RESOURCE

        assert PULSAR_RESOURCE.destination is not None
        registered_init = PULSAR_RESOURCE.destination.init or {}
        self.service_url, self.token = service_url, token
        credentials = {"host": service_url, **({"token": token} if token else {})}
        self.resource = Resource(
            id="r",
            name="Pulsar",
            type="apache-pulsar",
            credentials=ResourceCredentials(production=credentials, test=credentials),
        )
        self.make_destination = lambda topic: Destination(
            id="d",
            name="Pulsar destination",
            destination=DestinationConfig(
                package="tracardi.process_engine.destination.pulsar_connector.PulsarConnector",
                # As the form saves it: every init field, the topic filled in.
                init={**registered_init, "topic": topic},
            ),
            resource=Entity(id="r"),
            source=NamedEntity(id="s", name="s"),
        )
        self.profiles = [Profile(id=f"profile-{n % 500}") for n in range(500)]
        self.session = Session(id="session-1", metadata=SessionMetadata())
        self.event = Event(
            id="event-1",
            type="purchase-order",
            metadata=EventMetadata(time=EventTime()),
            source=Entity(id="source"),
        )
        self.data = {
            "order": {"id": "o-123", "total": 129.95, "currency": "EUR", "items": 3},
            "customer": {"email": "ann@example.com", "segment": "vip", "name": "Zoë"},
            "utm": {"source": "newsletter", "campaign": "spring"},
        }

    def topic(self) -> str:
        return f"persistent://public/default/bench-{uuid.uuid4().hex[:12]}"

    def authentication(self) -> pulsar.Authentication | None:
        return pulsar.AuthenticationToken(self.token) if self.token else None


async def run_dispatchers(
    events: int, concurrency: int, dispatch: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(events))

    async def worker() -> None:
        for number in counter:
            started = time.perf_counter()
            await dispatch(number)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def tutorial_connector(fixtures: Fixtures, topic: str) -> Callable[[int], Awaitable[None]]:
    async def dispatch(number: int) -> None:
        client = pulsar.Client(fixtures.service_url, authentication=fixtures.authentication())
        producer = client.create_producer(topic)
        producer.send(json.dumps(fixtures.data).encode())
        client.close()

    return dispatch


def rendered_connector(
    connector_module: Any, fixtures: Fixtures, topic: str
) -> Callable[[int], Awaitable[None]]:
    destination = fixtures.make_destination(topic)
    connector_class = connector_module.PulsarConnector

    async def dispatch(number: int) -> None:
        connector = connector_class(False, fixtures.resource, destination)
        await connector.dispatch_event(
            fixtures.data,
            profile=fixtures.profiles[number % 500],
            session=fixtures.session,
            event=fixtures.event,
        )

    return dispatch


def raw_ceiling(fixtures: Fixtures, events: int) -> Row:
    client = pulsar.Client(fixtures.service_url, authentication=fixtures.authentication())
    producer = client.create_producer(
        fixtures.topic(),
        batching_enabled=True,
        batching_max_publish_delay_ms=1,
        compression_type=pulsar.CompressionType.LZ4,
        block_if_queue_full=True,
        max_pending_messages=10000,
    )
    payload = json.dumps(fixtures.data).encode()
    # The same message the connector sends: the same payload, properties and key.
    properties = {
        "tracardi-kind": "event",
        "tracardi-profile-id": "profile-1",
        "tracardi-session-id": fixtures.session.id,
        "tracardi-event-id": fixtures.event.id,
        "tracardi-event-type": fixtures.event.type,
    }
    latencies: list[float] = []
    done = threading.Event()

    def sent(result: pulsar.Result, message_id: Any, started: float) -> None:
        latencies.append(time.perf_counter() - started)
        if len(latencies) == events:
            done.set()

    started = time.perf_counter()
    for number in range(events):
        at = time.perf_counter()
        producer.send_async(
            payload,
            lambda result, message_id, at=at: sent(result, message_id, at),
            properties={**properties, "tracardi-profile-id": f"profile-{number % 500}"},
            partition_key=f"profile-{number % 500}",
        )
    producer.flush()
    done.wait(60)
    seconds = time.perf_counter() - started
    client.close()
    return Row(
        "raw pulsar-client, batched send_async (ceiling)", events, seconds, latencies, rss_mb()
    )


async def loop_lag(
    dispatch: Callable[[int], Awaitable[None]], events: int, rate: int
) -> list[float]:
    """Lateness of a 1 ms ticker while `events` dispatches run at `rate` a second."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    async def paced() -> None:
        tasks = []
        started = time.perf_counter()
        for number in range(events):
            await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
            tasks.append(asyncio.ensure_future(dispatch(number)))
        await asyncio.gather(*tasks)
        stop.set()

    await asyncio.gather(ticker(), paced())
    return lags


def lag_row(name: str, lags: list[float]) -> str:
    lag_ms = sorted(lag * 1000 for lag in lags)
    p99 = quantiles(lag_ms, n=100, method="inclusive")[98]
    return f"| {name} | {p99:.2f} | {lag_ms[-1]:.2f} | {len(lag_ms)} |"


async def main_async(arguments: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="pulsar-bench-"))
    external = os.environ.get("PULSAR_SERVICE_URL")
    connector_module = load_example(workdir)
    broker = None
    if external:
        service_url, token = external, os.environ.get("PULSAR_TOKEN") or None
        broker_name = f"external broker at {service_url}"
    else:
        broker = start_pulsar_lite(workdir)
        service_url, token = broker.service_url, None
        broker_name = "pulsar-lite 0.2.0 (embedded)"
    try:
        fixtures = Fixtures(service_url, token)
        events = arguments.events
        rows: list[Row] = []
        memory: list[str] = []
        tutorial_events = min(events, arguments.tutorial_events)
        seconds, latencies = await run_dispatchers(
            tutorial_events, 1, tutorial_connector(fixtures, fixtures.topic())
        )
        rows.append(
            Row(
                "tutorial: client per message, blocking send",
                tutorial_events,
                seconds,
                latencies,
                rss_mb(),
            )
        )
        gc.collect()
        ceilings: list[Row] = []
        concurrent: list[Row] = []
        ratios: list[str] = []
        growth: dict[int, list[float]] = {1: [], 64: []}

        async def rendered_row(concurrency: int) -> Row:
            dispatch = rendered_connector(connector_module, fixtures, fixtures.topic())
            await dispatch(-1)  # connect outside the timed run, as a long-running Tracardi would be
            before = rss_mb()
            seconds, latencies = await run_dispatchers(events, concurrency, dispatch)
            after = rss_mb()
            growth[concurrency].append(after - before)
            return Row(
                f"rendered connector, {concurrency} concurrent", events, seconds, latencies, after
            )

        for _ in range(arguments.rounds):
            ceilings.append(raw_ceiling(fixtures, events))
            concurrent.append(await rendered_row(64))
            ratios.append(f"{concurrent[-1].rate / ceilings[-1].rate:.2f}")
        rows.append(median_row(ceilings))
        rows.append(await rendered_row(1))
        rows.append(median_row(concurrent))
        for concurrency, changes in growth.items():
            memory.append(
                f"x{concurrency}: " + ", ".join(f"{change:+.1f}" for change in changes) + " MB"
            )
        lag_events = arguments.lag_seconds * 500
        rendered_lags = await loop_lag(
            rendered_connector(connector_module, fixtures, fixtures.topic()), lag_events, 500
        )
        tutorial_lags = await loop_lag(
            tutorial_connector(fixtures, fixtures.topic()), min(lag_events, 500), 500
        )
        from tracardi.process_engine.destination.pulsar_producer import close_all_producers

        close_all_producers()
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    ceiling = rows[1].rate
    print(
        f"Pulsar dispatch benchmark, {date.today()}, {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pulsar-client {pulsar.__version__}, {broker_name}"
    )
    print()
    print("| scenario | events | msg/s | of ceiling | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row.scenario} | {row.events} | {row.rate:,.0f} | {row.rate / ceiling:.2f} | "
            f"{row.percentile(50):.2f} | {row.percentile(99):.2f} |"
        )
    print()
    print("| event-loop lag, 1 ms ticker, dispatching 500/s | p99 ms | max ms | ticks |")
    print("| --- | ---: | ---: | ---: |")
    print(lag_row(f"rendered connector, {lag_events} events", rendered_lags))
    print(lag_row(f"tutorial connector, {min(lag_events, 500)} events", tutorial_lags))
    print()
    print(
        f"64 concurrent / ceiling, round by round: {', '.join(ratios)}; "
        "the table shows each one's median round"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"Memory: peak RSS {peak:.1f} MB; RSS change over each timed run of {events:,} "
        "rendered dispatches, " + "; ".join(memory)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events a scenario")
    parser.add_argument(
        "--tutorial-events", type=int, default=20_000, help="cap for the slow tutorial scenario"
    )
    parser.add_argument("--lag-seconds", type=int, default=10, help="length of the paced run")
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of the ceiling and the 64-concurrent run"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
