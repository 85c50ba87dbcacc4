"""Synchronisation primitives for tasks: Event, Lock, RLock, Semaphore,
BoundedSemaphore, Condition and Result.

All are built on the wait queues of ``sched.py``; none is safe to use from
threads (see ``UniversalEvent``/``UniversalQueue`` for that).  As in Curio, the
operations that wake other tasks (``Event.set``, ``Lock.release`` ...) are
coroutines.  Ownership is handed directly to the woken waiter, so a waiter
that is cancelled after being woken still returns normally (it owns the lock)
and a cancelled waiter that was not woken is simply removed from the queue:
nothing is ever stranded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .athread import sync_enter, sync_exit
from .sched import SchedBarrier, SchedFIFO
from .task import Task, disable_cancellation
from .traps import _get_current, _scheduler_wait

__all__ = ["Event", "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Result"]


class _Flag:
    """The flag of an event (:class:`Event`, and ``UniversalEvent`` in
    :mod:`curionet.universal`); setting it is the event's own business."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        super().__init__()  # UniversalEvent's other base
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False


class Event(_Flag):
    """An event flag tasks can wait for."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        super().__init__()
        self._waiting = SchedBarrier()

    def __repr__(self) -> str:
        return f"<Event set={self._set} waiting={len(self._waiting)}>"

    async def wait(self) -> None:
        """Wait until the event is set."""
        if not self._set:
            await _scheduler_wait(self._waiting, "EVENT_WAIT")

    async def set(self) -> None:
        """Set the event and wake every waiter."""
        self._set = True
        self._waiting._wake(len(self._waiting))


class _LockBase:
    async def __aenter__(self) -> Any:
        await self.acquire()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.release()  # type: ignore[attr-defined]

    # A plain 'with' works in an async thread; elsewhere AsyncOnlyError.
    __enter__ = sync_enter
    __exit__ = sync_exit


class Lock(_LockBase):
    """A mutual-exclusion lock."""

    __slots__ = ("_locked", "_waiting")

    def __init__(self) -> None:
        self._locked = False
        self._waiting = SchedFIFO()

    def __repr__(self) -> str:
        return f"<Lock locked={self._locked} waiting={len(self._waiting)}>"

    async def acquire(self) -> bool:
        if self._locked:
            await _scheduler_wait(self._waiting, "LOCK_ACQUIRE")  # ownership handed over
        else:
            self._locked = True
        return True

    async def release(self) -> None:
        if not self._locked:
            raise RuntimeError("Lock is not acquired")
        if not self._waiting._wake(1):
            self._locked = False

    def locked(self) -> bool:
        return self._locked


class RLock(_LockBase):
    """A lock the owning task may acquire several times."""

    __slots__ = ("_lock", "_owner", "_count")

    def __init__(self) -> None:
        self._lock = Lock()
        self._owner: Task | None = None
        self._count = 0

    def __repr__(self) -> str:
        return f"<RLock owner={self._owner!r} count={self._count}>"

    async def acquire(self) -> bool:
        me = await _get_current()
        if self._owner is not me:
            await self._lock.acquire()
            self._owner = me
        self._count += 1
        return True

    async def release(self) -> None:
        me = await _get_current()
        if self._owner is not me:
            raise RuntimeError("RLock can only be released by its owner")
        self._count -= 1
        if self._count == 0:
            self._owner = None
            await self._lock.release()

    def locked(self) -> bool:
        return self._count > 0


class Semaphore(_LockBase):
    """A counting semaphore."""

    __slots__ = ("_value", "_waiting")

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError("Semaphore initial value must be >= 0")
        self._value = value
        self._waiting = SchedFIFO()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} value={self._value} waiting={len(self._waiting)}>"

    @property
    def value(self) -> int:
        return self._value

    async def acquire(self) -> bool:
        if self._value > 0:
            self._value -= 1
        else:
            await _scheduler_wait(self._waiting, "SEMA_ACQUIRE")  # a unit handed over
        return True

    async def release(self) -> None:
        if not self._waiting._wake(1):
            self._value += 1

    def locked(self) -> bool:
        return self._value == 0


class BoundedSemaphore(Semaphore):
    """A semaphore that refuses to be released above its initial value."""

    __slots__ = ("_bound",)

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._bound = value

    async def release(self) -> None:
        if self._value >= self._bound:
            raise ValueError("BoundedSemaphore released too many times")
        await super().release()


class Condition(_LockBase):
    """A condition variable over *lock* (a new :class:`Lock` by default)."""

    __slots__ = ("_lock", "_waiting")

    def __init__(self, lock: Any = None) -> None:
        self._lock = Lock() if lock is None else lock
        self._waiting = SchedFIFO()

    def __repr__(self) -> str:
        return f"<Condition lock={self._lock!r} waiting={len(self._waiting)}>"

    def locked(self) -> bool:
        return bool(self._lock.locked())

    async def acquire(self) -> bool:
        return bool(await self._lock.acquire())

    async def release(self) -> None:
        await self._lock.release()

    async def wait(self) -> Any:
        """Release the lock, wait for a notification, re-acquire the lock.

        The lock is re-acquired even when the wait is cancelled, so the
        caller's ``async with cond:`` block always exits holding it."""
        if not self._lock.locked():
            raise RuntimeError("cannot wait on a condition whose lock is not held")
        await self._lock.release()
        try:
            return await _scheduler_wait(self._waiting, "COND_WAIT")
        finally:
            async with disable_cancellation():
                await self._lock.acquire()

    async def wait_for(self, predicate: Callable[[], Any]) -> Any:
        """Wait until ``predicate()`` is true; return its value."""
        while True:
            result = predicate()
            if result:
                return result
            await self.wait()

    async def notify(self, n: int = 1) -> None:
        if not self._lock.locked():
            raise RuntimeError("cannot notify on a condition whose lock is not held")
        self._waiting._wake(n)

    async def notify_all(self) -> None:
        await self.notify(len(self._waiting))


class Result:
    """A one-shot value or exception that tasks can wait for."""

    __slots__ = ("_has", "_value", "_exc", "_waiting")

    def __init__(self) -> None:
        self._has = False
        self._value: Any = None
        self._exc: BaseException | None = None
        self._waiting = SchedBarrier()

    def __repr__(self) -> str:
        return f"<Result set={self._has}>"

    def is_set(self) -> bool:
        return self._has

    async def set_value(self, value: Any) -> None:
        self._set(value, None)

    async def set_exception(self, exc: BaseException) -> None:
        self._set(None, exc)

    def _set(self, value: Any, exc: BaseException | None) -> None:
        if self._has:
            raise RuntimeError("Result is already set")
        self._has = True
        self._value = value
        self._exc = exc
        self._waiting._wake(len(self._waiting))

    async def unwrap(self) -> Any:
        """Wait for the result; return the value or raise the exception."""
        if not self._has:
            await _scheduler_wait(self._waiting, "RESULT_WAIT")
        if self._exc is not None:
            raise self._exc
        return self._value
