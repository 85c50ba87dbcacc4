"""The kernel: scheduler, selector loop and timer queue.

The kernel knows four things: the ready queue, the I/O poller (epoll on
Linux), the timer heap and one wait protocol (a blocked task records what to
undo if it is cancelled: a wait queue, an fd registration or a timer).
Everything else (locks, events, queues, task groups, timeouts' policy) is
built outside this file on the traps in ``traps.py``.  Code above the kernel
(threads, worker pools, signals, the monitor) uses it only through
``lowlevel.py`` and the public methods of :class:`Kernel`, and the kernel
imports none of it: what it needs from there is a hook installed at import
(:func:`set_run_guard`, ``task.set_thread_spawner``).

Discussion: the run loop.  Each cycle runs every task that is ready at its
start, once each; a task that performs an immediate trap (``_get_current``,
``_clock``, ``_spawn`` ...) keeps running without a trip through the ready
queue.  Between cycles the kernel polls for I/O (without blocking when tasks
are ready, or until the next timer otherwise) and fires expired timers.  When
nothing is ready, no timer is pending and no file descriptor is registered,
nothing can ever wake a task, and ``run()`` raises ``RuntimeError`` rather
than hanging.

I/O registrations are lazy: a file descriptor stays registered while tasks
keep waiting on it, and an event that arrives for a descriptor nobody waits
on any more removes the stale interest then.  The usual recv/send loop thus
makes no epoll_ctl calls at all.

Discussion: descriptors closed behind the kernel's back.  A lazy
registration outlives the wait that made it, so the kernel's books can name
a file that is gone: a socket closed without ``_io_release``
(``sock._socket.close()``, ``os.close``, garbage collection) leaves epoll,
which drops a closed file by itself, but not ``_fds``, and a new socket
given the same number would wait on interest epoll no longer has, forever.
So each entry also remembers *who* registered it: curionet's sockets and
streams pass their descriptor as an ``int`` subclass of their own
(``io._FdToken``), and a wait by another token on the same number takes
the slow path (``_io_register``): ``EPOLL_CTL_MOD`` succeeds if the number
still names the registered file (a stream and its socket, a TLS wrapper);
``ENOENT`` means the number was reused, so the stale waiters get
``ClosedResourceError`` and the new file is registered; ``EBADF`` means
nothing is open there, and the wait fails with ``ClosedResourceError``.
The common case (the same object waiting again) costs one identity test.
Plain integers carry no owner: equal numbers count as one owner, so a
caller waiting on raw descriptors must ``_io_release`` them before closing.

Discussion: busy polling.  When nothing is ready to run, the kernel has to
wait for I/O.  Blocking in ``epoll_wait`` puts the thread (and often the CPU)
to sleep, and waking it again costs tens of microseconds on a virtual
machine, more than a Python echo server spends on a whole message.  So a
kernel that sent something since it last went idle (a request, a reply: an
answer or the next request is due) first polls without blocking for up to
``busy_poll`` seconds (100 us) and blocks only if nothing arrived: the idea
of Linux's ``SO_BUSY_POLL`` and of Go's spinning scheduler.  With a fast
peer the answer arrives during the spin and the round trip skips the sleep
and the wake-up entirely.  A kernel that only received (a bulk download)
sleeps at once: spinning between the bursts of a stream costs more CPU than
it saves.  A spin that finds nothing backs off: the next 1, 2, 4 ...
64 idle waits block at once, and only short waits (under 1 ms) count down
those skips, so a quiet server stops spinning after one window and traffic
the window does not fit wastes at most one window in 64 waits.  Spinning
releases the GIL on every poll, and a spin is at most one window long, so a
worker thread the kernel waits for is never held up for longer.
``Kernel(busy_poll=0)`` (or ``CURIONET_BUSY_POLL=0`` in the environment)
turns it off; a mock clock never spins.
"""

from __future__ import annotations

import errno
import heapq
import logging
import os
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from itertools import count
from typing import Any

from ..errors import (
    CancelledError,
    ClosedResourceError,
    ReadResourceBusy,
    TaskCancelled,
    TaskTimeout,
    WriteResourceBusy,
)
from . import traps
from .activation import Activation
from .clock import Clock, SystemClock
from .task import BLOCKED, DEADLINE_DUE, READY, RUNNING, TERMINATED, Task, instantiate_coroutine

__all__ = ["Kernel", "run", "Activation"]

log = logging.getLogger("curionet")

_local = threading.local()

_EV_READ = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_EV_WRITE = select.POLLOUT | select.POLLERR | select.POLLHUP
_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT

#: Default busy-poll window in seconds (see the module's Discussion).
BUSY_POLL = 100e-6
_sched_yield = getattr(os, "sched_yield", lambda: None)
# An idle wait this short counts as request/response traffic worth spinning for.
_SPIN_SHORT = 1e-3

#: Default ``shutdown_timeout`` in seconds (see ``Kernel._shutdown``).
SHUTDOWN_TIMEOUT = 5.0
# A task still running this long after its cancellation at shutdown is
# cancelled again; the delay doubles up to _RECANCEL_MAX.
_RECANCEL_FIRST = 0.5
_RECANCEL_MAX = 2.0

# Sentinels returned by trap handlers.
_SUSPEND = object()  # the task is blocked (or was rescheduled)
_THROW = object()  # raise Kernel._throw_exc into the task right away


class _SendHint:
    """The busy-poll hint.  ``sent`` is set by every send (sockets, streams,
    worker hand-offs) and cleared by the loop each time it goes idle: a
    kernel that sent something since it last went idle (a request, or a
    server's reply) expects an answer or the next request soon and
    busy-polls for it; one that only received (a bulk download) sleeps at
    once (see the module's Discussion on busy polling).  There is one per
    process, shared by kernels running in other threads: it is only a hint,
    and a wrong guess costs one spin or one sleep, never correctness."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


send_hint = _SendHint()


class _Poller:
    """epoll where the platform has it, ``poll()`` elsewhere; one API."""

    def __init__(self) -> None:
        if hasattr(select, "epoll"):
            self._p: Any = select.epoll()
            self._ms = False
        else:  # pragma: no cover - non-Linux
            self._p = select.poll()
            self._ms = True

    def modify(self, fd: int, mask: int) -> None:
        """``EPOLL_CTL_MOD``: ``FileNotFoundError`` if *fd*'s current file is
        not registered (it was closed and the number reused)."""
        self._p.modify(fd, mask)

    def set(self, fd: int, mask: int, old: int) -> None:
        p = self._p
        if mask == 0:
            try:
                p.unregister(fd)
            except (OSError, KeyError, ValueError):
                pass
        elif old == 0:
            try:
                p.register(fd, mask)
            except FileExistsError:
                p.modify(fd, mask)
        else:
            try:
                p.modify(fd, mask)
            except FileNotFoundError:  # fd was closed and reused behind our back
                p.register(fd, mask)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if self._ms:  # pragma: no cover
            return self._p.poll(None if timeout is None else timeout * 1000.0)  # type: ignore[no-any-return]
        return self._p.poll(-1 if timeout is None else timeout)  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self._ms:
            self._p.close()


class _IOWait:
    """Undo record for a task blocked in ``_read_wait``/``_write_wait``."""

    __slots__ = ("_kernel",)

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def _discard(self, task: Task) -> None:
        fd, which = task._wait_data
        st = self._kernel._fds.get(fd)
        if st is not None and st[which] is task:
            st[which] = None


class _SleepWait:
    """Undo record for a sleeping task: its heap entry just goes stale."""

    __slots__ = ("_kernel",)

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    def _discard(self, task: Task) -> None:
        self._kernel._stale_timers += 1


class _FutureWait:
    """Undo record for a task waiting on a concurrent.futures.Future."""

    __slots__ = ()

    def _discard(self, task: Task) -> None:
        fut = task._wait_data
        task._wait_data = None
        # The done-callback may still fire; it checks the task still waits.
        fut._curionet_waiter = None


_FUTURE_WAIT = _FutureWait()


class _Placeholder:
    """Stands in the ready queue for a task moved to the thread a thread
    block handed the loop to; the loop skips it (its state is not READY)."""

    __slots__ = ()
    _state = -1


_PLACEHOLDER = _Placeholder()


class Kernel:
    """A curionet kernel.  Reusable across several :meth:`run` calls.

    ``clock`` is the clock every sleep and timeout reads (default: the
    system monotonic clock; tests pass a :class:`~curionet.MockClock`).
    ``activations`` are :class:`Activation` hooks; ``debug`` accepts the same
    (Curio's name).  ``selector`` and ``taskcls`` are accepted for Curio
    compatibility; ``taskcls`` must be a :class:`Task` subclass.
    ``busy_poll`` is how long (seconds) an idle kernel that has sent something
    since it last went idle polls for I/O without blocking before it sleeps in
    ``epoll_wait``, unless recent spins found nothing (default 100 us, or
    ``$CURIONET_BUSY_POLL``; 0 turns it off; see the module's Discussion).
    ``shutdown_timeout`` is how long (seconds) a shutdown waits for tasks that
    keep running after being cancelled (named in a warning and cancelled
    again meanwhile) before abandoning them (default 5, or
    ``$CURIONET_SHUTDOWN_TIMEOUT``; ``float('inf')`` waits for ever).
    """

    def __init__(
        self,
        *,
        selector: Any = None,
        debug: Any = None,
        activations: Any = None,
        taskcls: type[Task] = Task,
        clock: Clock | None = None,
        max_select_timeout: float | None = None,
        busy_poll: float | None = None,
        shutdown_timeout: float | None = None,
    ) -> None:
        self._clock = clock if clock is not None else SystemClock()
        if shutdown_timeout is None:
            shutdown_timeout = float(os.environ.get("CURIONET_SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT))
        if not shutdown_timeout >= 0:
            raise ValueError("shutdown_timeout must be >= 0")
        self._shutdown_timeout = shutdown_timeout
        self._shutdown_now = False  # set by a second Ctrl-C: abandon, do not wait
        if busy_poll is None:
            busy_poll = float(os.environ.get("CURIONET_BUSY_POLL", BUSY_POLL))
        if busy_poll < 0:
            raise ValueError("busy_poll must be >= 0")
        # Spinning reads the real clock: never with a mock clock.
        self._busy_poll = busy_poll if isinstance(self._clock, SystemClock) else 0.0
        self._spin_skip = 0  # idle waits to go before spinning again
        self._spin_backoff = 1
        self._now: Callable[[], float] = self._clock.current_time
        self._taskcls = taskcls
        self._ready: deque[Task] = deque()
        self._tasks: dict[int, Task] = {}
        self._task_ids = count(1)
        self._current: Task | None = None
        self._timers: list[tuple[float, int, Task, bool]] = []
        self._timer_seq = count()
        self._stale_timers = 0
        self._poller = _Poller()
        self._fds: dict[int, list[Any]] = {}  # fd -> [reader, writer, registered mask, owner token]
        self._io_wait = _IOWait(self)
        self._sleep_wait = _SleepWait(self)
        self._throw_exc: BaseException | None = None
        self._max_select_timeout = max_select_timeout
        # Cross-thread wake-up: a socketpair plus a queue of callbacks.
        self._notify_sock: tuple[socket.socket, socket.socket] | None = None
        self._threadsafe_calls: deque[Callable[[], Any]] = deque()
        self._running = False
        self._closed = False
        self._shutdown_callbacks: list[Callable[[], Any]] = []
        #: Worker pools kept by this kernel, by name (see :meth:`register_pool`).
        self.pools: dict[str, Any] = {}
        self._main_task: Task | None = None
        acts = []
        if debug is True:  # Curio's default debugging: trace every scheduling event
            from ..debug import schedtrace

            debug = schedtrace
        for group in (debug, activations):
            if group is None or group is False:
                continue
            if not isinstance(group, (list, tuple)):
                group = [group]
            for a in group:
                acts.append(a() if isinstance(a, type) else a)
        self._activations: list[Any] = acts
        for a in acts:
            a.activate(self)
        self._handlers: list[Callable[[Task, tuple[Any, ...]], Any]] = [None] * 14  # type: ignore[list-item]
        h = self._handlers
        h[traps.T_SCHEDULE] = self._trap_schedule
        h[traps.T_SLEEP] = self._trap_sleep
        h[traps.T_IO_WAIT] = self._trap_io_wait
        h[traps.T_IO_RELEASE] = self._trap_io_release
        h[traps.T_IO_WAITING] = self._trap_io_waiting
        h[traps.T_FUTURE_WAIT] = self._trap_future_wait
        h[traps.T_CANCEL_TASK] = self._trap_cancel_task
        h[traps.T_SCHED_WAIT] = self._trap_sched_wait
        h[traps.T_GET_KERNEL] = self._trap_get_kernel
        h[traps.T_GET_CURRENT] = self._trap_get_current
        h[traps.T_SET_TIMEOUT] = self._trap_set_timeout
        h[traps.T_UNSET_TIMEOUT] = self._trap_unset_timeout
        h[traps.T_CLOCK] = self._trap_clock
        h[traps.T_SPAWN] = self._trap_spawn

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------
    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, ty: Any, val: Any, tb: Any) -> None:
        if not self._closed:
            self.run(shutdown=True)

    @property
    def clock(self) -> Any:
        """The clock this kernel reads."""
        return self._clock

    def tasks(self) -> list[Task]:
        """Every live task, by id (for monitors and debugging)."""
        return [self._tasks[k] for k in sorted(self._tasks)]

    @property
    def closed(self) -> bool:
        """``True`` once the kernel has shut down (it can run no more)."""
        return self._closed

    @property
    def main_task(self) -> Task | None:
        """The task :meth:`run` is running to completion, or ``None``
        (between runs, and during the shutdown)."""
        return self._main_task

    @property
    def current_task(self) -> Task | None:
        """The task running at this moment, or ``None`` (between tasks: in
        the kernel's own code, a ``call_soon_threadsafe`` callback, a signal
        handler that interrupted the poll)."""
        return self._current

    @property
    def task_count(self) -> int:
        """How many tasks are alive (may be read from any thread)."""
        return len(self._tasks)

    def get_task(self, task_id: int) -> Task | None:
        """The live task with this id, or ``None``."""
        return self._tasks.get(task_id)

    def new_task(self, coro: Any, daemon: bool = False, factory: Callable[..., Task] | None = None) -> Task:
        """Make the coroutine *coro* a task of this kernel, ready to run, and
        return it (from synchronous code in the kernel's thread; tasks use
        :func:`~curionet.spawn`).

        *factory* builds the task object as ``factory(coro, kernel, id,
        daemon)`` (default: the kernel's task class); an object that is
        already a task can register itself this way (``AsyncThread`` does)."""
        task = (factory or self._taskcls)(coro, self, next(self._task_ids), daemon)
        self._tasks[task.id] = task
        self._ready.append(task)
        for a in self._activations:
            a.created(task)
        return task

    _new_task = new_task

    def cancel_task(self, task: Task, exc: Any = None, val: Any = None) -> None:
        """Cancel *task* as ``await task.cancel(exc, blocking=False)`` would,
        from synchronous code in the kernel's thread (a
        ``call_soon_threadsafe`` callback): *exc* (an exception class or
        instance, default :class:`~curionet.TaskCancelled`, built with *val*
        as its message) is raised at the task's current or next blocking
        call."""
        self._trap_cancel_task(None, (None, task, exc, val))  # type: ignore[arg-type]

    def abandon_on_shutdown(self) -> None:
        """Make the coming shutdown abandon the remaining tasks at once
        instead of waiting for them (a second Ctrl-C does this)."""
        self._shutdown_now = True

    def expect_threadsafe_calls(self) -> None:
        """Declare that another thread (or a signal handler) may call
        :meth:`call_soon_threadsafe` while this kernel waits, so that the call
        wakes it: opens the kernel's wake-up channel (idempotent).  Call it
        from the kernel's thread before handing the kernel to that thread.

        Until then the kernel needs no such channel, and a kernel whose tasks
        are all blocked with nothing to wake them raises ``RuntimeError``
        (deadlock) instead of sleeping for ever; afterwards it sleeps, since
        another thread may still call."""
        if self._notify_sock is None:
            self._init_notify()

    def add_shutdown_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` when the kernel shuts down, after its last task
        ended (in registration order; an exception is logged)."""
        self._shutdown_callbacks.append(callback)

    def register_pool(self, name: str, pool: Any) -> Any:
        """Keep *pool* as this kernel's pool called *name* (readable as
        ``kernel.pools[name]``) and close it (``pool.close()``) at shutdown;
        returns *pool*.  Worker pools (``run_in_thread``,
        ``run_in_process``) are kept this way, one per kernel."""
        if name in self.pools:
            raise RuntimeError(f"this kernel already has a pool named {name!r}")
        self.pools[name] = pool
        self._shutdown_callbacks.append(pool.close)
        return pool

    # -- thread blocks: the loop moves to another thread and back ----------
    def hand_over(self) -> Any:
        """Start handing this kernel's loop to another thread (the body of an
        ``async with spawn_thread():`` block becomes thread code).

        Called by the running task: the tasks ready now move to a fresh
        ready queue for the other thread's :meth:`run_until`; the cycle this
        thread interrupted finds inert placeholders in their place; this
        thread stops being the kernel's (``current_kernel()`` is ``None``).
        Returns the token :meth:`take_back` needs."""
        outer = self._ready
        moved = list(outer)
        outer.clear()
        outer.extend([_PLACEHOLDER] * len(moved))  # type: ignore[list-item]
        self._ready = deque(moved)
        _local.kernel = None
        return outer

    def run_until(self, task: Task) -> None:
        """Run this kernel's loop in the calling thread until *task* ends
        (after :meth:`hand_over`, in the thread that took the kernel)."""
        _local.kernel = self
        try:
            self._loop(task)
        finally:
            _local.kernel = None

    def take_back(self, token: Any, current: Task) -> None:
        """Resume the loop in this thread after the other thread's
        :meth:`run_until` returned (*token* from :meth:`hand_over`;
        *current*: the task that handed the kernel over, running again)."""
        _local.kernel = self
        token.extend(self._ready)
        self._ready = token
        self._current = current

    def run(self, corofunc: Any = None, *args: Any, shutdown: bool = False) -> Any:
        """Run ``corofunc(*args)`` until it returns and return its result.

        The result is returned; an exception that ends the coroutine is
        raised here unchanged.  Other tasks stay suspended in the kernel for
        the next ``run()`` unless *shutdown* is true, which cancels every
        remaining task and closes the kernel.  ``run()`` with no coroutine
        runs one scheduling cycle (or, with *shutdown*, only shuts down).
        """
        if self._closed:
            raise RuntimeError("kernel is closed")
        if self._running:
            raise RuntimeError("kernel is already running")
        if getattr(_local, "kernel", None) is not None:
            raise RuntimeError("only one kernel may run in a thread at a time")
        coro = instantiate_coroutine(corofunc, args) if corofunc is not None else None
        self._running = True
        _local.kernel = self
        try:
            main = None
            if coro is not None:
                main = self._new_task(coro, daemon=False)
                main._exc_unretrieved = False  # run() reports it to the caller
                self._main_task = main  # for run()'s SIGINT/SIGTERM handling
                try:
                    self._loop(main)
                finally:
                    self._main_task = None
            elif not shutdown:
                self._loop(None)
            if main is not None:
                main._exc_unretrieved = False
                if main._exception is not None:
                    raise main._exception
                return main._result
        finally:
            try:
                if shutdown:
                    self._shutdown()
            finally:
                self._running = False
                _local.kernel = None

    # ------------------------------------------------------------------
    # Task lifecycle
    # ------------------------------------------------------------------
    def _reschedule(self, task: Task, value: Any = None, exc: BaseException | None = None) -> None:
        task._next_value = value
        task._next_exc = exc
        task._state = READY
        task._reason = "READY"
        self._ready.append(task)

    def _terminate(self, task: Task, result: Any, exc: BaseException | None) -> None:
        task._state = TERMINATED
        task._reason = "TERMINATED"
        task.terminated = True
        task._result = result
        if exc is not None:
            task._exception = exc
            if isinstance(exc, CancelledError):
                task.cancelled = True
            else:
                task._exc_unretrieved = True
        if task._timeout_seq is not None:
            self._stale_timers += 1
            task._timeout_seq = None
        del self._tasks[task.id]
        if task._joining is not None:
            task._joining._wake(len(task._joining))
        group = task._taskgroup
        if group is not None:
            group._task_done(task)
        for a in self._activations:
            a.terminated(task)

    def _cancel(self, task: Task, exc: BaseException) -> None:
        """Deliver *exc* to *task* now if it is blocked, else leave it pending."""
        if task.terminated:
            return
        if task._state == BLOCKED and task.allow_cancel:
            waitq = task._waitq
            if waitq is not None:
                waitq._discard(task)
                task._waitq = None
            self._reschedule(task, None, exc)
        elif task.cancel_pending is None:
            task.cancel_pending = exc

    def _block(self, task: Task, waitq: Any, reason: str) -> Any:
        """Common tail of every blocking trap: deliver a pending cancellation
        instead of blocking, or mark the task blocked on *waitq*."""
        pending = task.cancel_pending
        if pending is not None and task.allow_cancel:
            self._throw_exc = task._take_cancel()
            return _THROW
        task._state = BLOCKED
        task._reason = reason
        task._waitq = waitq
        return _SUSPEND

    def _shutdown(self) -> None:
        """Cancel every remaining task, let them finish, close resources.

        Discussion: tasks that refuse to finish.  A task may catch its
        cancellation and carry on.  One still running ``_RECANCEL_FIRST``
        seconds after it was cancelled is named in a warning (the
        ``curionet`` logger) with the place it waits at, and cancelled again
        at whatever blocking call it has reached; again after twice that
        delay, and so on (at most ``_RECANCEL_MAX`` apart).  Whatever is
        still running ``shutdown_timeout`` seconds after the shutdown began
        is abandoned with a second warning: its coroutine is closed and
        ``run()`` returns.  An exception out of the wait (a Ctrl-C or
        SIGTERM: see ``signal._run_guard``) abandons the rest at once.  The
        kernel is closed in every case, so ``__exit__`` does not run the
        shutdown a second time.  So does ``_shutdown_now``, set when a signal
        ends ``run()`` while the main task still cleans up."""
        reaper = None
        try:
            if self._tasks and not self._shutdown_now:
                _local.kernel = self
                reaper = self._new_task(self._reap(), daemon=True)
                reaper.name = "kernel shutdown"
                self._loop(reaper)
        except BaseException as e:
            self._warn_abandoned(f"interrupted by {type(e).__name__}", reaper)
            raise
        else:
            if self._shutdown_now:
                self._warn_abandoned("cut short by a signal", reaper)
        finally:
            try:
                self._abandon()
                for cb in self._shutdown_callbacks:
                    try:
                        cb()
                    except Exception:  # pragma: no cover - defensive
                        log.exception("kernel shutdown callback failed")
            finally:
                self._poller.close()
                if self._notify_sock is not None:
                    for s in self._notify_sock:
                        s.close()
                    self._notify_sock = None
                self._closed = True

    async def _reap(self) -> None:
        """The shutdown task: cancel every other task until none is left
        (see :meth:`_shutdown`)."""
        from .time import ignore_after

        me = await traps._get_current()
        now = self._now
        deadline = now() + self._shutdown_timeout
        delay = _RECANCEL_FIRST
        cancels: dict[Task, int] = {}

        async def wait_all(tasks: list[Task]) -> None:
            for t in tasks:
                await t.wait()

        # Loop: cleanup code may spawn new tasks while we wait.
        while True:
            others = [t for t in self.tasks() if t is not me]
            if not others:
                return
            for t in others:
                if not t._cancel_requested:
                    cancels[t] = 1
                    await traps._cancel_task(t, None)
            async with ignore_after(max(0.0, min(delay, deadline - now()))) as waited:
                await wait_all(others)
            if self._shutdown_now:
                return  # _shutdown() abandons the rest
            if not waited.expired:
                continue
            stubborn = [t for t in others if not t.terminated]
            if now() >= deadline:
                for t in stubborn:
                    log.warning("kernel shutdown: abandoning %s, still running after %d cancellations "
                                "and %g s (shutdown_timeout)", _describe(t), cancels.get(t, 1),
                                self._shutdown_timeout)  # fmt: skip
                return
            for t in stubborn:
                if cancels.setdefault(t, 1) == 1:  # (or cancelled before the shutdown)
                    log.warning("kernel shutdown: %s ignored its cancellation; cancelling it again",
                                _describe(t))  # fmt: skip
                cancels[t] += 1
                await traps._cancel_task(t, None)
            delay = min(2 * delay, _RECANCEL_MAX)

    def _warn_abandoned(self, why: str, reaper: Task | None) -> None:
        left = [t for t in self.tasks() if t is not reaper]
        if left:
            log.warning("kernel shutdown %s: abandoning %s", why, "; ".join(_describe(t) for t in left))

    def _abandon(self) -> None:
        """Forget the tasks left after a shutdown: close their coroutines
        (``GeneratorExit`` runs their ``finally`` blocks; one that awaits in
        there can no longer block, and its error is ignored)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._ready.clear()
        for t in tasks:
            t._state = TERMINATED
            t._reason = "TERMINATED"
            t.terminated = True
            try:
                t.coro.close()
            except Exception:
                pass

    # ------------------------------------------------------------------
    # Cross-thread wake-ups (used by threads, signals, futures)
    # ------------------------------------------------------------------
    def _init_notify(self) -> None:
        if self._notify_sock is None:
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._notify_sock = (r, w)
            fd = r.fileno()
            st = self._fds.setdefault(fd, [None, None, 0, fd])
            st[2] = select.POLLIN
            self._poller.set(r.fileno(), select.POLLIN, 0)

    def call_soon_threadsafe(self, func: Callable[[], Any]) -> None:
        """Run ``func()`` in the kernel thread at its next cycle (callable
        from any thread; ``func`` must not block)."""
        self._threadsafe_calls.append(func)
        notify = self._notify_sock
        if notify is not None:
            try:
                notify[1].send(b"\0")
            except (BlockingIOError, OSError):
                pass  # already full: the kernel is awake anyway

    def _run_threadsafe_calls(self) -> None:
        calls = self._threadsafe_calls
        while calls:
            calls.popleft()()

    # ------------------------------------------------------------------
    # The loop
    # ------------------------------------------------------------------
    def _loop(self, main: Task | None) -> None:
        ready = self._ready
        popleft = ready.popleft
        handlers = self._handlers
        fds = self._fds
        timers = self._timers
        acts = self._activations
        now = self._now
        poll = self._poller.poll
        clock = self._clock
        one_cycle = main is None

        while True:
            # ---- I/O and timers ---------------------------------------
            if ready or one_cycle or self._threadsafe_calls:
                timeout: float | None = 0.0
            elif timers:
                timeout = clock.sleep_time(timers[0][0], now())
                cap = self._max_select_timeout
                if cap is not None and (timeout is None or timeout > cap):
                    timeout = cap
            else:
                timeout = None
            if fds:
                events = poll(timeout) if timeout == 0.0 or not self._busy_poll else self._idle_poll(timeout)
                if events:
                    self._dispatch_io(events)
                elif timers and not ready:
                    clock.idle(timers[0][0])
            elif not ready and not one_cycle:
                if not timers and not self._threadsafe_calls:
                    raise RuntimeError(
                        "deadlock: every task is blocked and no timer, I/O or thread can wake one"
                    )
                if timeout is None:
                    raise RuntimeError(
                        "deadlock: only timers remain and the mock clock does not auto-jump"
                    )
                if timeout > 0.0:
                    # Sleep in the poller, not time.sleep(): a signal handler
                    # (run()'s SIGINT/SIGTERM) can register the wake-up socket
                    # meanwhile and end the wait.
                    events = poll(timeout)
                    if events:
                        self._dispatch_io(events)
                if timers:
                    clock.idle(timers[0][0])
            if self._threadsafe_calls:
                self._run_threadsafe_calls()

            if timers:
                current = now()
                if timers[0][0] <= current:
                    self._fire_timers(current)
                elif len(timers) > 256 and self._stale_timers > len(timers) // 2:
                    self._compact_timers()

            # ---- run every task ready at the start of the cycle ---------
            n = len(ready)
            while n:
                n -= 1
                task = popleft()
                if task._state != READY:
                    continue
                self._current = task
                task._state = RUNNING
                task._reason = "RUNNING"
                task.cycles += 1
                if acts:
                    for a in acts:
                        a.running(task)
                value = task._next_value
                exc = task._next_exc
                if exc is not None:
                    task._next_exc = None
                while True:
                    try:
                        if exc is None:
                            req = task.coro.send(value)
                        else:
                            req = task.coro.throw(exc)
                            exc = None
                    except StopIteration as e:
                        if acts:
                            for a in acts:
                                a.suspended(task, None)
                        self._terminate(task, e.value, None)
                        break
                    except BaseException as e:
                        if acts:
                            for a in acts:
                                a.suspended(task, None)
                        self._terminate(task, None, e)
                        if isinstance(e, (KeyboardInterrupt, SystemExit)) and task is not main:
                            task._exc_unretrieved = False  # run() raises it
                            self._current = None
                            raise
                        break
                    try:
                        value = handlers[req[0]](task, req)
                    except BaseException as e:  # a bad trap or a handler error
                        value = _THROW
                        self._throw_exc = e
                    if value is _SUSPEND:
                        if acts:
                            for a in acts:
                                a.suspended(task, req)
                        break
                    if value is _THROW:
                        exc = self._throw_exc
                        self._throw_exc = None
                        value = None
                if task._state == RUNNING:
                    # Suspended through an immediate trap that rescheduled it.
                    task._state = READY
                    task._reason = "READY"
            self._current = None
            if one_cycle or (main is not None and main.terminated):
                return

    def _idle_poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for I/O with no task ready: if something was sent since the
        last wait, spin for up to ``busy_poll`` seconds first unless recent
        spins failed, then block.

        A failed spin skips the next 1, 2, 4 ... 64 spins (reset by a spin
        that succeeds), and only idle waits shorter than ``_SPIN_SHORT``
        count towards those skips, so a quiet kernel stops spinning after
        one try and traffic that does not fit the window wastes at most one
        window every 64 waits."""
        window = self._busy_poll
        sent = send_hint.sent
        send_hint.sent = False
        if not sent or (timeout is not None and timeout <= window):
            # Only receives since the last wait (no answer is due, as between
            # the bursts of a download), or a timer is due within the
            # window: just wait.
            return self._poller.poll(timeout)
        poll = self._poller.poll
        if self._spin_skip:
            start = time.monotonic()
            events = poll(timeout)
            if events and time.monotonic() - start <= _SPIN_SHORT:
                self._spin_skip -= 1
            return events
        end = time.monotonic() + window
        while True:
            events = poll(0.0)
            if events:
                self._spin_backoff = 1
                return events
            if time.monotonic() >= end:
                break
            _sched_yield()  # let a runnable peer on this CPU have it
        self._spin_skip = self._spin_backoff
        self._spin_backoff = min(2 * self._spin_backoff, 64)
        return poll(None if timeout is None else timeout - window)

    def _dispatch_io(self, events: list[tuple[int, int]]) -> None:
        fds = self._fds
        ready = self._ready
        notify = self._notify_sock
        notify_fd = notify[0].fileno() if notify is not None else -1
        for fd, ev in events:
            if fd == notify_fd:
                try:
                    while notify[0].recv(4096):  # type: ignore[index]
                        pass
                except OSError:
                    pass
                continue
            st = fds.get(fd)
            if st is None:
                continue
            drop = 0
            if ev & _EV_READ:
                task = st[0]
                if task is not None:
                    st[0] = None
                    task._waitq = None
                    task._next_value = None
                    task._state = READY
                    task._reason = "READY"
                    ready.append(task)
                elif st[2] & _POLLIN:
                    drop = _POLLIN
            if ev & _EV_WRITE:
                task = st[1]
                if task is not None:
                    st[1] = None
                    task._waitq = None
                    task._next_value = None
                    task._state = READY
                    task._reason = "READY"
                    ready.append(task)
                elif st[2] & _POLLOUT:
                    drop |= _POLLOUT
            if drop:
                # Lazy unregistration: interest stays registered while tasks
                # keep waiting; an event nobody waits for any more drops it.
                new = st[2] & ~drop
                try:
                    self._poller.set(fd, new, st[2])
                except OSError:  # the fd was closed behind our back
                    self._io_forget(fd, None, f"fd {fd} was closed while a task waited on it")
                    continue
                if new:
                    st[2] = new
                else:
                    del fds[fd]

    def _fire_timers(self, current: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= current:
            _, seq, task, is_timeout = heapq.heappop(timers)
            if is_timeout:
                if task._timeout_seq != seq:
                    self._stale_timers -= 1
                    continue
                task._timeout_seq = None
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
                if task._waitq is self._sleep_wait and task._wait_data == seq:
                    task._waitq = None
                    self._reschedule(task, current)
                else:
                    self._stale_timers -= 1

    def _compact_timers(self) -> None:
        live = []
        for entry in self._timers:
            _, seq, task, is_timeout = entry
            if is_timeout:
                if task._timeout_seq == seq:
                    live.append(entry)
            elif task._waitq is self._sleep_wait and task._wait_data == seq:
                live.append(entry)
        heapq.heapify(live)
        self._timers[:] = live
        self._stale_timers = 0

    def _arm_timeout(self, task: Task) -> None:
        """(Re)arm the timer for the earliest unfired deadline of *task*."""
        best = None
        for deadline, fired in task._deadlines or ():
            if not fired and (best is None or deadline < best):
                best = deadline
        old = task._timeout_seq
        if best is None:
            if old is not None:
                self._stale_timers += 1
                task._timeout_seq = None
            return
        if old is not None:
            self._stale_timers += 1
        seq = next(self._timer_seq)
        task._timeout_seq = seq
        heapq.heappush(self._timers, (best, seq, task, True))

    # ------------------------------------------------------------------
    # Trap handlers: handler(task, request) -> value | _SUSPEND | _THROW
    # ------------------------------------------------------------------
    def _trap_schedule(self, task: Task, req: Any) -> Any:
        pending = task.cancel_pending
        if pending is not None and task.allow_cancel:
            self._throw_exc = task._take_cancel()
            return _THROW
        task._next_value = None
        task._state = READY
        task._reason = "READY"
        self._ready.append(task)
        return _SUSPEND

    def _trap_sleep(self, task: Task, req: Any) -> Any:
        seq = next(self._timer_seq)
        r = self._block(task, self._sleep_wait, "TIME_SLEEP")
        if r is _SUSPEND:
            task._wait_data = seq
            heapq.heappush(self._timers, (self._now() + req[1], seq, task, False))
        return r

    def _trap_io_wait(self, task: Task, req: Any) -> Any:
        fileobj = req[1]
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd < 0:
            raise ClosedResourceError("file descriptor is closed")
        st = self._fds.get(fd)
        if st is None:
            st = self._fds[fd] = [None, None, 0, fd]
        if req[2] == traps.READ:
            which, bit, reason = 0, select.POLLIN, "READ_WAIT"
        else:
            which, bit, reason = 1, select.POLLOUT, "WRITE_WAIT"
        if st[3] is not fd or not st[2] & bit:
            # A new interest, or another owner of this number (maybe a new
            # file: see the module's Discussion).
            self._io_register(task, fd, st, bit)
        other = st[which]
        if other is not None and other is not task:
            raise (ReadResourceBusy if which == 0 else WriteResourceBusy)(
                f"another task ({other!r}) is already {'reading from' if which == 0 else 'writing to'} fd {fd}"
            )
        r = self._block(task, self._io_wait, reason)
        if r is _SUSPEND:
            st[which] = task
            task._wait_data = (fd, which)
        return r

    def _io_register(self, task: Task, fd: int, st: list[Any], bit: int) -> None:
        """Slow path of an I/O wait: add *bit* to the interest registered for
        *fd*, and re-register *fd* when another owner token waits on it."""
        owner, mask = st[3], st[2]
        new = mask | bit
        poller = self._poller
        try:
            if owner is fd or (type(owner) is int and type(fd) is int):
                if new != mask:
                    poller.set(fd, new, mask)
            elif mask:
                try:
                    poller.modify(fd, new)  # the same open file (a stream of a socket, a TLS wrapper)
                except FileNotFoundError:
                    # epoll has no such file at this number: the registered
                    # one was closed and the number reused.
                    for w in (0, 1):
                        waiter = st[w]
                        if waiter is not None:
                            st[w] = None
                            waiter._waitq = None
                            self._reschedule(waiter, None, ClosedResourceError(
                                f"fd {fd} was closed (and reused) while a task waited on it"))  # fmt: skip
                    poller.set(fd, new, 0)
            else:
                poller.set(fd, new, 0)
        except OSError as e:
            if e.errno == errno.EBADF:
                self._io_forget(fd, task, f"fd {fd} was closed while a task waited on it")
                raise ClosedResourceError(f"fd {fd} is not open") from e
            if st[2] == 0 and st[0] is None and st[1] is None:
                del self._fds[fd]  # nothing registered: keep no books (EPERM: a regular file)
            raise
        st[2] = new
        st[3] = fd

    def _io_forget(self, fd: int, task: Task | None, why: str) -> None:
        """Drop *fd* from the books and the poller; wake its waiters (other
        than *task*) with ``ClosedResourceError(why)``."""
        st = self._fds.pop(fd, None)
        if st is not None:
            if st[2]:
                self._poller.set(fd, 0, st[2])
            for waiter in st[:2]:
                if waiter is not None and waiter is not task:
                    waiter._waitq = None
                    self._reschedule(waiter, None, ClosedResourceError(why))

    def _trap_io_release(self, task: Task, req: Any) -> Any:
        fileobj = req[1]
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        self._io_forget(fd, task, f"fd {fd} was closed while a task waited on it")
        return None

    def _trap_io_waiting(self, task: Task, req: Any) -> Any:
        fileobj = req[1]
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        st = self._fds.get(fd)
        if st is None:
            return (None, None)
        return (st[0], st[1])

    def _trap_future_wait(self, task: Task, req: Any) -> Any:
        fut, event = req[1], req[2]
        r = self._block(task, _FUTURE_WAIT, "FUTURE_WAIT")
        if r is not _SUSPEND:
            return r
        self._init_notify()
        task._wait_data = fut
        fut._curionet_waiter = task

        def _done(f: Any, task: Task = task) -> None:
            def _wake() -> None:
                if getattr(f, "_curionet_waiter", None) is task and task._waitq is _FUTURE_WAIT:
                    f._curionet_waiter = None
                    task._waitq = None
                    task._wait_data = None
                    self._reschedule(task, None)

            self.call_soon_threadsafe(_wake)

        fut.add_done_callback(_done)
        if event is not None:
            event.set()
        return _SUSPEND

    def _trap_cancel_task(self, task: Task, req: Any) -> Any:
        target, exc, val = req[1], req[2], req[3]
        if target.terminated:
            return None
        if exc is None:
            exc = TaskCancelled
        if isinstance(exc, type):
            exc = exc(val if val is not None else exc.__name__)
        target._cancel_requested = True
        # A cancelled task gets no timeout while it cleans up, and a timeout
        # still pending does not take the cancellation's place.
        for entry in target._deadlines or ():
            entry[1] = True
        if target._timeout_seq is not None:
            self._stale_timers += 1
            target._timeout_seq = None
        if isinstance(target.cancel_pending, TaskTimeout):
            target.cancel_pending = None
        if target is task:
            if task.cancel_pending is None:
                task.cancel_pending = exc
        else:
            self._cancel(target, exc)
        return None

    def _trap_sched_wait(self, task: Task, req: Any) -> Any:
        sched = req[1]
        r = self._block(task, sched, req[2])
        if r is _SUSPEND:
            sched._add(task)
        return r

    def _trap_get_kernel(self, task: Task, req: Any) -> Any:
        return self

    def _trap_get_current(self, task: Task, req: Any) -> Any:
        return task

    def _trap_clock(self, task: Task, req: Any) -> Any:
        return self._now()

    def _trap_spawn(self, task: Task, req: Any) -> Any:
        return self._new_task(req[1], req[2])

    def _trap_set_timeout(self, task: Task, req: Any) -> Any:
        seconds = req[1]
        deadline = float("inf") if seconds is None else self._now() + seconds
        entry = [deadline, False]
        if task._deadlines is None:
            task._deadlines = [entry]
        else:
            task._deadlines.append(entry)
        current = None
        if task._timeout_seq is not None:
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


def _describe(task: Task) -> str:
    filename, lineno = task.where()
    where = f" at {filename}:{lineno}" if filename else ""
    return f"task {task.id} ({task.name}){where}"


def run(corofunc: Any, *args: Any, debug: Any = None, selector: Any = None,
        with_monitor: bool = False, taskcls: type[Task] = Task, clock: Any = None,
        activations: Any = None, **kernel_extra: Any) -> Any:  # fmt: skip
    """Run ``corofunc(*args)`` on a new kernel, shut it down, return the result.

    Raises ``RuntimeError`` if a kernel is already running in this thread.
    """
    if getattr(_local, "kernel", None) is not None:
        raise RuntimeError("run() called while a kernel is already running in this thread")
    kernel = Kernel(debug=debug, selector=selector, taskcls=taskcls, clock=clock,
                    activations=activations, **kernel_extra)  # fmt: skip
    guard = _run_guard
    if guard is None:
        if with_monitor:
            raise RuntimeError("run(with_monitor=True) needs curionet.signal, which installs the monitor")
        guard = _no_guard
    with kernel, guard(kernel, with_monitor):
        return kernel.run(corofunc, *args, shutdown=True)


# What run() wraps around a kernel's run: SIGINT/SIGTERM handling and the
# monitor.  Installed by curionet.signal (which the package imports), so that
# the kernel imports no module above it.
_run_guard: Callable[[Kernel, bool], AbstractContextManager[Any]] | None = None


def _no_guard(kernel: Kernel, with_monitor: bool) -> AbstractContextManager[Any]:
    return nullcontext()


def set_run_guard(guard: Callable[[Kernel, bool], AbstractContextManager[Any]] | None) -> None:
    """Make ``guard(kernel, with_monitor)`` the context manager that
    :func:`run` enters around each kernel it runs (``None``: none)."""
    global _run_guard
    _run_guard = guard


def current_kernel() -> Kernel | None:
    """The kernel running in this thread, or ``None``."""
    return getattr(_local, "kernel", None)


_ = (os, RUNNING)
