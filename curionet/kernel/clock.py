"""Clocks the kernel can run on.

The kernel never calls ``time.monotonic`` itself: every sleep, timeout and
protocol delay reads the clock it was given (``Kernel(clock=...)``).
:class:`SystemClock` is the real one; :class:`MockClock` only moves when told
to (``jump()``) or, with auto-jump, whenever every task is blocked, so tests of
a 250 ms delay run in microseconds and can assert exact virtual times.

A clock has three methods the kernel uses:

* ``current_time()``: the clock value, in seconds.
* ``sleep_time(deadline, now)``: how long (real seconds, ``None`` = forever)
  the kernel may block waiting for I/O when the next timer is at *deadline*.
* ``idle(deadline)``: called when that wait ended with nothing to do; the mock
  clock jumps to *deadline* here.
"""

from __future__ import annotations

import time

__all__ = ["SystemClock", "MockClock"]


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
