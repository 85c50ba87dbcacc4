"""Wait queues: the one suspension protocol the kernel knows.

A task suspends itself on a wait queue with the ``_scheduler_wait`` trap.  The
kernel calls ``queue._add(task)`` and remembers the queue; if the task is
cancelled (or times out) while waiting, the kernel calls
``queue._discard(task)`` so no stranded entry is left behind.  Waking is
synchronous: ``queue._wake(n)`` reschedules up to *n* tasks directly, with no
kernel round trip.

Every synchronisation primitive (``Lock``, ``Event``, ``Queue``, task joins,
task groups) is built on these classes, outside the kernel loop, as Curio's
``curio.sched`` documents.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .traps import _scheduler_wait

__all__ = ["SchedBase", "SchedFIFO", "SchedBarrier"]


class SchedBase:
    """A FIFO of suspended tasks."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: deque[Any] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} waiting={len(self._queue)}>"

    # -- the protocol the kernel uses -------------------------------------
    def _add(self, task: Any) -> None:
        self._queue.append(task)

    def _discard(self, task: Any) -> None:
        # Cancellation usually removes the oldest or newest waiter (shutdown
        # cancels in task order); both ends are O(1).
        q = self._queue
        if q[0] is task:
            q.popleft()
        elif q[-1] is task:
            q.pop()
        else:
            q.remove(task)

    def _wake(self, n: int = 1, value: Any = None, exc: BaseException | None = None) -> int:
        """Reschedule up to *n* waiting tasks, oldest first; return how many."""
        q = self._queue
        woken = 0
        while q and woken < n:
            task = q.popleft()
            task._waitq = None
            task._kernel._reschedule(task, value, exc)
            woken += 1
        return woken

    # -- Curio's documented public methods --------------------------------
    async def suspend(self, reason: str = "SUSPENDED") -> Any:
        """Suspend the calling task on this queue until woken."""
        return await _scheduler_wait(self, reason)

    async def wake(self, n: int = 1) -> int:
        """Wake up to *n* suspended tasks."""
        return self._wake(n)


class SchedFIFO(SchedBase):
    """A first-in first-out wait queue (locks, queues)."""

    __slots__ = ()


class SchedBarrier(SchedBase):
    """A wait queue whose ``wake()`` releases every waiter (events)."""

    __slots__ = ()

    async def wake(self, n: int | None = None) -> int:  # type: ignore[override]
        return self._wake(len(self._queue) if n is None else n)
