"""Apache Kafka producers shared by every Apache Kafka dispatch.

Tracardi builds a new connector for every dispatch, so connections cannot live on the
connector. An aiokafka producer belongs to the event loop that started it, so there is one
started producer per ProducerSettings and loop: created once on first use even when dispatches
race for it, reused by every later dispatch on that loop, stopped with pending records flushed
by close_producers() (and at interpreter exit), and forgotten once its loop is closed.

Every dispatch waits for the broker's acknowledgement (per `acks`), so a failure reaches
Tracardi. While the brokers cannot be reached, the first dispatch pays the connect timeout and
the next ones fail at once for a while (kafka_outages).
"""

import asyncio
import atexit
import contextlib
import inspect
import ssl
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from tracardi.process_engine.destination.transport.outages import Outages

try:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
except ImportError:  # aiokafka 0.8 takes them from kafka-python
    from aiokafka.admin import ConfigResource, ConfigResourceType

COMPRESSION_TYPES: dict[str, str | None] = {
    "none": None,
    "gzip": "gzip",
    "lz4": "lz4",
    "snappy": "snappy",
    "zstd": "zstd",
}
ACKS: dict[str, int | str] = {"all": "all", "1": 1, "0": 0}
# aiokafka before 0.9 opens a bare connection assuming a broker too old for SASL handshake v1,
# unless told the version; later versions ask the broker and take no hint.
_CONNECTION_HINT: dict[str, Any] = (
    {"version_hint": (1, 0, 0)} if "version_hint" in inspect.signature(create_conn).parameters else {}
)
# What a record carries besides its value and key: the headers' framing and the batch header.
RECORD_OVERHEAD = 128


class ProducerSettings(NamedTuple):
    """Everything that tells one shared producer from another."""

    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    username: str | None
    password: str | None
    # A PEM file of the certificate authorities to trust with SSL and SASL_SSL; "" for the system's.
    ssl_ca_file: str
    topic: str
    acks: str
    compression: str
    enable_idempotence: bool
    linger_ms: int
    max_record_bytes: int
    max_in_flight: int
    request_timeout_seconds: float
    connect_timeout_seconds: float
    unreachable_backoff_seconds: float

    def __repr__(self) -> str:
        shown = self._replace(password="<password>" if self.password else None)
        fields = ", ".join(f"{name}={value!r}" for name, value in shown._asdict().items())
        return f"ProducerSettings({fields})"

    def where(self) -> str:
        return f"topic {self.topic!r} at Kafka {self.bootstrap_servers}"

    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")


class KafkaDeliveryError(Exception):
    """A record did not reach Apache Kafka."""


class KafkaSettingsError(KafkaDeliveryError, ValueError):
    """Producer settings that Kafka or aiokafka cannot work with."""


class KafkaUnreachableError(KafkaDeliveryError):
    """The brokers did not answer in time, or refused the connection."""


class KafkaAuthenticationError(KafkaDeliveryError):
    """The brokers refused the SASL user name or password."""


class KafkaCertificateError(KafkaDeliveryError):
    """The brokers' TLS certificate is not trusted, or not valid for their host name."""


class KafkaTopicError(KafkaDeliveryError):
    """The topic does not exist, or the user may not write to it."""


class KafkaRecordTooLargeError(KafkaDeliveryError, ValueError):
    """The record is larger than the producer or the broker takes."""


@dataclass
class _SharedProducer:
    producer: AIOKafkaProducer
    # Bounds the records in flight: a burst waits here instead of failing.
    room: asyncio.Semaphore
    # The topic's max.message.bytes, when the user may read it.
    topic_limit: int | None


_OUTAGES = Outages()
_producers: dict[tuple[ProducerSettings, asyncio.AbstractEventLoop], "asyncio.Task[_SharedProducer]"] = {}


def check_settings(settings: ProducerSettings) -> None:
    """Refuse settings that could never work, before any connection."""
    servers = [server.strip() for server in settings.bootstrap_servers.split(",")]
    if not all(server.rpartition(":")[0] and server.rpartition(":")[2].isdigit() for server in servers):
        raise KafkaSettingsError(
            f"bootstrap_servers must be host:port[,host:port...], got {settings.bootstrap_servers!r}"
        )
    if settings.enable_idempotence and settings.acks != "all":
        raise KafkaSettingsError(
            f"enable_idempotence needs acks 'all' (got acks {settings.acks!r}) for {settings.where()}"
        )
    if settings.uses_sasl() and not (settings.username and settings.password):
        raise KafkaSettingsError(
            f"security_protocol {settings.security_protocol} needs a username and a password for {settings.where()}"
        )
    for name in ("max_record_bytes", "max_in_flight", "request_timeout_seconds", "connect_timeout_seconds"):
        if getattr(settings, name) <= 0:
            raise KafkaSettingsError(f"{name} must be positive, got {getattr(settings, name)!r}")
    if settings.ssl_ca_file and not settings.uses_tls():
        # Refused rather than ignored: whoever gave a CA file expects TLS, and would not get it.
        raise KafkaSettingsError(
            f"ssl_ca_file is set, but security_protocol {settings.security_protocol} does not use TLS; "
            f"choose SSL or SASL_SSL, or leave ssl_ca_file empty, for {settings.where()}"
        )
    if settings.uses_tls():
        # A CA file that is missing or not PEM fails here, before any connection.
        _ssl_context(settings)


async def publish(
    settings: ProducerSettings,
    value: bytes,
    *,
    key: str | None,
    headers: dict[str, str],
) -> None:
    """Send one record and wait for the broker's acknowledgement; raise KafkaDeliveryError if none came."""
    encoded_key = key.encode() if key is not None else None
    size = len(value) + (len(encoded_key) if encoded_key is not None else 0)
    encoded_headers = []
    for name, text in headers.items():
        encoded = text.encode()
        size += len(name) + len(encoded)
        encoded_headers.append((name, encoded))
    if size + RECORD_OVERHEAD > settings.max_record_bytes:
        raise KafkaRecordTooLargeError(
            f"The record for {settings.where()} is {size} bytes, more than max_record_bytes "
            f"({settings.max_record_bytes}) allows; it was not sent"
        )
    endpoint = (settings.bootstrap_servers, settings.topic)
    with _OUTAGES.attempt(endpoint, settings.unreachable_backoff_seconds, (KafkaUnreachableError,)):
        shared = _started_producer(settings) or await _shared_producer(settings)
        if shared.topic_limit is not None and size + RECORD_OVERHEAD > shared.topic_limit:
            raise KafkaRecordTooLargeError(
                f"The record for {settings.where()} is {size} bytes, more than the topic's "
                f"max.message.bytes ({shared.topic_limit}) allows; it was not sent"
            )
        # acquire() and release() rather than `async with`, which costs twice as much per record.
        room = shared.room
        await room.acquire()
        # The send in this coroutine, not one of its own: every frame is paid on every record.
        try:
            # aiokafka bounds both steps by request_timeout_ms: the wait for the topic's metadata
            # and for room in its buffer, and the record's life in the buffer.
            delivery = await shared.producer.send(settings.topic, value, key=encoded_key, headers=encoded_headers)
            await delivery
        except KafkaError as error:
            raise _delivery_error(error, settings, len(value)) from None
        finally:
            room.release()


def _delivery_error(error: KafkaError, settings: ProducerSettings, value_bytes: int) -> KafkaDeliveryError:
    """What aiokafka's error on sending a record means for the user."""
    if isinstance(error, KafkaTimeoutError):
        return KafkaUnreachableError(
            f"No acknowledgement from {settings.where()} within {settings.request_timeout_seconds} s"
        )
    if isinstance(error, MessageSizeTooLargeError):
        return KafkaRecordTooLargeError(
            f"{settings.where()} refused a record of {value_bytes} bytes as too large (the topic's "
            "max.message.bytes); set max_record_bytes to that limit to refuse such records before sending"
        )
    if isinstance(error, TopicAuthorizationFailedError):
        return KafkaTopicError(f"The user may not write to {settings.where()}")
    if isinstance(error, UnknownTopicOrPartitionError):
        return KafkaTopicError(f"There is no {settings.where()}")
    return KafkaDeliveryError(f"Could not send to {settings.where()}: {_describe(error)}")


def _started_producer(settings: ProducerSettings) -> _SharedProducer | None:
    """The running loop's producer for these settings once it has started; without a coroutine."""
    starting = _producers.get((settings, asyncio.get_running_loop()))
    if starting is not None and starting.done() and not starting.cancelled() and starting.exception() is None:
        return starting.result()
    return None


async def _shared_producer(settings: ProducerSettings) -> _SharedProducer:
    loop = asyncio.get_running_loop()
    key = (settings, loop)
    starting = _producers.get(key)
    if starting is None:
        # A new loop, or new settings: the moment to drop what closed loops left.
        _forget_closed_loops()
        starting = loop.create_task(_start(settings))
        _producers[key] = starting
        starting.add_done_callback(lambda task: _forget_failed(key, task))
    # Shielded: a dispatch that is cancelled must not cancel the start the others wait for.
    return await asyncio.shield(starting)


def _forget_failed(
    key: tuple[ProducerSettings, asyncio.AbstractEventLoop], task: "asyncio.Task[_SharedProducer]"
) -> None:
    if (task.cancelled() or task.exception() is not None) and _producers.get(key) is task:
        del _producers[key]


def _forget_closed_loops() -> None:
    # A closed loop took its producers' connections with it; nothing is left to stop.
    for key in [key for key in _producers if key[1].is_closed()]:
        del _producers[key]


async def _start(settings: ProducerSettings) -> _SharedProducer:
    check_settings(settings)
    try:
        producer = AIOKafkaProducer(
            bootstrap_servers=[server.strip() for server in settings.bootstrap_servers.split(",")],
            client_id="tracardi",
            acks=ACKS[settings.acks],
            compression_type=COMPRESSION_TYPES[settings.compression],
            enable_idempotence=settings.enable_idempotence,
            linger_ms=settings.linger_ms,
            max_request_size=settings.max_record_bytes,
            request_timeout_ms=int(settings.request_timeout_seconds * 1000),
            **_security(settings),
        )
    except (KafkaError, ValueError, RuntimeError, AssertionError) as error:
        # For instance a compression whose library is not installed.
        raise KafkaSettingsError(f"aiokafka refused the settings for {settings.where()}: {_describe(error)}") from None
    try:
        await asyncio.wait_for(producer.start(), settings.connect_timeout_seconds)
        await _check_topic(producer, settings)
    except BaseException as error:
        await _stop_quietly(producer)
        if isinstance(error, asyncio.TimeoutError):
            raise KafkaUnreachableError(
                f"No answer from {settings.where()} within connect_timeout_seconds "
                f"({settings.connect_timeout_seconds} s)"
            ) from None
        if isinstance(error, KafkaConnectionError):
            raise await _connection_failure(settings) from None
        if isinstance(error, ClusterAuthorizationFailedError):
            # An idempotent producer asks for an id first, which needs the right to write.
            raise KafkaTopicError(f"The user may not write to {settings.where()}") from None
        if isinstance(error, KafkaError):
            raise KafkaDeliveryError(f"Could not connect to {settings.where()}: {_describe(error)}") from None
        raise
    return _SharedProducer(producer, asyncio.Semaphore(settings.max_in_flight), await _topic_limit(settings))


async def _topic_limit(settings: ProducerSettings) -> int | None:
    """The topic's max.message.bytes, so that larger records are refused before they are sent.

    The broker applies it to compressed batches, so this refuses a record that compression
    might have brought under it, as Kafka's own clients do with max.request.size. None when
    the user may not describe the topic's configuration: then the broker's refusal tells.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=[server.strip() for server in settings.bootstrap_servers.split(",")],
        client_id="tracardi",
        request_timeout_ms=int(settings.connect_timeout_seconds * 1000),
        **_security(settings),
    )
    resource = ConfigResource(ConfigResourceType.TOPIC, settings.topic)
    try:
        await asyncio.wait_for(admin.start(), settings.connect_timeout_seconds)
        responses = await asyncio.wait_for(admin.describe_configs([resource]), settings.connect_timeout_seconds)
    except (KafkaError, OSError, asyncio.TimeoutError):
        return None
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    for response in responses:
        for error_code, _message, _type, _name, entries, *_ in response.resources:
            for name, value, *_ in entries if error_code == 0 else []:
                if name == "max.message.bytes" and value is not None:
                    return int(value)
    return None


async def _check_topic(producer: AIOKafkaProducer, settings: ProducerSettings) -> None:
    """Fail at once on a topic that is missing or closed to the user, instead of after request_timeout."""
    client = producer.client
    if settings.topic in client.cluster.topics():
        return
    # Metadata for this one topic: the broker says whether it is missing or not authorised; a
    # broker that creates topics on demand creates it now, and the second look finds it.
    client.add_topic(settings.topic)
    for _ in range(2):
        await asyncio.wait_for(client.force_metadata_update(), settings.connect_timeout_seconds)
        if settings.topic in client.cluster.unauthorized_topics:
            raise KafkaTopicError(f"The user may not write to {settings.where()}")
        if settings.topic in client.cluster.topics():
            return
    raise KafkaTopicError(f"There is no {settings.where()}, and the brokers did not create it")


async def _connection_failure(settings: ProducerSettings) -> KafkaDeliveryError:
    """Why no broker could be bootstrapped from: aiokafka only logs the reason."""
    if settings.uses_sasl() or settings.uses_tls():
        for server in settings.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                connection = await asyncio.wait_for(
                    create_conn(
                        host,
                        int(port),
                        request_timeout_ms=int(settings.connect_timeout_seconds * 1000),
                        **_security(settings),
                        **_CONNECTION_HINT,
                    ),
                    settings.connect_timeout_seconds,
                )
            except ssl.SSLCertVerificationError as error:
                return KafkaCertificateError(
                    f"{settings.where()} presented a TLS certificate that could not be verified "
                    f"({error.verify_message}) against {_trusted(settings)}"
                )
            except SaslAuthenticationFailed:
                return KafkaAuthenticationError(
                    f"{settings.where()} refused the {settings.sasl_mechanism} user name or password "
                    f"(user {settings.username!r})"
                )
            except (OSError, asyncio.TimeoutError, KafkaError):
                continue
            connection.close()
    return KafkaUnreachableError(f"Could not connect to {settings.where()}: no broker accepted the connection")


def _security(settings: ProducerSettings) -> dict[str, Any]:
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.uses_tls():
        options["ssl_context"] = _ssl_context(settings)
    if settings.uses_sasl():
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.username,
            sasl_plain_password=settings.password,
        )
    return options


def _ssl_context(settings: ProducerSettings) -> ssl.SSLContext:
    """Host names checked, against the certificate authorities of ssl_ca_file or the system's."""
    if not settings.ssl_ca_file:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=settings.ssl_ca_file)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise KafkaSettingsError(
            f"ssl_ca_file {settings.ssl_ca_file!r} is not a readable PEM file of certificates "
            f"({_describe(error)}), for {settings.where()}"
        ) from None


def _trusted(settings: ProducerSettings) -> str:
    if settings.ssl_ca_file:
        return f"the certificate authorities of ssl_ca_file {settings.ssl_ca_file!r}"
    return "the system's certificate authorities (set ssl_ca_file to trust the brokers' own)"


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    # The error that led here is the one to report.
    with contextlib.suppress(Exception):
        await producer.stop()


async def close_producers() -> None:
    """Stop this loop's producers, flushing what they still hold; later dispatches start new ones."""
    loop = asyncio.get_running_loop()
    _forget_closed_loops()
    mine = [key for key in _producers if key[1] is loop]
    for task in [_producers.pop(key) for key in mine]:
        # A start that failed left nothing to stop.
        with contextlib.suppress(Exception):
            await (await task).producer.stop()


@atexit.register
def _close_at_exit() -> None:
    # A loop that is still open but no longer running can run its producers' stop once more.
    _forget_closed_loops()
    for (_, loop), task in list(_producers.items()):
        if not loop.is_running() and task.done() and not task.cancelled() and task.exception() is None:
            loop.run_until_complete(task.result().producer.stop())
    _producers.clear()
