"""HTTP delivery on aiohttp, shared by every http destination of the checkout.

Tracardi builds a new connector for every dispatch, so connections cannot live on the connector.
Each running event loop has one aiohttp ClientSession, created on a dispatch's first need of it
and shared by every later dispatch on that loop, whichever destination makes it; the URL,
headers, auth, timeouts and TLS setting go with each request (HttpSettings, which also name the
destination for its errors and its User-Agent), so one session, and its keep-alive connections,
serves every destination. close_http_sessions() closes the running loop's session; a loop ended
by asyncio.run (or by any runner that finalises async generators) closes its own on the way out.

A dispatch is one request, its body serialised and signed once and sent with one Idempotency-Key
on every attempt. Answers and failures that may pass (408, 425, 429, most 5xx, lost connections,
timeouts) are retried with full-jitter exponential back-off or the server's Retry-After, within
max_attempts and deadline_seconds. An endpoint that could not be reached fails the dispatches
after it at once for unreachable_backoff_seconds, whichever destination sends them, because
Tracardi waits for every dispatch inside the /track request.
"""

import asyncio
import base64
import email.utils
import functools
import hashlib
import hmac
import itertools
import os
import random
import re
import socket
import ssl
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import aiohttp
from pydantic import SecretStr
from yarl import URL

from tracardi.exceptions.log_handler import get_logger
from tracardi.process_engine.destination.transport import tls
from tracardi.process_engine.destination.transport.outages import Outages

logger = get_logger(__name__)

# Tracardi-<resource type>-destination, then this: the User-Agent of every request.
USER_AGENT_CLIENT = f"aiohttp/{aiohttp.__version__}"

# The session is the process's, shared by every destination on the loop, so these are too: one
# endpoint may use as many connections as a busy worker has tracks in flight, and leaves a third
# of the pool to the other destinations.
CONNECTION_LIMIT = 100
CONNECTION_LIMIT_PER_HOST = 64

SIGNATURE_HEADER = "X-Signature-256"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Set by this module on every request; a settings header may not take their place.
OWN_HEADERS = ("Authorization", "Content-Type", "Content-Length", "Host", IDEMPOTENCY_HEADER, SIGNATURE_HEADER)

# 501 Not Implemented and 505 HTTP Version Not Supported will not pass by themselves.
RETRIED_STATUSES = frozenset({408, 425, 429, *range(500, 600)} - {501, 505})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
RESPONSE_EXCERPT_CHARACTERS = 300
# Enough of an error response's body for the excerpt, whatever its encoding.
RESPONSE_EXCERPT_BYTES = 4 * RESPONSE_EXCERPT_CHARACTERS
# Most of a 2xx answer's body read so that its connection can serve another request; a longer
# one (or an endless one) closes the connection instead of holding up the dispatch.
DRAIN_LIMIT_BYTES = 64 * 1024


class HttpDeliveryError(Exception):
    """A record was not delivered over HTTP."""


class HttpSettingsError(HttpDeliveryError, ValueError):
    """Settings that cannot make a request: the URL, headers, auth or limits."""


class HttpPayloadError(HttpDeliveryError, ValueError):
    """A body larger than max_body_bytes; it was not sent."""


class HttpAuthError(HttpDeliveryError, PermissionError):
    """The server refused the credentials (401 or 403); not retried."""


class HttpRejectedError(HttpDeliveryError):
    """The server refused the request for good (other 4xx, or a redirect, which is not followed)."""


class HttpRateLimitedError(HttpDeliveryError):
    """The server kept answering 429 Too Many Requests."""


class HttpServerError(HttpDeliveryError):
    """The server kept failing (5xx, 408 or 425)."""


class HttpTimeoutError(HttpDeliveryError, TimeoutError):
    """No connection, or no complete response, in time."""


class HttpConnectionError(HttpDeliveryError, ConnectionError):
    """The server could not be reached: refused, unresolvable, reset or failed TLS."""


class HttpCertificateError(HttpDeliveryError):
    """The server's TLS certificate did not verify against the CAs trusted; not retried, and no outage:
    the server answered, with a certificate that the settings must be made to trust."""


class HttpDeadlineError(HttpTimeoutError):
    """deadline_seconds passed before the next attempt could start, so none was started.

    `last_failure` is the error type of the attempt before, if there was one: whether the
    endpoint answered it decides, as for any other failure, whether its outage window opens.
    """

    def __init__(self, message: str, last_failure: type[HttpDeliveryError] | None = None) -> None:
        super().__init__(message)
        self.last_failure = last_failure


# What makes an endpoint unreachable for the back-off window; an answer, even 5xx, does not.
UNREACHABLE = (HttpConnectionError, HttpTimeoutError)


class HttpSettings(NamedTuple):
    """Everything one dispatch's request needs, from the credentials and the init settings.

    `destination` is the destination's name as Tracardi users see it, which begins every error
    and warning; `resource_type` its resource type id, which the User-Agent names. A tuple,
    because one is built for every dispatch. No field has a default, and none is checked for its
    range here: the destination's models own both (their Field bounds and choices), so the
    values are those the models validated.
    """

    destination: str
    resource_type: str
    url: str
    method: str
    auth_type: str
    token: str | None
    username: str | None
    password: str | None
    api_key_header: str
    signing_secret: str | None
    # Pairs rather than a dict, so that settings can be told apart by hash and checked once.
    headers: tuple[tuple[str, str], ...]
    timeout_seconds: float
    connect_timeout_seconds: float
    max_attempts: int
    deadline_seconds: float
    max_retry_after_seconds: float
    verify_tls: bool
    # A PEM file of the certificate authorities to trust with https://; "" for the system's.
    ssl_ca_file: str
    max_body_bytes: int
    unreachable_backoff_seconds: float

    def __repr__(self) -> str:
        # Secrets, header values and query values stay out of logs and tracebacks.
        shown = self._replace(
            url=_shown(self.url),
            token=_hidden(self.token),
            password=_hidden(self.password),
            signing_secret=_hidden(self.signing_secret),
            headers=tuple((name, "***") for name, _ in self.headers),
        )
        fields = ", ".join(f"{name}={value!r}" for name, value in shown._asdict().items())
        return f"HttpSettings({fields})"


def _hidden(secret: str | None) -> str | None:
    return "***" if secret else secret


class CredentialsFields(Protocol):
    """What http_settings() reads of an HTTP destination's credentials model."""

    @property
    def url(self) -> object: ...

    @property
    def auth_type(self) -> str: ...

    @property
    def token(self) -> SecretStr | None: ...

    @property
    def username(self) -> str | None: ...

    @property
    def password(self) -> SecretStr | None: ...

    @property
    def api_key_header(self) -> str: ...

    @property
    def signing_secret(self) -> SecretStr | None: ...

    @property
    def ssl_ca_file(self) -> str: ...


class ConfigurationFields(Protocol):
    """What http_settings() reads of an HTTP destination's init model."""

    @property
    def method(self) -> str: ...

    @property
    def headers(self) -> dict[str, str]: ...

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def connect_timeout_seconds(self) -> float: ...

    @property
    def max_attempts(self) -> int: ...

    @property
    def deadline_seconds(self) -> float: ...

    @property
    def max_retry_after_seconds(self) -> float: ...

    @property
    def verify_tls(self) -> bool: ...

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def unreachable_backoff_seconds(self) -> float: ...


def http_settings(
    destination: str, resource_type: str, credentials: CredentialsFields, configuration: ConfigurationFields
) -> HttpSettings:
    """The request settings a destination's validated models ask for.

    Every HTTP destination has these fields, their names and types fixed by the transport; a
    connector binds its name and resource type (functools.partial) and derives these once.
    """
    return HttpSettings(
        destination=destination,
        resource_type=resource_type,
        url=str(credentials.url),
        method=configuration.method,
        auth_type=credentials.auth_type,
        token=_secret(credentials.token),
        username=credentials.username,
        password=_secret(credentials.password),
        api_key_header=credentials.api_key_header,
        signing_secret=_secret(credentials.signing_secret),
        headers=tuple(configuration.headers.items()),
        timeout_seconds=configuration.timeout_seconds,
        connect_timeout_seconds=configuration.connect_timeout_seconds,
        max_attempts=configuration.max_attempts,
        deadline_seconds=configuration.deadline_seconds,
        max_retry_after_seconds=configuration.max_retry_after_seconds,
        verify_tls=configuration.verify_tls,
        ssl_ca_file=credentials.ssl_ca_file,
        max_body_bytes=configuration.max_body_bytes,
        unreachable_backoff_seconds=configuration.unreachable_backoff_seconds,
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class Timing:
    """Where retries take the time, the waits and the jitter from; tests hand in their own."""

    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    uniform: Callable[[float, float], float] = random.uniform


TIMING = Timing()


# Scheme, host and port: what the back-off window and the fair gate are kept for.
Endpoint = tuple[str, str | None, int | None]


class PreparedRequest(NamedTuple):
    """A request ready for its attempts: checked, serialised and signed once."""

    method: str
    url: URL
    headers: dict[str, str]
    body: bytes
    # The verifying context of the settings' CAs, or False when verify_tls is off.
    ssl: ssl.SSLContext | bool
    connect_timeout_seconds: float
    # The settings' own timeouts, made once: an attempt with all of timeout_seconds uses them.
    timeout: aiohttp.ClientTimeout
    endpoint: Endpoint
    # What the certificates were checked against, for the error when one does not verify.
    ssl_ca_file: str

    @property
    def shown_url(self) -> str:
        return shown_url(self.url)


class AttemptFailed(Exception):
    """One attempt's failure, before it is known whether another attempt follows."""

    def __init__(
        self,
        error_type: type[HttpDeliveryError],
        problem: str,
        retried: bool = True,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(problem)
        self.error_type = error_type
        self.problem = problem
        self.retried = retried
        self.retry_after = retry_after


SendOnce = Callable[[PreparedRequest, float], Awaitable[None]]


def shown_url(url: URL) -> str:
    """The URL as errors and logs show it: no userinfo, no fragment, query values hidden."""
    shown = url.with_user(None).with_password(None).with_fragment(None).with_query(None)
    if url.query_string:
        hidden = "&".join(f"{name}=***" for name in url.query)
        return f"{shown}?{hidden}"
    return str(shown)


def backoff_seconds(failed_attempts: int, uniform: Callable[[float, float], float]) -> float:
    """Full jitter: anything from nothing to the exponential step, so retrying clients spread out."""
    return uniform(0.0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (failed_attempts - 1)))


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A Retry-After header in seconds, given as seconds or as an HTTP date; None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def _settings_error(settings: HttpSettings, problem: str) -> HttpSettingsError:
    return HttpSettingsError(f"{settings.destination}: cannot send {settings.method} {_shown(settings.url)}: {problem}")


def _shown(url: str) -> str:
    try:
        return shown_url(URL(url))
    except ValueError:
        return "<an invalid URL>"


@functools.lru_cache(maxsize=256)
def _parsed_url(text: str) -> URL:
    # Parsed once per URL: every dispatch to a destination sends to the same one.
    return URL(text)


def _checked_url(settings: HttpSettings) -> URL:
    try:
        url = _parsed_url(settings.url)
    except ValueError:
        raise _settings_error(settings, "the url is not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise _settings_error(settings, "the url must be an http:// or https:// URL with a host")
    if url.user is not None or url.password is not None:
        raise _settings_error(settings, "the url may not hold a user name or password; use auth_type")
    return url


# What a product token may hold (RFC 9110's tchar); any other run of characters becomes a dash.
_NOT_IN_A_TOKEN = re.compile(r"[^A-Za-z0-9!#$%&'*+.^_`|~-]+")


def user_agent(resource_type: str) -> str:
    """Tracardi-<resource type>-destination aiohttp/<version>: ASCII, and safe in a header."""
    product = _NOT_IN_A_TOKEN.sub("-", resource_type).strip("-")
    return f"Tracardi-{product + '-' if product else ''}destination {USER_AGENT_CLIENT}"


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text


def _auth_headers(settings: HttpSettings) -> dict[str, str]:
    if settings.auth_type == "none":
        return {}
    if settings.auth_type == "basic":
        if not settings.username or settings.password is None:
            raise _settings_error(settings, "auth_type basic needs a username and a password")
        if ":" in settings.username or _has_line_break(settings.username + settings.password):
            raise _settings_error(settings, "the username may not hold a colon or a line break")
        pair = f"{settings.username}:{settings.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if not settings.token:
        raise _settings_error(settings, f"auth_type {settings.auth_type} needs a token")
    if _has_line_break(settings.token):
        raise _settings_error(settings, "the token may not hold a line break")
    if settings.auth_type == "bearer":
        return {"Authorization": f"Bearer {settings.token}"}
    return {settings.api_key_header: settings.token}


def _check_api_key_header(settings: HttpSettings) -> None:
    if not settings.api_key_header.isascii() or not settings.api_key_header.replace("-", "").isalnum():
        raise _settings_error(settings, "api_key_header must be a header name (ASCII letters, digits and dashes)")


def _settings_headers(settings: HttpSettings) -> dict[str, str]:
    reserved = {name.lower() for name in (*OWN_HEADERS, settings.api_key_header)}
    headers: dict[str, str] = {}
    for name, value in settings.headers:
        if name.lower() in reserved:
            raise _settings_error(settings, f"the header {name} is set by the destination and may not be overridden")
        if not name or not name.isascii() or not name.replace("-", "").replace("_", "").isalnum():
            raise _settings_error(settings, f"the header name {name!r} is not a header name")
        if _has_line_break(value):
            raise _settings_error(settings, f"the value of the header {name} holds a line break")
        headers[name] = value
    return headers


class _RequestParts(NamedTuple):
    url: URL
    endpoint: Endpoint
    headers: dict[str, str]
    timeout: aiohttp.ClientTimeout
    ssl: ssl.SSLContext | bool


def _tls(settings: HttpSettings, url: URL) -> ssl.SSLContext | bool:
    if not settings.ssl_ca_file:
        return tls.client_context("") if settings.verify_tls else False
    # Whoever names a CA file expects its certificates checked: say so rather than ignore it.
    if url.scheme != "https":
        raise _settings_error(settings, "ssl_ca_file is set, but the url is not https://; leave it empty for http://")
    if not settings.verify_tls:
        raise _settings_error(
            settings, "ssl_ca_file is set, but verify_tls is off; turn it on or leave ssl_ca_file empty"
        )
    try:
        return tls.client_context(settings.ssl_ca_file)
    except tls.CertificateFileError as error:
        raise _settings_error(settings, str(error)) from None


@functools.lru_cache(maxsize=256)
def _checked(settings: HttpSettings) -> _RequestParts:
    """What every request with these settings carries, checked and built once."""
    _check_api_key_header(settings)
    url = _checked_url(settings)
    headers = _settings_headers(settings)
    # Here rather than as the session's default, which aiohttp would merge into every request.
    if not any(name.lower() == "user-agent" for name in headers):
        headers["User-Agent"] = user_agent(settings.resource_type)
    headers.update(_auth_headers(settings))
    headers["Content-Type"] = "application/json"
    timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds, sock_connect=settings.connect_timeout_seconds)
    return _RequestParts(url, (url.scheme, url.host, url.port), headers, timeout, _tls(settings, url))


# Idempotency keys are version 4 UUIDs whose first 24 characters, version and variant included,
# are drawn once per process and whose last 12 digits count: unique without drawing 122 random
# bits for every dispatch. A forked child draws its own, or it would repeat its parent's keys.
KEY_COUNTER_MASK = 0xFFFF_FFFF_FFFF
_key_prefix = ""
_key_numbers = itertools.count()


def _new_idempotency_keys() -> None:
    global _key_prefix, _key_numbers
    _key_prefix = str(uuid.uuid4())[:24]
    _key_numbers = itertools.count()


_new_idempotency_keys()
os.register_at_fork(after_in_child=_new_idempotency_keys)


def idempotency_key() -> str:
    """A key no other dispatch gets, laid out as a random UUID; unique, not secret."""
    return f"{_key_prefix}{next(_key_numbers) & KEY_COUNTER_MASK:012x}"


def prepare(settings: HttpSettings, body: bytes, extra_headers: Mapping[str, str]) -> PreparedRequest:
    """Check the settings and build the request every attempt sends, before anything is sent."""
    url, endpoint, fixed_headers, timeout, tls_context = _checked(settings)
    if len(body) > settings.max_body_bytes:
        raise HttpPayloadError(
            f"{settings.destination}: the body for {settings.method} {shown_url(url)} is {len(body)} bytes, "
            f"more than max_body_bytes ({settings.max_body_bytes}); it was not sent"
        )
    headers = {**extra_headers, **fixed_headers, IDEMPOTENCY_HEADER: idempotency_key()}
    if settings.signing_secret:
        digest = hmac.new(settings.signing_secret.encode(), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    # By position: keywords would double what building it costs, once per dispatch.
    return PreparedRequest(
        settings.method,
        url,
        headers,
        body,
        tls_context,
        settings.connect_timeout_seconds,
        timeout,
        endpoint,
        settings.ssl_ca_file,
    )


class _FairGate:
    """At most `limit` requests to one endpoint at once; the others go in strictly in turn.

    aiohttp's own per-host limit lets a new request take a connection that was just freed for a
    waiting one, so under load a few dispatches wait for seconds while the rest pass. Here a freed
    place goes to the longest waiting request, and the pool itself never has to make anyone wait.
    One timer serves the whole line, set for its earliest deadline: with a timer for each of
    hundreds of waiters, asyncio's timer heap (which compares its handles in Python) cost a
    third of the throughput at 256 concurrent.
    """

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: deque[tuple[asyncio.Future[None], float]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def try_enter(self) -> bool:
        """Take a place if one is free and nobody waits for it; no coroutine for the common case."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def enter(self, timeout_seconds: float) -> None:
        """Take a place, or raise asyncio.TimeoutError if none frees up in time."""
        if self.try_enter():
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        deadline = loop.time() + timeout_seconds
        self._waiters.append((waiter, deadline))
        if self._timer is None or deadline < self._timer.when():
            self._set_timer(loop, deadline)
        try:
            await waiter
        except asyncio.CancelledError:
            # Given a place just as the dispatch was cancelled: pass it on. A waiter whose time
            # ran out in the same turn holds none (its future has the TimeoutError), and giving
            # one back would let one request more in than the limit.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.leave()
            raise

    def leave(self) -> None:
        while self._waiters:
            waiter, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def _set_timer(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire_due, loop)

    def _expire_due(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail the waiters whose deadline has come; set the timer for the next one's."""
        self._timer = None
        now = loop.time()
        upcoming = [deadline for waiter, deadline in self._waiters if not waiter.done() and deadline > now]
        for waiter, deadline in self._waiters:
            if not waiter.done() and deadline <= now:
                waiter.set_exception(asyncio.TimeoutError())
        if upcoming:
            self._set_timer(loop, min(upcoming))


class _LoopSession(NamedTuple):
    session: aiohttp.ClientSession
    # Suspended until its loop finalises async generators, then closes the session.
    closer: AsyncGenerator[None, None]
    gates: dict[Endpoint, _FairGate]


_sessions: dict[asyncio.AbstractEventLoop, _LoopSession] = {}


async def _close_at_loop_end(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()
        # Lets the closed connections' transports finish closing (aiohttp before 3.12 leaves it).
        await asyncio.sleep(0)


async def http_session() -> aiohttp.ClientSession:
    """The running loop's shared session, created on first use or after it was closed."""
    return (await _loop_session()).session


async def _loop_session() -> _LoopSession:
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is not None and not entry.session.closed:
        return entry
    for closed_loop in [other for other in _sessions if other.is_closed()]:
        del _sessions[closed_loop]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONNECTION_LIMIT, limit_per_host=CONNECTION_LIMIT_PER_HOST),
        # Cookies one endpoint sets must never travel to another destination's requests.
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    closer = _close_at_loop_end(session)
    entry = _sessions[loop] = _LoopSession(session, closer, {})
    # Runs to the generator's yield without giving up the loop, so no dispatch sees half of this.
    await closer.__anext__()
    return entry


async def close_http_sessions() -> None:
    """Close the running loop's shared session; the next dispatch opens a new one. Safe to repeat."""
    entry = _sessions.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry.closer.aclose()


def _connection_problem(error: aiohttp.ClientError, url: URL, ca_file: str) -> AttemptFailed:
    where = f"{url.host}:{url.port}"
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        refused = tls.verification_failure(error.certificate_error)
        if refused is not None:
            return AttemptFailed(HttpCertificateError, tls.refusal(where, refused, ca_file), retried=False)
        return AttemptFailed(HttpCertificateError, f"the TLS certificate of {where} was not accepted", retried=False)
    if isinstance(error, (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch)):
        return AttemptFailed(HttpConnectionError, f"the TLS handshake with {where} failed", retried=False)
    if isinstance(error, aiohttp.ClientConnectorError):
        if isinstance(error.os_error, socket.gaierror):
            return AttemptFailed(HttpConnectionError, f"cannot resolve the host of {where}")
        number = error.os_error.errno
        reason = os.strerror(number) if number else type(error.os_error).__name__
        return AttemptFailed(HttpConnectionError, f"cannot connect to {where}: {reason.lower()}")
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return AttemptFailed(HttpConnectionError, f"{where} closed the connection without an answer")
    if isinstance(error, aiohttp.ClientPayloadError):
        return AttemptFailed(HttpConnectionError, f"the response from {where} broke off")
    if isinstance(error, aiohttp.ClientConnectionError):
        return AttemptFailed(HttpConnectionError, f"the connection to {where} was lost or reset")
    return AttemptFailed(HttpDeliveryError, f"aiohttp failed ({type(error).__name__})", retried=False)


def _status_problem(status: int, reason: str | None, excerpt: bytes, retry_after: str | None) -> AttemptFailed:
    answer = f"HTTP {status} {reason or ''}".rstrip()
    if status in (401, 403):
        return AttemptFailed(HttpAuthError, f"{answer}: the credentials were refused", retried=False)
    if status == 429:
        return AttemptFailed(HttpRateLimitedError, f"{answer}: rate limited", retry_after=retry_after)
    if status in RETRIED_STATUSES:
        return AttemptFailed(HttpServerError, f"{answer}: server error", retry_after=retry_after)
    text = excerpt.decode("utf-8", errors="replace")
    text = " ".join(text.split())[:RESPONSE_EXCERPT_CHARACTERS]
    problem = f"{answer}: rejected" + (f"; the response began: {text}" if text else "")
    return AttemptFailed(HttpRejectedError, problem, retried=False)


async def send_once(request: PreparedRequest, timeout_seconds: float) -> None:
    """One attempt: the request, its response read and released; AttemptFailed unless 2xx."""
    entry = _sessions.get(asyncio.get_running_loop())
    if entry is None or entry.session.closed:
        entry = await _loop_session()
    if not timeout_seconds > 0:
        # aiohttp takes a total timeout of 0 or less for none at all: such a request could wait for ever.
        where = f"{request.url.host}:{request.url.port}"
        raise AttemptFailed(HttpTimeoutError, f"no time left for a request to {where}")
    gate = entry.gates.get(request.endpoint)
    if gate is None:
        gate = entry.gates[request.endpoint] = _FairGate(CONNECTION_LIMIT_PER_HOST)
    left = timeout_seconds if gate.try_enter() else await _wait_for_place(gate, request, timeout_seconds)
    # A first attempt that found a free connection has the settings' whole timeout: their object.
    if left == request.timeout.total:
        timeout = request.timeout
    else:
        timeout = aiohttp.ClientTimeout(total=left, sock_connect=request.connect_timeout_seconds)
    # One coroutine for the gate and the request: every frame here is paid on every dispatch.
    status = None
    try:
        async with entry.session.request(
            request.method,
            request.url,
            data=request.body,
            headers=request.headers,
            allow_redirects=False,
            ssl=request.ssl,
            timeout=timeout,
        ) as response:
            status = response.status
            if 200 <= status < 300:
                # Read to the end, so that the connection can serve the next request: whole when
                # it says it is short, as almost every answer is, else only so far.
                length = response.content_length
                if length is not None and length <= DRAIN_LIMIT_BYTES:
                    await response.read()
                else:
                    await _drain(response)
                return
            excerpt = await response.content.read(RESPONSE_EXCERPT_BYTES)
            raise _status_problem(status, response.reason, excerpt, response.headers.get("Retry-After"))
    except aiohttp.ServerTimeoutError:
        # Only the connect timeout is aiohttp's own; the total one is a plain TimeoutError.
        connect = request.connect_timeout_seconds
        raise AttemptFailed(
            HttpTimeoutError, f"no connection to {request.url.host}:{request.url.port} within {connect:g} s"
        ) from None
    except asyncio.TimeoutError:
        phase = "for the response" if status is None else f"for the rest of the HTTP {status} response"
        raise AttemptFailed(HttpTimeoutError, f"timed out after {timeout.total:.2f} s waiting {phase}") from None
    except aiohttp.ClientError as error:
        raise _connection_problem(error, request.url, request.ssl_ca_file) from None
    except ssl.SSLError:
        where = f"{request.url.host}:{request.url.port}"
        raise AttemptFailed(HttpConnectionError, f"the TLS connection to {where} failed", retried=False) from None
    finally:
        gate.leave()


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a 2xx body of unknown or great length up to DRAIN_LIMIT_BYTES, then release its
    connection if that was all, or close it: the rest is not worth the dispatch's time."""
    content = response.content
    drained = 0
    while drained < DRAIN_LIMIT_BYTES and not content.at_eof():
        drained += len(await content.read(DRAIN_LIMIT_BYTES - drained))
    if content.at_eof():
        await response.read()  # Nothing is left: this releases the connection as a whole read does.
    else:
        response.close()


async def _wait_for_place(gate: _FairGate, request: PreparedRequest, timeout_seconds: float) -> float:
    """Wait for the gate; return what is left of the attempt's timeout, which is more than 0."""
    started = time.monotonic()
    try:
        await gate.enter(timeout_seconds)
    except asyncio.TimeoutError:
        pass
    else:
        left = timeout_seconds - (time.monotonic() - started)
        if left > 0:
            return left
        # A place came just as the time ran out (the loop was held up past the gate's timer).
        gate.leave()
    where = f"{request.url.host}:{request.url.port}"
    raise AttemptFailed(HttpTimeoutError, f"no free connection to {where} within {timeout_seconds:.2f} s (all in use)")


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


async def send_with_retries(
    request: PreparedRequest,
    settings: HttpSettings,
    timing: Timing,
    attempt: SendOnce = send_once,
) -> None:
    """Send until an attempt succeeds, or fail with the last attempt's error once no retry fits.

    No attempt starts once the deadline has passed (a wait that fitted may end after it, on a
    loop held up): HttpDeadlineError then, rather than an attempt with no time left.
    """
    started = timing.clock()
    deadline = started + settings.deadline_seconds
    attempts = 0
    last: AttemptFailed | None = None
    while True:
        left = deadline - timing.clock()
        if not left > 0:
            raise _deadline_passed(request, settings, attempts, settings.deadline_seconds - left, last)
        attempts += 1
        try:
            await attempt(request, min(settings.timeout_seconds, left))
            return
        except AttemptFailed as failed:
            now = timing.clock()
            wait, stop = _next_wait(failed, attempts, settings, deadline - now, timing)
            if stop is not None:
                raise failed.error_type(
                    f"{settings.destination}: {request.method} {request.shown_url} failed: {failed.problem} "
                    f"({_attempts(attempts)} in {now - started:.2f} s; {stop})"
                ) from None
            logger.warning(
                f"{settings.destination}: attempt {attempts} of {settings.max_attempts} of {request.method} "
                f"{request.shown_url} failed: {failed.problem}; retrying in {wait:.2f} s"
            )
            last = failed
            await timing.sleep(wait)


def _deadline_passed(
    request: PreparedRequest, settings: HttpSettings, attempts: int, elapsed: float, last: AttemptFailed | None
) -> HttpDeadlineError:
    before = f"{last.problem}; then " if last is not None else ""
    return HttpDeadlineError(
        f"{settings.destination}: {request.method} {request.shown_url} failed: {before}deadline_seconds "
        f"({settings.deadline_seconds:g} s) passed before attempt {attempts + 1} could start "
        f"({_attempts(attempts)} in {elapsed:.2f} s)",
        last.error_type if last is not None else None,
    )


def _next_wait(
    failed: AttemptFailed, attempts: int, settings: HttpSettings, left: float, timing: Timing
) -> tuple[float, str | None]:
    """How long to wait before the next attempt, or why there is none."""
    if not failed.retried:
        return 0.0, "not retried"
    if attempts >= settings.max_attempts:
        return 0.0, f"max_attempts is {settings.max_attempts}"
    asked = retry_after_seconds(failed.retry_after, timing.wall_clock())
    if asked is not None and asked > settings.max_retry_after_seconds:
        limit = settings.max_retry_after_seconds
        return asked, f"Retry-After asks for {asked:g} s, more than max_retry_after_seconds ({limit:g} s)"
    wait = asked if asked is not None else backoff_seconds(attempts, timing.uniform)
    if wait >= left:
        return wait, f"waiting {wait:.2f} s more would pass deadline_seconds ({settings.deadline_seconds:g} s)"
    return wait, None


# Endpoints (scheme, host, port) that could not be reached lately.
outages = Outages()


async def deliver(
    settings: HttpSettings,
    body: bytes,
    extra_headers: Mapping[str, str],
    *,
    timing: Timing | None = None,
) -> None:
    """Send `body` as JSON with the settings' method to their URL; return once a 2xx answer came."""
    request = prepare(settings, body, extra_headers)
    endpoint = request.endpoint
    outages.check(endpoint)
    try:
        await send_with_retries(request, settings, timing or TIMING)
    except HttpDeadlineError as error:
        # The attempt before tells whether the endpoint answered; with none, nothing is known.
        if error.last_failure is None:
            outages.release(endpoint)
        elif issubclass(error.last_failure, UNREACHABLE):
            outages.failed(endpoint, error, settings.unreachable_backoff_seconds)
        else:
            outages.succeeded(endpoint)
        raise
    except UNREACHABLE as error:
        outages.failed(endpoint, error, settings.unreachable_backoff_seconds)
        raise
    except HttpDeliveryError:
        # An answer, even a refusal or a 5xx, shows that the endpoint can be reached.
        outages.succeeded(endpoint)
        raise
    except BaseException:
        outages.release(endpoint)
        raise
    outages.succeeded(endpoint)
