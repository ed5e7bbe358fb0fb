"""The back-off after an outage: fail fast during the window, then one probe, then recovery."""

import asyncio
import gc

import pytest

from tracardi.process_engine.destination.transport.outages import Outages, _Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Unreachable(ConnectionError):
    pass


ENDPOINT = ("service", "topic")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outages(clock: Clock) -> Outages:
    return Outages(clock)


def test_an_endpoint_never_seen_down_goes_through(outages: Outages) -> None:
    outages.check(ENDPOINT)


def test_within_the_window_the_same_error_is_raised_at_once(outages: Outages, clock: Clock) -> None:
    outages.failed(ENDPOINT, Unreachable("Cannot reach the broker at service for topic"), 5.0)
    clock.now += 2.0
    with pytest.raises(Unreachable) as raised:
        outages.check(ENDPOINT)
    assert str(raised.value) == "Cannot reach the broker at service for topic; not tried again for another 3.0 s"


def test_other_endpoints_are_not_held_back(outages: Outages) -> None:
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    outages.check(("service", "other topic"))


def test_after_the_window_one_probe_goes_through_and_the_others_still_fail(outages: Outages, clock: Clock) -> None:
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    clock.now += 5.0
    outages.check(ENDPOINT)
    with pytest.raises(Unreachable, match="until the attempt under way has finished"):
        outages.check(ENDPOINT)


def test_a_probe_that_gets_through_ends_the_outage(outages: Outages, clock: Clock) -> None:
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    clock.now += 6.0
    outages.check(ENDPOINT)
    outages.succeeded(ENDPOINT)
    outages.check(ENDPOINT)
    outages.check(ENDPOINT)


def test_a_probe_that_fails_starts_a_new_window(outages: Outages, clock: Clock) -> None:
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    clock.now += 6.0
    outages.check(ENDPOINT)
    outages.failed(ENDPOINT, Unreachable("still down"), 5.0)
    clock.now += 4.0
    with pytest.raises(Unreachable, match=r"^still down; not tried again for another 1\.0 s$"):
        outages.check(ENDPOINT)


def test_attempt_records_an_unreachable_endpoint(outages: Outages) -> None:
    with pytest.raises(Unreachable), outages.attempt(ENDPOINT, 5.0, unreachable=(Unreachable,)):
        raise Unreachable("down")
    with pytest.raises(Unreachable, match=r"^down; not tried again"):
        outages.check(ENDPOINT)


def test_attempt_that_succeeds_ends_the_outage(outages: Outages, clock: Clock) -> None:
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    clock.now += 5.0
    with outages.attempt(ENDPOINT, 5.0, unreachable=(Unreachable,)):
        pass
    outages.check(ENDPOINT)


def test_an_answer_even_a_refusal_ends_the_outage(outages: Outages, clock: Clock) -> None:
    # The broker refused the credentials, or the server answered 403: it can be reached.
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    clock.now += 5.0
    with pytest.raises(PermissionError), outages.attempt(ENDPOINT, 5.0, unreachable=(Unreachable,)):
        raise PermissionError("token refused")
    outages.check(ENDPOINT)
    outages.check(ENDPOINT)


def test_a_cancelled_probe_lets_the_next_dispatch_probe(outages: Outages, clock: Clock) -> None:
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    clock.now += 5.0
    with pytest.raises(asyncio.CancelledError), outages.attempt(ENDPOINT, 5.0, unreachable=(Unreachable,)):
        raise asyncio.CancelledError()
    outages.check(ENDPOINT)
    with pytest.raises(Unreachable):
        outages.check(ENDPOINT)


def test_the_window_keeps_the_message_but_not_the_error_and_its_frames(outages: Outages) -> None:
    error = Unreachable("Cannot reach the broker")
    outages.failed(ENDPOINT, error, 5.0)
    referrers = [holder for holder in gc.get_referrers(error) if holder is not error]
    assert not any(isinstance(holder, _Outage) or holder is outages for holder in referrers)
    with pytest.raises(Unreachable, match=r"^Cannot reach the broker; not tried again"):
        outages.check(ENDPOINT)


def test_attempt_within_the_window_fails_before_running_the_block(outages: Outages) -> None:
    outages.failed(ENDPOINT, Unreachable("down"), 5.0)
    ran = []
    with pytest.raises(Unreachable), outages.attempt(ENDPOINT, 5.0, unreachable=(Unreachable,)):
        ran.append(True)
    assert ran == []
