"""Tests of the shared HTTP delivery that need no server, through its own API (no connector).

Retries run against scripted attempts with a fake clock, fake sleeps and a fixed jitter, so no
test waits for a real back-off.
"""

import asyncio
import base64
import email.utils
import hashlib
import hmac
import os
import re
import subprocess
import sys
import uuid
from time import sleep as blocking_sleep

import aiohttp
import pytest

from tracardi.process_engine.destination.transport import http as http_transport
from tracardi.process_engine.destination.transport.http import (
    AttemptFailed,
    HttpAuthError,
    HttpConnectionError,
    HttpDeliveryError,
    HttpPayloadError,
    HttpRateLimitedError,
    HttpRejectedError,
    HttpServerError,
    HttpSettings,
    HttpSettingsError,
    HttpTimeoutError,
    PreparedRequest,
    Timing,
    backoff_seconds,
    prepare,
    retry_after_seconds,
    send_with_retries,
    shown_url,
)

# Every field given: the settings' defaults and bounds are the destination's models', which
# these tests do not have.
SETTINGS = HttpSettings(
    destination="Order hooks",
    resource_type="order-hooks",
    url="https://hooks.example.com/in?team=blue&key=s3cr3t",
    method="POST",
    auth_type="none",
    token=None,
    username=None,
    password=None,
    api_key_header="X-API-Key",
    signing_secret=None,
    headers=(),
    timeout_seconds=10.0,
    connect_timeout_seconds=5.0,
    max_attempts=3,
    deadline_seconds=15.0,
    max_retry_after_seconds=10.0,
    verify_tls=True,
    ssl_ca_file="",
    max_body_bytes=1024 * 1024,
    unreachable_backoff_seconds=5.0,
)
BODY = b'{"email":"ann@example.com"}'
NOW = 1_800_000_000.0


class FakeTime:
    """A clock that only moves when the code under test sleeps, or an attempt takes time."""

    def __init__(self, jitter: float = 1.0) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.jitter = jitter

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.jitter

    def timing(self) -> Timing:
        return Timing(clock=self.clock, wall_clock=lambda: NOW + self.now, sleep=self.sleep, uniform=self.uniform)


class Script:
    """Attempts that fail as scripted, then succeed; each takes `seconds` of fake time."""

    def __init__(self, time: FakeTime, *failures: AttemptFailed, seconds: float = 0.1) -> None:
        self.time = time
        self.failures = list(failures)
        self.seconds = seconds
        self.timeouts: list[float] = []

    async def __call__(self, request: PreparedRequest, timeout_seconds: float) -> None:
        self.timeouts.append(timeout_seconds)
        self.time.now += min(self.seconds, timeout_seconds)
        if self.failures:
            raise self.failures.pop(0)


def server_error(retry_after: str | None = None) -> AttemptFailed:
    return AttemptFailed(HttpServerError, "HTTP 503 Service Unavailable: server error", retry_after=retry_after)


def rate_limited(retry_after: str | None) -> AttemptFailed:
    return AttemptFailed(HttpRateLimitedError, "HTTP 429 Too Many Requests: rate limited", retry_after=retry_after)


async def run(script: Script, settings: HttpSettings = SETTINGS) -> None:
    await send_with_retries(prepare(settings, BODY, {}), settings, script.time.timing(), script)


@pytest.mark.asyncio
async def test_two_failures_then_success_take_three_attempts_with_growing_jittered_waits() -> None:
    time = FakeTime(jitter=0.5)
    script = Script(time, server_error(), server_error())
    await run(script)
    assert len(script.timeouts) == 3
    # uniform(0, 0.5 * 2**n) at jitter 0.5: a quarter of a second, then half of one.
    assert time.sleeps == [0.25, 0.5]


@pytest.mark.asyncio
async def test_always_failing_stops_after_max_attempts_with_a_clear_error() -> None:
    time = FakeTime()
    script = Script(time, *[server_error() for _ in range(5)])
    with pytest.raises(HttpServerError) as raised:
        await run(script, SETTINGS._replace(max_attempts=4))
    assert len(script.timeouts) == 4
    message = str(raised.value)
    assert message.startswith("Order hooks: POST https://hooks.example.com/in?team=***&key=***")
    assert "HTTP 503" in message and "4 attempts in" in message and "max_attempts is 4" in message
    assert "s3cr3t" not in message and "blue" not in message


@pytest.mark.asyncio
async def test_one_warning_per_retry_names_attempt_wait_and_cause(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime(jitter=0.5)
    await run(Script(time, server_error(), server_error()))
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 2
    assert all(warning.startswith("Order hooks: attempt ") for warning in warnings)
    assert "attempt 1 of 3" in warnings[0] and "retrying in 0.25 s" in warnings[0] and "HTTP 503" in warnings[0]
    assert "attempt 2 of 3" in warnings[1] and "retrying in 0.50 s" in warnings[1]
    assert all("s3cr3t" not in warning for warning in warnings)


def test_backoff_is_full_jitter_up_to_eight_seconds() -> None:
    highest = [backoff_seconds(attempt, lambda low, high: high) for attempt in range(1, 8)]
    assert highest == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff_seconds(3, lambda low, high: low) == 0.0


@pytest.mark.asyncio
async def test_retry_after_in_seconds_is_waited_exactly() -> None:
    time = FakeTime()
    await run(Script(time, rate_limited("3")))
    assert time.sleeps == [3.0]


@pytest.mark.asyncio
async def test_retry_after_as_an_http_date_is_waited_until_that_date() -> None:
    time = FakeTime()
    # The date is read when the answer comes, after the attempt's 0.1 s.
    date = email.utils.formatdate(NOW + time.now + 0.1 + 4, usegmt=True)
    await run(Script(time, rate_limited(date)))
    assert time.sleeps == [pytest.approx(4.0, abs=1.0)]


@pytest.mark.asyncio
async def test_retry_after_beyond_max_retry_after_fails_at_once() -> None:
    time = FakeTime()
    script = Script(time, rate_limited("30"))
    with pytest.raises(HttpRateLimitedError, match=r"Retry-After asks for 30 s, more than max_retry_after_seconds"):
        await run(script)
    assert len(script.timeouts) == 1 and time.sleeps == []


@pytest.mark.asyncio
async def test_retry_after_beyond_the_deadline_fails_at_once() -> None:
    time = FakeTime()
    script = Script(time, rate_limited("9"))
    settings = SETTINGS._replace(deadline_seconds=5.0)
    with pytest.raises(HttpRateLimitedError, match="would pass deadline_seconds"):
        await run(script, settings)
    assert len(script.timeouts) == 1 and time.sleeps == []


@pytest.mark.asyncio
async def test_attempts_and_waits_stay_within_the_deadline() -> None:
    time = FakeTime(jitter=1.0)
    failure = AttemptFailed(HttpTimeoutError, "timed out after 2.00 s waiting for the response")
    script = Script(time, *[failure] * 9, seconds=2.0)
    settings = SETTINGS._replace(max_attempts=10, deadline_seconds=6.0, timeout_seconds=4.0)
    with pytest.raises(HttpTimeoutError, match="deadline_seconds"):
        await run(script, settings)
    # Each attempt gets at most what is left of the deadline, and the whole stays within it.
    assert script.timeouts[0] == 4.0
    assert all(timeout <= 6.0 - index for index, timeout in enumerate(script.timeouts))
    assert time.now - 100.0 <= 6.0


class OversleepingTime(FakeTime):
    """A loop so busy that every sleep ends `late` seconds after it should have."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.now += self.late


@pytest.mark.asyncio
async def test_no_attempt_starts_once_the_deadline_has_passed() -> None:
    # The wait of 0.5 s fitted in the 0.9 s left, but the sleep ended past the deadline: an
    # attempt now would get a timeout of 0 or less, which aiohttp takes for no timeout at all.
    time = OversleepingTime(late=1.0)
    script = Script(time, server_error())
    settings = SETTINGS._replace(deadline_seconds=1.0)
    with pytest.raises(HttpTimeoutError) as raised:
        await run(script, settings)
    assert script.timeouts == [1.0]
    message = str(raised.value)
    assert message.startswith("Order hooks: POST https://hooks.example.com/in?team=***&key=*** failed: HTTP 503")
    assert "deadline_seconds (1 s) passed before attempt 2 could start (1 attempt in 1.60 s)" in message


@pytest.mark.asyncio
async def test_a_deadline_passed_before_the_first_attempt_sends_nothing() -> None:
    time = FakeTime()
    readings = iter([100.0, 100.5])
    settings = SETTINGS._replace(deadline_seconds=0.25)
    script = Script(time)
    timing = Timing(clock=lambda: next(readings), sleep=time.sleep, uniform=time.uniform)
    with pytest.raises(HttpTimeoutError, match=r"deadline_seconds \(0\.25 s\) passed before attempt 1 could start"):
        await send_with_retries(prepare(settings, BODY, {}), settings, timing, script)
    assert script.timeouts == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "failure",
    [
        AttemptFailed(HttpAuthError, "HTTP 401 Unauthorized", retried=False),
        AttemptFailed(HttpRejectedError, "HTTP 400 Bad Request: rejected", retried=False),
        AttemptFailed(HttpConnectionError, "the TLS certificate of a:443 was not accepted", retried=False),
    ],
    ids=["auth", "rejected", "tls"],
)
async def test_failures_that_will_not_pass_are_not_retried(failure: AttemptFailed) -> None:
    time = FakeTime()
    script = Script(time, failure)
    with pytest.raises(failure.error_type, match=r"1 attempt in 0\.10 s; not retried"):
        await run(script)
    assert len(script.timeouts) == 1


def test_retry_after_values() -> None:
    assert retry_after_seconds("120", NOW) == 120.0
    assert retry_after_seconds(" 0 ", NOW) == 0.0
    assert retry_after_seconds(email.utils.formatdate(NOW + 30, usegmt=True), NOW) == pytest.approx(30.0)
    assert retry_after_seconds(email.utils.formatdate(NOW - 30, usegmt=True), NOW) == 0.0
    assert retry_after_seconds(None, NOW) is None
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("-5", NOW) is None


def test_shown_url_hides_query_values_and_never_shows_userinfo() -> None:
    from yarl import URL

    assert shown_url(URL("https://ann:pw@example.com:8443/a/b?token=x&y=2#frag")) == (
        "https://example.com:8443/a/b?token=***&y=***"
    )
    assert shown_url(URL("http://example.com/hook")) == "http://example.com/hook"


def test_the_request_is_built_once_with_json_an_idempotency_key_and_the_signature() -> None:
    settings = SETTINGS._replace(signing_secret="sign-me", headers=(("X-Team", "blue"),))
    request = prepare(settings, BODY, {"tracardi-kind": "event"})
    expected = hmac.new(b"sign-me", BODY, hashlib.sha256).hexdigest()
    assert request.body == BODY
    assert request.headers["X-Signature-256"] == f"sha256={expected}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Team"] == "blue" and request.headers["tracardi-kind"] == "event"
    key = request.headers["Idempotency-Key"]
    assert str(uuid.UUID(key)) == key and uuid.UUID(key).version == 4
    assert uuid.UUID(key).variant == uuid.RFC_4122
    assert prepare(settings, BODY, {}).headers["Idempotency-Key"] != request.headers["Idempotency-Key"]


def test_a_forked_worker_makes_idempotency_keys_of_its_own() -> None:
    # Workers forked from a parent that imported the module would otherwise repeat its keys. In a
    # fresh interpreter, because forking this one (pytest may run threads) warns on Python 3.12+.
    script = "\n".join(
        [
            "import os",
            "from tracardi.process_engine.destination.transport.http import idempotency_key",
            "idempotency_key()",
            "read_end, write_end = os.pipe()",
            "if os.fork() == 0:",
            "    os.write(write_end, idempotency_key().encode())",
            "    os._exit(0)",
            "os.wait()",
            "print(idempotency_key(), os.read(read_end, 64).decode())",
        ]
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True)
    parent_key, child_key = done.stdout.split()
    assert parent_key[:24] != child_key[:24]
    assert uuid.UUID(child_key).version == 4 and uuid.UUID(parent_key).version == 4


@pytest.mark.parametrize(
    ("changes", "header", "value"),
    [
        ({"auth_type": "bearer", "token": "t0k"}, "Authorization", "Bearer t0k"),
        ({"auth_type": "api_key", "token": "k3y"}, "X-API-Key", "k3y"),
        ({"auth_type": "api_key", "token": "k3y", "api_key_header": "Api-Token"}, "Api-Token", "k3y"),
        (
            {"auth_type": "basic", "username": "ann", "password": "pw"},
            "Authorization",
            "Basic " + base64.b64encode(b"ann:pw").decode(),
        ),
    ],
    ids=["bearer", "api-key", "api-key-own-header", "basic"],
)
def test_auth_styles(changes: dict[str, str], header: str, value: str) -> None:
    assert prepare(SETTINGS._replace(**changes), BODY, {}).headers[header] == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"url": "ftp://example.com/in"}, "http:// or https://"),
        ({"url": "https://ann:pw@example.com/in"}, "may not hold a user name or password"),
        ({"auth_type": "bearer"}, "auth_type bearer needs a token"),
        ({"auth_type": "basic", "username": "ann"}, "needs a username and a password"),
        ({"headers": (("Authorization", "Bearer mine"),)}, "the header Authorization is set by the destination"),
        ({"headers": (("x-api-key", "mine"),)}, "the header x-api-key is set by the destination"),
        ({"headers": (("X-Signature-256", "sha256=0"),)}, "the header X-Signature-256 is set by the destination"),
        ({"headers": (("X-Note", "one\r\nX-Injected: two"),)}, "holds a line break"),
        ({"headers": (("Bad Name", "x"),)}, "is not a header name"),
    ],
)
def test_settings_that_cannot_make_a_request_are_refused_before_sending(
    changes: dict[str, object], problem: str
) -> None:
    settings = SETTINGS._replace(**changes)  # type: ignore[arg-type]
    with pytest.raises(HttpSettingsError, match=re.escape(problem)) as raised:
        prepare(settings, BODY, {})
    assert str(raised.value).startswith("Order hooks: cannot send ")
    assert "s3cr3t" not in str(raised.value) and ":pw@" not in str(raised.value)


def test_a_body_over_max_body_bytes_is_refused_before_sending() -> None:
    problem = r"^Order hooks: the body .* is 27 bytes, more than max_body_bytes \(10\); it was not sent"
    with pytest.raises(HttpPayloadError, match=problem):
        prepare(SETTINGS._replace(max_body_bytes=10), BODY, {})


def test_every_error_shares_one_base() -> None:
    for error in (HttpSettingsError, HttpPayloadError, HttpAuthError, HttpRejectedError, HttpRateLimitedError):
        assert issubclass(error, HttpDeliveryError)
    assert issubclass(HttpServerError, HttpDeliveryError) and issubclass(HttpTimeoutError, TimeoutError)
    assert issubclass(HttpConnectionError, ConnectionError)


@pytest.mark.parametrize(
    ("resource_type", "product"),
    [
        ("order-hooks", "Tracardi-order-hooks-destination"),
        ("Zürich hooks\r\nX-Injected: 1", "Tracardi-Z-rich-hooks-X-Injected-1-destination"),
        ("漢字", "Tracardi-destination"),
    ],
    ids=["kebab-case", "not-a-token", "nothing-left"],
)
def test_the_user_agent_names_the_resource_type_in_ascii_safe_in_a_header(resource_type: str, product: str) -> None:
    settings = SETTINGS._replace(resource_type=resource_type)
    agent = prepare(settings, BODY, {}).headers["User-Agent"]
    assert agent == f"{product} aiohttp/{aiohttp.__version__}"
    assert agent.isascii() and agent.isprintable()
    # Made once per settings, with the rest of what every request with them carries.
    assert http_transport._checked(settings) is http_transport._checked(SETTINGS._replace(resource_type=resource_type))


def test_a_settings_user_agent_header_is_kept() -> None:
    settings = SETTINGS._replace(headers=(("User-Agent", "acme-relay/2"),))
    assert prepare(settings, BODY, {}).headers["User-Agent"] == "acme-relay/2"


def test_settings_never_show_their_secrets() -> None:
    settings = SETTINGS._replace(token="t0k-hidden", password="pw-hidden", signing_secret="sign-hidden")
    shown = repr(settings)
    assert "-hidden" not in shown and "s3cr3t" not in shown and "hooks.example.com/in?team=***&key=***" in shown


@pytest.mark.asyncio
async def test_a_full_endpoint_lets_waiting_requests_in_strictly_in_turn() -> None:
    gate = http_transport._FairGate(2)
    await gate.enter(1.0)
    await gate.enter(1.0)
    order: list[int] = []

    async def wait_in_turn(number: int) -> None:
        await gate.enter(5.0)
        order.append(number)

    waiting = [asyncio.create_task(wait_in_turn(number)) for number in range(3)]
    await asyncio.sleep(0)
    gate.leave()
    # A place just freed goes to the first in line, not to a newcomer.
    with pytest.raises(asyncio.TimeoutError):
        await gate.enter(0.01)
    gate.leave()
    gate.leave()
    await asyncio.gather(*waiting)
    assert order == [0, 1, 2]


@pytest.mark.asyncio
async def test_each_waiter_times_out_at_its_own_deadline_and_the_others_keep_their_turn() -> None:
    gate = http_transport._FairGate(1)
    await gate.enter(1.0)
    loop = asyncio.get_running_loop()
    patient = asyncio.create_task(gate.enter(5.0))
    hasty = asyncio.create_task(gate.enter(0.05))
    started = loop.time()
    # In line after the patient one, with the earlier deadline: the one timer moves up for it.
    with pytest.raises(asyncio.TimeoutError):
        await hasty
    assert 0.04 <= loop.time() - started < 1.0
    assert not patient.done()
    gate.leave()
    await asyncio.wait_for(patient, 1.0)
    gate.leave()
    assert gate.try_enter()


class Inside:
    """Counts the dispatches inside a gate, and the most there ever were at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def hold(self, gate: http_transport._FairGate, seconds: float) -> None:
        await gate.enter(5.0)
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(seconds)
        self.now -= 1
        gate.leave()


@pytest.mark.asyncio
async def test_waiters_timing_out_as_they_are_cancelled_never_let_more_than_the_limit_in() -> None:
    gate = http_transport._FairGate(2)
    inside = Inside()
    holders = [asyncio.create_task(inside.hold(gate, 0.3)) for _ in range(2)]
    waiters = [asyncio.create_task(gate.enter(0.05)) for _ in range(50)]
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    # Due just after every waiter's deadline: with the loop held up past both, the gate's timer
    # fails the waiters and this cancels them in the same turn, before any of them resumes.
    loop.call_at(loop.time() + 0.06, lambda: [waiter.cancel() for waiter in waiters])
    blocking_sleep(0.1)
    await asyncio.gather(*waiters, return_exceptions=True)
    assert all(waiter.cancelled() for waiter in waiters)
    # Neither place was given back by a waiter that never held it: both are still the holders'.
    assert not gate.try_enter()
    latecomers = [asyncio.create_task(inside.hold(gate, 0.01)) for _ in range(20)]
    await asyncio.gather(*holders, *latecomers)
    assert inside.most == 2 and inside.now == 0
    assert gate.try_enter() and gate.try_enter() and not gate.try_enter()


@pytest.mark.asyncio
async def test_a_waiter_given_a_place_as_it_is_cancelled_passes_the_place_on() -> None:
    gate = http_transport._FairGate(1)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter(5.0))
    second = asyncio.create_task(gate.enter(5.0))
    await asyncio.sleep(0)
    # In one turn: the place goes to the first in line, which is then cancelled before it resumes.
    gate.leave()
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert first.cancelled()
    await asyncio.wait_for(second, 1.0)
    assert not gate.try_enter()
    gate.leave()
    assert gate.try_enter()
