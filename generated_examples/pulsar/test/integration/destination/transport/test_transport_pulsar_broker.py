"""The shared Pulsar producer against a real broker, through the runtime's own API.

By default the broker is pulsar-lite (pip install pulsar-lite), started here on a free loopback
port. Set PULSAR_SERVICE_URL (and PULSAR_TOKEN) to run against an Apache Pulsar broker
instead; the tests that stop and restart a broker, or need one that partitions topics, still
use pulsar-lite. Without either, these tests skip and say so.
"""

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulsar
import pytest
from pytest_mock import MockerFixture

from tracardi.process_engine.destination.transport.pulsar import (
    MESSAGE_OVERHEAD,
    ProducerSettings,
    PulsarConnectionError,
    PulsarMessageSizeError,
    PulsarServiceUrlError,
    close_all_producers,
    publish,
)

HOW_TO_RUN = (
    "needs a Pulsar broker: pip install pulsar-lite to start one here, or set "
    "PULSAR_SERVICE_URL (and PULSAR_TOKEN) to an Apache Pulsar broker"
)
# Short timeouts, so that failures show within seconds.
TIMEOUTS: dict[str, Any] = {"connect_timeout_seconds": 2, "send_timeout_seconds": 3}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedBroker:
    """pulsar-lite on a loopback port, which can stop and start again on the same data."""

    def __init__(self, binary: str, data_dir: Path, settings: str = "", port: int | None = None) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.settings = settings
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def service_url(self) -> str:
        return f"pulsar://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Without a config, pulsar-lite also serves metrics on 0.0.0.0:8080.
        config = self.data_dir / "pulsar-lite.toml"
        config.write_text(f"{self.settings}[metrics]\nenabled = false\n")
        log = (self.data_dir / "broker.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--config",
                str(config),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--db-path",
                str(self.data_dir / "db"),
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        log_text = (self.data_dir / "broker.log").read_text(errors="replace")
        raise RuntimeError(f"pulsar-lite did not start on port {self.port}:\n{log_text}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def start_embedded_broker(
    tmp_path_factory: pytest.TempPathFactory, settings: str = "", port: int | None = None
) -> EmbeddedBroker:
    try:
        from pulsar_lite.binary_finder import find_pulsar_lite_binary
    except ImportError:
        pytest.skip(HOW_TO_RUN)
    data_dir = tmp_path_factory.mktemp("pulsar-lite")
    broker = EmbeddedBroker(find_pulsar_lite_binary(), data_dir, settings, port)
    broker.start()
    return broker


@pytest.fixture(scope="module")
def embedded_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EmbeddedBroker]:
    broker = start_embedded_broker(tmp_path_factory)
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def partitioning_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EmbeddedBroker]:
    """pulsar-lite creating every new topic with three partitions."""
    broker = start_embedded_broker(tmp_path_factory, "default_partitions = 3\n")
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def service(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The broker's service URL and token: PULSAR_SERVICE_URL's, else pulsar-lite's."""
    external = os.environ.get("PULSAR_SERVICE_URL")
    if external:
        return external, os.environ.get("PULSAR_TOKEN") or None
    broker: EmbeddedBroker = request.getfixturevalue("embedded_broker")
    return broker.service_url, None


@pytest.fixture
def topic() -> str:
    return f"persistent://public/default/tracardi-test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def fresh_producers() -> Iterator[None]:
    yield
    close_all_producers()


def settings(service_url: str, topic: str, token: str | None = None, **changes: Any) -> ProducerSettings:
    """Settings as a destination derives them from the template's defaults."""
    defaults = ProducerSettings(
        service_url=service_url,
        token=token,
        ssl_ca_file="",
        topic=topic,
        compression="lz4",
        batching_enabled=True,
        batching_max_publish_delay_ms=1,
        max_pending_messages=1000,
        connect_timeout_seconds=5,
        send_timeout_seconds=10,
        unreachable_backoff_seconds=5.0,
    )
    return defaults._replace(**changes)


async def send(to: ProducerSettings, number: int, *, profile_number: int | None = None, payload: bytes = b"") -> None:
    """Publish message `number` as a dispatch does: ids as properties, the profile id as key."""
    profile_id = f"profile-{number if profile_number is None else profile_number}"
    await publish(
        to,
        payload or json.dumps({"n": number}).encode(),
        properties={"tracardi-event-id": f"event-{number}", "tracardi-profile-id": profile_id},
        partition_key=profile_id,
    )


class Received:
    """What an independent consumer read from a topic."""

    def __init__(self, messages: list[pulsar.Message]) -> None:
        self.messages = messages

    def by_id(self, property_name: str) -> dict[str, pulsar.Message]:
        # At least once: a record may arrive twice, so the last copy stands for it.
        return {message.properties()[property_name]: message for message in self.messages}


def consume(service_url: str, token: str | None, topic: str, expected: int, timeout: float = 20) -> Received:
    """Read until `expected` distinct messages arrived or `timeout` passed."""
    authentication = pulsar.AuthenticationToken(token) if token else None
    client = pulsar.Client(service_url, authentication=authentication)
    try:
        consumer = client.subscribe(
            topic,
            "integration-check",
            initial_position=pulsar.InitialPosition.Earliest,
        )
        messages: list[pulsar.Message] = []
        # By message id: a redelivered copy has its original's id, while several messages may well
        # carry the same payload.
        distinct: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(distinct) < expected and time.monotonic() < deadline:
            try:
                message = consumer.receive(timeout_millis=500)
            except pulsar.Timeout:
                continue
            consumer.acknowledge(message)
            messages.append(message)
            distinct.add(str(message.message_id()))
        return Received(messages)
    finally:
        client.close()


@pytest.mark.asyncio
async def test_published_messages_arrive_with_payload_properties_and_key(
    service: tuple[str, str | None], topic: str
) -> None:
    service_url, token = service
    payload = '{"total":9.5,"customer":"Zoë"}'.encode()
    for number in range(5):
        await publish(
            settings(service_url, topic, token),
            payload,
            properties={"tracardi-event-id": f"event-{number}", "env": "qa"},
            partition_key=f"profile-{number}",
        )
    received = await asyncio.to_thread(consume, service_url, token, topic, 5)
    messages = received.by_id("tracardi-event-id")
    assert sorted(messages) == [f"event-{number}" for number in range(5)]
    for number in range(5):
        message = messages[f"event-{number}"]
        assert message.data() == payload
        assert message.properties() == {"tracardi-event-id": f"event-{number}", "env": "qa"}
        assert message.partition_key() == f"profile-{number}"


@pytest.mark.asyncio
async def test_a_message_without_a_key_arrives_without_one(service: tuple[str, str | None], topic: str) -> None:
    service_url, token = service
    await publish(
        settings(service_url, topic, token), b"{}", properties={"tracardi-event-id": "event-1"}, partition_key=None
    )
    received = await asyncio.to_thread(consume, service_url, token, topic, 1)
    assert received.by_id("tracardi-event-id")["event-1"].partition_key() == ""


@pytest.mark.asyncio
async def test_two_destinations_with_the_same_broker_and_topic_share_one_client_and_producer(
    service: tuple[str, str | None], topic: str, mocker: MockerFixture
) -> None:
    service_url, token = service
    clients = mocker.spy(pulsar, "Client")
    # Each destination derives its settings from its own models: equal, not the same object.
    first, second = settings(service_url, topic, token), settings(service_url, topic, token)
    assert first is not second
    await asyncio.gather(*(send(first if number % 2 else second, number) for number in range(20)))
    assert clients.call_count == 1
    received = await asyncio.to_thread(consume, service_url, token, topic, 20)
    assert len(received.by_id("tracardi-event-id")) == 20


@pytest.mark.asyncio
async def test_concurrent_dispatches_all_arrive_through_one_producer(
    service: tuple[str, str | None], topic: str, mocker: MockerFixture
) -> None:
    service_url, token = service
    clients = mocker.spy(pulsar, "Client")
    # Far more dispatches at once than the producer may have pending: they wait their turn
    # instead of failing with ProducerQueueIsFull.
    to = settings(service_url, topic, token, max_pending_messages=10)
    await asyncio.gather(*(send(to, number) for number in range(300)))
    assert clients.call_count == 1
    received = await asyncio.to_thread(consume, service_url, token, topic, 300)
    assert len(received.by_id("tracardi-event-id")) == 300


@pytest.mark.asyncio
async def test_dispatches_to_a_partitioned_topic_all_arrive_one_partition_a_profile(
    partitioning_broker: EmbeddedBroker, topic: str
) -> None:
    service_url = partitioning_broker.service_url
    to = settings(service_url, topic)
    await asyncio.gather(*(send(to, number, profile_number=number % 20) for number in range(200)))
    received = await asyncio.to_thread(consume, service_url, None, topic, 200)
    messages = received.by_id("tracardi-event-id")
    assert len(messages) == 200
    partitions: dict[str, set[str]] = {}
    for message in messages.values():
        profile_id = message.properties()["tracardi-profile-id"]
        partitions.setdefault(profile_id, set()).add(message.topic_name())
    assert all(len(names) == 1 for names in partitions.values())
    assert len(set[str]().union(*partitions.values())) > 1


@pytest.mark.asyncio
async def test_close_flushes_and_a_later_dispatch_reconnects(
    service: tuple[str, str | None], topic: str, mocker: MockerFixture
) -> None:
    service_url, token = service
    # Batches wait 500 ms to fill, so the messages are still in the client when close starts.
    to = settings(service_url, topic, token, batching_max_publish_delay_ms=500)
    clients = mocker.spy(pulsar, "Client")
    await send(to, 0)
    in_flight = [asyncio.ensure_future(send(to, number)) for number in range(1, 50)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not any(dispatch.done() for dispatch in in_flight)
    await asyncio.to_thread(close_all_producers)
    await asyncio.sleep(0)
    # Flushed by close, so acknowledged by the producer that was closed: a dispatch resent
    # through a new producer would still be waiting for its client, and make a second one.
    assert all(dispatch.done() and not dispatch.exception() for dispatch in in_flight)
    assert clients.call_count == 1
    await send(to, 50)
    assert clients.call_count == 2
    received = await asyncio.to_thread(consume, service_url, token, topic, 51)
    assert len(received.by_id("tracardi-event-id")) == 51


@pytest.mark.asyncio
async def test_a_message_larger_than_the_broker_accepts_is_refused_and_not_sent(
    service: tuple[str, str | None], topic: str
) -> None:
    service_url, token = service
    # The limit the broker advertises: Apache Pulsar as scripts/apache-pulsar starts it says
    # 1 MiB (and exports PULSAR_MAX_MESSAGE_SIZE), so a message of a little more is refused
    # only if the producer took the broker's word; pulsar-lite says nothing, which means 5 MB.
    limit = int(os.environ.get("PULSAR_MAX_MESSAGE_SIZE") or 5 * 1024 * 1024)
    largest_payload = limit - MESSAGE_OVERHEAD
    to = settings(service_url, topic, token)
    with pytest.raises(PulsarMessageSizeError, match=f"the broker accepts at most {largest_payload}$"):
        await send(to, 1, payload=b"x" * (largest_payload + 1))
    await send(to, 2)
    received = await asyncio.to_thread(consume, service_url, token, topic, 1)
    assert list(received.by_id("tracardi-event-id")) == ["event-2"]


@pytest.mark.asyncio
async def test_a_dead_broker_fails_clearly_within_the_timeout(topic: str) -> None:
    service_url = f"pulsar://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(PulsarConnectionError) as raised:
        await send(settings(service_url, topic, **TIMEOUTS), 1)
    assert time.monotonic() - started < TIMEOUTS["connect_timeout_seconds"] + 3
    assert service_url in str(raised.value)
    assert topic in str(raised.value)


@pytest.mark.asyncio
async def test_a_service_url_naming_several_brokers_reaches_one_that_answers(
    embedded_broker: EmbeddedBroker, topic: str
) -> None:
    service_url = f"pulsar://127.0.0.1:{free_port()},127.0.0.1:{embedded_broker.port}"
    await send(settings(service_url, topic, **TIMEOUTS), 1)
    received = await asyncio.to_thread(consume, embedded_broker.service_url, None, topic, 1)
    assert list(received.by_id("tracardi-event-id")) == ["event-1"]


@pytest.mark.asyncio
async def test_a_service_url_of_the_wrong_scheme_is_refused_at_once(topic: str) -> None:
    with pytest.raises(PulsarServiceUrlError, match=re.escape("http://127.0.0.1:8080")):
        await send(settings("http://127.0.0.1:8080", topic), 1)


@pytest.mark.asyncio
async def test_dispatches_fail_while_the_broker_is_down_and_recover_after(
    embedded_broker: EmbeddedBroker, topic: str
) -> None:
    service_url = embedded_broker.service_url
    to = settings(service_url, topic, **TIMEOUTS, unreachable_backoff_seconds=1.0)
    await send(to, 1)
    embedded_broker.stop()
    started = time.monotonic()
    try:
        with pytest.raises(PulsarConnectionError) as raised:
            await send(to, 2)
        assert time.monotonic() - started < TIMEOUTS["send_timeout_seconds"] + 3
        assert service_url in str(raised.value)
    finally:
        embedded_broker.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            await send(to, 3)
            break
        except PulsarConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    received = await asyncio.to_thread(consume, service_url, None, topic, 2)
    assert {"event-1", "event-3"} <= set(received.by_id("tracardi-event-id"))


class Gate:
    """A loopback TCP listener before a broker: it forwards, or accepts and never answers.

    Only the handshake and the lookup go through it: the producer then connects to the
    address the broker advertises.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.target: int | None = None
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def service_url(self) -> str:
        return f"pulsar://127.0.0.1:{self.port}"

    def forward_to(self, port: int | None) -> None:
        """Forward new connections to `port`, or answer nothing (None); drop the open ones."""
        with self.lock:
            self.target = port
            sockets, self.sockets = self.sockets, []
        for connection in sockets:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self.forward_to(None)
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                target = self.target
                self.sockets.append(connection)
            upstream = None
            if target is not None:
                upstream = socket.create_connection(("127.0.0.1", target))
                with self.lock:
                    self.sockets.append(upstream)
                threading.Thread(target=self._pump, args=(upstream, connection), daemon=True).start()
            threading.Thread(target=self._pump, args=(connection, upstream), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket | None) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if sink is not None and self.target is not None:
                    sink.sendall(data)
            except OSError:
                return


@pytest.fixture
def gate() -> Iterator[Gate]:
    listener = Gate()
    yield listener
    listener.close()


# A short window, so that the tests see it pass.
BACKOFF: dict[str, Any] = {**TIMEOUTS, "unreachable_backoff_seconds": 1.0}


async def timed_failure(service_url: str, topic: str, number: int) -> tuple[float, str]:
    """How long a dispatch took to fail with a connection error, and the error."""
    started = time.monotonic()
    with pytest.raises(PulsarConnectionError) as raised:
        await send(settings(service_url, topic, **BACKOFF), number)
    return time.monotonic() - started, str(raised.value)


async def dispatch_until_delivered(service_url: str, topic: str, number: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await send(settings(service_url, topic, **BACKOFF), number)
            return
        except PulsarConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def assert_fails_fast(failure: tuple[float, str], service_url: str, topic: str) -> None:
    seconds, message = failure
    assert seconds < 0.1, f"took {seconds:.3f} s: {message}"
    assert service_url in message
    assert topic in message
    assert "not tried again" in message


@pytest.mark.asyncio
async def test_a_silent_broker_costs_one_dispatch_the_timeout_then_dispatches_fail_fast(
    gate: Gate, embedded_broker: EmbeddedBroker, topic: str
) -> None:
    url = gate.service_url
    seconds, message = await timed_failure(url, topic, 1)
    assert seconds >= TIMEOUTS["connect_timeout_seconds"] - 0.2
    assert url in message and topic in message
    for number in range(2, 7):
        assert_fails_fast(await timed_failure(url, topic, number), url, topic)
    await asyncio.sleep(BACKOFF["unreachable_backoff_seconds"])
    # After the window one dispatch tries again, and pays the timeout; the others still fail fast.
    probe = asyncio.ensure_future(timed_failure(url, topic, 7))
    await asyncio.sleep(0.2)
    assert_fails_fast(await timed_failure(url, topic, 8), url, topic)
    assert (await probe)[0] >= TIMEOUTS["connect_timeout_seconds"] - 0.5
    gate.forward_to(embedded_broker.port)
    await asyncio.sleep(BACKOFF["unreachable_backoff_seconds"])
    await dispatch_until_delivered(url, topic, 9, within=1)
    await dispatch_until_delivered(url, topic, 10, within=1)
    received = await asyncio.to_thread(consume, embedded_broker.service_url, None, topic, 2)
    assert set(received.by_id("tracardi-event-id")) == {"event-9", "event-10"}


@pytest.mark.asyncio
async def test_a_refused_port_fails_fast_and_dispatches_flow_once_a_broker_listens_there(
    tmp_path_factory: pytest.TempPathFactory, topic: str
) -> None:
    port = free_port()
    url = f"pulsar://127.0.0.1:{port}"
    seconds, message = await timed_failure(url, topic, 1)
    assert seconds < 1, "a refused connection is reported at once"
    assert url in message and topic in message
    for number in range(2, 7):
        assert_fails_fast(await timed_failure(url, topic, number), url, topic)
    broker = start_embedded_broker(tmp_path_factory, port=port)
    try:
        await asyncio.sleep(BACKOFF["unreachable_backoff_seconds"])
        await dispatch_until_delivered(url, topic, 7, within=1)
        received = await asyncio.to_thread(consume, url, None, topic, 1)
        assert list(received.by_id("tracardi-event-id")) == ["event-7"]
    finally:
        broker.stop()


@pytest.mark.asyncio
async def test_a_broker_going_silent_under_a_producer_costs_one_send_timeout_then_fails_fast(
    embedded_broker: EmbeddedBroker, topic: str
) -> None:
    url = embedded_broker.service_url
    await dispatch_until_delivered(url, topic, 1, within=5)
    assert embedded_broker.process is not None
    # Stopped, the broker keeps its connections open and answers nothing, as a hung one does.
    embedded_broker.process.send_signal(signal.SIGSTOP)
    try:
        seconds, message = await timed_failure(url, topic, 2)
        assert TIMEOUTS["send_timeout_seconds"] - 0.5 <= seconds < TIMEOUTS["send_timeout_seconds"] + 3
        assert url in message and topic in message
        for number in range(3, 8):
            assert_fails_fast(await timed_failure(url, topic, number), url, topic)
    finally:
        embedded_broker.process.send_signal(signal.SIGCONT)
    await dispatch_until_delivered(url, topic, 8)
    # The message that timed out may still arrive once the broker resumes (at least once).
    received = await asyncio.to_thread(consume, url, None, topic, 3, 5)
    assert {"event-1", "event-8"} <= set(received.by_id("tracardi-event-id"))
