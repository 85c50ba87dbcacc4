"""Task queues: Queue, PriorityQueue and LifoQueue.

Producers and consumers wait on FIFO wait queues and re-check the queue when
woken, so an item is never owned by a waiter that may still be cancelled: a
cancelled ``get()`` leaves the item in the queue for the next consumer, and a
cancelled ``put()`` adds nothing.  Nothing is lost or duplicated.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Generic, TypeVar

from .sched import SchedBarrier, SchedFIFO
from .traps import _scheduler_wait

__all__ = ["Queue", "PriorityQueue", "LifoQueue"]

_T = TypeVar("_T")


class Queue(Generic[_T]):
    """A FIFO queue for tasks.  ``maxsize <= 0`` means unbounded.

    Generic in its item type for type checkers: ``q: Queue[int] = Queue()``.
    """

    def __init__(self, maxsize: int = 0) -> None:
        self.maxsize = maxsize
        self._getting = SchedFIFO()
        self._putting = SchedFIFO()
        self._joining = SchedBarrier()
        self._unfinished = 0
        self._queue: Any = self._make()

    def _make(self) -> Any:
        return deque()

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:
        return self._queue.popleft()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={len(self._queue)} maxsize={self.maxsize}>"

    def empty(self) -> bool:
        return not self._queue

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._queue)

    def qsize(self) -> int:
        return len(self._queue)

    size = qsize  # Curio's name

    async def get(self) -> _T:
        """Remove and return an item, waiting while the queue is empty."""
        while not self._queue:
            await _scheduler_wait(self._getting, "QUEUE_GET")
        item = self._get()
        if self._putting:
            self._putting._wake(1)
        return item

    async def put(self, item: _T) -> None:
        """Add an item, waiting while the queue is full."""
        while 0 < self.maxsize <= len(self._queue):
            await _scheduler_wait(self._putting, "QUEUE_PUT")
        self._put(item)
        self._unfinished += 1
        if self._getting:
            self._getting._wake(1)

    async def join(self) -> None:
        """Wait until every item put has been marked done with task_done()."""
        if self._unfinished > 0:
            await _scheduler_wait(self._joining, "QUEUE_JOIN")

    async def task_done(self) -> None:
        """Mark one item as processed."""
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0:
            self._joining._wake(len(self._joining))


class PriorityQueue(Queue[_T]):
    """A queue returning the smallest item first."""

    def _make(self) -> Any:
        return []

    def _put(self, item: _T) -> None:
        heapq.heappush(self._queue, item)

    def _get(self) -> _T:
        return heapq.heappop(self._queue)  # type: ignore[no-any-return]


class LifoQueue(Queue[_T]):
    """A stack: the last item put is the first returned."""

    def _make(self) -> Any:
        return []

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:
        return self._queue.pop()  # type: ignore[no-any-return]
