"""Synchronisation shared by tasks, threads and asyncio (Curio's "universal"
queue, event and result).

One object serves every side with the same method names: a plain thread
calls ``q.put(x)`` / ``q.get()`` and blocks; a curionet task writes
``await q.put(x)`` / ``await q.get()``; so does a coroutine running in an
asyncio event loop in another thread.

Discussion: how a method knows its caller.  Curio inspects the caller's stack
frame.  curionet asks the thread instead: if a curionet kernel runs in the
calling thread, a blocking method (``get``, ``join``, ``wait``, ``unwrap``,
and ``put`` on a full bounded queue) returns a coroutine for the kernel; if
an asyncio loop runs there, a coroutine for asyncio; otherwise it blocks the
thread.  Methods that never block (``put`` with room, ``set``,
``set_value``, ``task_done``) act at once in every context and return an
object that may be awaited or ignored, so ``q.put(x)`` and
``await q.put(x)`` both work in a task, and calling ``evt.set()`` from a
signal handler (which runs in the kernel's thread) does what it says.
A consequence: synchronous code running *in the kernel's thread* cannot call
the blocking methods (it would get a coroutine); that code must not block
anyway.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from .kernel.lowlevel import SchedFIFO, current_kernel, scheduler_wait
from .kernel.sync import _Flag

__all__ = ["UniversalQueue", "UniversalEvent", "UniversalResult"]


class _Done:
    """An awaitable that does nothing: the result of a method that already
    acted.  Safe to drop without awaiting (no "never awaited" warning)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "<done>"


_DONE = _Done()


def _running_asyncio_loop() -> Any:
    aio = sys.modules.get("asyncio")
    if aio is None:
        return None
    return aio.events._get_running_loop()


# -- waiters: one per blocked caller, each knows how to wake its kind ---------


class _ThreadWaiter:
    __slots__ = ("_lock", "notified")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.notified = False

    def notify(self) -> None:
        self.notified = True
        self._lock.release()

    def wait(self) -> None:
        self._lock.acquire()


class _TaskWaiter:
    __slots__ = ("_kernel", "_sched", "notified")

    def __init__(self, kernel: Any) -> None:
        self._kernel: Any = kernel
        self._sched = SchedFIFO()
        self.notified = False
        kernel.expect_threadsafe_calls()

    def notify(self) -> None:
        self.notified = True
        kernel = self._kernel
        # Directly only from task code in the kernel's own thread; from other
        # threads (or from a signal handler that interrupted the kernel's
        # poll) through the kernel's wake-up channel.
        if self._sched._queue and kernel.current_task is not None and kernel is current_kernel():
            self._sched._wake(1)
        else:
            kernel.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._sched._wake(1)

    def __await__(self) -> Generator[Any, None, None]:
        return (yield from scheduler_wait(self._sched, "UNIVERSAL_WAIT"))  # type: ignore[misc]


class _AsyncioWaiter:
    __slots__ = ("_loop", "_fut", "notified")

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self._fut = loop.create_future()
        self.notified = False

    def notify(self) -> None:
        self.notified = True
        try:
            self._loop.call_soon_threadsafe(self._set)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _set(self) -> None:
        if not self._fut.done():
            self._fut.set_result(None)

    def __await__(self) -> Generator[Any, None, None]:
        return (yield from self._fut.__await__())


def _async_waiter_factory() -> Any:
    """``None`` for a plain thread, else a factory of awaitable waiters for
    the event loop (curionet or asyncio) running in this thread."""
    kernel = current_kernel()
    if kernel is not None:
        return lambda: _TaskWaiter(kernel)
    loop = _running_asyncio_loop()
    if loop is not None:
        return lambda: _AsyncioWaiter(loop)
    return None


_Attempt = Callable[[], "tuple[Any, Any] | None"]


def _handed_off(outcome: tuple[Any, Any]) -> Any:
    """An attempt's result, once the waiter it names (if any) is notified."""
    result, wake = outcome
    if wake is not None:
        wake.notify()
    return result


class _Waitable:
    """Common machinery: a lock and lists of waiters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _block_until(self, done: Callable[[], bool], waiters: Callable[[], deque[Any]]) -> None:
        """Block the thread until ``done()`` (read under the lock) is true.

        A waiter joins the deque ``waiters()`` returns; the side that makes
        ``done()`` true swaps that deque for a new one and notifies every
        waiter in the old one."""
        with self._lock:
            if done():
                return
            w = _ThreadWaiter()
            waiters().append(w)
        w.wait()

    async def _await_until(self, done: Callable[[], bool], waiters: Callable[[], deque[Any]], factory: Any) -> None:
        """:meth:`_block_until` for a task or coroutine (*factory* makes its
        waiter).  A cancelled waiter leaves the current deque; one that was
        notified already has nothing to pass on (every waiter was woken)."""
        with self._lock:
            if done():
                return
            w = factory()
            waiters().append(w)
        try:
            await w
        except BaseException:
            with self._lock:
                current = waiters()
                if w in current:
                    current.remove(w)
            raise

    # An operation that hands off one at a time (a queue's put or get) is an
    # *attempt*: called under the lock, it returns None when it cannot act yet,
    # else (result, the waiter on the other side to notify, or None).
    def _attempt_or_join(self, attempt: _Attempt, waiters: deque[Any], make_waiter: Any) -> tuple[Any, Any]:
        """Under the lock: ``(outcome, None)`` if *attempt* acted, else
        ``(None, w)`` with a new waiter *w* from *make_waiter* in *waiters*."""
        with self._lock:
            outcome = attempt()
            if outcome is not None:
                return outcome, None
            w = make_waiter()
            waiters.append(w)
            return None, w

    def _block_for(self, attempt: _Attempt, waiters: deque[Any]) -> Any:
        """Block the thread until *attempt* acts (it is tried again each time
        the other side notifies); then notify its waiter and return its result."""
        while True:
            outcome, w = self._attempt_or_join(attempt, waiters, _ThreadWaiter)
            if w is None:
                return _handed_off(outcome)
            w.wait()

    async def _await_for(self, attempt: _Attempt, waiters: deque[Any], factory: Any) -> Any:
        """:meth:`_block_for` for a task or coroutine (*factory* makes its
        waiter); a cancelled waiter withdraws (see :meth:`_withdraw`)."""
        while True:
            outcome, w = self._attempt_or_join(attempt, waiters, factory)
            if w is None:
                return _handed_off(outcome)
            try:
                await w
            except BaseException:
                self._withdraw(waiters, w)
                raise

    def _withdraw(self, waiters: deque[Any], w: Any) -> None:
        """A waiter gives up (cancelled): remove it, or if it was already
        notified, pass the notification on so nothing is stranded."""
        with self._lock:
            try:
                waiters.remove(w)
                return
            except ValueError:
                nxt = waiters.popleft() if (w.notified and waiters) else None
        if nxt is not None:
            nxt.notify()


class UniversalQueue(_Waitable):
    """A FIFO queue shared by threads, curionet tasks and asyncio coroutines.

    ``maxsize`` bounds it (0: unbounded).  With ``withfd=True`` the queue
    keeps a socket pair: every ``put`` writes one byte and every ``get``
    reads one, so a foreign event loop can watch :meth:`fileno` for
    readability (it is readable while items are queued)."""

    def __init__(self, maxsize: int = 0, withfd: bool = False) -> None:
        if not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be a non-negative int, not {maxsize!r}")
        super().__init__()
        self.maxsize = maxsize
        self._items: deque[Any] = deque()
        self._getters: deque[Any] = deque()
        self._putters: deque[Any] = deque()
        self._joiners: deque[Any] = deque()
        self._unfinished = 0
        self._socks: tuple[socket.socket, socket.socket] | None = None
        if withfd:
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._socks = (r, w)

    def __repr__(self) -> str:
        return f"<UniversalQueue size={len(self._items)} maxsize={self.maxsize}>"

    # -- inspection --------------------------------------------------------
    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return self.maxsize > 0 and len(self._items) >= self.maxsize

    def fileno(self) -> int:
        """The readable end of the queue's socket pair (``withfd=True``)."""
        if self._socks is None:
            raise RuntimeError("UniversalQueue was created without withfd=True")
        return self._socks[0].fileno()

    def close(self) -> None:
        """Close the socket pair of a ``withfd=True`` queue."""
        if self._socks is not None:
            for s in self._socks:
                s.close()
            self._socks = None

    def __del__(self) -> None:
        socks = getattr(self, "_socks", None)
        if socks is not None:
            for s in socks:
                s.close()

    # -- core operations (lock held) ----------------------------------------
    def _put_locked(self, item: Any) -> Any:
        self._items.append(item)
        self._unfinished += 1
        if self._socks is not None:
            try:
                self._socks[1].send(b"\x01")
            except OSError:  # buffer full: readability is still signalled
                pass
        return self._getters.popleft() if self._getters else None

    def _get_locked(self) -> tuple[Any, Any]:
        item = self._items.popleft()
        if self._socks is not None:
            try:
                self._socks[0].recv(1)
            except OSError:
                pass
        return item, (self._putters.popleft() if self._putters else None)

    # -- put -----------------------------------------------------------------
    def put(self, item: Any) -> Any:
        """Add *item*.  Blocks (or, in async code, must be awaited) only while
        a bounded queue is full; otherwise it acts at once."""
        with self._lock:
            if not self.maxsize or len(self._items) < self.maxsize:
                wake = self._put_locked(item)
                full = False
            else:
                full = True
        if not full:
            if wake is not None:
                wake.notify()
            return _DONE
        factory = _async_waiter_factory()
        if factory is None:
            return self._put_blocking(item)
        return self._put_async(item, factory)

    def _put_blocking(self, item: Any) -> None:
        self._block_for(lambda: self._try_put(item), self._putters)

    async def _put_async(self, item: Any, factory: Any) -> None:
        await self._await_for(lambda: self._try_put(item), self._putters, factory)

    def _try_put(self, item: Any) -> tuple[None, Any] | None:
        if self.maxsize and len(self._items) >= self.maxsize:
            return None
        return None, self._put_locked(item)

    # -- get -----------------------------------------------------------------
    def get(self) -> Any:
        """Remove and return the next item, waiting for one if necessary
        (``await q.get()`` in async code)."""
        factory = _async_waiter_factory()
        if factory is None:
            return self._get_blocking()
        return self._get_async(factory)

    def _get_blocking(self) -> Any:
        return self._block_for(self._try_get, self._getters)

    async def _get_async(self, factory: Any) -> Any:
        return await self._await_for(self._try_get, self._getters, factory)

    def _try_get(self) -> tuple[Any, Any] | None:
        return self._get_locked() if self._items else None

    # -- task accounting -------------------------------------------------------
    def task_done(self) -> Any:
        """Mark one retrieved item as processed (acts at once; awaitable)."""
        with self._lock:
            if self._unfinished <= 0:
                raise ValueError("task_done() called more times than there were items")
            self._unfinished -= 1
            joiners = None
            if self._unfinished == 0 and self._joiners:
                joiners, self._joiners = self._joiners, deque()
        if joiners:
            for w in joiners:
                w.notify()
        return _DONE

    def task_done_sync(self) -> None:
        """:meth:`task_done` for synchronous code (Curio's name).  Never blocks."""
        self.task_done()

    def join(self) -> Any:
        """Wait until every item put has been marked done with
        :meth:`task_done` (``await q.join()`` in async code)."""
        factory = _async_waiter_factory()
        if factory is None:
            self._join_blocking()
            return None
        return self._join_async(factory)

    def join_sync(self) -> None:
        """Block the calling thread until every item put has been marked done
        (Curio's explicitly synchronous :meth:`join`).

        In a thread that runs a curionet kernel it raises ``RuntimeError``
        instead of blocking when items are unfinished: the kernel would stop,
        and with it any task that was to finish them.  Use ``await q.join()``
        there."""
        if current_kernel() is not None:
            with self._lock:
                if self._unfinished == 0:
                    return
            raise RuntimeError("join_sync() would block the kernel; use 'await q.join()' in a task")
        self._join_blocking()

    def _join_blocking(self) -> None:
        self._block_until(self._all_done, self._get_joiners)

    async def _join_async(self, factory: Any) -> None:
        await self._await_until(self._all_done, self._get_joiners, factory)

    def _all_done(self) -> bool:
        return self._unfinished == 0

    def _get_joiners(self) -> deque[Any]:
        return self._joiners


class UniversalEvent(_Flag, _Waitable):
    """An event flag shared by threads, curionet tasks and asyncio.

    ``set()`` acts at once (and may be awaited); ``wait()`` blocks a thread
    or is awaited in async code."""

    def __init__(self) -> None:
        super().__init__()
        self._waiters: deque[Any] = deque()

    def __repr__(self) -> str:
        return f"<UniversalEvent set={self._set}>"

    def set(self) -> Any:
        with self._lock:
            self._set = True
            waiters, self._waiters = self._waiters, deque()
        for w in waiters:
            w.notify()
        return _DONE

    def wait(self) -> Any:
        factory = _async_waiter_factory()
        if factory is None:
            self._block_until(lambda: self._set, self._get_waiters)
            return None
        return self._wait_async(factory)

    async def _wait_async(self, factory: Any) -> None:
        await self._await_until(lambda: self._set, self._get_waiters, factory)

    def _get_waiters(self) -> deque[Any]:
        return self._waiters


class UniversalResult(UniversalEvent):
    """A one-shot value (or exception) handed from one side to another.

    ``set_value(v)`` / ``set_exception(e)`` act at once; ``unwrap()`` waits
    for the result and returns the value or raises the exception.  Setting a
    result twice raises ``RuntimeError``."""

    def __init__(self) -> None:
        super().__init__()
        self._value: Any = None
        self._exc: BaseException | None = None

    def __repr__(self) -> str:
        return f"<UniversalResult set={self._set}>"

    def _set_result(self, value: Any, exc: BaseException | None) -> Any:
        with self._lock:
            if self._set:
                raise RuntimeError("UniversalResult already has a result")
            self._value, self._exc = value, exc
        return self.set()

    def set_value(self, value: Any) -> Any:
        return self._set_result(value, None)

    def set_exception(self, exc: BaseException) -> Any:
        if isinstance(exc, type):
            exc = exc()
        return self._set_result(None, exc)

    def _outcome(self) -> Any:
        if self._exc is not None:
            raise self._exc
        return self._value

    def unwrap(self) -> Any:
        factory = _async_waiter_factory()
        if factory is None:
            UniversalEvent.wait(self)
            return self._outcome()
        return self._unwrap_async(factory)

    async def _unwrap_async(self, factory: Any) -> Any:
        await self._wait_async(factory)
        return self._outcome()

    def clear(self) -> None:
        raise RuntimeError("a UniversalResult cannot be cleared")
