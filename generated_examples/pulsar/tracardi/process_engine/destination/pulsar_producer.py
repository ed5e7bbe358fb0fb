"""Apache Pulsar producers shared by every Apache Pulsar dispatch.

Tracardi builds a new connector for every dispatch, so connections cannot live on the
connector. Here there is one client and producer per ProducerSettings (service URL, token,
topic, producer options), created once on first use even when dispatches race for it, reused
by every later dispatch, and closed with pending messages flushed by close_all_producers(),
which also runs at interpreter exit.

Before a producer is created, one handshake (pulsar_handshake) asks the broker
whether it accepts the token, which the Pulsar client itself never reports.

Nothing here blocks the event loop: producers are created on a worker thread, and sends use
the client's own threads, their acknowledgements handed back to the loop that is waiting.
"""

import asyncio
import atexit
import threading
import weakref
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pulsar

from tracardi.exceptions.log_handler import get_logger
from tracardi.process_engine.destination.pulsar_handshake import (
    BrokerUnreachable,
    TokenRefused,
    check_broker_accepts,
)

logger = get_logger(__name__)

SERVICE_URL_SCHEMES = ("pulsar://", "pulsar+ssl://")

COMPRESSION_TYPES = {
    "none": pulsar.CompressionType.NONE,
    "lz4": pulsar.CompressionType.LZ4,
    "zlib": pulsar.CompressionType.ZLib,
    "zstd": pulsar.CompressionType.ZSTD,
    "snappy": pulsar.CompressionType.SNAPPY,
}


@dataclass(frozen=True)
class ProducerSettings:
    """Everything that tells one shared producer from another."""

    service_url: str
    token: str | None = field(repr=False)
    topic: str
    compression: str
    batching_enabled: bool
    batching_max_publish_delay_ms: int
    max_pending_messages: int
    connect_timeout_seconds: int
    send_timeout_seconds: int

    def where(self) -> str:
        return f"topic {self.topic!r} at {self.service_url}"


class PulsarDeliveryError(Exception):
    """A message did not reach Apache Pulsar."""


class PulsarServiceUrlError(PulsarDeliveryError, ValueError):
    """The service URL is not one a Pulsar client can use."""


class PulsarConnectionError(PulsarDeliveryError, ConnectionError):
    """The broker could not be reached, or did not answer in time."""


class PulsarAuthenticationError(PulsarDeliveryError, PermissionError):
    """The broker refused the token, or the token may not publish to the topic."""


class PulsarTopicError(PulsarDeliveryError):
    """The topic, or its tenant or namespace, does not exist or cannot be published to."""


class ProducerClosedError(PulsarDeliveryError):
    """The shared producer was closed under us; a new one is made once."""


def _delivery_error(error_name: str, settings: ProducerSettings) -> PulsarDeliveryError:
    """One clear error for a failure the Pulsar client reports by name."""
    where = settings.where()
    if error_name == "AuthenticationError":
        return PulsarAuthenticationError(
            f"Apache Pulsar refused the token for {where} ({error_name})"
        )
    if error_name == "AuthorizationError":
        with_what = "this token" if settings.token else "no token"
        return PulsarAuthenticationError(
            f"Apache Pulsar does not allow publishing to {where} with {with_what} "
            f"({error_name})"
        )
    if error_name == "ErrorGettingAuthenticationData":
        return PulsarAuthenticationError(
            f"The token for {where} could not be read ({error_name})"
        )
    if error_name in ("TopicNotFound", "InvalidTopicName", "NotAllowedError"):
        return PulsarTopicError(
            f"Cannot publish to {where}: the topic, its tenant or its namespace does not "
            f"exist or does not accept producers ({error_name})"
        )
    if error_name in ("AlreadyClosed", "ProducerNotInitialized"):
        return ProducerClosedError(f"The producer for {where} is closed ({error_name})")
    if error_name in ("Timeout", "ConnectError", "NotConnected", "LookupError"):
        return PulsarConnectionError(
            f"Apache Pulsar did not answer for {where} within "
            f"{settings.connect_timeout_seconds} s to connect or "
            f"{settings.send_timeout_seconds} s to acknowledge ({error_name})"
        )
    return PulsarDeliveryError(f"Apache Pulsar failed for {where} ({error_name})")


def _check_broker_accepts(settings: ProducerSettings) -> None:
    where = settings.where()
    try:
        check_broker_accepts(
            settings.service_url, settings.token, settings.connect_timeout_seconds
        )
    except ValueError as error:
        raise PulsarServiceUrlError(
            f"Invalid Apache Pulsar service URL {settings.service_url!r} for topic "
            f"{settings.topic!r}: {error}"
        ) from None
    except BrokerUnreachable as error:
        raise PulsarConnectionError(
            f"Cannot connect to Apache Pulsar for {where}: {error}"
        ) from None
    except TokenRefused as error:
        if settings.token:
            raise PulsarAuthenticationError(
                f"Apache Pulsar refused the token for {where} ({error})"
            ) from None
        raise PulsarAuthenticationError(
            f"Apache Pulsar requires a token for {where}, and none is set ({error})"
        ) from None


class SharedProducer:
    """A client and its producer, shared by every dispatch with the same settings."""

    def __init__(self, settings: ProducerSettings) -> None:
        """Connect and create the producer; blocks, so it runs on a worker thread."""
        self.settings = settings
        _check_broker_accepts(settings)
        authentication = (
            pulsar.AuthenticationToken(settings.token) if settings.token else None
        )
        self._client = pulsar.Client(
            settings.service_url,
            authentication=authentication,
            connection_timeout_ms=settings.connect_timeout_seconds * 1000,
            operation_timeout_seconds=settings.connect_timeout_seconds,
            # Filtered in the client itself: a Python logger would be called, with the
            # GIL, for every debug line of every message.
            logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn),
        )
        try:
            self._producer = self._client.create_producer(
                settings.topic,
                compression_type=COMPRESSION_TYPES[settings.compression],
                batching_enabled=settings.batching_enabled,
                batching_max_publish_delay_ms=settings.batching_max_publish_delay_ms,
                max_pending_messages=settings.max_pending_messages,
                send_timeout_millis=settings.send_timeout_seconds * 1000,
                block_if_queue_full=False,
            )
        except BaseException:
            self._client.close()
            raise
        # asyncio primitives belong to one event loop, so each loop gets its own link.
        self._links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopLink] = (
            weakref.WeakKeyDictionary()
        )

    async def send(
        self, payload: bytes, properties: dict[str, str], partition_key: str | None
    ) -> None:
        """Send one message and wait for the broker's acknowledgement."""
        loop = asyncio.get_running_loop()
        link = self._links.get(loop)
        if link is None:
            link = self._links.setdefault(loop, _LoopLink(loop, self.settings))
        async with link.room:
            acknowledged: asyncio.Future[None] = loop.create_future()

            def on_acknowledged(result: pulsar.Result, message_id: Any) -> None:
                # An exception escaping a client callback can hang flush() for good.
                try:
                    link.acknowledge(acknowledged, result)
                except Exception as error:
                    logger.warning(f"Acknowledgement dropped: {error}")

            try:
                self._producer.send_async(
                    payload,
                    on_acknowledged,
                    properties=properties,
                    partition_key=partition_key,
                )
            except pulsar.PulsarException as error:
                raise _delivery_error(type(error).__name__, self.settings) from None
            await acknowledged

    def close(self) -> None:
        """Flush pending messages, then close the producer and its client."""
        try:
            self._producer.flush()
        except pulsar.PulsarException as error:
            logger.warning(f"Could not flush {self.settings.where()}: {error}")
        finally:
            self._client.close()


class _LoopLink:
    """One event loop's way through a shared producer.

    Acknowledgements arrive on the client's thread, and waking the loop for each of them
    costs a system call and a switch of the GIL; a burst of them wakes it once instead.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, settings: ProducerSettings
    ) -> None:
        # A weak reference, so that a closed loop can leave the producer's links.
        self._loop = weakref.ref(loop)
        self._settings = settings
        # Keeps a burst under max_pending_messages, which would fail it otherwise.
        self.room = asyncio.Semaphore(settings.max_pending_messages)
        self._lock = threading.Lock()
        # Not empty exactly while a call of _settle_all is on its way to the loop.
        self._outcomes: list[tuple[asyncio.Future[None], pulsar.Result]] = []

    def acknowledge(self, future: asyncio.Future[None], result: pulsar.Result) -> None:
        """Queue one outcome, from any thread; the first of a burst wakes the loop."""
        with self._lock:
            self._outcomes.append((future, result))
            if len(self._outcomes) > 1:
                return
        loop = self._loop()
        if loop is not None:
            loop.call_soon_threadsafe(self._settle_all)

    def _settle_all(self) -> None:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        for future, result in outcomes:
            if future.done():
                continue
            if result == pulsar.Result.Ok:
                future.set_result(None)
            else:
                future.set_exception(_delivery_error(result.name, self._settings))


_producers: dict[ProducerSettings, Future[SharedProducer]] = {}
_producers_lock = threading.Lock()


def _create(settings: ProducerSettings, pending: Future[SharedProducer]) -> None:
    try:
        pending.set_result(SharedProducer(settings))
    except PulsarDeliveryError as error:
        _forget(settings, pending)
        pending.set_exception(error)
    except Exception as error:
        _forget(settings, pending)
        name = type(error).__name__
        if name in ("InvalidUrl", "InvalidConfiguration"):
            pending.set_exception(
                PulsarServiceUrlError(
                    f"Invalid Apache Pulsar service URL {settings.service_url!r} for "
                    f"topic {settings.topic!r} ({name})"
                )
            )
        else:
            pending.set_exception(_delivery_error(name, settings))


def _forget(settings: ProducerSettings, producer: Future[SharedProducer]) -> None:
    with _producers_lock:
        if _producers.get(settings) is producer:
            del _producers[settings]


async def get_producer(settings: ProducerSettings) -> SharedProducer:
    """The shared producer for these settings, created on first use."""
    if not settings.service_url.startswith(SERVICE_URL_SCHEMES):
        raise PulsarServiceUrlError(
            f"Invalid Apache Pulsar service URL {settings.service_url!r} for topic "
            f"{settings.topic!r}: it must start with pulsar:// or pulsar+ssl://"
        )
    with _producers_lock:
        pending = _producers.get(settings)
        if pending is None:
            pending = _producers[settings] = Future()
            threading.Thread(
                target=_create,
                args=(settings, pending),
                name=f"pulsar-producer-{settings.topic}",
                daemon=True,
            ).start()
    if pending.done():
        return pending.result()
    return await asyncio.wrap_future(pending)


async def publish(
    settings: ProducerSettings,
    payload: bytes,
    *,
    properties: dict[str, str],
    partition_key: str | None,
) -> None:
    """Publish one message and wait until the broker has stored it."""
    producer = await get_producer(settings)
    try:
        await producer.send(payload, properties, partition_key)
    except ProducerClosedError:
        with _producers_lock:
            closed = _producers.pop(settings, None)
        if closed is not None and closed.done() and closed.exception() is None:
            closed.result().close()
        producer = await get_producer(settings)
        await producer.send(payload, properties, partition_key)


def close_all_producers() -> None:
    """Flush and close every shared producer. Blocks until pending messages are sent."""
    with _producers_lock:
        producers = list(_producers.items())
        _producers.clear()
    for settings, pending in producers:
        try:
            pending.result(timeout=settings.connect_timeout_seconds).close()
        except Exception as error:
            logger.warning(
                f"Closing the producer for {settings.where()} failed: {error}"
            )


atexit.register(close_all_producers)
