"""How the shared Pulsar producer sends, against a stand-in for the Pulsar client.

The messages of one turn of the event loop go out together, and only as many of them carry
a callback as the producer's ordering needs; here the test holds the client's
acknowledgements in hand and gives them, from another thread, as the client does.
"""

import asyncio
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulsar
import pytest
from pydantic import SecretStr
from pytest_mock import MockerFixture

from tracardi.process_engine.destination.transport import pulsar as producer_module
from tracardi.process_engine.destination.transport.pulsar import (
    MESSAGE_OVERHEAD,
    ProducerSettings,
    PulsarCertificateError,
    PulsarConnectionError,
    PulsarMessageSizeError,
    PulsarSettingsError,
    SharedProducer,
    close_all_producers,
    get_producer,
    producer_settings,
    publish,
)
from tracardi.process_engine.destination.transport.pulsar_handshake import CertificateRefused, trust_file

MAX_MESSAGE_SIZE = 5 * 1024 * 1024
SETTINGS = ProducerSettings(
    service_url="pulsar://127.0.0.1:6650",
    token="secret-token",
    ssl_ca_file="",
    topic="persistent://public/default/tracardi",
    compression="lz4",
    batching_enabled=True,
    batching_max_publish_delay_ms=1,
    max_pending_messages=100,
    connect_timeout_seconds=5,
    send_timeout_seconds=10,
    unreachable_backoff_seconds=5.0,
)


class RecordingProducer:
    """Keeps what send_async was given, and acknowledges only when told to."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Callable[[pulsar.Result, Any], None] | None]] = []

    def send_async(
        self,
        content: bytes,
        callback: Callable[[pulsar.Result, Any], None] | None,
        **options: Any,
    ) -> None:
        self.sent.append((content, callback))

    def contents(self) -> list[bytes]:
        return [content for content, _ in self.sent]

    def with_callback(self) -> list[bool]:
        return [callback is not None for _, callback in self.sent]

    def acknowledge(self, index: int, result: pulsar.Result = pulsar.Result.Ok) -> None:
        callback = self.sent[index][1]
        assert callback is not None
        thread = threading.Thread(target=callback, args=(result, None))
        thread.start()
        thread.join()


def shared_producer(
    mocker: MockerFixture, partitions: int, settings: ProducerSettings = SETTINGS
) -> tuple[SharedProducer, RecordingProducer]:
    recording = RecordingProducer()
    client = mocker.patch.object(pulsar, "Client").return_value
    client.create_producer.return_value = recording
    client.get_topic_partitions.return_value = (
        [SETTINGS.topic]
        if partitions == 1
        else [f"{SETTINGS.topic}-partition-{number}" for number in range(partitions)]
    )
    mocker.patch.object(producer_module, "check_broker_accepts", return_value=MAX_MESSAGE_SIZE)
    return SharedProducer(settings), recording


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def start_sends(producer: SharedProducer, recording: RecordingProducer, count: int) -> list[asyncio.Future[None]]:
    """Start `count` sends in one turn of the loop; return once they reached the client."""
    sends = [producer.send(f"message {number}".encode(), {}, None) for number in range(count)]
    await until(lambda: len(recording.sent) == count)
    return sends


@pytest.mark.asyncio
async def test_a_turn_of_sends_waits_on_its_last_acknowledgement(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=1)
    sends = await start_sends(producer, recording, 5)
    assert recording.contents() == [f"message {number}".encode() for number in range(5)]
    assert recording.with_callback() == [False, False, False, False, True]
    assert not any(send.done() for send in sends)
    recording.acknowledge(4)
    await asyncio.wait_for(asyncio.gather(*sends), 5)


@pytest.mark.asyncio
async def test_on_a_partitioned_topic_each_message_waits_on_its_own(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=3)
    sends = await start_sends(producer, recording, 5)
    assert recording.with_callback() == [True] * 5
    recording.acknowledge(2)
    await asyncio.wait_for(sends[2], 5)
    assert [send.done() for send in sends] == [False, False, True, False, False]
    for index in (0, 1, 3, 4):
        recording.acknowledge(index)
    await asyncio.wait_for(asyncio.gather(*sends), 5)


@pytest.mark.asyncio
async def test_a_failed_acknowledgement_fails_every_send_it_answers_for(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=1)
    sends = await start_sends(producer, recording, 3)
    recording.acknowledge(2, pulsar.Result.Timeout)
    outcomes = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 5)
    for outcome in outcomes:
        assert isinstance(outcome, PulsarConnectionError)
        assert SETTINGS.topic in str(outcome)
        assert "secret-token" not in str(outcome)


@pytest.mark.asyncio
async def test_a_send_cancelled_before_its_turn_ends_is_not_sent(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=1)
    sends = [producer.send(f"message {number}".encode(), {}, None) for number in range(3)]
    # Every send has queued its message, and the turn has not ended.
    sends[2].cancel()
    await until(lambda: len(recording.sent) == 2)
    assert recording.contents() == [b"message 0", b"message 1"]
    assert recording.with_callback() == [False, True]
    recording.acknowledge(1)
    await asyncio.wait_for(asyncio.gather(*sends[:2]), 5)
    assert sends[2].cancelled()


@pytest.mark.asyncio
async def test_a_lone_message_skips_the_batch_delay_and_a_burst_after_it_waits_for_it(
    mocker: MockerFixture,
) -> None:
    producer, batched = shared_producer(mocker, partitions=1)
    lone = RecordingProducer()
    producer._lone_producer = lone
    first = producer.send(b"alone", {}, None)
    await until(lambda: len(lone.sent) == 1)
    burst = [producer.send(f"burst {number}".encode(), {}, None) for number in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    # Sent through the other producer now, the burst could be stored before the lone message.
    assert batched.sent == []
    lone.acknowledge(0)
    await asyncio.wait_for(first, 5)
    await until(lambda: len(batched.sent) == 3)
    assert batched.contents() == [b"burst 0", b"burst 1", b"burst 2"]
    assert batched.with_callback() == [False, False, True]
    batched.acknowledge(2)
    await asyncio.wait_for(asyncio.gather(*burst), 5)


@pytest.mark.asyncio
async def test_sends_beyond_max_pending_messages_wait_in_order_for_acknowledgements(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=1, settings=SETTINGS._replace(max_pending_messages=2))
    sends = [producer.send(f"message {number}".encode(), {}, None) for number in range(5)]
    await until(lambda: len(recording.sent) == 2)
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(recording.sent) == 2
    recording.acknowledge(1)
    await until(lambda: len(recording.sent) == 4)
    assert all(send.done() for send in sends[:2])
    recording.acknowledge(3)
    await until(lambda: len(recording.sent) == 5)
    recording.acknowledge(4)
    await asyncio.wait_for(asyncio.gather(*sends), 5)
    assert recording.contents() == [f"message {number}".encode() for number in range(5)]


@pytest.mark.asyncio
async def test_a_send_that_stops_waiting_keeps_its_room_until_the_client_answers_for_it(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=1, settings=SETTINGS._replace(max_pending_messages=1))
    first = producer.send(b"first", {}, None)
    await until(lambda: len(recording.sent) == 1)
    first.cancel()
    second = producer.send(b"second", {}, None)
    for _ in range(5):
        await asyncio.sleep(0)
    # The client still holds the first message: one more would go over its queue.
    assert recording.contents() == [b"first"]
    recording.acknowledge(0)
    await until(lambda: len(recording.sent) == 2)
    recording.acknowledge(1)
    await asyncio.wait_for(second, 5)


@pytest.mark.asyncio
async def test_a_send_cancelled_while_it_waits_for_room_is_not_sent(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=1, settings=SETTINGS._replace(max_pending_messages=1))
    sends = [producer.send(f"message {number}".encode(), {}, None) for number in range(3)]
    await until(lambda: len(recording.sent) == 1)
    sends[1].cancel()
    recording.acknowledge(0)
    await until(lambda: len(recording.sent) == 2)
    assert recording.contents() == [b"message 0", b"message 2"]
    recording.acknowledge(1)
    await asyncio.wait_for(sends[2], 5)
    assert sends[1].cancelled()


def test_a_producer_that_does_not_batch_is_its_own_lone_producer(mocker: MockerFixture) -> None:
    mocker.patch.object(pulsar, "Client")
    mocker.patch.object(producer_module, "check_broker_accepts", return_value=MAX_MESSAGE_SIZE)
    producer = SharedProducer(SETTINGS._replace(batching_enabled=False))
    assert producer._lone_producer is producer._producer


@pytest.mark.asyncio
async def test_a_message_larger_than_the_broker_accepts_is_refused_before_sending(
    mocker: MockerFixture,
) -> None:
    producer, recording = shared_producer(mocker, partitions=1)
    too_large = b"x" * (MAX_MESSAGE_SIZE - MESSAGE_OVERHEAD + 1)
    with pytest.raises(PulsarMessageSizeError) as refused:
        await producer.send(too_large, {}, None)
    assert f"is {len(too_large)} bytes" in str(refused.value)
    assert SETTINGS.topic in str(refused.value)
    assert recording.sent == []


def test_settings_never_show_the_token() -> None:
    assert "secret-token" not in repr(SETTINGS)
    assert "token='<token>'" in repr(SETTINGS)


@pytest.mark.asyncio
async def test_equal_settings_from_two_destinations_share_one_producer(mocker: MockerFixture) -> None:
    client = mocker.patch.object(pulsar, "Client")
    mocker.patch.object(producer_module, "check_broker_accepts", return_value=MAX_MESSAGE_SIZE)
    # Each destination derives its own settings from its own models.
    first, second = SETTINGS._replace(), ProducerSettings(*SETTINGS)
    assert first is not second
    try:
        assert await get_producer(first) is await get_producer(second)
        assert client.call_count == 1
    finally:
        close_all_producers()


@dataclass(frozen=True)
class Credentials:
    """The fields of a Pulsar destination's credentials model that producer_settings() reads."""

    host: str
    token: SecretStr | None
    ssl_ca_file: str = ""


@dataclass(frozen=True)
class Configuration:
    """The fields of a Pulsar destination's init model that producer_settings() reads."""

    topic: str
    compression: str
    batching_enabled: bool
    batching_max_publish_delay_ms: int
    max_pending_messages: int
    connect_timeout_seconds: int
    send_timeout_seconds: int
    unreachable_backoff_seconds: float


CONFIGURATION = Configuration(*SETTINGS[3:])


def test_producer_settings_are_read_from_the_models() -> None:
    credentials = Credentials(SETTINGS.service_url, SecretStr("secret-token"))
    assert producer_settings(credentials, CONFIGURATION) == SETTINGS
    assert producer_settings(Credentials(SETTINGS.service_url, None), CONFIGURATION) == SETTINGS._replace(token=None)
    with_ca = Credentials(SETTINGS.service_url, None, "/etc/pulsar/ca.pem")
    assert producer_settings(with_ca, CONFIGURATION).ssl_ca_file == "/etc/pulsar/ca.pem"


TLS_SETTINGS = SETTINGS._replace(service_url="pulsar+ssl://broker.example.test:6651")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot be read"), ("not a certificate\n", "is not a readable PEM file")],
    ids=["missing", "not-pem"],
)
async def test_a_ca_file_that_cannot_be_used_is_refused_before_any_connection(
    mocker: MockerFixture, tmp_path: Path, content: str | None, problem: str
) -> None:
    client = mocker.patch.object(pulsar, "Client")
    handshake = mocker.patch.object(producer_module, "check_broker_accepts", return_value=MAX_MESSAGE_SIZE)
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content)
    with pytest.raises(PulsarSettingsError) as refused:
        await get_producer(TLS_SETTINGS._replace(ssl_ca_file=str(ca_file)))
    assert f"ssl_ca_file {str(ca_file)!r} {problem}" in str(refused.value)
    assert TLS_SETTINGS.service_url in str(refused.value)
    handshake.assert_not_called()
    client.assert_not_called()


@pytest.mark.asyncio
async def test_a_ca_file_without_tls_is_refused_before_any_connection(mocker: MockerFixture) -> None:
    # Whoever gives a CA expects TLS; pulsar:// would send everything unencrypted.
    client = mocker.patch.object(pulsar, "Client")
    handshake = mocker.patch.object(producer_module, "check_broker_accepts", return_value=MAX_MESSAGE_SIZE)
    with pytest.raises(
        PulsarSettingsError, match=r"ssl_ca_file '/etc/ca\.pem' is set, but the service URL uses no TLS"
    ):
        await get_producer(SETTINGS._replace(ssl_ca_file="/etc/ca.pem"))
    handshake.assert_not_called()
    client.assert_not_called()


@pytest.mark.parametrize("ca_file", ["", "/etc/pulsar/ca.pem"])
def test_the_client_trusts_what_the_handshake_verified_and_checks_host_names(
    mocker: MockerFixture, ca_file: str
) -> None:
    client = mocker.patch.object(pulsar, "Client")
    handshake = mocker.patch.object(producer_module, "check_broker_accepts", return_value=MAX_MESSAGE_SIZE)
    settings = TLS_SETTINGS._replace(ssl_ca_file=ca_file)
    SharedProducer(settings)
    handshake.assert_called_once_with(settings.service_url, settings.token, settings.connect_timeout_seconds, ca_file)
    options = client.call_args.kwargs
    assert options["tls_trust_certs_file_path"] == trust_file(ca_file)
    assert options["tls_validate_hostname"] is True


def certificate_refused(reason: str) -> CertificateRefused:
    """What the handshake raises for a certificate that did not verify, as OpenSSL fills it in."""
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {reason}")
    error.verify_message = reason
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    return CertificateRefused("broker.example.test:6651", error)


@pytest.mark.asyncio
async def test_a_certificate_that_does_not_verify_fails_at_once_and_starts_no_back_off(
    mocker: MockerFixture,
) -> None:
    client = mocker.patch.object(pulsar, "Client")
    handshake = mocker.patch.object(
        producer_module,
        "check_broker_accepts",
        side_effect=certificate_refused("unable to get local issuer certificate"),
    )
    for _ in range(2):
        with pytest.raises(PulsarCertificateError) as refused:
            await publish(TLS_SETTINGS, b"{}", properties={}, partition_key=None)
        message = str(refused.value)
        assert "broker.example.test:6651" in message
        assert TLS_SETTINGS.service_url in message
        assert "(unable to get local issuer certificate)" in message
        assert "set ssl_ca_file" in message
        assert "not tried again" not in message
    # The broker answered: each dispatch asks it again, none is failed from a back-off window.
    assert handshake.call_count == 2
    client.assert_not_called()
    assert not isinstance(refused.value, PulsarConnectionError)


@pytest.mark.asyncio
async def test_a_connect_error_of_the_client_over_tls_mentions_the_advertised_address(mocker: MockerFixture) -> None:
    # The handshake verified the service URL's broker; the client's lookup may lead elsewhere.
    class ConnectError(Exception):
        pass

    mocker.patch.object(pulsar, "Client", side_effect=ConnectError())
    mocker.patch.object(producer_module, "check_broker_accepts", return_value=MAX_MESSAGE_SIZE)
    with pytest.raises(PulsarConnectionError, match="certificate that does not name the address the broker advertises"):
        await get_producer(TLS_SETTINGS)
    with pytest.raises(PulsarConnectionError) as plain:
        await get_producer(SETTINGS)
    assert "certificate" not in str(plain.value)
