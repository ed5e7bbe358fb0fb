"""The RabbitMQ rows of the dispatch benchmark (benchmarks/harness.py says how it runs).

    ./dev bench --transport amqp       # a private RabbitMQ started here, stopped at the end
    RABBITMQ_URL=... RABBITMQ_USERNAME=... RABBITMQ_PASSWORD=... ./dev bench --transport amqp

With RABBITMQ_URL unset, ``scripts/rabbitmq start`` starts a private RabbitMQ 3.10 node (Debian's
rabbitmq-server, on 127.0.0.1) with a state directory of its own, and ``scripts/rabbitmq stop``
always stops it at the end. Otherwise the broker the RABBITMQ_* variables name is used (those
of ``scripts/rabbitmq run``).

All scenarios send the same messages: the payload below as compact UTF-8 JSON (about 250
bytes) through the default exchange to a durable queue of their own, persistent and mandatory,
with the properties the connector sets (content type and encoding, a message id per message,
a timestamp, app id) and the five tracardi-* headers, each awaited to its publisher confirm:
  rendered     the example's RabbitMQConnector, a new instance per dispatch, as Tracardi does
  closed loop  aio-pika alone, one robust connection and confirming channel, each message's
               publish awaited to its confirm, with as many in flight as the rendered connector
               has dispatches; the JSON from one encoder made once, as the rendered code does
  open loop    aio-pika alone, every message published at once, then all confirms awaited
The queues keep the newest 10,000 messages (x-max-length), so that the rounds do not fill the
broker's memory; the rendered and closed-loop rows each keep their connection for every round,
as a long-running Tracardi does; the open loop opens a new one each round (untimed, with one
untimed message) and closes it after.
"""

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import harness
from yarl import URL

RABBITMQ = harness.REPO_ROOT / "scripts" / "rabbitmq"
PAYLOAD = {
    "email": "ann@example.com",
    "name": "Ann Example",
    "visits": 12,
    "plan": "pro",
    "consents": {"marketing": True, "analytics": False},
    "last_order": {"id": "order-1234", "total": "99.50", "currency": "EUR"},
    "tags": ["returning", "newsletter"],
}
NEEDED = ("RABBITMQ_URL", "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD")
QUEUE_ARGUMENTS = {"x-max-length": 10_000}


class AmqpBench:
    """The three ways to send the messages, against one broker."""

    name = "amqp"

    def __init__(self, environment: Mapping[str, str], server: str) -> None:
        harness.example_checkout("rabbitmq")
        import tracardi.process_engine.destination.rabbitmq_connector as connector_module
        from tracardi.domain.destination import Destination, DestinationConfig
        from tracardi.domain.entity import Entity
        from tracardi.domain.event import Event
        from tracardi.domain.event_metadata import EventMetadata
        from tracardi.domain.named_entity import NamedEntity
        from tracardi.domain.profile import Profile
        from tracardi.domain.resource import Resource, ResourceCredentials
        from tracardi.domain.session import Session, SessionMetadata
        from tracardi.domain.time import EventTime
        from tracardi.service.setup.destinations.rabbitmq_resource import RABBITMQ_RESOURCE

        self.connector_module = connector_module
        self.server = server
        self.versions = f"aio-pika {aio_pika.__version__}"
        self.url = environment["RABBITMQ_URL"]
        self.user = (environment["RABBITMQ_USERNAME"], environment["RABBITMQ_PASSWORD"])
        registered = RABBITMQ_RESOURCE.destination
        assert registered is not None
        self.package = registered.package
        self.init = dict(registered.init or {})
        credentials = {"url": self.url, "username": self.user[0], "password": self.user[1]}
        self.resource = Resource(
            id="resource-1",
            name="RabbitMQ",
            type="rabbitmq",
            credentials=ResourceCredentials(production=credentials, test={}),
        )
        self.make_destination = lambda queue: Destination(
            id="destination-1",
            name="RabbitMQ destination",
            # As the form saves it: every init field, the routing key filled in.
            destination=DestinationConfig(
                package=self.package, init={**self.init, "routing_key": queue}
            ),
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
        self.queues: dict[str, str] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None

    def connection_url(self) -> str:
        return str(URL(self.url).with_user(self.user[0]).with_password(self.user[1]))

    async def start(self) -> None:
        """The scenarios' queues, and the closed loop's connection and channel."""
        self.queues = {
            scenario: f"tracardi-bench-{scenario}-{uuid.uuid4().hex[:12]}"
            for scenario in ("rendered", "closed-loop", "open-loop")
        }
        self._connection = await aio_pika.connect_robust(self.connection_url())
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        for queue in self.queues.values():
            await self._channel.declare_queue(queue, durable=True, arguments=QUEUE_ARGUMENTS)
        self._rendered_destination = self.make_destination(self.queues["rendered"])

    def rendered(self) -> harness.Dispatch:
        destination = self._rendered_destination
        connector_class = self.connector_module.RabbitmqConnector
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

    def raw_message(self, number: int) -> aio_pika.Message:
        """The message the connector publishes, made as it makes it."""
        headers: dict[str, Any] = {
            "tracardi-kind": "event",
            "tracardi-profile-id": f"profile-{number % harness.PROFILES}",
            "tracardi-session-id": "session-1",
            "tracardi-event-id": "event-1",
            "tracardi-event-type": "page-view",
        }
        return aio_pika.Message(
            self.encode(PAYLOAD).encode(),
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC),
            app_id="tracardi",
            headers=headers,
        )

    def closed_loop(self) -> harness.Dispatch:
        channel = self._channel
        assert channel is not None
        exchange, queue, message = (
            channel.default_exchange,
            self.queues["closed-loop"],
            self.raw_message,
        )

        async def dispatch(number: int) -> None:
            await exchange.publish(message(number), routing_key=queue, mandatory=True, timeout=10)

        return dispatch

    async def open_loop(self, events: int) -> harness.OpenLoop:
        queue = self.queues["open-loop"]
        connection = await aio_pika.connect_robust(self.connection_url())
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = channel.default_exchange
            await exchange.publish(
                self.raw_message(-1), routing_key=queue, mandatory=True, timeout=10
            )
            cpu_started, started = time.thread_time(), time.perf_counter()
            confirms = [
                asyncio.ensure_future(
                    exchange.publish(
                        self.raw_message(number), routing_key=queue, mandatory=True, timeout=60
                    )
                )
                for number in range(events)
            ]
            await asyncio.gather(*confirms)
            seconds = time.perf_counter() - started
            return harness.OpenLoop(seconds, time.thread_time() - cpu_started)
        finally:
            await connection.close()

    async def close(self, delete_queues: bool) -> None:
        from tracardi.process_engine.destination.transport.amqp import close_connections

        await close_connections()
        if self._channel is not None and delete_queues:
            for queue in self.queues.values():
                with contextlib.suppress(Exception):
                    await self._channel.queue_delete(queue)
        if self._connection is not None:
            await self._connection.close()


def start_rabbitmq(environment: dict[str, str]) -> dict[str, str]:
    """`scripts/rabbitmq start`: its KEY=VALUE lines on stdout, as a dict."""
    started = subprocess.run(
        [str(RABBITMQ), "start"], env=environment, stdout=subprocess.PIPE, text=True
    )
    if started.returncode != 0:
        raise SystemExit(f"scripts/rabbitmq start failed ({started.returncode}); see above")
    lines = [line.partition("=") for line in started.stdout.splitlines() if "=" in line]
    return {name: value.strip("'") for name, _, value in lines}


@contextlib.asynccontextmanager
async def bench(options: Any) -> AsyncIterator[AmqpBench]:
    external = bool(os.environ.get("RABBITMQ_URL"))
    state: Path | None = None
    script_environment = dict(os.environ)
    try:
        if external:
            missing = [name for name in NEEDED if not os.environ.get(name)]
            if missing:
                raise SystemExit(f"RABBITMQ_URL is set but {', '.join(missing)} not")
            environment: Mapping[str, str] = os.environ
            server = f"RabbitMQ at {os.environ['RABBITMQ_URL']}"
        else:
            # A state directory of its own, so that a node the tests run is left alone.
            state = Path(tempfile.mkdtemp(prefix="rabbitmq-bench-"))
            # The node drops to the rabbitmq user, which must reach its state directory.
            state.chmod(0o755)
            script_environment["RABBITMQ_STATE_DIR"] = str(state / "state")
            environment = start_rabbitmq(script_environment)
            server = "RabbitMQ 3.10 started here (private node on 127.0.0.1)"
        transport = AmqpBench(environment, server)
        try:
            await transport.start()
            yield transport
        finally:
            await transport.close(delete_queues=external)
    finally:
        if state is not None:
            subprocess.run([str(RABBITMQ), "stop"], env=script_environment, check=False)
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    harness.main(["amqp"])
