"""The Kafka rows of the dispatch benchmark (benchmarks/harness.py says how it runs).

    ./dev bench --transport kafka                # Apache Kafka started here, stopped at the end
    KAFKA_BOOTSTRAP_SERVERS=... KAFKA_PLAIN_USERNAME=... KAFKA_PLAIN_PASSWORD=... \\
      KAFKA_ADMIN_USERNAME=... KAFKA_ADMIN_PASSWORD=... ./dev bench --transport kafka

With KAFKA_BOOTSTRAP_SERVERS unset, ``scripts/apache-kafka start`` starts Apache Kafka 4.1.1
(single-node KRaft on 127.0.0.1, SASL; Java 17 and Maven needed) with a state directory of its
own, and ``scripts/apache-kafka stop`` always stops it at the end. Otherwise the broker the
KAFKA_* variables name is used (those of ``scripts/apache-kafka run``): the PLAIN user sends,
the admin user creates the topics (and deletes them at the end).

All scenarios send the same records: the payload below as compact UTF-8 JSON (about 250
bytes), the five tracardi-* headers, the profile id as key, with the example's default init
(acks all, gzip, idempotence, linger 1 ms), through the PLAIN user over SASL_PLAINTEXT:
  rendered     the example's KafkaConnector, a new instance per dispatch, as Tracardi does
  closed loop  aiokafka alone, one producer, each record's send awaited to its
               acknowledgement, with as many in flight as the rendered connector has
               dispatches; the JSON from one encoder made once, as the rendered code does
  open loop    aiokafka alone, every record sent at once, then all acknowledgements awaited
Each of the three has a topic of its own (three partitions), made before the first round.
The rendered and the closed-loop rows each reuse their topic, and so one producer, for every
round, like the Pulsar rows: both producers then live, started and idle in turn, through the
whole run, so neither scenario runs beside idle producers the other does not have; it is what
a long-running Tracardi does (one producer per settings); no producer start or topic creation
falls between runs; and a rendered run's RSS change is then its records', not a new
producer's. The rendered producer is stopped at the end with close_producers(). The open loop
starts a new producer each round (untimed, with one untimed record) and stops it after.
"""

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiokafka
import harness
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

try:
    from aiokafka.admin import NewTopic
except ImportError:  # aiokafka 0.8 takes it from kafka-python
    from kafka.admin import NewTopic

APACHE_KAFKA = harness.REPO_ROOT / "scripts" / "apache-kafka"
PAYLOAD = {
    "email": "ann@example.com",
    "name": "Ann Example",
    "visits": 12,
    "plan": "pro",
    "consents": {"marketing": True, "analytics": False},
    "last_order": {"id": "order-1234", "total": "99.50", "currency": "EUR"},
    "tags": ["returning", "newsletter"],
}
NEEDED = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_PLAIN_USERNAME",
    "KAFKA_PLAIN_PASSWORD",
    "KAFKA_ADMIN_USERNAME",
    "KAFKA_ADMIN_PASSWORD",
)


class KafkaBench:
    """The three ways to send the records, against one broker."""

    name = "kafka"

    def __init__(self, environment: Mapping[str, str], server: str) -> None:
        harness.example_checkout("kafka")
        import tracardi.process_engine.destination.kafka_connector as connector_module
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

        self.connector_module = connector_module
        self.server = server
        self.versions = f"aiokafka {aiokafka.__version__}"
        self.servers = environment["KAFKA_BOOTSTRAP_SERVERS"]
        self.user = (environment["KAFKA_PLAIN_USERNAME"], environment["KAFKA_PLAIN_PASSWORD"])
        self.admin = (environment["KAFKA_ADMIN_USERNAME"], environment["KAFKA_ADMIN_PASSWORD"])
        registered = KAFKA_RESOURCE.destination
        assert registered is not None
        self.package = registered.package
        self.init = dict(registered.init or {})
        credentials = {
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
            credentials=ResourceCredentials(production=credentials, test={}),
        )
        self.make_destination = lambda topic: Destination(
            id="destination-1",
            name="Apache Kafka destination",
            # As the form saves it: every init field, the topic filled in.
            destination=DestinationConfig(package=self.package, init={**self.init, "topic": topic}),
            resource=Entity(id="resource-1"),
            source=NamedEntity(id="source-1", name="Source"),
        )
        self.profiles = [Profile(id=f"profile-{number}") for number in range(harness.PROFILES)]
        self.session = Session(id="session-1", metadata=SessionMetadata())
        self.event = Event(
            id="event-1",
            type="page-view",
            metadata=EventMetadata(time=EventTime()),
            source=Entity(id="source-1"),
        )
        # The rendered code's options: json.dumps with options would build an encoder a call.
        self.encode = json.JSONEncoder(
            separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False
        ).encode
        self.topics: dict[str, str] = {}
        self._closed_loop_producer: AIOKafkaProducer | None = None

    def client_options(self, user: tuple[str, str]) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.servers,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user[0],
            "sasl_plain_password": user[1],
        }

    def raw_producer(self) -> AIOKafkaProducer:
        """A producer made as the rendered one is, with the example's defaults."""
        return AIOKafkaProducer(
            **self.client_options(self.user),
            acks="all",
            compression_type="gzip",
            enable_idempotence=True,
            linger_ms=self.init["linger_ms"],
        )

    async def start(self) -> None:
        """The scenarios' topics, and the closed loop's producer."""
        self.topics = {
            scenario: f"tracardi-bench-{scenario}-{uuid.uuid4().hex[:12]}"
            for scenario in ("rendered", "closed-loop", "open-loop")
        }
        admin = AIOKafkaAdminClient(**self.client_options(self.admin))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 3, 1) for topic in self.topics.values()])
        finally:
            await admin.close()
        self._rendered_destination = self.make_destination(self.topics["rendered"])
        producer = self.raw_producer()
        await producer.start()
        self._closed_loop_producer = producer

    def rendered(self) -> harness.Dispatch:
        destination = self._rendered_destination
        connector_class = self.connector_module.KafkaConnector
        resource, profiles, session, event = self.resource, self.profiles, self.session, self.event

        async def dispatch(number: int) -> None:
            connector = connector_class(False, resource, destination)
            await connector.dispatch_event(
                PAYLOAD,
                profile=profiles[number % harness.PROFILES],
                session=session,
                event=event,
            )

        return dispatch

    def raw_record(self, number: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """The value, key and headers the connector sends, encoded as it encodes them."""
        profile_id = f"profile-{number % harness.PROFILES}"
        headers = {
            "tracardi-kind": "event",
            "tracardi-profile-id": profile_id,
            "tracardi-session-id": "session-1",
            "tracardi-event-id": "event-1",
            "tracardi-event-type": "page-view",
        }
        value = self.encode(PAYLOAD).encode()
        return value, profile_id.encode(), [(name, text.encode()) for name, text in headers.items()]

    def closed_loop(self) -> harness.Dispatch:
        producer = self._closed_loop_producer
        assert producer is not None
        topic, record = self.topics["closed-loop"], self.raw_record

        async def dispatch(number: int) -> None:
            value, key, headers = record(number)
            await (await producer.send(topic, value, key=key, headers=headers))

        return dispatch

    async def open_loop(self, events: int) -> harness.OpenLoop:
        topic = self.topics["open-loop"]
        producer = self.raw_producer()
        await producer.start()
        try:
            value, key, headers = self.raw_record(-1)
            await (await producer.send(topic, value, key=key, headers=headers))
            cpu_started, started = time.thread_time(), time.perf_counter()
            deliveries = []
            for number in range(events):
                value, key, headers = self.raw_record(number)
                deliveries.append(await producer.send(topic, value, key=key, headers=headers))
            await asyncio.gather(*deliveries)
            seconds = time.perf_counter() - started
            return harness.OpenLoop(seconds, time.thread_time() - cpu_started)
        finally:
            await producer.stop()

    async def close(self, delete_topics: bool) -> None:
        from tracardi.process_engine.destination.transport.kafka import close_producers

        await close_producers()
        if self._closed_loop_producer is not None:
            await self._closed_loop_producer.stop()
        if delete_topics and self.topics:
            admin = AIOKafkaAdminClient(**self.client_options(self.admin))
            with contextlib.suppress(Exception):
                await admin.start()
                await admin.delete_topics(list(self.topics.values()))
            with contextlib.suppress(Exception):
                await admin.close()


def start_apache_kafka(environment: dict[str, str]) -> dict[str, str]:
    """`scripts/apache-kafka start`: its KEY=VALUE lines on stdout, as a dict."""
    started = subprocess.run(
        [str(APACHE_KAFKA), "start"], env=environment, stdout=subprocess.PIPE, text=True
    )
    if started.returncode != 0:
        raise SystemExit(f"scripts/apache-kafka start failed ({started.returncode}); see above")
    lines = [line.partition("=") for line in started.stdout.splitlines() if "=" in line]
    return {name: value.strip("'") for name, _, value in lines}


@contextlib.asynccontextmanager
async def bench(options: Any) -> AsyncIterator[KafkaBench]:
    # aiokafka warns on every SASL_PLAINTEXT connection; the test broker has no TLS on purpose.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    external = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    state: Path | None = None
    script_environment = dict(os.environ)
    try:
        if external:
            missing = [name for name in NEEDED if not os.environ.get(name)]
            if missing:
                raise SystemExit(f"KAFKA_BOOTSTRAP_SERVERS is set but {', '.join(missing)} not")
            environment: Mapping[str, str] = os.environ
            server = f"Apache Kafka at {os.environ['KAFKA_BOOTSTRAP_SERVERS']} (SASL PLAIN)"
        else:
            # A state directory of its own, so that a broker the tests run is left alone.
            state = Path(tempfile.mkdtemp(prefix="kafka-bench-"))
            script_environment["KAFKA_STATE_DIR"] = str(state / "state")
            environment = start_apache_kafka(script_environment)
            server = "Apache Kafka 4.1.1 started here (single-node KRaft, SASL PLAIN)"
        transport = KafkaBench(environment, server)
        try:
            await transport.start()
            yield transport
        finally:
            await transport.close(delete_topics=external)
    finally:
        if state is not None:
            subprocess.run([str(APACHE_KAFKA), "stop"], env=script_environment, check=False)
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    harness.main(["kafka"])
