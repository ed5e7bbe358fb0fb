"""The Pulsar rows of the dispatch benchmark (benchmarks/harness.py says how it runs).

    ./dev bench --transport pulsar --events 5000 --rounds 3      # pulsar-lite started here
    scripts/apache-pulsar run -- ./dev bench --transport pulsar   # Apache Pulsar, token auth
    PULSAR_SERVICE_URL=... PULSAR_TOKEN=... ./dev bench --transport pulsar   # another broker

All three scenarios send the same messages: the committed example's payload (about 250 bytes
of JSON), its five tracardi-* properties, the profile id as key, through a producer made with
the example's default init (LZ4, batching with a 1 ms delay):
  rendered     the example's PulsarConnector, a new instance per dispatch, as Tracardi does
  closed loop  pulsar-client alone, each message sent with its own callback and awaited
  open loop    pulsar-client alone, every message sent at once, a callback on the last only
The rendered and closed-loop rows each use one topic and producer for every round; the open
loop a new producer each round (with room for all its messages), closed after it.
"""

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import harness
import pulsar


def load_example() -> Any:
    """Put the committed Pulsar example in the stand-in Tracardi checkout; import its connector."""
    checkout = harness.example_checkout("pulsar")
    sys.path.insert(0, str(checkout / "test/integration/destination/transport"))
    import tracardi.process_engine.destination.pulsar_connector as connector_module

    return connector_module


class PulsarBench:
    """The three ways to send the example's messages, against one broker."""

    name = "pulsar"

    def __init__(
        self, connector_module: Any, service_url: str, token: str | None, server: str
    ) -> None:
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
        self.connector_module = connector_module
        self.init = PULSAR_RESOURCE.destination.init or {}
        self.server = server
        self.versions = f"pulsar-client {pulsar.__version__}"
        self.service_url, self.token = service_url, token
        credentials = {"host": service_url, **({"token": token} if token else {})}
        self.resource = Resource(
            id="r",
            name="Pulsar",
            type="apache-pulsar",
            credentials=ResourceCredentials(production=credentials, test=credentials),
        )
        self.destination = lambda topic: Destination(
            id="d",
            name="Pulsar destination",
            # As the form saves it: every init field, the topic filled in.
            destination=DestinationConfig(
                package="tracardi.process_engine.destination.pulsar_connector.PulsarConnector",
                init={**self.init, "topic": topic},
            ),
            resource=Entity(id="r"),
            source=NamedEntity(id="s", name="s"),
        )
        self.profiles = [Profile(id=f"profile-{n}") for n in range(harness.PROFILES)]
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
        self._clients: list[pulsar.Client] = []
        self._rendered_destination = self.destination(self.topic())
        self._closed_loop_producer: pulsar.Producer | None = None

    def topic(self) -> str:
        return f"persistent://public/default/bench-{uuid.uuid4().hex[:12]}"

    def rendered(self) -> harness.Dispatch:
        # One topic for every run, so that every run goes through one shared producer, as a
        # long-running Tracardi's would: the RSS change of a run is then the connector's.
        destination = self._rendered_destination
        connector_class = self.connector_module.PulsarConnector
        profiles = self.profiles

        async def dispatch(number: int) -> None:
            connector = connector_class(False, self.resource, destination)
            await connector.dispatch_event(
                self.data,
                profile=profiles[number % len(profiles)],
                session=self.session,
                event=self.event,
            )

        return dispatch

    def raw_producer(self, max_pending_messages: int) -> pulsar.Producer:
        """A producer made as the rendered one is, with the example's defaults."""
        if not self._clients:
            authentication = pulsar.AuthenticationToken(self.token) if self.token else None
            self._clients.append(
                pulsar.Client(
                    self.service_url,
                    authentication=authentication,
                    logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),
                )
            )
        return self._clients[0].create_producer(
            self.topic(),
            compression_type=pulsar.CompressionType.LZ4,
            batching_enabled=bool(self.init.get("batching_enabled", True)),
            batching_max_publish_delay_ms=int(self.init.get("batching_max_publish_delay_ms", 1)),
            max_pending_messages=max_pending_messages,
            block_if_queue_full=False,
        )

    def message(self, number: int) -> tuple[bytes, dict[str, str], str]:
        """The payload, properties and key the connector sends, JSON encoded as it encodes it."""
        profile = f"profile-{number % harness.PROFILES}"
        properties = {
            "tracardi-kind": "event",
            "tracardi-profile-id": profile,
            "tracardi-session-id": self.session.id,
            "tracardi-event-id": self.event.id,
            "tracardi-event-type": self.event.type,
        }
        payload = json.dumps(self.data, ensure_ascii=False).encode()
        return payload, properties, profile

    def closed_loop(self) -> harness.Dispatch:
        if self._closed_loop_producer is None:
            self._closed_loop_producer = self.raw_producer(int(self.init["max_pending_messages"]))
        producer = self._closed_loop_producer

        async def dispatch(number: int) -> None:
            loop = asyncio.get_running_loop()
            acknowledged = loop.create_future()

            def sent(result: pulsar.Result, message_id: Any) -> None:
                loop.call_soon_threadsafe(settle, result)

            def settle(result: pulsar.Result) -> None:
                if result == pulsar.Result.Ok:
                    acknowledged.set_result(None)
                else:
                    acknowledged.set_exception(RuntimeError(result.name))

            payload, properties, key = self.message(number)
            producer.send_async(payload, sent, properties=properties, partition_key=key)
            await acknowledged

        return dispatch

    async def open_loop(self, events: int) -> harness.OpenLoop:
        # Room for every message: the open loop never waits for the queue.
        producer = self.raw_producer(events)
        last = threading.Event()
        results: list[pulsar.Result] = []

        def sent(result: pulsar.Result, message_id: Any) -> None:
            results.append(result)
            last.set()

        cpu_started, started = time.thread_time(), time.perf_counter()
        for number in range(events):
            payload, properties, key = self.message(number)
            producer.send_async(
                payload,
                sent if number == events - 1 else None,
                properties=properties,
                partition_key=key,
            )
        last.wait(60)
        seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
        assert results == [pulsar.Result.Ok], results
        producer.close()
        return harness.OpenLoop(seconds, cpu_seconds)

    def close(self) -> None:
        from tracardi.process_engine.destination.transport.pulsar import close_all_producers

        close_all_producers()
        for client in self._clients:
            client.close()


@contextlib.asynccontextmanager
async def bench(options: Any) -> AsyncIterator[PulsarBench]:
    workdir = Path(tempfile.mkdtemp(prefix="pulsar-bench-"))
    broker = None
    try:
        connector_module = load_example()
        external = os.environ.get("PULSAR_SERVICE_URL")
        if external:
            service_url, token = external, os.environ.get("PULSAR_TOKEN") or None
            server = f"broker at {service_url}" + (" with token authentication" if token else "")
        else:
            from pulsar_lite.binary_finder import find_pulsar_lite_binary
            from test_transport_pulsar_broker import EmbeddedBroker

            broker = EmbeddedBroker(find_pulsar_lite_binary(), workdir)
            broker.start()
            service_url, token, server = broker.service_url, None, "pulsar-lite 0.2.0 (embedded)"
        transport = PulsarBench(connector_module, service_url, token, server)
        try:
            yield transport
        finally:
            transport.close()
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    harness.main(["pulsar"])
