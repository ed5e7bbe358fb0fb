"""Apache Kafka producers shared by every destination of the checkout that publishes to Kafka.

Tracardi builds a new connector for every dispatch, so connections cannot live on the
connector. An aiokafka producer belongs to the event loop that started it, so there is one
started producer per Connection (the servers, security, credentials and producer options) and
loop, whichever destination and topic ask for it: created once on first use even when
dispatches race for it, reused by every later dispatch on that loop, stopped with pending
records flushed by close_producers() (and at interpreter exit) or when a loop would keep more
than MAX_PRODUCERS (the least recently used goes), and forgotten once its loop is closed.

Every dispatch waits for the broker's acknowledgement (per `acks`), so a failure reaches
Tracardi. The first dispatch of a destination sets up (the producer's start, the topic's
metadata and its max.message.bytes) within connect_timeout_seconds in all. While the brokers
cannot be reached, that dispatch pays the connect timeout and the next ones fail at once for a
while (outages). At most one send() a partition is under way (_PartitionQueue says why).
"""

import asyncio
import atexit
import contextlib
import functools
import inspect
import itertools
import math
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

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
from pydantic import SecretStr

from tracardi.process_engine.destination.transport import tls
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
# Each producer holds connections to every broker and a sender task: a loop that meets ever new
# settings (users editing a destination's init) must not keep them all.
MAX_PRODUCERS = 8
# Settings set up on a loop, for the fast path; a few per destination is what Tracardi hands.
_ROUTES_KEPT = 256


class Connection(NamedTuple):
    """What a producer is made with: the settings of every destination that may share it."""

    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    username: str | None
    password: str | None
    ssl_ca_file: str
    acks: str
    compression: str
    enable_idempotence: bool
    linger_ms: int
    max_record_bytes: int
    request_timeout_seconds: float

    def __repr__(self) -> str:
        return _masked_repr(self)

    def where(self) -> str:
        return f"Kafka {self.bootstrap_servers}"

    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")


class ProducerSettings(NamedTuple):
    """One destination's settings: its Connection, its topic, and how long a dispatch may wait."""

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
        return _masked_repr(self)

    def connection(self) -> Connection:
        return Connection(
            self.bootstrap_servers,
            self.security_protocol,
            self.sasl_mechanism,
            self.username,
            self.password,
            self.ssl_ca_file,
            self.acks,
            self.compression,
            self.enable_idempotence,
            self.linger_ms,
            self.max_record_bytes,
            self.request_timeout_seconds,
        )

    def where(self) -> str:
        return f"topic {self.topic!r} at Kafka {self.bootstrap_servers}"

    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")


class CredentialsFields(Protocol):
    """What producer_settings() reads of a Kafka destination's credentials model."""

    @property
    def bootstrap_servers(self) -> str: ...

    @property
    def security_protocol(self) -> str: ...

    @property
    def sasl_mechanism(self) -> str: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> SecretStr | None: ...

    @property
    def ssl_ca_file(self) -> str: ...


class ConfigurationFields(Protocol):
    """What producer_settings() reads of a Kafka destination's init model."""

    @property
    def topic(self) -> str: ...

    @property
    def acks(self) -> str: ...

    @property
    def compression(self) -> str: ...

    @property
    def enable_idempotence(self) -> bool: ...

    @property
    def linger_ms(self) -> int: ...

    @property
    def max_record_bytes(self) -> int: ...

    @property
    def max_in_flight(self) -> int: ...

    @property
    def request_timeout_seconds(self) -> float: ...

    @property
    def connect_timeout_seconds(self) -> float: ...

    @property
    def unreachable_backoff_seconds(self) -> float: ...


def producer_settings(credentials: CredentialsFields, configuration: ConfigurationFields) -> ProducerSettings:
    """The settings of the producer a destination's validated models ask for.

    Every Kafka destination has these fields, their names and types fixed by the transport.
    """
    return ProducerSettings(
        bootstrap_servers=credentials.bootstrap_servers,
        security_protocol=credentials.security_protocol,
        sasl_mechanism=credentials.sasl_mechanism,
        username=credentials.username,
        password=credentials.password.get_secret_value() if credentials.password else None,
        ssl_ca_file=credentials.ssl_ca_file,
        topic=configuration.topic,
        acks=configuration.acks,
        compression=configuration.compression,
        enable_idempotence=configuration.enable_idempotence,
        linger_ms=configuration.linger_ms,
        max_record_bytes=configuration.max_record_bytes,
        max_in_flight=configuration.max_in_flight,
        request_timeout_seconds=configuration.request_timeout_seconds,
        connect_timeout_seconds=configuration.connect_timeout_seconds,
        unreachable_backoff_seconds=configuration.unreachable_backoff_seconds,
    )


def _masked_repr(settings: Connection | ProducerSettings) -> str:
    shown = settings._replace(password="<password>" if settings.password else None)
    fields = ", ".join(f"{name}={value!r}" for name, value in shown._asdict().items())
    return f"{type(settings).__name__}({fields})"


class KafkaDeliveryError(Exception):
    """A record did not reach Apache Kafka."""


class KafkaSettingsError(KafkaDeliveryError, ValueError):
    """Producer settings that Kafka or aiokafka cannot work with."""


class KafkaUnreachableError(KafkaDeliveryError):
    """The brokers did not answer in time, or refused the connection."""


class KafkaBacklogError(KafkaDeliveryError):
    """No record in flight was acknowledged in time to make room for another."""


class KafkaAuthenticationError(KafkaDeliveryError):
    """The brokers refused the SASL user name or password."""


class KafkaCertificateError(KafkaDeliveryError):
    """The brokers' TLS certificate is not trusted, or not valid for their host name."""


class KafkaTopicError(KafkaDeliveryError):
    """The topic does not exist, or the user may not write to it."""


class KafkaRecordTooLargeError(KafkaDeliveryError, ValueError):
    """The record is larger than the producer or the broker takes."""


class _StartFailure(Exception):
    """Why a shared start failed; each dispatch waiting for it makes the error naming its own topic."""

    def __init__(self, error_for: Callable[[str], KafkaDeliveryError]) -> None:
        super().__init__()
        self.error_for = error_for


@dataclass(eq=False)
class _SharedProducer:
    producer: AIOKafkaProducer
    # Bounds the records in flight, one bound for each max_in_flight asked for: a burst waits
    # here instead of failing.
    rooms: "dict[int, _Room]" = field(default_factory=dict)
    # Each topic's setup, once: its metadata checked, and its max.message.bytes when the user
    # may read it.
    topics: "dict[str, asyncio.Task[int | None]]" = field(default_factory=dict)
    # Who sends to each (topic, partition), and the records waiting for their turn.
    queues: "dict[tuple[str, int], _PartitionQueue]" = field(default_factory=dict)
    last_used: int = 0


# A record waiting for its turn: key, value, headers, the future its dispatch awaits, and since when.
_Waiting = tuple[bytes | None, bytes, list[tuple[str, bytes]], "asyncio.Future[None]", float]


class _PartitionQueue:
    """Who sends to one partition, and the records waiting for their turn.

    When a batch is full, aiokafka's send() waits, and every send waiting wakes whenever a batch
    leaves and all but a few go back to sleep (aiokafka issue 528): quadratic in the records in
    flight. So at most one send a partition is under way: a dispatch that finds none sends
    itself, as aiokafka's own callers do; one that finds one queues its record, and one task
    hands the queued records to send() in their order.
    """

    __slots__ = ("busy", "partition", "producer", "records", "request_timeout_seconds", "sender", "topic")

    def __init__(self, producer: AIOKafkaProducer, topic: str, partition: int, request_timeout_seconds: float) -> None:
        self.producer = producer
        self.topic = topic
        self.partition = partition
        # The longest a record waits for its turn, as long as aiokafka lets it wait for room.
        self.request_timeout_seconds = request_timeout_seconds
        # A dispatch's own send or the sender task is under way.
        self.busy = False
        self.records: list[_Waiting] = []
        self.sender: asyncio.Task[None] | None = None

    def queued(self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> "asyncio.Future[None]":
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self.records.append((key, value, headers, future, loop.time()))
        return future

    def release(self) -> None:
        """A dispatch's own send is done: the sender takes over the records queued meanwhile."""
        if self.records:
            self.sender = asyncio.get_running_loop().create_task(_send_in_order(self))
        else:
            self.busy = False


class _Room:
    """Room for max_in_flight records in flight; a burst waits for it, first come first served.

    Not asyncio.Semaphore: its acquire() is a coroutine and its locked() runs a generator, paid
    on every record although a record rarely waits.
    """

    __slots__ = ("free", "waiting")

    def __init__(self, size: int) -> None:
        self.free = size
        # Room freed while a dispatch waits goes to the first one waiting, so free stays 0 while any waits.
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def wait(self, timeout: float) -> None:
        """Wait until room freed is handed over; asyncio.TimeoutError after `timeout` seconds."""
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(handed)
        try:
            await asyncio.wait_for(handed, timeout)
        except BaseException:
            # Handed over just as this dispatch timed out or was cancelled: the next one takes it.
            if handed.done() and not handed.cancelled():
                self.release()
            raise

    def release(self) -> None:
        while self.waiting:
            handed = self.waiting.popleft()
            # One that timed out or was cancelled has given up its place.
            if not handed.done():
                handed.set_result(None)
                return
        self.free += 1


class _Route(NamedTuple):
    """What a dispatch of settings set up before needs, found without a coroutine."""

    shared: _SharedProducer
    room: _Room
    topic_limit: int | None


_OUTAGES = Outages()
_producers: dict[tuple[Connection, asyncio.AbstractEventLoop], "asyncio.Task[_SharedProducer]"] = {}
_routes: dict[tuple[ProducerSettings, asyncio.AbstractEventLoop], _Route] = {}
# Cheaper than reordering _producers on every dispatch: the least recently used has the lowest.
_uses = itertools.count()
# Evicted producers still flushing, referenced until they have stopped.
_stopping: "set[asyncio.Task[None]]" = set()
# The setup budget's clock; a test may move it.
_clock = time.monotonic


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
    if settings.ssl_ca_file and not settings.uses_tls():
        # Refused rather than ignored: whoever gave a CA file expects TLS, and would not get it.
        raise KafkaSettingsError(
            f"ssl_ca_file is set, but security_protocol {settings.security_protocol} does not use TLS; "
            f"choose SSL or SASL_SSL, or leave ssl_ca_file empty, for {settings.where()}"
        )
    if settings.uses_tls():
        # A CA file that is missing or not PEM fails here, before any connection.
        _ssl_context(settings.connection())


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
        route = _routes.get((settings, asyncio.get_running_loop())) or await _set_up(settings)
        shared = route.shared
        shared.last_used = next(_uses)
        if route.topic_limit is not None and size + RECORD_OVERHEAD > route.topic_limit:
            raise KafkaRecordTooLargeError(
                f"The record for {settings.where()} is {size} bytes, more than the topic's "
                f"max.message.bytes ({route.topic_limit}) allows; it was not sent"
            )
        room = route.room
        if room.free:
            room.free -= 1
        else:
            await _wait_for_room(room, settings)
        try:
            queue = _partition_queue(shared, settings, encoded_key, value)
            if queue is None:
                # Metadata lost since the topic's setup: aiokafka's send waits for it, and fails clearly.
                delivery = await shared.producer.send(settings.topic, value, key=encoded_key, headers=encoded_headers)
                await delivery
            elif queue.busy:
                await queue.queued(encoded_key, value, encoded_headers)
            else:
                # The send in this coroutine, not one of its own: every frame is paid on every record.
                queue.busy = True
                try:
                    # aiokafka bounds both steps by request_timeout_ms: the wait for room in its
                    # buffer, and the record's life in the buffer and then in its request.
                    delivery = await queue.producer.send(
                        queue.topic, value, key=encoded_key, headers=encoded_headers, partition=queue.partition
                    )
                finally:
                    queue.release()
                await delivery
        except KafkaError as error:
            raise _delivery_error(error, settings, len(value)) from None
        finally:
            room.release()


async def _wait_for_room(room: _Room, settings: ProducerSettings) -> None:
    try:
        await room.wait(settings.request_timeout_seconds)
    except asyncio.TimeoutError:
        raise KafkaBacklogError(
            f"None of the max_in_flight ({settings.max_in_flight}) records in flight to {settings.where()} "
            f"was acknowledged within request_timeout_seconds ({settings.request_timeout_seconds} s) to make "
            "room for this one; it was not sent"
        ) from None


def _partition_queue(
    shared: _SharedProducer, settings: ProducerSettings, key: bytes | None, value: bytes
) -> "_PartitionQueue | None":
    """The queue of the record's partition; None when the topic's partitions are not known."""
    producer = shared.producer
    topic = settings.topic
    partitions = producer.client.cluster.partitions_for_topic(topic)
    if partitions is None:
        return None
    if key is None:
        partition: int = producer._partition(topic, None, key, value, key, value)
    else:
        # As aiokafka's DefaultPartitioner picks it, from the partitions in the order it lists them.
        listed = list(partitions)
        partition = listed[(murmur2(key) & 0x7FFFFFFF) % len(listed)]
    queue = shared.queues.get((topic, partition))
    if queue is None:
        queue = _PartitionQueue(producer, topic, partition, settings.request_timeout_seconds)
        shared.queues[(topic, partition)] = queue
    return queue


_WORD = struct.Struct("<I")
_MURMUR_SEED = 0x9747B28C
_MURMUR_MULTIPLIER = 0x5BD1E995
_WORD_MASK = 0xFFFFFFFF
# A profile's records come in bursts (its session's events), so the hash of a key seen lately is
# looked up rather than computed again; about 1 MB at most.
_KEYS_HASHED = 4096


@functools.lru_cache(maxsize=_KEYS_HASHED)
def murmur2(key: bytes) -> int:
    """Kafka's murmur2 of a record key, as the Java client and aiokafka's partitioner hash it.

    aiokafka's own goes byte by byte; reading whole words costs half as much. The unit tests
    hold the two equal.
    """
    length = len(key)
    whole = length & ~3
    h = _MURMUR_SEED ^ length
    for (k,) in _WORD.iter_unpack(key[:whole]):
        k = k * _MURMUR_MULTIPLIER & _WORD_MASK
        k = (k ^ k >> 24) * _MURMUR_MULTIPLIER & _WORD_MASK
        h = h * _MURMUR_MULTIPLIER & _WORD_MASK ^ k
    if length & 3:
        h = (h ^ int.from_bytes(key[whole:], "little")) * _MURMUR_MULTIPLIER & _WORD_MASK
    h = (h ^ h >> 13) * _MURMUR_MULTIPLIER & _WORD_MASK
    return h ^ h >> 15


async def _send_in_order(queue: _PartitionQueue) -> None:
    """Hand send() the partition's waiting records one after another, until none is left."""
    producer, topic, partition = queue.producer, queue.topic, queue.partition
    loop = asyncio.get_running_loop()
    records: list[_Waiting] = []
    handed = 0
    try:
        while queue.records:
            records, queue.records, handed = queue.records, [], 0
            for key, value, headers, future, since in records:
                handed += 1
                # A dispatch cancelled before its record was handed over sends nothing, as before.
                if future.done():
                    continue
                if loop.time() - since >= queue.request_timeout_seconds:
                    _settle(future, KafkaTimeoutError())
                    continue
                try:
                    # aiokafka bounds the wait for room in its buffer by request_timeout_ms, and
                    # the record's life in the buffer and then in its request.
                    delivery = await producer.send(topic, value, key=key, headers=headers, partition=partition)
                except KafkaTimeoutError as error:
                    # No room for request_timeout_seconds: the records behind it would wait as long.
                    for waiting in records[handed - 1 :] + queue.records:
                        _settle(waiting[3], error)
                    records, queue.records = [], []
                    break
                except KafkaError as error:
                    _settle(future, error)
                else:
                    delivery.add_done_callback(functools.partial(_settle_delivered, future))
            records = []
    except BaseException as error:
        # Cancelled with its loop or producer: no dispatch may wait for ever, from the record being
        # handed over on.
        for _, _, _, future, _ in records[max(handed - 1, 0) :] + queue.records:
            _settle(future, KafkaError(_describe(error)))
        queue.records = []
        raise
    finally:
        queue.sender = None
        queue.busy = False


def _settle_delivered(future: "asyncio.Future[None]", delivery: "asyncio.Future[Any]") -> None:
    _settle(future, KafkaError("cancelled") if delivery.cancelled() else delivery.exception())


def _settle(future: "asyncio.Future[None]", error: BaseException | None) -> None:
    # A dispatch cancelled meanwhile has given up on its future.
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


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


def _left(deadline: float) -> float:
    """What is left of the setup budget; none left is a timeout, never a step started with nothing."""
    left = deadline - _clock()
    if left <= 0:
        raise asyncio.TimeoutError
    return left


def _out_of_time(where: str, settings: ProducerSettings) -> KafkaUnreachableError:
    return KafkaUnreachableError(
        f"No answer from {where} within connect_timeout_seconds ({settings.connect_timeout_seconds} s)"
    )


async def _within(deadline: float, task: "asyncio.Task[Any]", settings: ProducerSettings, mine: bool) -> Any:
    """The shared task's result, waited for no longer than this dispatch's setup budget.

    The dispatch that made the task (`mine`) shares its deadline, which the task keeps itself:
    a timer of its own could fire first and fail it before the task has cleaned up.
    """
    try:
        # Shielded: a dispatch that gives up must not cancel the task the others wait for.
        if mine:
            return await asyncio.shield(task)
        left = _left(deadline)
        return await asyncio.wait_for(asyncio.shield(task), left)
    except asyncio.TimeoutError:
        raise _out_of_time(settings.where(), settings) from None
    except _StartFailure as failure:
        raise failure.error_for(settings.where()) from None


async def _set_up(settings: ProducerSettings) -> _Route:
    """The producer and the topic for settings new on this loop, within connect_timeout_seconds in all."""
    check_settings(settings)
    loop = asyncio.get_running_loop()
    deadline = _clock() + settings.connect_timeout_seconds
    key = (settings.connection(), loop)
    starting = _producers.get(key)
    started_here = starting is None
    if starting is None:
        # A new loop, or new settings: the moment to drop what closed loops left.
        _forget_closed_loops()
        starting = loop.create_task(_start(key[0], settings, deadline))
        _producers[key] = starting
        starting.add_done_callback(lambda task: _forget_failed(key, task))
        _evict_beyond_bound(loop)
    shared: _SharedProducer = await _within(deadline, starting, settings, started_here)
    topic = settings.topic
    setting_up = shared.topics.get(topic)
    started_here = setting_up is None
    if setting_up is None:
        setting_up = loop.create_task(_set_up_topic(shared.producer, settings, deadline))
        shared.topics[topic] = setting_up
        setting_up.add_done_callback(lambda task: _forget_failed_topic(shared, topic, task))
    topic_limit: int | None = await _within(deadline, setting_up, settings, started_here)
    room = shared.rooms.get(settings.max_in_flight)
    if room is None:
        room = shared.rooms[settings.max_in_flight] = _Room(settings.max_in_flight)
    route = _Route(shared, room, topic_limit)
    # Not kept for a producer evicted meanwhile: the next dispatch starts a new one.
    if _producers.get(key) is starting:
        if len(_routes) >= _ROUTES_KEPT:
            _routes.clear()
        _routes[(settings, loop)] = route
    return route


def _forget_failed(key: tuple[Connection, asyncio.AbstractEventLoop], task: "asyncio.Task[_SharedProducer]") -> None:
    if (task.cancelled() or task.exception() is not None) and _producers.get(key) is task:
        del _producers[key]


def _forget_failed_topic(shared: _SharedProducer, topic: str, task: "asyncio.Task[int | None]") -> None:
    if (task.cancelled() or task.exception() is not None) and shared.topics.get(topic) is task:
        del shared.topics[topic]


def _forget_closed_loops() -> None:
    # A closed loop took its producers' connections with it; nothing is left to stop.
    for key in [key for key in _producers if key[1].is_closed()]:
        del _producers[key]
    for route_key in [route_key for route_key in _routes if route_key[1].is_closed()]:
        del _routes[route_key]
    _stopping.difference_update([task for task in _stopping if task.get_loop().is_closed()])


def _started(task: "asyncio.Task[_SharedProducer]") -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


def _evict_beyond_bound(loop: asyncio.AbstractEventLoop) -> None:
    """Stop, flushing, the least recently used of the loop's producers beyond MAX_PRODUCERS."""
    mine = [key for key in _producers if key[1] is loop]
    if len(mine) <= MAX_PRODUCERS:
        return

    def last_used(key: tuple[Connection, asyncio.AbstractEventLoop]) -> float:
        # One still starting has a dispatch waiting for it: as good as just used.
        task = _producers[key]
        return task.result().last_used if _started(task) else math.inf

    for key in sorted(mine, key=last_used)[: len(mine) - MAX_PRODUCERS]:
        task = _producers.pop(key)
        if _started(task):
            shared = task.result()
            for route_key in [route_key for route_key, route in _routes.items() if route.shared is shared]:
                del _routes[route_key]
        stopping = loop.create_task(_stop_evicted(task))
        _stopping.add(stopping)
        stopping.add_done_callback(_stopping.discard)


async def _stop_evicted(task: "asyncio.Task[_SharedProducer]") -> None:
    # A start that fails left nothing to stop; records already handed to a started one are flushed.
    with contextlib.suppress(Exception):
        await (await task).producer.stop()


async def _start(connection: Connection, settings: ProducerSettings, deadline: float) -> _SharedProducer:
    try:
        producer = AIOKafkaProducer(
            bootstrap_servers=[server.strip() for server in connection.bootstrap_servers.split(",")],
            client_id="tracardi",
            acks=ACKS[connection.acks],
            compression_type=COMPRESSION_TYPES[connection.compression],
            enable_idempotence=connection.enable_idempotence,
            linger_ms=connection.linger_ms,
            max_request_size=connection.max_record_bytes,
            # Rounded up: a positive timeout under a millisecond must not become none at all.
            request_timeout_ms=math.ceil(connection.request_timeout_seconds * 1000),
            **_security(connection),
        )
    except (KafkaError, ValueError, RuntimeError, AssertionError) as error:
        # For instance a compression whose library is not installed.
        text = _describe(error)
        raise _StartFailure(
            lambda where: KafkaSettingsError(f"aiokafka refused the settings for {where}: {text}")
        ) from None
    try:
        left = _left(deadline)
        await asyncio.wait_for(producer.start(), left)
    except BaseException as error:
        await _stop_quietly(producer)
        if isinstance(error, asyncio.TimeoutError):
            raise _StartFailure(lambda where: _out_of_time(where, settings)) from None
        if isinstance(error, KafkaConnectionError):
            raise _StartFailure(await _connection_failure(connection, deadline)) from None
        if isinstance(error, ClusterAuthorizationFailedError):
            # An idempotent producer asks for an id first, which needs the right to write.
            raise _StartFailure(lambda where: KafkaTopicError(f"The user may not write to {where}")) from None
        if isinstance(error, KafkaError):
            text = _describe(error)
            raise _StartFailure(lambda where: KafkaDeliveryError(f"Could not connect to {where}: {text}")) from None
        raise
    return _SharedProducer(producer, last_used=next(_uses))


async def _set_up_topic(producer: AIOKafkaProducer, settings: ProducerSettings, deadline: float) -> int | None:
    """Check the topic, then learn its max.message.bytes, in what is left of the setup budget."""
    try:
        await _check_topic(producer, settings, deadline)
    except asyncio.TimeoutError:
        raise _out_of_time(settings.where(), settings) from None
    except KafkaError as error:
        raise KafkaDeliveryError(f"Could not connect to {settings.where()}: {_describe(error)}") from None
    return await _topic_limit(settings, deadline)


async def _topic_limit(settings: ProducerSettings, deadline: float) -> int | None:
    """The topic's max.message.bytes, so that larger records are refused before they are sent.

    The broker applies it to compressed batches, so this refuses a record that compression
    might have brought under it, as Kafka's own clients do with max.request.size. None when
    the user may not describe the topic's configuration, or the setup budget ran out first:
    then the broker's refusal tells.
    """
    connection = settings.connection()
    try:
        request_timeout_ms = math.ceil(_left(deadline) * 1000)
    except asyncio.TimeoutError:
        return None
    admin = AIOKafkaAdminClient(
        bootstrap_servers=[server.strip() for server in connection.bootstrap_servers.split(",")],
        client_id="tracardi",
        request_timeout_ms=request_timeout_ms,
        **_security(connection),
    )
    resource = ConfigResource(ConfigResourceType.TOPIC, settings.topic)
    try:
        left = _left(deadline)
        await asyncio.wait_for(admin.start(), left)
        left = _left(deadline)
        responses = await asyncio.wait_for(admin.describe_configs([resource]), left)
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


async def _check_topic(producer: AIOKafkaProducer, settings: ProducerSettings, deadline: float) -> None:
    """Fail at once on a topic that is missing or closed to the user, instead of after request_timeout."""
    client = producer.client
    if settings.topic in client.cluster.topics():
        return
    # Metadata for this one topic: the broker says whether it is missing or not authorised; a
    # broker that creates topics on demand creates it now, and the second look finds it.
    client.add_topic(settings.topic)
    for _ in range(2):
        left = _left(deadline)
        await asyncio.wait_for(client.force_metadata_update(), left)
        if settings.topic in client.cluster.unauthorized_topics:
            raise KafkaTopicError(f"The user may not write to {settings.where()}")
        if settings.topic in client.cluster.topics():
            return
    raise KafkaTopicError(f"There is no {settings.where()}, and the brokers did not create it")


async def _connection_failure(connection: Connection, deadline: float) -> Callable[[str], KafkaDeliveryError]:
    """Why no broker could be bootstrapped from, found in what is left of the setup budget: aiokafka
    only logs the reason."""
    if connection.uses_sasl() or connection.uses_tls():
        for server in connection.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                left = _left(deadline)
            except asyncio.TimeoutError:
                break
            try:
                connection_to_broker = await asyncio.wait_for(
                    create_conn(
                        host,
                        int(port),
                        request_timeout_ms=math.ceil(left * 1000),
                        **_security(connection),
                        **_CONNECTION_HINT,
                    ),
                    left,
                )
            except ssl.SSLCertVerificationError as error:
                refused = error
                return lambda where: KafkaCertificateError(tls.refusal(where, refused, connection.ssl_ca_file))
            except SaslAuthenticationFailed:
                message = (
                    f"refused the {connection.sasl_mechanism} user name or password (user {connection.username!r})"
                )
                return lambda where: KafkaAuthenticationError(f"{where} {message}")
            except (OSError, asyncio.TimeoutError, KafkaError):
                continue
            connection_to_broker.close()
    return lambda where: KafkaUnreachableError(f"Could not connect to {where}: no broker accepted the connection")


def _security(connection: Connection) -> dict[str, Any]:
    options: dict[str, Any] = {"security_protocol": connection.security_protocol}
    if connection.uses_tls():
        options["ssl_context"] = _ssl_context(connection)
    if connection.uses_sasl():
        options.update(
            sasl_mechanism=connection.sasl_mechanism,
            sasl_plain_username=connection.username,
            sasl_plain_password=connection.password,
        )
    return options


def _ssl_context(connection: Connection) -> ssl.SSLContext:
    """Host names checked, against the certificate authorities of ssl_ca_file or the system's."""
    try:
        return tls.client_context(connection.ssl_ca_file)
    except tls.CertificateFileError as error:
        raise KafkaSettingsError(f"{error}, for {connection.where()}") from None


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
    for route_key in [route_key for route_key in _routes if route_key[1] is loop]:
        del _routes[route_key]
    mine = [key for key in _producers if key[1] is loop]
    for task in [_producers.pop(key) for key in mine]:
        # A start that failed left nothing to stop.
        with contextlib.suppress(Exception):
            await (await task).producer.stop()
    evicted = [task for task in _stopping if task.get_loop() is loop]
    await asyncio.gather(*evicted, return_exceptions=True)


@atexit.register
def _close_at_exit() -> None:
    # A loop that is still open but no longer running can run its producers' stop once more.
    _forget_closed_loops()
    for (_, loop), task in list(_producers.items()):
        if not loop.is_running() and _started(task):
            loop.run_until_complete(task.result().producer.stop())
    _producers.clear()
    _routes.clear()
