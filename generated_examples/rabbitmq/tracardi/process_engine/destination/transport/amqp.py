"""RabbitMQ (AMQP 0-9-1) connections shared by every dispatch of every amqp destination of the checkout.

Tracardi builds a new connector for every dispatch, so connections cannot live on the connector.
Here there is one robust connection and one channel in publisher-confirm mode per connection
settings (URL, user, password, CA file, connect timeout) and event loop, whichever destination
asks, opened once on first use even when dispatches race for it. Each exchange is checked
(passive declare) or declared once per channel, on a channel of its own, so that a missing
exchange never closes the channel other dispatches wait on.

Every dispatch awaits its confirm: an ack is success; a nack, no confirm within
confirm_timeout_seconds, or the return of an unroutable message published as mandatory is an
error naming the URL (never its credentials), exchange and routing key. A channel the server
closed (a missing exchange, refused access, a precondition) is dropped and the next dispatch
opens a new one; after a lost connection (a broker restart) the robust connection reconnects by
itself. Nothing is buffered: a dispatch that returned has its confirm, so close_connections()
only waits for dispatches under way, and a process that exits without it loses nothing that was
reported sent.

Tracardi awaits dispatch inside the /track request, so a broker that cannot be reached would cost
every tracked event the connect or confirm timeout. When a dispatch finds the broker unreachable
or silent, the dispatches to the same connection settings, exchange and routing key fail at once
with its error for unreachable_backoff_seconds (outages); then one dispatch tries again.

Works with aio-pika 8.2.0 (the first to honour ssl_context) to 10.2.1 (the newest, tested); its
public API only, the same calls on all.
"""

import asyncio
import contextvars
import re
import ssl
import uuid
import weakref
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple, Protocol

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from pydantic import SecretStr
from yarl import URL

from tracardi.exceptions.log_handler import get_logger
from tracardi.process_engine.destination.transport.outages import Outages
from tracardi.process_engine.destination.transport.tls import (
    CertificateFileError,
    client_context,
    refusal,
    trusted,
    verification_failure,
)

logger = get_logger(__name__)

URL_SCHEMES = ("amqp", "amqps")
APP_ID = "tracardi"

# OpenSSL's reason, in the text aiormq makes of a failed handshake.
_VERIFY_FAILED = re.compile(
    r"CERTIFICATE_VERIFY_FAILED\]\s*(?:certificate verify failed:\s*)?([^(']*?)\s*(?:\(_ssl|'|$)"
)


class AmqpDeliveryError(Exception):
    """A message did not reach RabbitMQ, or RabbitMQ did not confirm it."""


class AmqpSettingsError(AmqpDeliveryError, ValueError):
    """Settings no connection could work with; refused before any connection."""


class AmqpMessageSizeError(AmqpDeliveryError, ValueError):
    """The message is larger than max_message_bytes or than the server accepts; not sent."""


class AmqpAccessError(AmqpDeliveryError, PermissionError):
    """The server refused the user name and password, the vhost, or the exchange to the user."""


class AmqpNotFoundError(AmqpDeliveryError):
    """The exchange does not exist (and declare_exchange is off)."""


class AmqpUnroutableError(AmqpDeliveryError):
    """The message was mandatory and no queue was bound to take it: the server returned it."""


class AmqpNackError(AmqpDeliveryError):
    """The server refused to take responsibility for the message (a nack)."""


class AmqpTimeoutError(AmqpDeliveryError, TimeoutError):
    """No confirm came within confirm_timeout_seconds; the message may still arrive."""


class AmqpConnectionError(AmqpDeliveryError, ConnectionError):
    """The server could not be reached, did not answer in time, or the connection was lost."""


class AmqpCertificateError(AmqpDeliveryError):
    """The server's TLS certificate did not verify, or ssl_ca_file could not be used."""


class ConnectionSettings(NamedTuple):
    """What tells one shared connection from another."""

    url: str
    username: str
    password: str
    ca_file: str
    connect_timeout_seconds: float

    def __repr__(self) -> str:
        password = "<password>" if self.password else ""
        return (
            f"ConnectionSettings(url={self.url!r}, username={self.username!r}, password={password!r}, "
            f"ca_file={self.ca_file!r}, connect_timeout_seconds={self.connect_timeout_seconds!r})"
        )

    @property
    def shown_url(self) -> str:
        """The URL as errors show it: whatever user info or query it was given, left out."""
        try:
            url = URL(self.url)
            return str(url.with_user(None).with_query(None).with_fragment(None))
        except ValueError:
            return "<url that cannot be read>"

    @property
    def vhost(self) -> str:
        # As aiormq reads it: no path or "/" is the default vhost "/".
        path = URL(self.url).path
        return "/" if path in ("", "/") else path[1:]


class AmqpSettings(NamedTuple):
    """Everything one dispatch needs: its connection's settings and how its messages go out.

    A tuple, because one is derived per pair of validated models and compared on every dispatch.
    """

    connection: ConnectionSettings
    exchange: str
    exchange_type: str
    declare_exchange: bool
    routing_key: str
    persistent: bool
    mandatory: bool
    confirm_timeout_seconds: float
    unreachable_backoff_seconds: float
    headers: tuple[tuple[str, str], ...]
    max_message_bytes: int

    def where(self) -> str:
        exchange = f"exchange {self.exchange!r}" if self.exchange else "the default exchange"
        return f"{exchange} with routing key {self.routing_key!r} at {self.connection.shown_url}"


class CredentialsFields(Protocol):
    """What amqp_settings() reads of an amqp destination's credentials model."""

    @property
    def url(self) -> object: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> SecretStr | None: ...

    @property
    def ssl_ca_file(self) -> str: ...


class ConfigurationFields(Protocol):
    """What amqp_settings() reads of an amqp destination's init model."""

    @property
    def exchange(self) -> str: ...

    @property
    def exchange_type(self) -> str: ...

    @property
    def declare_exchange(self) -> bool: ...

    @property
    def routing_key(self) -> str: ...

    @property
    def persistent(self) -> bool: ...

    @property
    def mandatory(self) -> bool: ...

    @property
    def confirm_timeout_seconds(self) -> float: ...

    @property
    def connect_timeout_seconds(self) -> float: ...

    @property
    def unreachable_backoff_seconds(self) -> float: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def max_message_bytes(self) -> int: ...


def amqp_settings(credentials: CredentialsFields, configuration: ConfigurationFields) -> AmqpSettings:
    """The settings a destination's validated models ask for, checked before any connection.

    Every amqp destination has these fields, their names and types fixed by the transport.
    """
    password = credentials.password.get_secret_value() if credentials.password else ""
    settings = AmqpSettings(
        connection=ConnectionSettings(
            url=str(credentials.url),
            username=credentials.username or "",
            password=password,
            ca_file=credentials.ssl_ca_file,
            connect_timeout_seconds=configuration.connect_timeout_seconds,
        ),
        exchange=configuration.exchange,
        exchange_type=configuration.exchange_type,
        declare_exchange=configuration.declare_exchange,
        routing_key=configuration.routing_key,
        persistent=configuration.persistent,
        mandatory=configuration.mandatory,
        confirm_timeout_seconds=configuration.confirm_timeout_seconds,
        unreachable_backoff_seconds=configuration.unreachable_backoff_seconds,
        headers=tuple(configuration.headers.items()),
        max_message_bytes=configuration.max_message_bytes,
    )
    _check(settings)
    return settings


def _check(settings: AmqpSettings) -> None:
    """Refuse what no connection could work with, or what would let a dispatch wait for ever."""
    problems = []
    url = URL(settings.connection.url)
    if url.scheme not in URL_SCHEMES or not url.host:
        problems.append("url must be amqp://host:port/vhost or amqps://host:port/vhost")
    if url.user is not None or url.password is not None:
        # The URL is shown in every error; credentials belong in their own fields.
        problems.append("url must not hold a user name or password: set username and password instead")
    if url.query_string or url.fragment:
        problems.append("url must not have a query or fragment: TLS comes from amqps:// and ssl_ca_file")
    if settings.connection.ca_file and url.scheme != "amqps":
        problems.append("ssl_ca_file is set but the url is not amqps://, which is the only one that uses TLS")
    if settings.connection.password and not settings.connection.username:
        problems.append("password is set but username is empty")
    if not settings.exchange and settings.declare_exchange:
        problems.append("declare_exchange needs an exchange name: the default exchange always exists")
    if problems:
        raise AmqpSettingsError(f"Invalid RabbitMQ settings for {settings.where()}: {'; '.join(problems)}")


def _connection_url(settings: ConnectionSettings) -> str:
    # aio-pika ignores login= and password= when given a URL: the credentials go into it, quoted.
    # The connection's name in RabbitMQ's management views, which aiormq reads from the query in
    # every version (aio-pika 8 does not hand client_properties to the connection).
    url = URL(settings.url).update_query(name=APP_ID)
    if settings.username:
        url = url.with_user(settings.username).with_password(settings.password or None)
    return str(url)


def _reply_text(error: BaseException) -> str:
    """What the server said, without anything of ours in it."""
    text = " ".join(str(arg) for arg in error.args if isinstance(arg, (str, int))) or type(error).__name__
    return text[:300]


def _close_frame(error: BaseException) -> tuple[int, str] | None:
    """The Connection.Close frame an opening error carries (aio-pika 8.2 to 9.x), if any."""
    for arg in error.args:
        reply_code = getattr(arg, "reply_code", None)
        if isinstance(reply_code, int):
            return reply_code, str(getattr(arg, "reply_text", "") or "")
    return None


def _connection_error(error: BaseException, settings: ConnectionSettings, where: str) -> AmqpDeliveryError:
    """One clear error for a connection that could not be opened."""
    user = f"user {settings.username!r}" if settings.username else "no user name (guest)"
    vhost = settings.vhost
    if isinstance(error, CertificateFileError):
        return AmqpCertificateError(f"Cannot connect to RabbitMQ for {where}: {error}")
    certificate = verification_failure(error)
    if certificate is not None:
        return AmqpCertificateError(refusal(f"RabbitMQ at {settings.shown_url}", certificate, settings.ca_file))
    if "CERTIFICATE_VERIFY_FAILED" in str(error):
        # aiormq turns the SSL error into text, so its reason is all that is left.
        found = _VERIFY_FAILED.search(str(error))
        reason = (found.group(1) if found else "") or "verification failed"
        return AmqpCertificateError(
            f"RabbitMQ at {settings.shown_url} presented a TLS certificate that could not be verified ({reason}) "
            f"against {trusted(settings.ca_file)}"
        )
    if isinstance(error, aiormq.exceptions.ProbableAuthenticationError):
        return AmqpAccessError(
            f"RabbitMQ refused the user name or password of {user} for {where} ({_reply_text(error)})"
        )
    frame = _close_frame(error)
    opening_closed = isinstance(error, aiormq.exceptions.InvalidFrameError) and "Connection.Close" in str(error)
    if opening_closed or (frame is not None and frame[0] in (530, 403)):
        # 530 NOT_ALLOWED: aio-pika 10 loses the reply text, so the reasons it may have are named.
        said = f" ({frame[1]})" if frame is not None and frame[1] else ""
        return AmqpAccessError(
            f"RabbitMQ refused vhost {vhost!r} to {user} for {where}: the vhost does not exist or the user "
            f"has no permissions on it{said}"
        )
    if isinstance(error, asyncio.TimeoutError):
        return AmqpConnectionError(
            f"RabbitMQ did not answer within connect_timeout_seconds ({settings.connect_timeout_seconds} s) for {where}"
        )
    return AmqpConnectionError(f"Cannot connect to RabbitMQ for {where}: {_reply_text(error)}")


def _channel_closed(error: aiormq.exceptions.ChannelClosed, settings: AmqpSettings) -> AmqpDeliveryError:
    """One clear error for a channel the server closed."""
    where = settings.where()
    said = _reply_text(error)
    if isinstance(error, aiormq.exceptions.ChannelNotFoundEntity):
        hint = " (set declare_exchange to create it)" if not settings.declare_exchange else ""
        return AmqpNotFoundError(f"RabbitMQ has no {where}{hint} ({said})")
    if isinstance(error, aiormq.exceptions.ChannelAccessRefused):
        user = settings.connection.username or "guest"
        return AmqpAccessError(f"RabbitMQ does not let user {user!r} use {where} ({said})")
    if "message size" in said:
        return AmqpMessageSizeError(f"RabbitMQ refused the message for {where} as too large ({said})")
    return AmqpDeliveryError(f"RabbitMQ refused the message for {where} ({said})")


class SharedConnection:
    """A robust connection and its confirming channel, shared by every dispatch of one loop."""

    def __init__(self, settings: ConnectionSettings, connection: AbstractRobustConnection) -> None:
        self.settings = settings
        self.connection = connection
        self._channel: AbstractChannel | None = None
        self._opening: asyncio.Future[AbstractChannel] | None = None
        # The exchanges checked or declared on the current channel (or being so), by name, type
        # and declare: dispatches racing to a new exchange wait for one check.
        self._exchanges: dict[tuple[str, str, bool], asyncio.Future[AbstractExchange]] = {}
        self._under_way: set[asyncio.Future[None]] = set()

    async def channel(self) -> AbstractChannel:
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open_channel())
        opening = self._opening
        try:
            return await asyncio.shield(opening)
        finally:
            if self._opening is opening and opening.done():
                self._opening = None

    async def _open_channel(self) -> AbstractChannel:
        self._exchanges.clear()
        channel = await asyncio.wait_for(
            _opened(self.connection, confirming=True),
            self.settings.connect_timeout_seconds,
        )
        self._channel = channel
        return channel

    def drop_channel(self, channel: AbstractChannel) -> None:
        """Forget a channel the server closed or that went with the connection: the next dispatch opens one."""
        if self._channel is channel:
            self._channel = None
            self._exchanges.clear()
            # A robust channel would reopen itself later; the next dispatch opens its own now.
            closing = asyncio.ensure_future(_close_quietly(channel))
            _closing.add(closing)
            closing.add_done_callback(_closing.discard)

    async def exchange(self, settings: AmqpSettings, channel: AbstractChannel) -> AbstractExchange:
        """The exchange to publish to, checked (or declared) once per channel."""
        if not settings.exchange:
            return channel.default_exchange
        key = (settings.exchange, settings.exchange_type, settings.declare_exchange)
        checking = self._exchanges.get(key)
        if checking is not None and checking.done() and not checking.cancelled() and checking.exception() is None:
            return checking.result()
        if checking is None:
            checking = self._exchanges[key] = asyncio.ensure_future(self._checked_exchange(settings, channel))
        try:
            return await asyncio.shield(checking)
        except BaseException:
            # A failed check is not kept: the next dispatch checks again.
            if checking.done() and self._exchanges.get(key) is checking:
                del self._exchanges[key]
            raise

    async def _checked_exchange(self, settings: AmqpSettings, channel: AbstractChannel) -> AbstractExchange:
        # On a channel of its own: a missing exchange closes the channel it was asked on, and
        # the publishing channel may have confirms of other dispatches to come.
        timeout = self.settings.connect_timeout_seconds
        try:
            check = await asyncio.wait_for(_opened(self.connection), timeout)
            try:
                await asyncio.wait_for(
                    check.declare_exchange(
                        settings.exchange,
                        type=settings.exchange_type,
                        durable=True,
                        passive=not settings.declare_exchange,
                    ),
                    timeout,
                )
            finally:
                await _close_quietly(check)
        except aiormq.exceptions.ChannelClosed as error:
            raise _channel_closed(error, settings) from None
        except asyncio.TimeoutError:
            raise AmqpConnectionError(
                f"RabbitMQ did not answer within connect_timeout_seconds ({timeout} s) checking {settings.where()}"
            ) from None
        return await channel.get_exchange(settings.exchange, ensure=False)

    async def close(self) -> None:
        """Wait for the dispatches under way (their confirms), then close the connection."""
        if self._under_way:
            await asyncio.wait(set(self._under_way), timeout=self.settings.connect_timeout_seconds)
        await self.connection.close()


async def _opened(connection: AbstractRobustConnection, confirming: bool = False) -> AbstractChannel:
    # A channel object is awaitable, not a coroutine, so wait_for needs this wrapper.
    channel = connection.channel(publisher_confirms=confirming, on_return_raises=confirming)
    await channel
    return channel


async def _close_connection_quietly(connection: AbstractRobustConnection) -> None:
    try:
        await asyncio.wait_for(connection.close(), 1)
    except Exception as error:  # it stops reconnecting either way
        logger.debug(f"Closing a RabbitMQ connection that did not open: {error!r}")


async def _close_quietly(channel: AbstractChannel) -> None:
    try:
        await channel.close()
    except Exception as error:  # the channel is closed either way
        logger.debug(f"Closing a RabbitMQ channel: {error!r}")


# Channels being closed, kept so that their tasks are not collected half way.
_closing: set["asyncio.Future[None]"] = set()

# Brokers that could not be reached lately, by connection settings, exchange and routing key.
_outages = Outages()

# Connections are bound to the loop they were opened on: one set per loop.
_connections: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[ConnectionSettings, "asyncio.Future[SharedConnection]"]
] = weakref.WeakKeyDictionary()


# The connections connect_robust makes in the current task, so that one whose first connect failed
# can be closed: aio-pika would otherwise go on reconnecting it in the background for ever.
_made_here: contextvars.ContextVar[list[AbstractRobustConnection]] = contextvars.ContextVar("amqp_made_here")


class _ListedConnection(aio_pika.RobustConnection):
    """A robust connection that lists itself where the task that makes it can find it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        made = _made_here.get(None)
        if made is not None:
            made.append(self)


async def _connect(settings: ConnectionSettings) -> SharedConnection:
    where = f"{settings.shown_url} as {settings.username or 'guest'}"
    made: list[AbstractRobustConnection] = []
    _made_here.set(made)
    try:
        context = client_context(settings.ca_file) if URL(settings.url).scheme == "amqps" else None
        connection = await asyncio.wait_for(
            aio_pika.connect_robust(
                _connection_url(settings),
                timeout=settings.connect_timeout_seconds,
                ssl_context=context,
                connection_class=_ListedConnection,
                # aio-pika 8 waits 5 s by default before it reconnects after a lost connection.
                reconnect_interval=1,
            ),
            settings.connect_timeout_seconds,
        )
    except Exception as error:
        for failed in made:
            await _close_connection_quietly(failed)
        # `from None`: a library's error may repeat the URL with its credentials.
        mapped = _connection_error(error, settings, where)
        if settings.password and settings.password in str(mapped):
            mapped = type(mapped)(str(mapped).replace(settings.password, "******"))
        raise mapped from None
    return SharedConnection(settings, connection)


async def get_connection(settings: ConnectionSettings) -> SharedConnection:
    """The shared connection for these settings on the running loop, opened on first use."""
    loop = asyncio.get_running_loop()
    connections = _connections.get(loop)
    if connections is None:
        connections = _connections.setdefault(loop, {})
    opening = connections.get(settings)
    if opening is None:
        opening = connections[settings] = asyncio.ensure_future(_connect(settings))
    if opening.done() and opening.exception() is None:
        return opening.result()
    try:
        return await asyncio.shield(opening)
    except BaseException:
        if opening.done() and connections.get(settings) is opening:
            del connections[settings]
        raise


def _message(settings: AmqpSettings, payload: bytes, properties: Mapping[str, str]) -> aio_pika.Message:
    mode = aio_pika.DeliveryMode.PERSISTENT if settings.persistent else aio_pika.DeliveryMode.NOT_PERSISTENT
    return aio_pika.Message(
        payload,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=mode,
        # Unique per dispatch, so consumers can drop a redelivered copy.
        message_id=uuid.uuid4().hex,
        timestamp=datetime.now(timezone.utc),
        app_id=APP_ID,
        headers={**dict(settings.headers), **properties},
    )


async def publish(settings: AmqpSettings, payload: bytes, properties: Mapping[str, str]) -> None:
    """Publish one message and wait for its confirm.

    While the broker is unreachable, fails at once for the back-off window after a failure.
    """
    if len(payload) > settings.max_message_bytes:
        raise AmqpMessageSizeError(
            f"The message for {settings.where()} is {len(payload)} bytes; max_message_bytes is "
            f"{settings.max_message_bytes}: not sent"
        )
    message = _message(settings, payload, properties)
    unreachable = (AmqpConnectionError, AmqpTimeoutError)
    endpoint = (settings.connection, settings.exchange, settings.routing_key)
    with _outages.attempt(endpoint, settings.unreachable_backoff_seconds, unreachable):
        try:
            shared = await get_connection(settings.connection)
        except AmqpDeliveryError as error:
            # The connection serves every destination with its settings: say which one asked.
            raise type(error)(f"{error}; publishing to {settings.where()}") from None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        shared._under_way.add(done)
        try:
            await _publish(shared, settings, message)
        finally:
            shared._under_way.discard(done)
            done.set_result(None)


async def _publish(shared: SharedConnection, settings: AmqpSettings, message: aio_pika.Message) -> None:
    channel: AbstractChannel | None = None
    try:
        channel = await shared.channel()
        exchange = await shared.exchange(settings, channel)
        await exchange.publish(
            message,
            routing_key=settings.routing_key,
            mandatory=settings.mandatory,
            timeout=settings.confirm_timeout_seconds,
        )
    except AmqpDeliveryError:
        raise
    except aiormq.exceptions.PublishError as error:
        # Before DeliveryError, its base: a return, not a nack.
        raise AmqpUnroutableError(
            f"RabbitMQ returned the message for {settings.where()}: no queue is bound to take it "
            f"({_reply_text(error)}; mandatory is on)"
        ) from None
    except aiormq.exceptions.DeliveryError:
        raise AmqpNackError(f"RabbitMQ did not accept the message for {settings.where()} (nack)") from None
    except aiormq.exceptions.ChannelClosed as error:
        if channel is not None:
            shared.drop_channel(channel)
        raise _channel_closed(error, settings) from None
    except asyncio.TimeoutError:
        if channel is None:
            raise AmqpConnectionError(
                f"RabbitMQ did not open a channel within connect_timeout_seconds "
                f"({settings.connection.connect_timeout_seconds} s) for {settings.where()}"
            ) from None
        raise AmqpTimeoutError(
            f"RabbitMQ did not confirm the message for {settings.where()} within confirm_timeout_seconds "
            f"({settings.confirm_timeout_seconds} s); it may still arrive"
        ) from None
    except (aiormq.exceptions.AMQPError, ConnectionError, ssl.SSLError, OSError, RuntimeError) as error:
        # The connection went (a broker restart, a forced close): the robust connection comes back
        # by itself; the channel is opened again by the next dispatch.
        if channel is not None:
            shared.drop_channel(channel)
        raise AmqpConnectionError(
            f"Lost the connection to RabbitMQ for {settings.where()} ({type(error).__name__}: {_reply_text(error)})"
        ) from None


async def close_connections() -> None:
    """Close the running loop's shared connections once the dispatches under way have their confirms.

    Nothing waits in a buffer: every dispatch awaits its own confirm, so this is for a clean shutdown.
    """
    connections = _connections.pop(asyncio.get_running_loop(), {})
    for settings, opening in connections.items():
        try:
            await (await opening).close()
        except Exception as error:
            logger.warning(f"Closing the RabbitMQ connection to {settings.shown_url} failed: {error!r}")
