"""The shared RabbitMQ connection without a broker: settings checks, how each failure of aio-pika
reads, the outage back-off, and one connection per settings and loop for every destination.

Its tests against a real RabbitMQ are test/integration/destination/transport/test_transport_amqp_rabbitmq.py.
"""

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aio_pika
import aiormq
import pytest
from pydantic import SecretStr

from tracardi.process_engine.destination.transport import amqp
from tracardi.process_engine.destination.transport.amqp import (
    AmqpAccessError,
    AmqpCertificateError,
    AmqpConnectionError,
    AmqpDeliveryError,
    AmqpMessageSizeError,
    AmqpNackError,
    AmqpNotFoundError,
    AmqpSettings,
    AmqpSettingsError,
    AmqpTimeoutError,
    AmqpUnroutableError,
    amqp_settings,
    close_connections,
    publish,
)
from tracardi.process_engine.destination.transport.outages import Outages

PASSWORD = "s3cr3t-password"


@pytest.fixture(autouse=True)
def no_outages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no broker remembered as unreachable."""
    monkeypatch.setattr(amqp, "_outages", Outages())


@dataclass(frozen=True)
class Credentials:
    url: str = "amqp://127.0.0.1:9/tracardi"
    username: str | None = "tracardi"
    password: SecretStr | None = field(default_factory=lambda: SecretStr(PASSWORD))
    ssl_ca_file: str = ""


@dataclass(frozen=True)
class Configuration:
    exchange: str = ""
    exchange_type: str = "direct"
    declare_exchange: bool = False
    routing_key: str = "tracardi"
    persistent: bool = True
    mandatory: bool = True
    confirm_timeout_seconds: float = 2.0
    connect_timeout_seconds: float = 2.0
    unreachable_backoff_seconds: float = 5.0
    headers: dict[str, str] = field(default_factory=dict)
    max_message_bytes: int = 1024


def settings(**changes: Any) -> AmqpSettings:
    credential_names = {"url", "username", "password", "ssl_ca_file"}
    credentials = replace(Credentials(), **{k: v for k, v in changes.items() if k in credential_names})
    configuration = replace(Configuration(), **{k: v for k, v in changes.items() if k not in credential_names})
    return amqp_settings(credentials, configuration)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a broker that hangs."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.listen(16)
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"url": "http://127.0.0.1/tracardi"}, "url must be amqp://"),
        ({"url": f"amqp://tracardi:{PASSWORD}@127.0.0.1/tracardi"}, "must not hold a user name or password"),
        ({"url": "amqps://127.0.0.1/tracardi?cafile=/etc/ca.pem"}, "must not have a query"),
        ({"ssl_ca_file": "/etc/ca.pem"}, "ssl_ca_file is set but the url is not amqps://"),
        ({"username": None}, "password is set but username is empty"),
        ({"declare_exchange": True}, "declare_exchange needs an exchange name"),
    ],
)
def test_settings_no_connection_could_use_are_refused_naming_the_field_and_never_the_password(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(AmqpSettingsError, match="Invalid RabbitMQ settings") as refused:
        settings(**changes)
    assert problem in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_good_settings_keep_the_password_out_of_their_repr() -> None:
    made = settings(unreachable_backoff_seconds=0, headers={"env": "qa"})
    assert made.headers == (("env", "qa"),)
    assert PASSWORD not in repr(made)
    assert made.where() == "the default exchange with routing key 'tracardi' at amqp://127.0.0.1:9/tracardi"
    assert made.connection.vhost == "tracardi"
    assert settings(url="amqp://127.0.0.1:9/").connection.vhost == "/"


@pytest.mark.asyncio
async def test_a_message_larger_than_max_message_bytes_is_refused_before_any_connection() -> None:
    started = time.monotonic()
    with pytest.raises(AmqpMessageSizeError, match="is 1025 bytes; max_message_bytes is 1024: not sent"):
        await publish(settings(), b"x" * 1025, {})
    assert time.monotonic() - started < 0.1


@pytest.mark.asyncio
async def test_a_refused_connection_fails_fast_then_fails_at_once_for_the_window_then_tries_again() -> None:
    unreachable = settings(url=f"amqp://127.0.0.1:{closed_port()}/tracardi", unreachable_backoff_seconds=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(AmqpConnectionError, match="Cannot connect to RabbitMQ") as first:
            await publish(unreachable, b"{}", {})
        assert time.monotonic() - started < 1
        assert PASSWORD not in str(first.value)
        with pytest.raises(AmqpConnectionError, match="not tried again for another"):
            await publish(unreachable, b"{}", {})
        await asyncio.sleep(0.35)
        with pytest.raises(AmqpConnectionError) as probe:
            await publish(unreachable, b"{}", {})
        assert "not tried again" not in str(probe.value)
    finally:
        await close_connections()


@pytest.mark.asyncio
async def test_a_broker_that_accepts_but_never_answers_fails_after_the_connect_timeout() -> None:
    with silent_server() as port:
        hanging = settings(url=f"amqp://127.0.0.1:{port}/tracardi", connect_timeout_seconds=0.3)
        started = time.monotonic()
        with pytest.raises(AmqpConnectionError, match=r"did not answer within connect_timeout_seconds \(0.3 s\)"):
            await publish(hanging, b"{}", {})
        assert time.monotonic() - started < 2
        with pytest.raises(AmqpConnectionError, match="not tried again"):
            await publish(hanging, b"{}", {})


@pytest.mark.asyncio
async def test_a_ca_file_that_cannot_be_read_fails_every_dispatch_at_once_without_a_window(tmp_path: Any) -> None:
    missing = str(tmp_path / "missing-ca.pem")
    broken = settings(url="amqps://127.0.0.1:9/tracardi", ssl_ca_file=missing)
    for _ in range(2):
        with pytest.raises(AmqpCertificateError, match="cannot be read") as refused:
            await publish(broken, b"{}", {})
        assert "not tried again" not in str(refused.value)


def opening_failure(error: BaseException, **changes: Any) -> AmqpDeliveryError:
    made = settings(**changes).connection
    return amqp._connection_error(error, made, f"{made.shown_url} as {made.username}")


class CloseFrame:
    """pamqp's Connection.Close, as aio-pika 8.2 to 9.x hand it over in an opening error."""

    reply_code = 530
    reply_text = "NOT_ALLOWED - access to vhost 'tracardi' refused for user 'unprivileged'"


def test_opening_failures_read_as_one_clear_error_each() -> None:
    refused = opening_failure(aiormq.exceptions.ProbableAuthenticationError("ACCESS_REFUSED - Login was refused"))
    assert isinstance(refused, AmqpAccessError)
    assert "refused the user name or password of user 'tracardi'" in str(refused)
    # aio-pika 10 loses the server's words; older versions keep them in the Close frame.
    lost = aiormq.exceptions.InvalidFrameError("Expected one of ['Connection.OpenOk'], got <Connection.Close object>")
    kept = Exception("unexpected frame", CloseFrame())
    for error in (lost, kept):
        mapped = opening_failure(error)
        assert isinstance(mapped, AmqpAccessError)
        assert "refused vhost 'tracardi' to user 'tracardi'" in str(mapped)
    assert "NOT_ALLOWED" in str(opening_failure(kept))
    text = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in chain (_ssl.c:1006)"
    certificate = opening_failure(aiormq.exceptions.AMQPConnectionError(1, text), url="amqps://localhost:5671/")
    assert isinstance(certificate, AmqpCertificateError)
    assert "could not be verified (self-signed certificate in chain)" in str(certificate)
    assert "the system's certificate authorities" in str(certificate)
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "unable to get local issuer certificate"
    wrapped = ConnectionError("handshake failed")
    wrapped.__cause__ = verify
    assert "unable to get local issuer certificate" in str(opening_failure(wrapped, url="amqps://localhost:5671/"))
    assert isinstance(opening_failure(ConnectionRefusedError(111, "Connect call failed")), AmqpConnectionError)
    timeout = opening_failure(asyncio.TimeoutError())
    assert isinstance(timeout, AmqpConnectionError)
    assert "did not answer within connect_timeout_seconds (2.0 s)" in str(timeout)


class FakeExchange:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error
        self.published: list[tuple[Any, str, bool, float]] = []

    async def publish(self, message: Any, routing_key: str, *, mandatory: bool, timeout: float) -> None:
        self.published.append((message, routing_key, mandatory, timeout))
        if self.error is not None:
            raise self.error


class FakeChannel:
    def __init__(self, exchange: FakeExchange) -> None:
        self.default_exchange = exchange
        self.is_closed = False
        self.declared: list[tuple[str, dict[str, Any]]] = []

    async def declare_exchange(self, name: str, **options: Any) -> None:
        await asyncio.sleep(0.01)
        self.declared.append((name, options))

    async def get_exchange(self, name: str, *, ensure: bool) -> FakeExchange:
        return self.default_exchange

    async def close(self) -> None:
        self.is_closed = True


class FakeConnection:
    """What SharedConnection uses of a robust connection: channels, and close."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.exchange = FakeExchange(error)
        self.channels: list[FakeChannel] = []
        self.closed = False

    def channel(self, **options: bool) -> FakeChannel:
        self.channels.append(FakeChannel(self.exchange))
        return self.channels[-1]

    async def close(self) -> None:
        self.closed = True


class Broker:
    """aio_pika.connect_robust's stand-in: each call makes a FakeConnection whose publishes fail with `error`."""

    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.error: BaseException | None = None

    async def connect_robust(self, url: str, **options: Any) -> FakeConnection:
        self.connections.append(FakeConnection(self.error))
        return self.connections[-1]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Broker:
    made = Broker()
    monkeypatch.setattr(aio_pika, "connect_robust", made.connect_robust)
    monkeypatch.setattr(amqp, "_opened", fake_opened)
    return made


async def fake_opened(connection: FakeConnection, confirming: bool = False) -> FakeChannel:
    """_opened for a FakeConnection, whose channels need no opening."""
    return connection.channel()


def bare(kind: type[BaseException], *args: object) -> BaseException:
    """An aiormq error with the args aio-pika gives it, made without the frames its constructor wants."""
    error = kind.__new__(kind)
    error.args = args
    return error


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "expected", "words"),
    [
        (
            bare(aiormq.exceptions.PublishError, "NO_ROUTE", "tracardi"),
            AmqpUnroutableError,
            "no queue is bound to take it",
        ),
        (bare(aiormq.exceptions.DeliveryError, None, None), AmqpNackError, "did not accept the message"),
        (asyncio.TimeoutError(), AmqpTimeoutError, "within confirm_timeout_seconds (2.0 s); it may still arrive"),
        (aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no exchange 'x'"), AmqpNotFoundError, "has no"),
        (aiormq.exceptions.ChannelAccessRefused("ACCESS_REFUSED - write"), AmqpAccessError, "does not let user"),
        (
            aiormq.exceptions.ChannelPreconditionFailed("PRECONDITION_FAILED - message size 3 is larger than 2"),
            AmqpMessageSizeError,
            "as too large",
        ),
        (aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"), AmqpConnectionError, "Lost the connection"),
    ],
)
async def test_each_publish_failure_reads_as_its_own_error_naming_exchange_routing_key_and_url(
    broker: Broker,
    error: BaseException,
    expected: type[AmqpDeliveryError],
    words: str,
) -> None:
    broker.error = error
    try:
        with pytest.raises(expected) as failed:
            await publish(settings(url="amqp://127.0.0.1:5672/tracardi"), b"{}", {"tracardi-kind": "event"})
        message = str(failed.value)
        assert words in message
        assert "the default exchange with routing key 'tracardi' at amqp://127.0.0.1:5672/tracardi" in message
        assert PASSWORD not in message
        (connection,) = broker.connections
        (channel,) = connection.channels
        # A channel the server closed, or lost with its connection, is dropped: the next dispatch opens another.
        closes_channel = isinstance(error, (aiormq.exceptions.ChannelClosed, aiormq.exceptions.ConnectionClosed))
        await asyncio.sleep(0)
        assert channel.is_closed == closes_channel
    finally:
        await close_connections()


@pytest.mark.asyncio
async def test_a_message_goes_out_with_its_properties_and_headers_and_awaits_its_confirm(
    broker: Broker,
) -> None:
    connections = broker.connections
    made = settings(url="amqp://127.0.0.1:5672/tracardi", headers={"env": "qa", "tracardi-kind": "mine"})
    try:
        await publish(made, b'{"a":1}', {"tracardi-kind": "event"})
        await publish(made._replace(persistent=False), b'{"a":2}', {"tracardi-kind": "profile"})
    finally:
        await close_connections()
    (connection,) = connections
    (first, routing_key, mandatory, timeout), (second, *_) = connection.exchange.published
    assert (routing_key, mandatory, timeout) == ("tracardi", True, 2.0)
    assert first.body == b'{"a":1}'
    assert (first.content_type, first.content_encoding, first.app_id) == ("application/json", "utf-8", "tracardi")
    # The routing facts win over a header of the same name.
    assert first.headers == {"env": "qa", "tracardi-kind": "event"}
    assert (first.delivery_mode, second.delivery_mode) == (2, 1)
    assert first.message_id and first.message_id != second.message_id
    assert first.timestamp is not None
    assert connection.closed


@pytest.mark.asyncio
async def test_destinations_with_the_same_connection_settings_share_one_connection_and_channel(
    broker: Broker,
) -> None:
    connections = broker.connections
    first = settings(url="amqp://127.0.0.1:5672/tracardi", routing_key="one")
    second = settings(url="amqp://127.0.0.1:5672/tracardi", routing_key="two", persistent=False)
    other_user = settings(url="amqp://127.0.0.1:5672/tracardi", username="other")
    try:
        await asyncio.gather(*(publish(made, b"{}", {}) for made in (first, second) * 10))
        assert len(connections) == 1
        assert len(connections[0].channels) == 1
        await publish(other_user, b"{}", {})
        assert len(connections) == 2
    finally:
        await close_connections()
    assert all(connection.closed for connection in connections)


@pytest.mark.asyncio
async def test_dispatches_racing_to_a_new_exchange_wait_for_one_check_on_a_channel_of_its_own(
    broker: Broker,
) -> None:
    made = settings(url="amqp://127.0.0.1:5672/tracardi", exchange="events", exchange_type="topic")
    try:
        await asyncio.gather(*(publish(made, b"{}", {}) for _ in range(10)))
        await publish(made, b"{}", {})
    finally:
        await close_connections()
    (connection,) = broker.connections
    publishing, check = connection.channels
    assert check.declared == [("events", {"type": "topic", "durable": True, "passive": True})]
    assert check.is_closed and not publishing.declared
    assert len(connection.exchange.published) == 11
