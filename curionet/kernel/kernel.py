"""The kernel: scheduler, run loop and trap dispatch.

The kernel knows four things: the ready queue, the I/O poller (epoll on
Linux), the timer heap and one wait protocol (a blocked task records what to
undo if it is cancelled: a wait queue, an fd registration or a timer).
Everything else (locks, events, queues, task groups, timeouts' policy) is
built outside this file on the traps in ``traps.py``.  Code above the kernel
(threads, worker pools, signals, the monitor) uses it only through
``lowlevel.py`` and the public methods of :class:`Kernel`, and the kernel
imports none of it: what it needs from there is a hook installed at import
(:func:`set_run_guard`, ``task.set_thread_spawner``).

This file holds the loop, the trap table and the task lifecycle.  The
descriptor books and busy polling are in ``poll.py``, the timer heap in
``timers.py``, the shutdown in ``shutdown.py``: mixin classes
:class:`Kernel` inherits, so their methods are the kernel's own and cost the
same to call.

Discussion: the run loop.  Each cycle runs every task that is ready at its
start, once each; a task that performs an immediate trap (``_get_current``,
``_clock``, ``_spawn`` ...) keeps running without a trip through the ready
queue.  Between cycles the kernel polls for I/O (without blocking when tasks
are ready, or until the next timer otherwise) and fires expired timers.  When
nothing is ready, no timer is pending and no file descriptor is registered,
nothing can ever wake a task, and ``run()`` raises ``RuntimeError`` rather
than hanging.  (I/O registrations are lazy, and a descriptor closed behind
the kernel's back is detected: see ``poll.py``.)
"""

from __future__ import annotations

import heapq
import select
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager, nullcontext
from itertools import count
from typing import Any, TypeVar, overload

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
from .poll import _IOMixin, send_hint
from .shutdown import _ShutdownMixin
from .task import BLOCKED, READY, RUNNING, TERMINATED, Task, instantiate_coroutine
from .timers import _TimerMixin

__all__ = ["Kernel", "run", "Activation", "send_hint"]

_T = TypeVar("_T")

_local = threading.local()

# Sentinels returned by trap handlers.
_SUSPEND = object()  # the task is blocked (or was rescheduled)
_THROW = object()  # raise Kernel._throw_exc into the task right away


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


class Kernel(_IOMixin, _TimerMixin, _ShutdownMixin):
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
        self._now: Callable[[], float] = self._clock.current_time
        self._taskcls = taskcls
        self._ready: deque[Task] = deque()
        self._tasks: dict[int, Task] = {}
        self._task_ids = count(1)
        self._current: Task | None = None
        self._main_task: Task | None = None
        self._throw_exc: BaseException | None = None
        self._max_select_timeout = max_select_timeout
        self._threadsafe_calls: deque[Callable[[], Any]] = deque()
        self._running = False
        #: Worker pools kept by this kernel, by name (see :meth:`register_pool`).
        self.pools: dict[str, Any] = {}
        self._init_shutdown(shutdown_timeout)
        # Spinning reads the real clock: never with a mock clock.
        self._init_io(busy_poll, spin=isinstance(self._clock, SystemClock))
        self._init_timers()
        self._activations: list[Any] = _make_activations(debug, activations)
        for a in self._activations:
            a.activate(self)
        self._handlers = self._trap_table()

    def _trap_table(self) -> list[Callable[[Task, tuple[Any, ...]], Any]]:
        """The dispatch table: trap kind (``traps.T_*``) -> handler."""
        h: list[Callable[[Task, tuple[Any, ...]], Any]] = [None] * 14  # type: ignore[list-item]
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
        return h

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
                    _local.kernel = self  # the shutdown runs tasks (see shutdown.py)
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
        if task._timeout_entry is not None:
            task._timeout_entry[2] = None  # the heap entry lets go of the task
            self._stale_timers += 1
            task._timeout_entry = None
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

    # ------------------------------------------------------------------
    # Cross-thread wake-ups (used by threads, signals, futures)
    # ------------------------------------------------------------------
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
        r = self._block(task, self._sleep_wait, "TIME_SLEEP")
        if r is _SUSPEND:
            entry = [self._now() + req[1], next(self._timer_seq), task, False]
            task._wait_data = entry
            heapq.heappush(self._timers, entry)
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
        # What _block does, written out: every socket wait comes here.
        if task.cancel_pending is not None and task.allow_cancel:
            self._throw_exc = task._take_cancel()
            return _THROW
        task._state = BLOCKED
        task._reason = reason
        task._waitq = self._io_wait
        st[which] = task
        # A _recv_wait leaves its request for _dispatch_io to carry out.
        task._wait_data = (fd, which) if len(req) == 3 else (fd, which, req)
        return _SUSPEND

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
        if target._timeout_entry is not None:
            target._timeout_entry[2] = None
            self._stale_timers += 1
            target._timeout_entry = None
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


def _make_activations(debug: Any, activations: Any) -> list[Any]:
    """The activation objects for ``Kernel(debug=..., activations=...)``:
    each argument is one activation or a list of them, a class is
    instantiated, and ``debug=True`` means Curio's default tracing."""
    acts = []
    if debug is True:
        from ..debug import schedtrace

        debug = schedtrace
    for group in (debug, activations):
        if group is None or group is False:
            continue
        if not isinstance(group, (list, tuple)):
            group = [group]
        for a in group:
            acts.append(a() if isinstance(a, type) else a)
    return acts


@overload
def run(corofunc: Coroutine[Any, Any, _T], *, debug: Any = None, selector: Any = None,
        with_monitor: bool = False, taskcls: type[Task[Any]] = Task, clock: Any = None,
        activations: Any = None, **kernel_extra: Any) -> _T: ...  # fmt: skip
@overload
def run(corofunc: Callable[..., Awaitable[_T]], *args: Any, debug: Any = None, selector: Any = None,
        with_monitor: bool = False, taskcls: type[Task[Any]] = Task, clock: Any = None,
        activations: Any = None, **kernel_extra: Any) -> _T: ...  # fmt: skip


def run(corofunc: Any, *args: Any, debug: Any = None, selector: Any = None,
        with_monitor: bool = False, taskcls: type[Task[Any]] = Task, clock: Any = None,
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
