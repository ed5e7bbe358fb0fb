"""The Kafka rows of the dispatch benchmark, against a broker named by the environment.

    scripts/apache-kafka run -- .venv/bin/python benchmarks/kafka_dispatch.py
    .venv/bin/python benchmarks/kafka_dispatch.py --events 5000 --rounds 3   # KAFKA_* set

Standalone for now: the shared harness (benchmarks/harness.py on the pulsar branch) calls a
transport's open loop synchronously on the event loop's thread, which an asyncio client such as
aiokafka cannot do; with that call awaited, the three scenarios below plug into it as they are.

All scenarios send the same records: the payload below as JSON (about 250 bytes), the five
tracardi-* headers, the profile id as key, with the example's default init (acks all, gzip,
idempotence, linger 1 ms), through the PLAIN user over SASL_PLAINTEXT:
  rendered     the example's KafkaConnector, a new instance per dispatch, as Tracardi does
  closed loop  aiokafka alone, one producer, each record's send awaited to its acknowledgement,
               with as many in flight as the rendered connector has dispatches
  open loop    aiokafka alone, every record sent at once, then all acknowledgements awaited
Each timed run gets a fresh topic of three partitions and sends one untimed record first.
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import aiokafka
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

try:
    from aiokafka.admin import NewTopic
except ImportError:  # aiokafka 0.8 takes it from kafka-python
    from kafka.admin import NewTopic

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "scripts")]

from harness import Dispatch, dispatch_concurrently, loop_lag, rss_mb  # noqa: E402
from rendering import IGNORED, make_checkout  # noqa: E402

PROFILES = 500
PAYLOAD = {
    "email": "ann@example.com",
    "name": "Ann Example",
    "visits": 12,
    "plan": "pro",
    "consents": {"marketing": True, "analytics": False},
    "last_order": {"id": "order-1234", "total": "99.50", "currency": "EUR"},
    "tags": ["returning", "newsletter"],
}


class KafkaBench:
    def __init__(self, connector_module: Any) -> None:
        from tracardi.domain.destination import Destination, DestinationConfig
        from tracardi.domain.entity import Entity
        from tracardi.domain.event import Event
        from tracardi.domain.event_metadata import EventMetadata
        from tracardi.domain.named_entity import NamedEntity
        from tracardi.domain.profile import Profile
        from tracardi.domain.resource import Resource, ResourceCredentials
        from tracardi.domain.session import Session, SessionMetadata
        from tracardi.domain.time import EventTime
        from tracardi.service.setup.destinations.kafka_resource import KAFKA_RESOURCE

        self.module = connector_module
        self.servers = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        self.user = (os.environ["KAFKA_PLAIN_USERNAME"], os.environ["KAFKA_PLAIN_PASSWORD"])
        self.admin = (os.environ["KAFKA_ADMIN_USERNAME"], os.environ["KAFKA_ADMIN_PASSWORD"])
        registered = KAFKA_RESOURCE.destination
        assert registered is not None
        self.init = dict(registered.init or {})
        self.credentials = {
            "bootstrap_servers": self.servers,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "username": self.user[0],
            "password": self.user[1],
        }
        self.resource = Resource(
            id="resource-1",
            name="Apache Kafka",
            type="apache-kafka",
            credentials=ResourceCredentials(production=self.credentials, test={}),
        )
        self.make_destination = lambda topic: Destination(
            id="destination-1",
            name="Apache Kafka destination",
            destination=DestinationConfig(
                package=registered.package, init={**self.init, "topic": topic}
            ),
            resource=Entity(id="resource-1"),
            source=NamedEntity(id="source-1", name="Source"),
        )
        self.profiles = [Profile(id=f"profile-{number}") for number in range(PROFILES)]
        self.session = Session(id="session-1", metadata=SessionMetadata())
        self.event = Event(
            id="event-1",
            type="page-view",
            metadata=EventMetadata(time=EventTime()),
            source=Entity(id="source-1"),
        )

    def client_options(self, user: tuple[str, str]) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.servers,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user[0],
            "sasl_plain_password": user[1],
        }

    def producer_options(self) -> dict[str, Any]:
        return {
            **self.client_options(self.user),
            "acks": "all",
            "compression_type": "gzip",
            "enable_idempotence": True,
            "linger_ms": self.init["linger_ms"],
        }

    async def new_topic(self) -> str:
        topic = f"tracardi-bench-{uuid.uuid4().hex}"
        admin = AIOKafkaAdminClient(**self.client_options(self.admin))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 3, 1)])
        finally:
            await admin.close()
        return topic

    async def rendered(self) -> Dispatch:
        topic = await self.new_topic()
        destination = self.make_destination(topic)
        connector_class = self.module.KafkaConnector

        async def dispatch(number: int) -> None:
            connector = connector_class(False, self.resource, destination)
            await connector.dispatch_event(
                PAYLOAD,
                profile=self.profiles[number % PROFILES],
                session=self.session,
                event=self.event,
            )

        await dispatch(-1)
        return dispatch

    def raw_record(self, number: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        profile_id = f"profile-{number % PROFILES}"
        headers = {
            "tracardi-kind": "event",
            "tracardi-profile-id": profile_id,
            "tracardi-session-id": "session-1",
            "tracardi-event-id": "event-1",
            "tracardi-event-type": "page-view",
        }
        value = json.dumps(PAYLOAD, separators=(",", ":"), default=str, ensure_ascii=False).encode()
        return value, profile_id.encode(), [(name, text.encode()) for name, text in headers.items()]

    async def closed_loop(self) -> tuple[Dispatch, AIOKafkaProducer]:
        topic = await self.new_topic()
        producer = AIOKafkaProducer(**self.producer_options())
        await producer.start()

        async def dispatch(number: int) -> None:
            value, key, headers = self.raw_record(number)
            await (await producer.send(topic, value, key=key, headers=headers))

        await dispatch(-1)
        return dispatch, producer

    async def open_loop(self, events: int) -> float:
        topic = await self.new_topic()
        producer = AIOKafkaProducer(**self.producer_options())
        await producer.start()
        try:
            value, key, headers = self.raw_record(0)
            await (await producer.send(topic, value, key=key, headers=headers))
            started = time.perf_counter()
            deliveries = []
            for number in range(events):
                value, key, headers = self.raw_record(number)
                deliveries.append(await producer.send(topic, value, key=key, headers=headers))
            await asyncio.gather(*deliveries)
            return time.perf_counter() - started
        finally:
            await producer.stop()


def percentile(values: list[float], point: int) -> float:
    return quantiles(values, n=100)[point - 1] if len(values) > 1 else values[0]


async def run(options: argparse.Namespace, module: Any) -> None:
    bench = KafkaBench(module)
    print(
        f"# Kafka dispatch benchmark ({platform.python_version()}, aiokafka {aiokafka.__version__})"
    )
    print(f"server: Apache Kafka at {bench.servers} (SASL PLAIN), {os.cpu_count()} CPUs, shared\n")
    rows: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    rss_before = rss_mb()
    rss_after_rendered = rss_before
    for round_number in range(options.rounds):
        for concurrency in options.concurrency:
            events = options.events_at_1 if concurrency == 1 else options.events
            # Alternate which goes first, so that a load that rises or falls during a round
            # favours neither.
            order = ["rendered", "closed loop"]
            for scenario in order if round_number % 2 == 0 else order[::-1]:
                if scenario == "rendered":
                    rendered = await bench.rendered()
                    result = await dispatch_concurrently(events, concurrency, rendered)
                    rss_after_rendered = max(rss_after_rendered, rss_mb())
                else:
                    raw, producer = await bench.closed_loop()
                    result = await dispatch_concurrently(events, concurrency, raw)
                    await producer.stop()
                rows.setdefault((scenario, concurrency), []).append(
                    (result.rate, result.percentile(50), result.percentile(99))
                )
        wall = await bench.open_loop(options.events)
        rows.setdefault(("open loop", 0), []).append((options.events / wall, 0.0, 0.0))
        print(f"round {round_number + 1} of {options.rounds} done", file=sys.stderr)
    lag_events = int(options.lag_rate * options.lag_seconds)
    lags = await loop_lag(await bench.rendered(), lag_events, options.lag_rate)
    await module_close(module)

    print("| scenario | concurrency | records/s (median) | p50 ms | p99 ms | rounds (records/s) |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for (scenario, concurrency), runs in rows.items():
        best = sorted(runs)[len(runs) // 2]
        shown = "all at once" if concurrency == 0 else str(concurrency)
        rates = ", ".join(f"{run[0]:,.0f}" for run in runs)
        print(
            f"| {scenario} | {shown} | {best[0]:,.0f} | {best[1]:.2f} | {best[2]:.2f} | {rates} |"
        )
    print()
    # Each round's rendered and raw runs follow one another, so their ratio is what to read on
    # a shared machine whose load swings between rounds.
    for concurrency in options.concurrency:
        ratios = [
            rendered[0] / raw[0]
            for rendered, raw in zip(
                rows[("rendered", concurrency)], rows[("closed loop", concurrency)], strict=True
            )
        ]
        print(
            f"rendered / raw closed loop at {concurrency}: median {median(ratios):.2f}"
            f" (rounds {', '.join(f'{ratio:.2f}' for ratio in ratios)})"
        )
    ceiling = median(r[0] for r in rows[("open loop", 0)])
    print(
        "rendered at 256 / raw open loop:",
        f"{median(r[0] for r in rows[('rendered', 256)]) / ceiling:.2f}",
    )
    print(
        f"loop lag at a paced {options.lag_rate}/s for {options.lag_seconds} s:"
        f" p50 {percentile(lags, 50) * 1000:.2f} ms,"
        f" p99 {percentile(lags, 99) * 1000:.2f} ms, max {max(lags) * 1000:.2f} ms"
    )
    print(
        f"RSS: {rss_before:.0f} MB before, {rss_after_rendered:.0f} MB at most"
        " during the rendered runs"
    )


async def module_close(module: Any) -> None:
    from tracardi.process_engine.destination.kafka_producer import close_producers

    await close_producers()


def main() -> None:
    # aiokafka warns on every SASL_PLAINTEXT connection; the test broker has no TLS on purpose.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=5000, help="records a timed run at 64 and 256"
    )
    parser.add_argument("--events-at-1", type=int, default=500, help="records a timed run at 1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--lag-rate", type=int, default=500)
    parser.add_argument("--lag-seconds", type=float, default=5)
    options = parser.parse_args()
    missing = [
        name
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_PLAIN_USERNAME", "KAFKA_ADMIN_USERNAME")
        if not os.environ.get(name)
    ]
    if missing:
        raise SystemExit(
            f"{', '.join(missing)} unset: run scripts/apache-kafka run -- {sys.argv[0]}"
        )
    with tempfile.TemporaryDirectory() as workdir:
        checkout = make_checkout(Path(workdir) / "checkout")
        shutil.copytree(
            REPO_ROOT / "generated_examples/kafka", checkout, dirs_exist_ok=True, ignore=IGNORED
        )
        sys.path.insert(0, str(checkout))
        import tracardi.process_engine.destination.kafka_connector as connector_module

        asyncio.run(run(options, connector_module))


if __name__ == "__main__":
    main()
