"""Clocks the kernel can run on.

The kernel never calls ``time.monotonic`` itself: every sleep, timeout and
protocol delay reads the clock it was given (``Kernel(clock=...)``).
:class:`SystemClock` is the real one; :class:`MockClock` only moves when told
to (``jump()``) or, with auto-jump, whenever every task is blocked, so tests of
a 250 ms delay run in microseconds and can assert exact virtual times.

Any object with the three methods of :class:`Clock` can drive a kernel.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "MockClock"]


@runtime_checkable
class Clock(Protocol):
    """What the kernel needs from a clock (``Kernel(clock=...)``).

    The kernel reads the time only through :meth:`current_time`, and asks the
    clock how long it may block, so a virtual clock can decide when time
    passes.
    """

    def current_time(self) -> float:
        """The clock value, in seconds (any origin; it never goes back)."""

    def sleep_time(self, deadline: float, now: float) -> float | None:
        """How long (real seconds; ``None``: as long as it takes) the kernel
        may block waiting for I/O when the next timer is at *deadline* and
        the clock reads *now*."""

    def idle(self, deadline: float) -> None:
        """Called when that wait ended with nothing to do; a virtual clock
        may move to *deadline* here (the mock clock's auto-jump)."""


class SystemClock:
    """The real monotonic clock."""

    current_time = staticmethod(time.monotonic)

    def sleep_time(self, deadline: float, now: float) -> float | None:
        return deadline - now if deadline > now else 0.0

    def idle(self, deadline: float) -> None:
        pass


class MockClock:
    """A virtual clock for tests.

    ``MockClock()`` moves only by :meth:`jump`.  ``MockClock(autojump_threshold=0)``
    also jumps to the next timer whenever every task is blocked (after waiting
    *autojump_threshold* real seconds for I/O to arrive first), like Trio's
    ``autojump_clock``.
    """

    def __init__(self, start: float = 0.0, autojump_threshold: float | None = None) -> None:
        self._time = float(start)
        self.autojump_threshold = autojump_threshold

    def __repr__(self) -> str:
        return f"MockClock(time={self._time!r}, autojump_threshold={self.autojump_threshold!r})"

    def current_time(self) -> float:
        return self._time

    def jump(self, seconds: float) -> None:
        """Move the clock forward by *seconds* (never backwards)."""
        if seconds < 0:
            raise ValueError("a clock cannot jump backwards")
        self._time += seconds

    def sleep_time(self, deadline: float, now: float) -> float | None:
        if deadline <= now:
            return 0.0
        return self.autojump_threshold

    def idle(self, deadline: float) -> None:
        if self.autojump_threshold is not None and deadline > self._time:
            self._time = deadline
