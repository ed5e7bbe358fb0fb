"""The shared Kafka producers (transport/kafka.py) against Apache Kafka with SASL and an authorizer enforced.

These tests need a broker named by these variables:

    KAFKA_BOOTSTRAP_SERVERS                          host:port of a SASL_PLAINTEXT listener
    KAFKA_SSL_BOOTSTRAP_SERVERS                      host:port of a SASL_SSL listener, same users
    KAFKA_SSL_CA_FILE                                PEM file of the CA that signed its certificate
    KAFKA_ADMIN_USERNAME, KAFKA_ADMIN_PASSWORD       a user that may create and read topics (PLAIN)
    KAFKA_PLAIN_USERNAME, KAFKA_PLAIN_PASSWORD       a PLAIN user that may write to them
    KAFKA_SCRAM_USERNAME, KAFKA_SCRAM_PASSWORD       a SCRAM-SHA-256 and -512 user that may write to them
    KAFKA_UNPRIVILEGED_USERNAME, _PASSWORD           a PLAIN user that may write to none of them
    KAFKA_MESSAGE_MAX_BYTES                          the broker's message.max.bytes
    KAFKA_RESTART_COMMAND                            a command that restarts the broker (optional)

`scripts/apache-kafka run -- pytest test/integration` in the destination template starts such a
broker, sets these variables, runs the tests and stops the broker. Without them these tests
skip and say so; with REQUIRE_APACHE_KAFKA=1 they fail instead.
"""

import asyncio
import contextlib
import json
import os
import shlex
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tracardi.process_engine.destination.transport import kafka
from tracardi.process_engine.destination.transport.kafka import (
    KafkaAuthenticationError,
    KafkaCertificateError,
    KafkaDeliveryError,
    KafkaRecordTooLargeError,
    KafkaSettingsError,
    KafkaTopicError,
    KafkaUnreachableError,
    ProducerSettings,
    close_producers,
    publish,
)

VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_ADMIN_USERNAME", "KAFKA_ADMIN_PASSWORD")
if not all(os.environ.get(name) for name in VARIABLES):
    reason = (
        "needs Apache Kafka with SASL: set KAFKA_BOOTSTRAP_SERVERS and the KAFKA_* users, for instance "
        "with the destination template's scripts/apache-kafka run -- pytest test/integration"
    )
    if os.environ.get("REQUIRE_APACHE_KAFKA") == "1":
        raise RuntimeError(f"REQUIRE_APACHE_KAFKA=1, but this {reason}")
    pytest.skip(reason, allow_module_level=True)

BOOTSTRAP_SERVERS = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
ADMIN = (os.environ["KAFKA_ADMIN_USERNAME"], os.environ["KAFKA_ADMIN_PASSWORD"])
MESSAGE_MAX_BYTES = int(os.environ.get("KAFKA_MESSAGE_MAX_BYTES") or 1048576)
AT_ONCE_SECONDS = 2.0
# A destination's settings as its registered init has them, but for timeouts long enough that an
# error which only came when one ran out could not pass for one that came at once.
DEFAULTS = ProducerSettings(
    bootstrap_servers=BOOTSTRAP_SERVERS,
    security_protocol="PLAINTEXT",
    sasl_mechanism="PLAIN",
    username=None,
    password=None,
    ssl_ca_file="",
    topic="",
    acks="all",
    compression="gzip",
    enable_idempotence=True,
    linger_ms=1,
    max_record_bytes=1048576,
    max_in_flight=1000,
    request_timeout_seconds=10,
    connect_timeout_seconds=10,
    unreachable_backoff_seconds=5,
)
HEADERS = {"tracardi-kind": "event", "tracardi-event-id": "event-1"}


def user(kind: str) -> tuple[str, str]:
    names = (f"KAFKA_{kind}_USERNAME", f"KAFKA_{kind}_PASSWORD")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.skip(f"set {' and '.join(missing)} to run this test")
    return os.environ[names[0]], os.environ[names[1]]


def tls_listener() -> tuple[str, str]:
    """The SASL_SSL listener's host:port and the PEM file of the CA that signed its certificate."""
    names = ("KAFKA_SSL_BOOTSTRAP_SERVERS", "KAFKA_SSL_CA_FILE")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        reason = f"set {' and '.join(missing)} to run this test"
        if os.environ.get("REQUIRE_APACHE_KAFKA") == "1":
            pytest.fail(f"REQUIRE_APACHE_KAFKA=1, but {reason}")
        pytest.skip(reason)
    return os.environ[names[0]], os.environ[names[1]]


def sasl_ssl(login: tuple[str, str], mechanism: str = "PLAIN", ca_file: str | None = None) -> dict[str, Any]:
    """Credentials for the SASL_SSL listener, trusting its CA unless `ca_file` says otherwise."""
    servers, listener_ca_file = tls_listener()
    return {
        **sasl(login, mechanism),
        "bootstrap_servers": servers,
        "security_protocol": "SASL_SSL",
        "ssl_ca_file": listener_ca_file if ca_file is None else ca_file,
    }


def sasl(user_and_password: tuple[str, str], mechanism: str = "PLAIN") -> dict[str, Any]:
    return {
        "bootstrap_servers": BOOTSTRAP_SERVERS,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "username": user_and_password[0],
        "password": user_and_password[1],
    }


def client_options() -> dict[str, Any]:
    return {
        "bootstrap_servers": BOOTSTRAP_SERVERS,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": ADMIN[0],
        "sasl_plain_password": ADMIN[1],
    }


@pytest_asyncio.fixture
async def topic() -> AsyncIterator[str]:
    """A new topic of three partitions; the broker creates none on demand."""
    name = f"tracardi-apache-test-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(**client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1)])
    finally:
        await admin.close()
    yield name


@pytest_asyncio.fixture(autouse=True)
async def fresh_producers() -> AsyncIterator[None]:
    yield
    await close_producers()


def settings(credentials: dict[str, Any], topic: str, **change: Any) -> ProducerSettings:
    """A destination's producer settings: its credentials, its topic and any other change."""
    return DEFAULTS._replace(**credentials, topic=topic, **change)


async def send(
    producer_settings: ProducerSettings,
    data: Any = None,
    key: str | None = "profile-1",
    headers: dict[str, str] | None = None,
) -> None:
    value = json.dumps({"order": 1} if data is None else data).encode()
    await publish(producer_settings, value, key=key, headers=HEADERS if headers is None else headers)


async def received(topic: str, count: int, timeout: float = 20, options: dict[str, Any] | None = None) -> list[Any]:
    """The first `count` records on the topic, read by a consumer of its own."""
    consumer = AIOKafkaConsumer(**(options or client_options()), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, number) for number in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            records.extend(record for batch in batches.values() for record in batch)
        return records
    finally:
        await consumer.stop()


def headers_of(record: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


async def refusal(producer_settings: ProducerSettings, expected: type[Exception]) -> tuple[str, float]:
    """The message of the error a dispatch fails with, and how long it took."""
    started = time.monotonic()
    with pytest.raises(expected) as raised:
        await send(producer_settings)
    return str(raised.value), time.monotonic() - started


@pytest.mark.asyncio
async def test_a_record_arrives_with_its_value_key_and_headers(topic: str) -> None:
    headers = {"environment": "integration", **HEADERS}
    await send(settings(sasl(user("PLAIN")), topic), {"order": 1, "total": "9.99"}, headers=headers)
    await send(settings(sasl(user("PLAIN")), topic), {"order": 2}, key=None)
    records = {json.loads(record.value)["order"]: record for record in await received(topic, 2)}
    assert json.loads(records[1].value) == {"order": 1, "total": "9.99"}
    assert records[1].key == b"profile-1"
    assert headers_of(records[1]) == headers
    assert records[2].key is None


@pytest.mark.asyncio
@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_scram_user_publishes(topic: str, mechanism: str) -> None:
    await send(settings(sasl(user("SCRAM"), mechanism), topic), {"order": 7})
    [record] = await received(topic, 1)
    assert json.loads(record.value) == {"order": 7}


@pytest.mark.asyncio
async def test_concurrent_dispatches_all_arrive_in_order_per_key(topic: str) -> None:
    producer_settings = settings(sasl(user("PLAIN")), topic, max_in_flight=16)

    async def one(number: int) -> None:
        await send(producer_settings, {"order": number}, key=f"profile-{number % 8}")

    await asyncio.gather(*(one(number) for number in range(300)))
    records = await received(topic, 300)
    assert sorted(json.loads(record.value)["order"] for record in records) == list(range(300))
    for profile in range(8):
        orders = [json.loads(r.value)["order"] for r in records if r.key == f"profile-{profile}".encode()]
        assert orders == sorted(orders)


@pytest.mark.asyncio
async def test_a_thousand_concurrent_dispatches_all_arrive_in_order_per_key(topic: str) -> None:
    # More than fill a batch of a partition: aiokafka's own send would make them all wait at once.
    producer_settings = settings(sasl(user("PLAIN")), topic, max_in_flight=1000)
    padding = "x" * 200
    await asyncio.gather(
        *(
            send(producer_settings, {"order": number, "padding": padding}, key=f"profile-{number % 8}")
            for number in range(1000)
        )
    )
    records = await received(topic, 1000, timeout=40)
    assert sorted(json.loads(record.value)["order"] for record in records) == list(range(1000))
    for profile in range(8):
        orders = [json.loads(r.value)["order"] for r in records if r.key == f"profile-{profile}".encode()]
        assert orders == sorted(orders)


@pytest.mark.asyncio
async def test_destinations_with_different_topics_on_one_cluster_share_one_producer(topic: str) -> None:
    other_topic = f"{topic}-other"
    admin = AIOKafkaAdminClient(**client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(other_topic, 3, 1)])
        # The broker names a new topic in its metadata a moment after creating it.
        deadline = time.monotonic() + 10
        while other_topic not in await admin.list_topics() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    first = settings(sasl(user("PLAIN")), topic)
    # Another destination: its own topic, bound on records in flight and back-off.
    second = settings(sasl(user("PLAIN")), other_topic, max_in_flight=8, unreachable_backoff_seconds=1)
    await asyncio.gather(send(first, {"order": 1}), send(second, {"order": 2}))
    await send(second, {"order": 3})
    assert len(kafka._producers) == 1
    assert [json.loads(record.value) for record in await received(topic, 1)] == [{"order": 1}]
    orders = sorted(json.loads(record.value)["order"] for record in await received(other_topic, 2))
    assert orders == [2, 3]


@pytest.mark.asyncio
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
async def test_a_wrong_password_is_refused_at_once(topic: str, mechanism: str) -> None:
    name = user("PLAIN" if mechanism == "PLAIN" else "SCRAM")[0]
    credentials = {**sasl((name, "not-the-password"), mechanism)}
    message, elapsed = await refusal(settings(credentials, topic), KafkaAuthenticationError)
    assert elapsed < AT_ONCE_SECONDS
    assert "refused" in message
    assert BOOTSTRAP_SERVERS in message
    assert topic in message
    assert "not-the-password" not in message


@pytest.mark.asyncio
async def test_an_unknown_user_is_refused_at_once(topic: str) -> None:
    credentials = sasl(("no-such-user", "any-password"))
    message, elapsed = await refusal(settings(credentials, topic), KafkaAuthenticationError)
    assert elapsed < AT_ONCE_SECONDS
    assert "no-such-user" in message
    assert "any-password" not in message


@pytest.mark.asyncio
async def test_a_user_without_rights_is_refused_at_once(topic: str) -> None:
    unprivileged = user("UNPRIVILEGED")
    message, elapsed = await refusal(settings(sasl(unprivileged), topic), KafkaTopicError)
    assert elapsed < AT_ONCE_SECONDS
    assert "may not write" in message
    assert topic in message
    assert unprivileged[1] not in message


@pytest.mark.asyncio
async def test_an_unknown_topic_fails_at_once() -> None:
    topic = f"tracardi-no-such-topic-{uuid.uuid4().hex}"
    message, elapsed = await refusal(settings(sasl(user("PLAIN")), topic), KafkaTopicError)
    assert elapsed < AT_ONCE_SECONDS
    assert "There is no" in message
    assert topic in message


@pytest.mark.asyncio
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
async def test_over_sasl_ssl_with_the_ca_file_a_record_arrives(topic: str, mechanism: str) -> None:
    credentials = sasl_ssl(user("PLAIN" if mechanism == "PLAIN" else "SCRAM"), mechanism)
    await send(settings(credentials, topic), {"order": 3, "over": "tls"})
    servers, ca_file = tls_listener()
    # Read back over TLS too, trusting the same CA.
    over_tls = {
        **client_options(),
        "bootstrap_servers": servers,
        "security_protocol": "SASL_SSL",
        "ssl_context": ssl.create_default_context(cafile=ca_file),
    }
    [record] = await received(topic, 1, options=over_tls)
    assert json.loads(record.value) == {"order": 3, "over": "tls"}
    assert headers_of(record)["tracardi-event-id"] == "event-1"


@pytest.mark.asyncio
async def test_over_sasl_ssl_without_the_ca_file_the_certificate_is_refused_at_once(topic: str) -> None:
    # The system's certificate authorities do not include the broker's own.
    credentials = sasl_ssl(user("PLAIN"), ca_file="")
    message, elapsed = await refusal(settings(credentials, topic), KafkaCertificateError)
    assert elapsed < AT_ONCE_SECONDS
    assert credentials["bootstrap_servers"] in message
    assert topic in message
    assert "could not be verified" in message
    assert "the system's certificate authorities" in message
    assert credentials["password"] not in message


@pytest.mark.asyncio
async def test_a_missing_ca_file_is_refused_before_any_connection(topic: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    credentials = sasl_ssl(user("PLAIN"), ca_file=missing)
    message, elapsed = await refusal(settings(credentials, topic), KafkaSettingsError)
    assert elapsed < AT_ONCE_SECONDS
    assert f"ssl_ca_file {missing!r} cannot be read (No such file or directory)" in message
    assert credentials["password"] not in message


@pytest.mark.asyncio
async def test_a_record_larger_than_the_topic_takes_is_refused_before_sending(topic: str) -> None:
    producer_settings = settings(sasl(user("PLAIN")), topic, max_record_bytes=MESSAGE_MAX_BYTES * 4)
    with pytest.raises(KafkaRecordTooLargeError, match=r"more than the topic's max\.message\.bytes") as raised:
        await send(producer_settings, {"blob": "x" * MESSAGE_MAX_BYTES})
    assert topic in str(raised.value)
    assert str(MESSAGE_MAX_BYTES) in str(raised.value)
    # The producer is still good for records that fit.
    await send(settings(sasl(user("PLAIN")), topic), {"order": 2})
    assert [json.loads(record.value) for record in await received(topic, 1)] == [{"order": 2}]


@pytest.mark.asyncio
async def test_a_record_larger_than_max_record_bytes_is_refused_before_sending() -> None:
    # Nothing listens there: the size check must come first.
    nowhere = {"bootstrap_servers": f"127.0.0.1:{free_port()}"}
    with pytest.raises(KafkaRecordTooLargeError, match="max_record_bytes"):
        await send(settings(nowhere, "any-topic", max_record_bytes=1000), {"blob": "x" * 2000})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gate:
    """A port in front of the broker: silent (accepts, never answers) until opened, then a relay."""

    def __init__(self) -> None:
        self.open = False
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not self.open:
            await asyncio.sleep(0.05)
        host, _, port = BOOTSTRAP_SERVERS.split(",")[0].rpartition(":")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    target.write(data)
                    await target.drain()
            target.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()


@pytest.mark.asyncio
async def test_a_silent_broker_costs_one_connect_timeout_then_fails_fast_until_it_answers(topic: str) -> None:
    gate = Gate()
    await gate.start()
    try:
        credentials = {**sasl(user("PLAIN")), "bootstrap_servers": f"127.0.0.1:{gate.port}"}
        producer_settings = settings(credentials, topic, connect_timeout_seconds=1, unreachable_backoff_seconds=1.5)
        message, elapsed = await refusal(producer_settings, KafkaUnreachableError)
        assert 0.9 < elapsed < 5
        assert f"127.0.0.1:{gate.port}" in message
        assert topic in message
        for _ in range(3):
            again, elapsed = await refusal(producer_settings, KafkaUnreachableError)
            assert elapsed < 0.1
            assert again.startswith(message)
            assert "not tried again" in again
        await asyncio.sleep(1.6)
        gate.open = True
        await send(producer_settings, {"order": 5})
        assert [json.loads(record.value) for record in await received(topic, 1)] == [{"order": 5}]
    finally:
        await gate.close()


@pytest.mark.asyncio
async def test_a_refused_port_fails_fast_within_the_back_off(topic: str) -> None:
    credentials = {**sasl(user("PLAIN")), "bootstrap_servers": f"127.0.0.1:{free_port()}"}
    message, _ = await refusal(settings(credentials, topic), KafkaUnreachableError)
    assert "Could not connect" in message
    again, elapsed = await refusal(settings(credentials, topic), KafkaUnreachableError)
    assert elapsed < 0.1
    assert "not tried again" in again


@pytest.fixture
def restart_command() -> Iterator[list[str]]:
    command = os.environ.get("KAFKA_RESTART_COMMAND")
    if not command:
        pytest.skip("set KAFKA_RESTART_COMMAND to a command that restarts the broker to run this test")
    yield shlex.split(command)


@pytest.mark.asyncio
async def test_dispatches_succeed_again_after_a_broker_restart(topic: str, restart_command: list[str]) -> None:
    producer_settings = settings(sasl(user("PLAIN")), topic, unreachable_backoff_seconds=0.5)
    await send(producer_settings, {"order": 1})
    await asyncio.to_thread(subprocess.run, restart_command, check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            await send(producer_settings, {"order": 2})
            break
        except KafkaDeliveryError:
            # The first dispatches may still meet the old connections or a leader not yet elected.
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.6)
    orders = sorted(json.loads(record.value)["order"] for record in await received(topic, 2))
    assert orders == [1, 2]
