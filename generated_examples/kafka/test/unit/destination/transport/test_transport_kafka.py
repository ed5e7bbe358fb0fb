"""The shared Kafka producers (transport/kafka.py) against a stand-in for aiokafka's producer: no broker needed."""

import asyncio
import random
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from pydantic import SecretStr
from pytest_mock import MockerFixture

from tracardi.process_engine.destination.transport import kafka
from tracardi.process_engine.destination.transport.kafka import (
    KafkaBacklogError,
    KafkaRecordTooLargeError,
    KafkaSettingsError,
    KafkaUnreachableError,
    ProducerSettings,
    close_producers,
    producer_settings,
    publish,
)
from tracardi.process_engine.destination.transport.outages import Outages

try:
    from aiokafka.partitioner import murmur2 as aiokafka_murmur2
except ImportError:  # aiokafka 0.8 partitions with kafka-python's
    from kafka.partitioner.default import murmur2 as aiokafka_murmur2

SETTINGS = ProducerSettings(
    bootstrap_servers="broker-1:9092,broker-2:9092",
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-256",
    username="tracardi",
    password="s3cr3t-password",
    ssl_ca_file="",
    topic="tracardi-events",
    acks="all",
    compression="gzip",
    enable_idempotence=True,
    linger_ms=1,
    max_record_bytes=10_000,
    max_in_flight=4,
    request_timeout_seconds=10,
    connect_timeout_seconds=5,
    unreachable_backoff_seconds=5,
)


def test_producer_settings_are_read_from_the_models() -> None:
    fields = SETTINGS._asdict()
    credential_names = ("bootstrap_servers", "security_protocol", "sasl_mechanism", "username", "ssl_ca_file")
    credentials = SimpleNamespace(
        **{name: fields[name] for name in credential_names}, password=SecretStr("s3cr3t-password")
    )
    configuration = SimpleNamespace(**{name: value for name, value in fields.items() if name not in credential_names})
    assert producer_settings(credentials, configuration) == SETTINGS
    credentials.password = None
    assert producer_settings(credentials, configuration) == SETTINGS._replace(password=None)


# A self-signed CA certificate (EC P-256, valid until 2126): what ssl_ca_file points to.
TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBezCCASGgAwIBAgIUXRcL3NL5zyFfDLzHF/tAb7et2n4wCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHVGVzdCBDQTAgFw0yNjEyMDIwNTI2MjhaGA8yMTI2MTEwODA1
MjYyOFowEjEQMA4GA1UEAwwHVGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABAdKM5tpZx7HZBiBnTGjTsVt2ZGUMjdQBcGGwvJuhwKq2SPFphKEOQOPSv87
mGXpaVLMz+fefuE/nfcmlmODEpujUzBRMB0GA1UdDgQWBBS4I/AXs1n7nXn71sho
e+bS/LjoVDAfBgNVHSMEGDAWgBS4I/AXs1n7nXn71shoe+bS/LjoVDAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDKbHmR8CHEU0c34jOd7PlvXMUe
AptNp3fb7kmxBiSWlgIgUvdyoJeYhSWMJfLpAcXKV6tpqrp12r9sWsO8h0idlO0=
-----END CERTIFICATE-----
"""


class FakeCluster:
    def __init__(self, topics: set[str]) -> None:
        self._topics = topics
        self.unauthorized_topics: set[str] = set()

    def topics(self) -> set[str]:
        return self._topics

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0, 1, 2} if topic in self._topics else None


class FakeClient:
    """Knows the topics it was made with; a metadata update, after `update_delay`, learns the one added."""

    update_delay = 0.0

    def __init__(self, topics: set[str]) -> None:
        self.cluster = FakeCluster(topics)
        self.added: set[str] = set()
        self.updates = 0

    def add_topic(self, topic: str) -> None:
        self.added.add(topic)

    async def force_metadata_update(self) -> None:
        self.updates += 1
        await asyncio.sleep(self.update_delay)
        self.cluster.topics().update(self.added)


class FakeProducer:
    """Records what it is asked; acknowledges after `ack_delay` or fails with `failure`."""

    made: ClassVar[list["FakeProducer"]] = []
    start_delay = 0.0
    ack_delay = 0.0
    send_delay = 0.0
    failure: Exception | None = None
    # Seconds the start moves the setup budget's clock on, without waiting.
    start_takes = 0.0

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.client = FakeClient({"tracardi-events", "tracardi-profiles"})
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []
        self.stopped = False
        self.in_flight = 0
        self.most_in_flight = 0
        # Sends waiting for room at once, by partition, and the most of them in one partition.
        self.waiting: dict[int | None, int] = {}
        self.most_waiting = 0
        # Errors the next sends raise, one each.
        self.refusals: list[Exception] = []
        FakeProducer.made.append(self)

    async def start(self) -> None:
        FakeClock.now += self.start_takes
        await asyncio.sleep(self.start_delay)

    async def stop(self) -> None:
        self.stopped = True

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> "asyncio.Future[None]":
        if self.refusals:
            raise self.refusals.pop(0)
        # Like aiokafka's send when the partition's batch is full: it waits for room.
        self.waiting[partition] = self.waiting.get(partition, 0) + 1
        self.most_waiting = max(self.most_waiting, self.waiting[partition])
        await asyncio.sleep(self.send_delay)
        self.waiting[partition] -= 1
        self.sent.append((topic, value, key, headers or []))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return asyncio.ensure_future(self._acknowledge())

    def _partition(
        self, topic: str, partition: None, key: bytes | None, value: bytes, key_bytes: bytes | None, value_bytes: bytes
    ) -> int:
        return sum(key) % 3 if key is not None else 0

    async def _acknowledge(self, records: int = 1) -> None:
        await asyncio.sleep(self.ack_delay)
        self.in_flight -= records
        if self.failure is not None:
            raise self.failure


class FakeClock:
    """The setup budget's clock: real time, plus what a stand-in says its step took."""

    now = 0.0

    @staticmethod
    def time() -> float:
        return time.monotonic() + FakeClock.now


@pytest_asyncio.fixture(autouse=True)
async def fake_aiokafka(mocker: MockerFixture) -> AsyncIterator[None]:
    FakeProducer.made = []
    FakeProducer.start_delay = 0.0
    FakeProducer.ack_delay = 0.0
    FakeProducer.send_delay = 0.0
    FakeProducer.failure = None
    FakeProducer.start_takes = 0.0
    FakeClient.update_delay = 0.0
    FakeClock.now = 0.0
    mocker.patch.object(kafka, "AIOKafkaProducer", FakeProducer)
    mocker.patch.object(kafka, "_clock", FakeClock.time)
    mocker.patch.object(kafka, "_OUTAGES", Outages())
    mocker.patch.object(kafka, "_topic_limit", return_value=None)
    yield
    await close_producers()


async def send(settings: ProducerSettings = SETTINGS, value: bytes = b"{}", key: str | None = "profile-1") -> None:
    await publish(settings, value, key=key, headers={"tracardi-kind": "event"})


@pytest.mark.asyncio
async def test_racing_dispatches_start_one_producer_and_reuse_it() -> None:
    FakeProducer.start_delay = 0.05
    await asyncio.gather(*(send() for _ in range(20)))
    await send()
    [producer] = FakeProducer.made
    assert len(producer.sent) == 21


@pytest.mark.asyncio
async def test_the_record_carries_value_key_and_headers() -> None:
    await send(value=b'{"a":1}', key="profile-1")
    await send(key=None)
    [producer] = FakeProducer.made
    assert producer.sent[0] == ("tracardi-events", b'{"a":1}', b"profile-1", [("tracardi-kind", b"event")])
    assert producer.sent[1][2] is None


@pytest.mark.asyncio
async def test_the_producer_gets_the_settings() -> None:
    await send()
    options = FakeProducer.made[0].options
    assert options["bootstrap_servers"] == ["broker-1:9092", "broker-2:9092"]
    assert options["acks"] == "all"
    assert options["compression_type"] == "gzip"
    assert options["enable_idempotence"] is True
    assert options["max_request_size"] == 10_000
    assert options["request_timeout_ms"] == 10_000
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "tracardi"


@pytest.mark.asyncio
async def test_other_settings_get_another_producer() -> None:
    await send()
    await send(SETTINGS._replace(topic="tracardi-profiles", enable_idempotence=False, acks="1"))
    _, second = FakeProducer.made
    assert second.options["acks"] == 1


@pytest.mark.asyncio
async def test_records_in_flight_are_bounded_and_a_burst_waits() -> None:
    FakeProducer.ack_delay = 0.01
    await asyncio.gather(*(send() for _ in range(40)))
    [producer] = FakeProducer.made
    assert len(producer.sent) == 40
    assert producer.most_in_flight == SETTINGS.max_in_flight


@pytest.mark.asyncio
async def test_close_producers_stops_them_and_the_next_dispatch_starts_anew() -> None:
    await send()
    await close_producers()
    assert FakeProducer.made[0].stopped
    await send()
    assert len(FakeProducer.made) == 2


def test_a_closed_loop_leaves_no_producer_behind() -> None:
    loop = asyncio.new_event_loop()
    loop.run_until_complete(send())
    loop.close()

    async def later() -> int:
        await send()
        return len(kafka._producers)

    assert asyncio.run(later()) == 1
    assert len(FakeProducer.made) == 2


@pytest.mark.asyncio
async def test_a_record_too_large_is_refused_before_any_connection() -> None:
    with pytest.raises(KafkaRecordTooLargeError, match="max_record_bytes"):
        await send(value=b"x" * 20_000)
    assert FakeProducer.made == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"acks": "1"}, "enable_idempotence needs acks 'all'"),
        ({"username": None}, "needs a username and a password"),
        ({"bootstrap_servers": "broker-1"}, "host:port"),
    ],
)
async def test_settings_that_cannot_work_are_refused_before_any_connection(
    change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(KafkaSettingsError, match=problem) as raised:
        await send(SETTINGS._replace(**change))
    assert FakeProducer.made == []
    assert "s3cr3t-password" not in str(raised.value)


@pytest.mark.asyncio
async def test_no_acknowledgement_fails_clearly_then_fast_for_the_back_off() -> None:
    FakeProducer.failure = KafkaTimeoutError()
    with pytest.raises(KafkaUnreachableError, match=r"No acknowledgement from topic 'tracardi-events' at Kafka"):
        await send()
    with pytest.raises(KafkaUnreachableError, match="not tried again"):
        await send()
    assert len(FakeProducer.made[0].sent) == 1


@pytest.mark.asyncio
async def test_a_record_larger_than_the_topic_takes_is_refused_unsent(mocker: MockerFixture) -> None:
    mocker.patch.object(kafka, "_topic_limit", return_value=1000)
    with pytest.raises(KafkaRecordTooLargeError, match=r"max\.message\.bytes \(1000\)"):
        await send(value=b"x" * 2000)
    assert FakeProducer.made[0].sent == []


@pytest.mark.asyncio
async def test_a_record_the_broker_finds_too_large_is_named() -> None:
    FakeProducer.failure = MessageSizeTooLargeError()
    with pytest.raises(KafkaRecordTooLargeError, match=r"refused a record of 2 bytes as too large"):
        await send()


@pytest.mark.asyncio
async def test_a_silent_start_fails_after_the_connect_timeout() -> None:
    FakeProducer.start_delay = 10
    with pytest.raises(KafkaUnreachableError, match=r"No answer from .* within connect_timeout_seconds"):
        await send(SETTINGS._replace(connect_timeout_seconds=0.05))
    assert FakeProducer.made[0].stopped


def test_the_password_stays_out_of_the_settings_repr() -> None:
    assert "s3cr3t-password" not in repr(SETTINGS)
    assert "<password>" in repr(SETTINGS)


@pytest.mark.asyncio
async def test_the_ca_file_is_trusted_with_host_names_checked(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(TEST_CA)
    await send(SETTINGS._replace(security_protocol="SASL_SSL", ssl_ca_file=str(ca_file)))
    context = FakeProducer.made[0].options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [certificate["subject"] for certificate in context.get_ca_certs()] == [((("commonName", "Test CA"),),)]


@pytest.mark.asyncio
async def test_without_a_ca_file_ssl_trusts_the_systems_authorities() -> None:
    await send(SETTINGS._replace(security_protocol="SSL"))
    context = FakeProducer.made[0].options["ssl_context"]
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read (No such file or directory)"),
        ("not a certificate", "is not a readable PEM file of certificates (NO_CERTIFICATE_OR_CRL_FOUND)"),
        ("", "is not a readable PEM file of certificates (NO_CERTIFICATE_OR_CRL_FOUND)"),
    ],
)
async def test_a_ca_file_missing_or_not_pem_is_refused_before_any_connection(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    ca_file = tmp_path / "internal ca.pem"
    if content is not None:
        ca_file.write_text(content)
    with pytest.raises(KafkaSettingsError) as raised:
        await send(SETTINGS._replace(security_protocol="SASL_SSL", ssl_ca_file=str(ca_file)))
    assert f"ssl_ca_file {str(ca_file)!r} {problem}, for " in str(raised.value)
    assert "s3cr3t-password" not in str(raised.value)
    assert FakeProducer.made == []


@pytest.mark.asyncio
@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
async def test_a_ca_file_without_tls_is_refused(tmp_path: Path, protocol: str) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(TEST_CA)
    expected = f"ssl_ca_file is set, but security_protocol {protocol} does not use TLS"
    with pytest.raises(KafkaSettingsError, match=expected):
        await send(SETTINGS._replace(security_protocol=protocol, ssl_ca_file=str(ca_file)))
    assert FakeProducer.made == []


def running() -> list[FakeProducer]:
    return [producer for producer in FakeProducer.made if not producer.stopped]


@pytest.mark.asyncio
async def test_destinations_on_one_cluster_share_one_producer() -> None:
    # Another destination: its own topic, bound on records in flight and timeouts, same cluster.
    other = SETTINGS._replace(
        topic="tracardi-profiles", max_in_flight=2, connect_timeout_seconds=3, unreachable_backoff_seconds=1
    )
    await asyncio.gather(send(), send(other), send(), send(other))
    [producer] = FakeProducer.made
    assert sorted(topic for topic, *_ in producer.sent) == ["tracardi-events"] * 2 + ["tracardi-profiles"] * 2


@pytest.mark.asyncio
async def test_each_bound_on_records_in_flight_holds_on_a_shared_producer() -> None:
    FakeProducer.ack_delay = 0.01
    other = SETTINGS._replace(topic="tracardi-profiles", max_in_flight=1)
    await asyncio.gather(*(send(other) for _ in range(10)))
    assert FakeProducer.made[0].most_in_flight == 1
    await asyncio.gather(*(send() for _ in range(10)), *(send(other) for _ in range(10)))
    assert FakeProducer.made[0].most_in_flight == SETTINGS.max_in_flight + 1


@pytest.mark.asyncio
async def test_a_hundred_inits_leave_at_most_the_bound_of_producers_running() -> None:
    for number in range(100):
        await send(SETTINGS._replace(linger_ms=number))
    await close_evicted()
    assert len(FakeProducer.made) == 100
    assert len(running()) == kafka.MAX_PRODUCERS
    assert len(kafka._producers) == kafka.MAX_PRODUCERS
    # The latest are kept, and still serve their settings.
    await send(SETTINGS._replace(linger_ms=99))
    assert len(FakeProducer.made) == 100
    assert len(FakeProducer.made[-1].sent) == 2


@pytest.mark.asyncio
async def test_the_least_recently_used_producer_is_stopped_with_its_records_flushed() -> None:
    for number in range(kafka.MAX_PRODUCERS):
        await send(SETTINGS._replace(linger_ms=number))
    first, second = FakeProducer.made[:2]
    await send(SETTINGS._replace(linger_ms=0))
    await send(SETTINGS._replace(linger_ms=kafka.MAX_PRODUCERS))
    await close_evicted()
    assert second.stopped
    assert not first.stopped
    # Its settings start a new producer.
    await send(SETTINGS._replace(linger_ms=1))
    assert len(FakeProducer.made) == kafka.MAX_PRODUCERS + 2


async def close_evicted() -> None:
    await asyncio.gather(*kafka._stopping)


@pytest.mark.asyncio
async def test_the_first_dispatch_sets_up_within_one_connect_timeout() -> None:
    # The start and the topic's metadata each take most of the budget; together, more than it.
    FakeProducer.start_delay = 0.3
    FakeClient.update_delay = 0.3
    started = time.monotonic()
    with pytest.raises(KafkaUnreachableError, match=r"within connect_timeout_seconds \(0\.5 s\)"):
        await send(SETTINGS._replace(topic="tracardi-new", connect_timeout_seconds=0.5))
    assert time.monotonic() - started < 0.7


@pytest.mark.asyncio
async def test_no_setup_step_starts_with_nothing_of_the_budget_left() -> None:
    FakeProducer.start_takes = SETTINGS.connect_timeout_seconds
    with pytest.raises(KafkaUnreachableError, match=r"within connect_timeout_seconds \(5 s\)"):
        await send(SETTINGS._replace(topic="tracardi-new"))
    assert FakeProducer.made[0].client.updates == 0


@pytest.mark.asyncio
async def test_a_full_bound_on_records_in_flight_waits_no_longer_than_the_request_timeout() -> None:
    settings = SETTINGS._replace(max_in_flight=1, request_timeout_seconds=0.1)
    await send(settings)
    FakeProducer.ack_delay = 10
    waiting = asyncio.ensure_future(send(settings))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(KafkaBacklogError, match=r"max_in_flight \(1\) records in flight .* request_timeout_seconds"):
        await send(settings)
    assert time.monotonic() - started < 0.5
    waiting.cancel()
    # Slow acknowledgements are not an outage: the next dispatch tries.
    FakeProducer.ack_delay = 0
    await send(settings)


@pytest.mark.asyncio
async def test_a_request_timeout_under_a_millisecond_is_not_rounded_to_none() -> None:
    await send(SETTINGS._replace(request_timeout_seconds=0.0004))
    assert FakeProducer.made[0].options["request_timeout_ms"] == 1


@pytest.mark.asyncio
async def test_a_thousand_concurrent_dispatches_all_complete_in_order_per_key() -> None:
    FakeProducer.ack_delay = 0.001
    settings = SETTINGS._replace(max_in_flight=1000)

    async def one(number: int) -> None:
        await send(settings, value=str(number).encode(), key=f"profile-{number % 8}")

    await asyncio.gather(*(one(number) for number in range(1000)))
    [producer] = FakeProducer.made
    assert sorted(int(value) for _, value, _, _ in producer.sent) == list(range(1000))
    for profile in range(8):
        key = f"profile-{profile}".encode()
        orders = [int(value) for _, value, sent_key, _ in producer.sent if sent_key == key]
        assert orders == sorted(orders)


@pytest.mark.asyncio
async def test_at_most_one_send_a_partition_waits_for_room() -> None:
    # aiokafka wakes every waiting send whenever a batch leaves: many waiting cost quadratically.
    FakeProducer.send_delay = 0.001
    await asyncio.gather(*(send(key=f"profile-{number}") for number in range(30)))
    [producer] = FakeProducer.made
    assert len(producer.sent) == 30
    assert producer.most_waiting == 1


@pytest.mark.asyncio
async def test_a_refused_send_fails_its_record_alone() -> None:
    await send()
    FakeProducer.send_delay = 0.01
    FakeProducer.made[0].refusals.extend([MessageSizeTooLargeError(), MessageSizeTooLargeError()])
    # The first sends itself, the others wait for their turn.
    results = await asyncio.gather(send(), send(), send(), return_exceptions=True)
    assert [type(result) for result in results] == [KafkaRecordTooLargeError, KafkaRecordTooLargeError, type(None)]


@pytest.mark.asyncio
async def test_a_cancelled_dispatch_waiting_for_its_turn_sends_nothing() -> None:
    FakeProducer.send_delay = 0.05
    first = asyncio.ensure_future(send(value=b"1"))
    second = asyncio.ensure_future(send(value=b"2"))
    await asyncio.sleep(0.01)
    second.cancel()
    await first
    await asyncio.sleep(0.1)
    assert [value for _, value, _, _ in FakeProducer.made[0].sent] == [b"1"]


@pytest.mark.asyncio
async def test_a_topic_whose_metadata_was_lost_is_sent_as_aiokafka_would() -> None:
    await send()
    FakeProducer.made[0].client.cluster.topics().discard("tracardi-events")
    await send()
    assert len(FakeProducer.made[0].sent) == 2


@pytest.mark.asyncio
async def test_a_record_waits_for_its_turn_no_longer_than_the_request_timeout() -> None:
    settings = SETTINGS._replace(request_timeout_seconds=0.1)
    await send(settings)
    FakeProducer.send_delay = 0.15
    results = await asyncio.gather(send(settings, value=b"1"), send(settings, value=b"2"), return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], KafkaUnreachableError)
    assert [value for _, value, _, _ in FakeProducer.made[0].sent] == [b"{}", b"1"]


@pytest.mark.asyncio
async def test_a_send_without_room_fails_the_records_behind_it_unsent() -> None:
    await send()
    [producer] = FakeProducer.made
    FakeProducer.send_delay = 0.05
    first = asyncio.ensure_future(send(value=b"1"))
    await asyncio.sleep(0.01)
    producer.refusals.append(KafkaTimeoutError())
    results = await asyncio.gather(first, send(value=b"2"), send(value=b"3"), return_exceptions=True)
    assert results[0] is None
    assert [type(result) for result in results[1:]] == [KafkaUnreachableError] * 2
    assert [value for _, value, _, _ in producer.sent] == [b"{}", b"1"]


def test_the_key_hash_is_the_one_aiokafka_partitions_by() -> None:
    rng = random.Random(19)
    keys = [b"", b"a", b"profile-1", "profil\u00e9-\u4e00".encode()]
    keys += [rng.randbytes(rng.randrange(64)) for _ in range(2000)]
    assert [kafka.murmur2(key) for key in keys] == [aiokafka_murmur2(key) for key in keys]


@pytest.mark.asyncio
async def test_room_handed_to_a_dispatch_that_gave_up_goes_to_the_next() -> None:
    room = kafka._Room(1)
    room.free = 0
    first = asyncio.ensure_future(room.wait(10))
    second = asyncio.ensure_future(room.wait(10))
    await asyncio.sleep(0)
    # Room freed for the first, which is cancelled before it could take it.
    room.release()
    first.cancel()
    [outcome] = await asyncio.gather(first, return_exceptions=True)
    if not isinstance(outcome, asyncio.CancelledError):
        # Python 3.11's wait_for lets a cancelled wait keep what it got: its dispatch sends, then frees it.
        room.release()
    await asyncio.wait_for(second, 1)
    assert room.free == 0
    room.release()
    assert room.free == 1


@pytest.mark.asyncio
async def test_room_goes_to_the_dispatches_waiting_in_their_order() -> None:
    room = kafka._Room(1)
    room.free = 0
    order: list[int] = []

    async def wait(number: int) -> None:
        await room.wait(10)
        order.append(number)

    waiting = [asyncio.ensure_future(wait(number)) for number in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        room.release()
    await asyncio.gather(*waiting)
    assert order == [0, 1, 2]
    assert room.free == 0
