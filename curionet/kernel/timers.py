"""The kernel's timer heap: sleeps and the deadlines of timeout blocks.

:class:`_TimerMixin` holds the methods of
:class:`~curionet.kernel.kernel.Kernel` that keep the heap (``_timers``):
the ``_set_timeout``/``_unset_timeout`` trap handlers and what the loop
calls when a timer is due.  The kernel inherits them, so a call costs what
it did when they were written in ``kernel.py``.  An entry is
``[deadline, seq, task, is_timeout]``; an entry whose sleep or timeout was
undone goes stale and is skipped when it comes due (or dropped when stale
entries make up most of a large heap).

A stale entry lets go of its task at once (its ``task`` becomes ``None``):
it may stay in the heap until its deadline, an hour on, and must not keep
a task that ended alive that long.  So a sleeping task's ``_wait_data`` and
a task's ``_timeout_entry`` are its entries themselves, not sequence
numbers to match.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any

from ..errors import TaskTimeout
from .task import BLOCKED, DEADLINE_DUE, Task


class _SleepWait:
    """Undo record for a sleeping task: its heap entry just goes stale."""

    __slots__ = ("_kernel",)

    def __init__(self, kernel: _TimerMixin) -> None:
        self._kernel = kernel

    def _discard(self, task: Task) -> None:
        task._wait_data[2] = None
        self._kernel._stale_timers += 1


class _TimerMixin:
    """The kernel's timer methods (see the module's docstring)."""

    _timers: list[list[Any]]  # [deadline, seq, task or None once stale, is_timeout]
    _sleep_wait: _SleepWait
    _stale_timers: int
    _now: Callable[[], float]

    if TYPE_CHECKING:

        def _reschedule(self, task: Task, value: Any = None, exc: BaseException | None = None) -> None: ...
        def _cancel(self, task: Task, exc: BaseException) -> None: ...

    def _init_timers(self) -> None:
        self._timers = []
        self._timer_seq = count()
        self._stale_timers = 0
        self._sleep_wait = _SleepWait(self)

    def _fire_timers(self, current: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= current:
            _, _, task, is_timeout = heapq.heappop(timers)
            if task is None:
                self._stale_timers -= 1
            elif is_timeout:
                task._timeout_entry = None
                # Every deadline up to now is due: its timer is never
                # re-armed; the task settles it as the timeout is raised.
                for entry in task._deadlines or ():
                    if entry[0] <= current and not entry[1]:
                        entry[1] = DEADLINE_DUE
                exc = TaskTimeout(current)
                if task._state == BLOCKED and task.allow_cancel:
                    self._cancel(task, exc)
                    task._timeout_raised(exc)
                elif task.cancel_pending is None:
                    task.cancel_pending = exc
                self._arm_timeout(task)
            else:
                task._waitq = None
                task._wait_data = None
                self._reschedule(task, current)

    def _compact_timers(self) -> None:
        live = [entry for entry in self._timers if entry[2] is not None]
        heapq.heapify(live)
        self._timers[:] = live
        self._stale_timers = 0

    def _arm_timeout(self, task: Task) -> None:
        """(Re)arm the timer for the earliest unfired deadline of *task*."""
        best = None
        for deadline, fired in task._deadlines or ():
            if not fired and (best is None or deadline < best):
                best = deadline
        old = task._timeout_entry
        if old is not None:
            old[2] = None
            self._stale_timers += 1
            task._timeout_entry = None
        if best is not None:
            entry = [best, next(self._timer_seq), task, True]
            task._timeout_entry = entry
            heapq.heappush(self._timers, entry)

    def _trap_set_timeout(self, task: Task, req: Any) -> Any:
        seconds = req[1]
        deadline = float("inf") if seconds is None else self._now() + seconds
        entry = [deadline, False]
        if task._deadlines is None:
            task._deadlines = [entry]
        else:
            task._deadlines.append(entry)
        current = None
        if task._timeout_entry is not None:
            for d, fired in task._deadlines[:-1]:
                if not fired and (current is None or d < current):
                    current = d
        if current is None or deadline < current:
            self._arm_timeout(task)
        return deadline

    def _trap_unset_timeout(self, task: Task, req: Any) -> Any:
        deadline = req[1]
        stack = task._deadlines
        if stack:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i][0] == deadline:
                    del stack[i]
                    break
        # A pending timeout stays pending while the deadline of an enclosing
        # block is due.  Otherwise it belonged to the block that is ending
        # and could not be delivered (cancellation was disabled, or the task
        # never blocked again): it is dropped.
        pending = task.cancel_pending
        if isinstance(pending, TaskTimeout):
            if not any(state == DEADLINE_DUE for _, state in stack or ()):
                task.cancel_pending = None
        if not stack:
            task._deadlines = None
        self._arm_timeout(task)
        return self._now()
