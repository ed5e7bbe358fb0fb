"""The shared Kafka producers against a stand-in for aiokafka's producer: no broker needed."""

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from pytest_mock import MockerFixture

from tracardi.process_engine.destination import kafka_producer
from tracardi.process_engine.destination.transport.outages import Outages
from tracardi.process_engine.destination.kafka_producer import (
    KafkaRecordTooLargeError,
    KafkaSettingsError,
    KafkaUnreachableError,
    ProducerSettings,
    close_producers,
    publish,
)

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


class FakeClient:
    def __init__(self, topics: set[str]) -> None:
        self.cluster = FakeCluster(topics)


class FakeProducer:
    """Records what it is asked; acknowledges after `ack_delay` or fails with `failure`."""

    made: ClassVar[list["FakeProducer"]] = []
    start_delay = 0.0
    ack_delay = 0.0
    failure: Exception | None = None

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.client = FakeClient({"tracardi-events", "tracardi-profiles"})
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []
        self.stopped = False
        self.in_flight = 0
        self.most_in_flight = 0
        FakeProducer.made.append(self)

    async def start(self) -> None:
        await asyncio.sleep(self.start_delay)

    async def stop(self) -> None:
        self.stopped = True

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> "asyncio.Future[None]":
        self.sent.append((topic, value, key, headers or []))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return asyncio.ensure_future(self._acknowledge())

    async def _acknowledge(self) -> None:
        await asyncio.sleep(self.ack_delay)
        self.in_flight -= 1
        if self.failure is not None:
            raise self.failure


@pytest_asyncio.fixture(autouse=True)
async def fake_aiokafka(mocker: MockerFixture) -> AsyncIterator[None]:
    FakeProducer.made = []
    FakeProducer.start_delay = 0.0
    FakeProducer.ack_delay = 0.0
    FakeProducer.failure = None
    mocker.patch.object(kafka_producer, "AIOKafkaProducer", FakeProducer)
    mocker.patch.object(kafka_producer, "_OUTAGES", Outages())
    mocker.patch.object(kafka_producer, "_topic_limit", return_value=None)
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
        return len(kafka_producer._producers)

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
        ({"max_in_flight": 0}, "max_in_flight must be positive"),
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
    mocker.patch.object(kafka_producer, "_topic_limit", return_value=1000)
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
    [(None, "FileNotFoundError"), ("not a certificate", "SSLError"), ("", "SSLError")],
)
async def test_a_ca_file_missing_or_not_pem_is_refused_before_any_connection(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    ca_file = tmp_path / "internal ca.pem"
    if content is not None:
        ca_file.write_text(content)
    with pytest.raises(KafkaSettingsError, match="is not a readable PEM file") as raised:
        await send(SETTINGS._replace(security_protocol="SASL_SSL", ssl_ca_file=str(ca_file)))
    assert repr(str(ca_file)) in str(raised.value)
    assert problem in str(raised.value)
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
