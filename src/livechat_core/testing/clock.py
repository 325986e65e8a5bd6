"""A clock that tests move by hand: ``from livechat_core.testing.clock import ManualClock``."""

from __future__ import annotations

import math

from .._errors import InvalidArgument

DEFAULT_START = 1_767_258_000.0
"""Where a :class:`ManualClock` starts by default: 2026-01-01 09:00 UTC."""


class ManualClock:
    """A controllable clock for a :class:`~livechat_core.Desk`: time moves only when told.

    Pass it as the desk's ``clock`` (it is callable), then move it with :meth:`advance` or
    :meth:`set` and fire the expired deadlines with ``desk.tick()``. Time never runs
    backwards: the desk's deadlines assume it does not.

    >>> clock = ManualClock(100.0)
    >>> clock.advance(30)
    130.0
    >>> clock()
    130.0
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self.now = _finite(start, "start")

    def __call__(self) -> float:
        """The current time, in POSIX seconds."""
        return self.now

    def __repr__(self) -> str:
        return f"ManualClock({self.now!r})"

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward; returns the new time."""
        seconds = _finite(seconds, "seconds")
        if seconds < 0:
            raise InvalidArgument(f"time does not run backwards: advance({seconds!r})")
        self.now += seconds
        return self.now

    def set(self, now: float) -> float:
        """Move the clock forward to ``now``; returns it."""
        now = _finite(now, "now")
        if now < self.now:
            raise InvalidArgument(f"time does not run backwards: {now!r} < {self.now!r}")
        self.now = now
        return now


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number of seconds, not {value!r}")
    return float(value)
