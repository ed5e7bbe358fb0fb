"""Endpoints that could not be reached lately, so that dispatches fail at once for a while.

Tracardi awaits a destination inside the /track request, so while a broker or an API is away,
every tracked event would wait the whole connect timeout. Instead the first dispatch that
cannot reach the endpoint pays that timeout and its error is remembered; for the back-off
window after it, dispatches to the same endpoint fail at once with the same error. When the
window has passed, one dispatch tries again (the probe) while the others keep failing fast,
and once it gets through, dispatches flow again.

One rule for every transport: an endpoint is unreachable when it could not be connected to or
did not answer in time; any answer, a refusal or an error among them, shows that it can be
reached and ends its window; a dispatch cancelled on the way says nothing either way.
"""

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _Outage:
    # The error's type and message, not the error: its traceback holds the frames of the failed
    # dispatch, body and credentials included, for as long as the endpoint stays away.
    error_type: type[Exception]
    message: str
    until: float
    probing: bool = False


class Outages:
    """The endpoints of one transport that could not be reached, by whatever key names them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._outages: dict[Hashable, _Outage] = {}

    def check(self, key: Hashable) -> None:
        """Raise the remembered error while `key` is in its window or another dispatch probes it.

        After the window, the first caller goes through as the probe and must report with
        failed() or succeeded(), or release() when its outcome says nothing about the endpoint.
        """
        outage = self._outages.get(key)
        if outage is None:
            return
        left = outage.until - self._clock()
        if left <= 0 and not outage.probing:
            outage.probing = True
            return
        wait = f"another {left:.1f} s" if left > 0 else "until the attempt under way has finished"
        raise outage.error_type(f"{outage.message}; not tried again for {wait}")

    def failed(self, key: Hashable, error: Exception, window_seconds: float) -> None:
        """`key` could not be reached: fail fast for `window_seconds` from now."""
        self._outages[key] = _Outage(type(error), str(error), self._clock() + window_seconds)

    def succeeded(self, key: Hashable) -> None:
        self._outages.pop(key, None)

    def release(self, key: Hashable) -> None:
        """The probe ended without news of the endpoint; the next dispatch probes again."""
        outage = self._outages.get(key)
        if outage is not None:
            outage.probing = False

    def attempt(
        self,
        key: Hashable,
        window_seconds: float,
        unreachable: tuple[type[Exception], ...],
    ) -> "_Attempt":
        """check(), then report how the `with` block went: an `unreachable` error starts a window;
        success or any other error (the endpoint answered) ends one; a cancelled dispatch says
        nothing. Checks that need no endpoint (settings, payload) belong before the block."""
        # It wraps every dispatch, and while every endpoint answers there is nothing to check.
        if self._outages:
            self.check(key)
        return _Attempt(self, key, window_seconds, unreachable)


class _Attempt:
    # A plain class, not @contextmanager: it wraps every dispatch, and a generator costs more.
    __slots__ = ("key", "outages", "unreachable", "window_seconds")

    def __init__(
        self,
        outages: Outages,
        key: Hashable,
        window_seconds: float,
        unreachable: tuple[type[Exception], ...],
    ) -> None:
        self.outages = outages
        self.key = key
        self.window_seconds = window_seconds
        self.unreachable = unreachable

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        if error is None:
            # The endpoint answered; while none is away, no window is there to end.
            if self.outages._outages:
                self.outages.succeeded(self.key)
        elif isinstance(error, self.unreachable):
            self.outages.failed(self.key, error, self.window_seconds)
        elif isinstance(error, Exception):
            self.outages.succeeded(self.key)
        else:
            self.outages.release(self.key)
