"""Apache Pulsar producers shared by every dispatch of every Pulsar destination of the checkout.

Tracardi builds a new connector for every dispatch, so connections cannot live on the
connector. Here there is one client and producer per ProducerSettings (service URL, token,
topic, producer options), whichever destination asks for it, created once on first use even
when dispatches race for it, reused by every later dispatch, and closed with pending messages
flushed by close_all_producers(), which also runs at interpreter exit.

Before a producer is created, one handshake (pulsar_handshake) asks the broker whether it
accepts the token, which the Pulsar client itself never reports.

Over pulsar+ssl:// the broker's certificate must verify against ssl_ca_file (or, when it is
empty, the system's certificate authorities) for the host name of the service URL, in the
handshake and in the client alike. The handshake sees OpenSSL's reason where the client reports
a bare ConnectError, so a certificate that does not verify fails at once, saying why, and
starts no back-off: the broker answered.

Nothing here blocks the event loop: producers are created on a worker thread, and sends use
the client's own threads, their acknowledgements handed back to the loop that is waiting.

Tracardi awaits dispatch inside the /track request, so a broker that cannot be reached would
cost every tracked event the connect or send timeout. When a dispatch finds the broker
unreachable, the dispatches to the same service URL and topic fail at once with its error for
unreachable_backoff_seconds (outages); then one dispatch tries again.

Works with pulsar-client 3.3.0 (Tracardi's pin) to 3.13 (the newest, tested); its public API
only, the same calls on both.
"""

import asyncio
import atexit
import collections
import functools
import threading
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import pulsar
from pydantic import SecretStr

from tracardi.exceptions.log_handler import get_logger
from tracardi.process_engine.destination.transport.outages import Outages
from tracardi.process_engine.destination.transport.pulsar_handshake import (
    TLS_SCHEME,
    BrokerUnreachable,
    CertificateRefused,
    TokenRefused,
    check_broker_accepts,
    trust_file,
)
from tracardi.process_engine.destination.transport.tls import CertificateFileError, client_context, refusal

logger = get_logger(__name__)

SERVICE_URL_SCHEMES = ("pulsar://", "pulsar+ssl://")

# Room for what travels with the payload: properties, key and the client's own metadata,
# and for data that does not compress, the compression's framing (under 0.5 % of 5 MB,
# the brokers' default limit).
MESSAGE_OVERHEAD = 32 * 1024

COMPRESSION_TYPES = {
    "none": pulsar.CompressionType.NONE,
    "lz4": pulsar.CompressionType.LZ4,
    "zlib": pulsar.CompressionType.ZLib,
    "zstd": pulsar.CompressionType.ZSTD,
    "snappy": pulsar.CompressionType.SNAPPY,
}


class ProducerSettings(NamedTuple):
    """Everything that tells one shared producer from another.

    A tuple, because one is built for every dispatch and looked up among the producers.
    """

    service_url: str
    token: str | None
    ssl_ca_file: str
    topic: str
    compression: str
    batching_enabled: bool
    batching_max_publish_delay_ms: int
    max_pending_messages: int
    connect_timeout_seconds: int
    send_timeout_seconds: int
    unreachable_backoff_seconds: float

    def __repr__(self) -> str:
        shown = self._replace(token="<token>" if self.token else None)
        fields = ", ".join(f"{name}={value!r}" for name, value in shown._asdict().items())
        return f"ProducerSettings({fields})"

    def where(self) -> str:
        return f"topic {self.topic!r} at {self.service_url}"


class CredentialsFields(Protocol):
    """What producer_settings() reads of a Pulsar destination's credentials model."""

    @property
    def host(self) -> object: ...

    @property
    def token(self) -> SecretStr | None: ...

    @property
    def ssl_ca_file(self) -> str: ...


class ConfigurationFields(Protocol):
    """What producer_settings() reads of a Pulsar destination's init model."""

    @property
    def topic(self) -> str: ...

    @property
    def compression(self) -> str: ...

    @property
    def batching_enabled(self) -> bool: ...

    @property
    def batching_max_publish_delay_ms(self) -> int: ...

    @property
    def max_pending_messages(self) -> int: ...

    @property
    def connect_timeout_seconds(self) -> int: ...

    @property
    def send_timeout_seconds(self) -> int: ...

    @property
    def unreachable_backoff_seconds(self) -> float: ...


def producer_settings(credentials: CredentialsFields, configuration: ConfigurationFields) -> ProducerSettings:
    """The settings of the producer a destination's validated models ask for.

    Every Pulsar destination has these fields, their names and types fixed by the transport.
    """
    token = credentials.token.get_secret_value() if credentials.token else None
    return ProducerSettings(
        service_url=str(credentials.host),
        token=token,
        ssl_ca_file=credentials.ssl_ca_file,
        topic=configuration.topic,
        compression=configuration.compression,
        batching_enabled=configuration.batching_enabled,
        batching_max_publish_delay_ms=configuration.batching_max_publish_delay_ms,
        max_pending_messages=configuration.max_pending_messages,
        connect_timeout_seconds=configuration.connect_timeout_seconds,
        send_timeout_seconds=configuration.send_timeout_seconds,
        unreachable_backoff_seconds=configuration.unreachable_backoff_seconds,
    )


class PulsarDeliveryError(Exception):
    """A message did not reach Apache Pulsar."""


class PulsarServiceUrlError(PulsarDeliveryError, ValueError):
    """The service URL is not one a Pulsar client can use."""


class PulsarSettingsError(PulsarDeliveryError, ValueError):
    """A setting the Pulsar client would take for no limit at all, or a wait for ever, or a CA
    file that cannot be used or is given for a connection without TLS."""


class PulsarCertificateError(PulsarDeliveryError):
    """The broker's TLS certificate did not verify: not trusted, or not made for its host name."""


class PulsarConnectionError(PulsarDeliveryError, ConnectionError):
    """The broker could not be reached, or did not answer in time."""


class PulsarAuthenticationError(PulsarDeliveryError, PermissionError):
    """The broker refused the token, or the token may not publish to the topic."""


class PulsarTopicError(PulsarDeliveryError):
    """The topic, or its tenant or namespace, does not exist or cannot be published to."""


class PulsarMessageSizeError(PulsarDeliveryError, ValueError):
    """The message is larger than the broker accepts."""


class ProducerClosedError(PulsarDeliveryError):
    """The shared producer was closed under us; a new one is made once."""


def _delivery_error(error_name: str, settings: ProducerSettings) -> PulsarDeliveryError:
    """One clear error for a failure the Pulsar client reports by name."""
    where = settings.where()
    if error_name == "AuthenticationError":
        return PulsarAuthenticationError(f"Apache Pulsar refused the token for {where} ({error_name})")
    if error_name == "AuthorizationError":
        with_what = "this token" if settings.token else "no token"
        return PulsarAuthenticationError(
            f"Apache Pulsar does not allow publishing to {where} with {with_what} ({error_name})"
        )
    if error_name == "ErrorGettingAuthenticationData":
        return PulsarAuthenticationError(f"The token for {where} could not be read ({error_name})")
    if error_name in ("TopicNotFound", "InvalidTopicName", "NotAllowedError"):
        return PulsarTopicError(
            f"Cannot publish to {where}: the topic, its tenant or its namespace does not "
            f"exist or does not accept producers ({error_name})"
        )
    if error_name in ("AlreadyClosed", "ProducerNotInitialized"):
        return ProducerClosedError(f"The producer for {where} is closed ({error_name})")
    if error_name in ("Timeout", "ConnectError", "NotConnected", "LookupError"):
        # The handshake verified the service URL's broker, but the client goes on to the address
        # the broker advertises, and says no more than ConnectError if its certificate fails there.
        hint = ""
        if error_name == "ConnectError" and settings.service_url.startswith(TLS_SCHEME):
            hint = "; over TLS, also a certificate that does not name the address the broker advertises"
        return PulsarConnectionError(
            f"Apache Pulsar did not answer for {where} within "
            f"{settings.connect_timeout_seconds} s to connect or "
            f"{settings.send_timeout_seconds} s to acknowledge ({error_name}{hint})"
        )
    return PulsarDeliveryError(f"Apache Pulsar failed for {where} ({error_name})")


def _check_broker_accepts(settings: ProducerSettings) -> int:
    """The largest message the broker accepts, once it has accepted the token."""
    where = settings.where()
    try:
        return check_broker_accepts(
            settings.service_url, settings.token, settings.connect_timeout_seconds, settings.ssl_ca_file
        )
    except CertificateFileError as error:
        # Checked before any connection; this is a file that changed since.
        raise PulsarSettingsError(f"Invalid Apache Pulsar settings for {where}: {error}") from None
    except CertificateRefused as refused:
        broker = f"The Apache Pulsar broker {refused.broker} for {where}"
        raise PulsarCertificateError(refusal(broker, refused.error, settings.ssl_ca_file)) from None
    except ValueError as error:
        raise PulsarServiceUrlError(
            f"Invalid Apache Pulsar service URL {settings.service_url!r} for topic {settings.topic!r}: {error}"
        ) from None
    except BrokerUnreachable as error:
        raise PulsarConnectionError(f"Cannot connect to Apache Pulsar for {where}: {error}") from None
    except TokenRefused as error:
        if settings.token:
            raise PulsarAuthenticationError(f"Apache Pulsar refused the token for {where} ({error})") from None
        raise PulsarAuthenticationError(
            f"Apache Pulsar requires a token for {where}, and none is set ({error})"
        ) from None


class SharedProducer:
    """A client and its producer, shared by every dispatch with the same settings."""

    def __init__(self, settings: ProducerSettings) -> None:
        """Connect and create the producer; blocks, so it runs on a worker thread."""
        self.settings = settings
        self.max_payload_size = _check_broker_accepts(settings) - MESSAGE_OVERHEAD
        authentication = pulsar.AuthenticationToken(settings.token) if settings.token else None
        self._client = pulsar.Client(
            settings.service_url,
            authentication=authentication,
            connection_timeout_ms=settings.connect_timeout_seconds * 1000,
            operation_timeout_seconds=settings.connect_timeout_seconds,
            # What the handshake has just verified, so that both trust the same authorities and
            # check the host name (the client checks none unless told).
            tls_trust_certs_file_path=trust_file(settings.ssl_ca_file),
            tls_validate_hostname=True,
            # Filtered in the client itself: a Python logger would be called, with the
            # GIL, for every debug line of every message.
            logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),
        )
        options = {
            "compression_type": COMPRESSION_TYPES[settings.compression],
            "max_pending_messages": settings.max_pending_messages,
            "send_timeout_millis": settings.send_timeout_seconds * 1000,
            "block_if_queue_full": False,
        }
        try:
            self._producer = self._client.create_producer(
                settings.topic,
                batching_enabled=settings.batching_enabled,
                batching_max_publish_delay_ms=settings.batching_max_publish_delay_ms,
                **options,
            )
            # A message with nothing else in flight would wait the whole batch delay for
            # company that is not coming; it goes through a producer that does not batch.
            self._lone_producer = (
                self._client.create_producer(settings.topic, batching_enabled=False, **options)
                if settings.batching_enabled
                else self._producer
            )
            # A producer acknowledges in the order it sends, but a partitioned topic's
            # producer only within each partition.
            partitions = self._client.get_topic_partitions(settings.topic)
        except BaseException:
            self._client.close()
            raise
        self._acknowledges_in_order = len(partitions) == 1
        # asyncio primitives belong to one event loop, so each loop gets its own link.
        self._links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopLink] = weakref.WeakKeyDictionary()

    def send(self, payload: bytes, properties: dict[str, str], partition_key: str | None) -> asyncio.Future[None]:
        """Send one message; the future returned is done when the broker has acknowledged it.

        A function returning the future rather than a coroutine awaiting it: every dispatch
        makes, steps and collects one coroutine fewer.
        """
        if len(payload) > self.max_payload_size:
            raise PulsarMessageSizeError(
                f"The message for {self.settings.where()} is {len(payload)} bytes; the "
                f"broker accepts at most {self.max_payload_size}"
            )
        loop = asyncio.get_running_loop()
        link = self._links.get(loop)
        if link is None:
            link = self._links.setdefault(loop, _LoopLink(loop, self))
        acknowledged = loop.create_future()
        link.queue(_Message(payload, properties, partition_key, acknowledged))
        return acknowledged

    def send_turn(self, messages: list["_Message"], link: "_LoopLink", lone: bool) -> int:
        """Send a turn's messages, each acknowledgement answering for those before it.

        A producer acknowledges in the order it sends, so the last message's acknowledgement
        answers for the whole turn; a partitioned topic's producer only within each
        partition, so there each message answers for itself. What could fail one message
        alone is ruled out before it is sent: a full queue by the link's room, a message
        too large by send(); the client sets no memory limit. Returns how many
        acknowledgements will come.
        """
        producer = self._lone_producer if lone else self._producer
        callbacks = 0
        answered_for: list[asyncio.Future[None]] = []
        for position, message in enumerate(messages, start=1):
            answered_for.append(message.acknowledged)
            callback = None
            if position == len(messages) or not self._acknowledges_in_order:
                callback = functools.partial(link.on_acknowledged, answered_for)
                answered_for = []
                callbacks += 1
            producer.send_async(
                message.payload,
                callback,
                properties=message.properties,
                partition_key=message.partition_key,
            )
        return callbacks

    def close(self) -> None:
        """Flush pending messages, then close the producers and their client."""
        try:
            self._lone_producer.flush()
            self._producer.flush()
        except pulsar.PulsarException as error:
            logger.warning(f"Could not flush {self.settings.where()}: {error}")
        finally:
            self._client.close()


@dataclass
class _Message:
    payload: bytes
    properties: dict[str, str]
    partition_key: str | None
    acknowledged: asyncio.Future[None]


class _LoopLink:
    """One event loop's way through a shared producer.

    Each Python callback given to the Pulsar client makes the client's thread take the GIL to
    copy, call and free it, in turn with the loop, and those hand-overs, not the sending, are
    what limits throughput. So the messages a turn of the loop dispatches are sent together
    after it, with as few callbacks as the producer's ordering allows, and the
    acknowledgements of a burst wake the loop once.

    A turn of one message, with nothing in flight, goes through the producer that does not
    batch. Two producers may store their messages in either order, so messages go through
    the one that has messages in flight; a burst that finds a lone message in flight waits
    for its acknowledgement, then goes through the batching producer.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, producer: SharedProducer) -> None:
        # A weak reference, so that a closed loop can leave the producer's links.
        self._loop = weakref.ref(loop)
        self._producer = producer
        # How many more messages the client may hold for this loop: a burst over
        # max_pending_messages would fail, so the rest wait, in order, for acknowledgements.
        # A message holds its room until the client answers for it, even when its dispatch
        # stops waiting, because until then the client holds it.
        self._room = producer.settings.max_pending_messages
        self._waiting: collections.deque[_Message] = collections.deque()
        self._turn: list[_Message] = []
        # Acknowledgements still to come, whether they come from the lone producer, and the
        # messages waiting for the lone producer's.
        self._unanswered = 0
        self._lone = False
        self._held: list[_Message] = []
        self._lock = threading.Lock()
        # Not empty exactly while a call of _settle_all is on its way to the loop.
        self._outcomes: list[tuple[list[asyncio.Future[None]], pulsar.Result]] = []

    def queue(self, message: _Message) -> None:
        """Queue a message for the end of this turn of the loop, or until there is room."""
        if self._room and not self._waiting:
            self._admit(message)
        else:
            self._waiting.append(message)

    def _admit(self, message: _Message) -> None:
        self._room -= 1
        if not self._turn:
            message.acknowledged.get_loop().call_soon(self._send_turn)
        self._turn.append(message)

    def _admit_waiting(self) -> None:
        while self._room and self._waiting:
            message = self._waiting.popleft()
            # A dispatch cancelled while it waited is not sent.
            if not message.acknowledged.done():
                self._admit(message)

    def _send_turn(self) -> None:
        turn, self._turn = self._turn, []
        self._held += turn
        if self._lone and self._unanswered and len(self._held) > 1:
            return
        # A dispatch cancelled while queued is not sent, and leaves its room.
        messages = [message for message in self._held if not message.acknowledged.done()]
        if len(messages) < len(self._held):
            self._room += len(self._held) - len(messages)
            self._admit_waiting()
        self._held = []
        if messages:
            lone = len(messages) == 1 and (self._lone or not self._unanswered)
            self._lone = lone and self._producer.settings.batching_enabled
            self._unanswered += self._producer.send_turn(messages, self, self._lone)

    def on_acknowledged(
        self,
        futures: list[asyncio.Future[None]],
        result: pulsar.Result,
        message_id: Any,
    ) -> None:
        """Queue an outcome, on the client's thread; the first of a burst wakes the loop."""
        # An exception escaping a client callback can hang flush() for good.
        try:
            with self._lock:
                self._outcomes.append((futures, result))
                if len(self._outcomes) > 1:
                    return
            loop = self._loop()
            if loop is not None:
                loop.call_soon_threadsafe(self._settle_all)
        except Exception as error:
            logger.warning(f"Acknowledgement dropped: {error}")

    def _settle_all(self) -> None:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        settings = self._producer.settings
        self._unanswered -= len(outcomes)
        if self._held and not self._unanswered:
            self._send_turn()
        for futures, result in outcomes:
            self._room += len(futures)
            # Once an outcome, not once a future: comparing pybind11 enums costs more than
            # settling the future.
            if result == pulsar.Result.Ok:
                for future in futures:
                    if not future.done():
                        future.set_result(None)
                continue
            for future in futures:
                if not future.done():
                    future.set_exception(_delivery_error(result.name, settings))
        self._admit_waiting()


# Brokers that could not be reached lately, by service URL and topic.
_outages = Outages()

# A Future while the producer is being created, the producer once it is.
_producers: dict[ProducerSettings, SharedProducer | Future[SharedProducer]] = {}
_producers_lock = threading.Lock()


def _create(settings: ProducerSettings, creation: Future[SharedProducer]) -> None:
    try:
        producer = SharedProducer(settings)
    except PulsarDeliveryError as error:
        _forget(settings, creation)
        creation.set_exception(error)
    except Exception as error:
        _forget(settings, creation)
        name = type(error).__name__
        if name in ("InvalidUrl", "InvalidConfiguration"):
            creation.set_exception(
                PulsarServiceUrlError(
                    f"Invalid Apache Pulsar service URL {settings.service_url!r} for topic {settings.topic!r} ({name})"
                )
            )
        else:
            creation.set_exception(_delivery_error(name, settings))
    else:
        with _producers_lock:
            if _producers.get(settings) is creation:
                _producers[settings] = producer
        creation.set_result(producer)


def _forget(settings: ProducerSettings, entry: SharedProducer | Future[SharedProducer]) -> bool:
    """Drop the entry unless another has taken its place; whether it was dropped."""
    with _producers_lock:
        if _producers.get(settings) is not entry:
            return False
        del _producers[settings]
        return True


def _refuse_unusable_tls(settings: ProducerSettings) -> None:
    """A CA file is refused, naming its path, before any connection: one that cannot be read or
    holds no certificate, or one given for pulsar://, which uses no TLS (whoever gave it expects
    TLS, and the connection would go unencrypted)."""
    if not settings.ssl_ca_file:
        return
    if not settings.service_url.startswith(TLS_SCHEME):
        raise PulsarSettingsError(
            f"Invalid Apache Pulsar settings for {settings.where()}: ssl_ca_file "
            f"{settings.ssl_ca_file!r} is set, but the service URL uses no TLS; use {TLS_SCHEME}"
        )
    try:
        client_context(settings.ssl_ca_file)
    except CertificateFileError as error:
        raise PulsarSettingsError(f"Invalid Apache Pulsar settings for {settings.where()}: {error}") from None


async def get_producer(settings: ProducerSettings) -> SharedProducer:
    """The shared producer for these settings, created on first use."""
    entry = _producers.get(settings)
    if isinstance(entry, SharedProducer):
        return entry
    if not settings.service_url.startswith(SERVICE_URL_SCHEMES):
        raise PulsarServiceUrlError(
            f"Invalid Apache Pulsar service URL {settings.service_url!r} for topic "
            f"{settings.topic!r}: it must start with pulsar:// or pulsar+ssl://"
        )
    _refuse_unusable_tls(settings)
    with _producers_lock:
        entry = _producers.get(settings)
        if entry is None:
            entry = _producers[settings] = Future()
            threading.Thread(
                target=_create,
                args=(settings, entry),
                name=f"pulsar-producer-{settings.topic}",
                daemon=True,
            ).start()
    if isinstance(entry, SharedProducer):
        return entry
    return await asyncio.wrap_future(entry)


async def publish(
    settings: ProducerSettings,
    payload: bytes,
    *,
    properties: dict[str, str],
    partition_key: str | None,
) -> None:
    """Publish one message and wait until the broker has stored it.

    While the broker is unreachable, fails at once for the back-off window after a failure.
    """
    endpoint = (settings.service_url, settings.topic)
    with _outages.attempt(endpoint, settings.unreachable_backoff_seconds, (PulsarConnectionError,)):
        # Found without a coroutine once made, as it is for all but the first dispatches.
        producer = _producers.get(settings)
        if not isinstance(producer, SharedProducer):
            producer = await get_producer(settings)
        try:
            await producer.send(payload, properties, partition_key)
        except ProducerClosedError:
            if _forget(settings, producer):
                producer.close()
            producer = await get_producer(settings)
            await producer.send(payload, properties, partition_key)


def close_all_producers() -> None:
    """Flush and close every shared producer. Blocks until pending messages are sent."""
    with _producers_lock:
        producers = list(_producers.items())
        _producers.clear()
    for settings, entry in producers:
        try:
            if isinstance(entry, Future):
                entry = entry.result(timeout=settings.connect_timeout_seconds)
            entry.close()
        except Exception as error:
            logger.warning(f"Closing the producer for {settings.where()} failed: {error}")


atexit.register(close_all_producers)
