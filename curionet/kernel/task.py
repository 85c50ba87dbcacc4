"""Tasks, task groups and cancellation control.

A :class:`Task` wraps one coroutine.  The kernel drives it; everything a user
does with it (join, cancel, inspect) is here.  :class:`TaskGroup` is built on
top, outside the kernel loop, using wait queues from ``sched.py``.

Discussion: unretrieved failures.  Curio 1.6 removed ``TaskGroupError`` and
made ``TaskGroup.join()`` return normally when a member fails; the failure is
read from ``g.result``/``g.results``/``task.result``.  Curio's own change log
admits the cost: an exception can pass silently if nobody looks.  curionet
keeps Curio's contract (so Curio programs such as the Happy Eyeballs recipe
with ``wait=object`` keep working) but closes the hole: a task that ends with
an exception nobody ever retrieved (via ``join()``, ``result``, ``exception``,
or the group's ``result``/``results``/``exception``/``exceptions``) is
reported once through the ``curionet`` logger when the task is discarded.
Under ``wait=object`` the failures ``join()`` passes over (in the hunt for the
first non-``None`` result) count as seen: they are the expected outcome of,
for example, losing connection attempts.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import os
import traceback as _tb
from collections.abc import Awaitable, Callable, Coroutine
from types import CoroutineType, FunctionType
from typing import Any, Generic, TypeVar, overload

from ..errors import CancelledError, TaskCancelled, TaskError, TaskTimeout
from .athread import sync_enter, sync_exit, sync_iter, sync_next
from .sched import SchedBarrier, SchedFIFO
from .traps import _cancel_task, _get_current, _scheduler_wait, _spawn

__all__ = [
    "Task",
    "ContextTask",
    "TaskGroup",
    "spawn",
    "current_task",
    "disable_cancellation",
    "check_cancellation",
    "set_cancellation",
]

log = logging.getLogger("curionet")

# Task._state values.  Kernel logic compares these ints; the string in
# Task._reason only names a wait for people (Task.state, the monitor).
READY, RUNNING, BLOCKED, TERMINATED = range(4)

# The state of a deadline in Task._deadlines, a stack of [deadline, state]
# entries, outermost block first.  ARMED: not passed yet.  DUE: passed, and
# the timeout is delivered at the next blocking operation, again and again
# while the task is inside a timeout block nested in this one (see
# Task._take_cancel).  SPENT: delivered to its own block as the innermost
# one, or the task was cancelled; never delivered again.  ARMED is the only
# false value.
DEADLINE_ARMED, DEADLINE_SPENT, DEADLINE_DUE = 0, 1, 2

_MISSING: Any = object()
_KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))


def instantiate_coroutine(corofunc: Any, args: tuple[Any, ...]) -> Coroutine[Any, Any, Any]:
    """Turn ``(corofunc, *args)`` or a coroutine object into a coroutine."""
    if type(corofunc) is FunctionType:  # the common case: an async def function
        coro = corofunc(*args)
        if type(coro) is CoroutineType:
            return coro  # type: ignore[no-any-return]
        return _check_coroutine(corofunc, coro)
    if type(corofunc) is CoroutineType:
        if args:
            corofunc.close()
            raise TypeError("arguments cannot be given together with a coroutine object")
        return corofunc  # type: ignore[no-any-return]
    if isinstance(corofunc, Coroutine) or (inspect.isgenerator(corofunc) and inspect.isawaitable(corofunc)):
        if args:
            corofunc.close()
            raise TypeError("arguments cannot be given together with a coroutine object")
        return corofunc
    if not callable(corofunc):
        raise TypeError(f"expected a coroutine or an async function, got {corofunc!r}")
    return _check_coroutine(corofunc, corofunc(*args))


def _check_coroutine(corofunc: Any, coro: Any) -> Coroutine[Any, Any, Any]:
    if not isinstance(coro, Coroutine) and not (inspect.isgenerator(coro) and inspect.isawaitable(coro)):
        name = getattr(corofunc, "__qualname__", repr(corofunc))
        raise TypeError(f"{name}() did not return a coroutine (is it 'async def'?)")
    return coro


_T = TypeVar("_T")


class Task(Generic[_T]):
    """A running coroutine.  Created by :func:`spawn`; never directly.

    Generic for type checkers: a task running a coroutine that returns
    ``T`` is a ``Task[T]``, and ``join()`` and ``result`` give a ``T``.
    """

    __slots__ = (
        "id", "name", "coro", "daemon", "cycles",
        "_kernel",
        "_state", "_reason", "_next_value", "_next_exc",
        "_waitq", "_wait_data",
        "cancel_pending", "allow_cancel", "_cancel_requested",
        "_deadlines", "_timeout_entry",
        "_result", "_exception", "_exc_unretrieved", "_joining", "_taskgroup",
        "cancelled", "terminated", "__weakref__",
    )  # fmt: skip

    def __init__(self, coro: Coroutine[Any, Any, Any], kernel: Any, task_id: int, daemon: bool = False) -> None:
        self.id = task_id
        self.coro = coro
        self.name = getattr(coro, "__qualname__", None) or str(coro)
        self.daemon = daemon
        self.cycles = 0
        self._kernel = kernel
        self._state = READY
        self._reason = "READY"
        self._next_value: Any = None
        self._next_exc: BaseException | None = None
        self._waitq: Any = None  # what to undo if cancelled while blocked
        self._wait_data: Any = None
        self.cancel_pending: BaseException | None = None
        self.allow_cancel = True
        self._cancel_requested = False
        self._deadlines: list[list[Any]] | None = None  # stack of [deadline, DEADLINE_* state]
        self._timeout_entry: list[Any] | None = None  # its live timer heap entry
        self._result: Any = None
        self._exception: BaseException | None = None
        self._exc_unretrieved = False
        self._joining: SchedBarrier | None = None
        self._taskgroup: TaskGroup | None = None
        self.cancelled = False
        self.terminated = False

    def __repr__(self) -> str:
        return f"Task(id={self.id}, name={self.name!r}, state={self.state!r})"

    def __str__(self) -> str:
        filename, lineno = self.where()
        where = f" at {filename}:{lineno}" if filename else ""
        return f"{self!r}{where}"

    def __del__(self) -> None:
        if self._exc_unretrieved:
            self._exc_unretrieved = False
            exc = self._exception
            try:
                log.error(
                    "Task %d (%s) crashed and its exception was never retrieved",
                    self.id, self.name, exc_info=(type(exc), exc, exc.__traceback__) if exc else None,
                )  # fmt: skip
            except Exception:  # pragma: no cover - interpreter shutdown
                pass

    # -- inspection -------------------------------------------------------
    @property
    def state(self) -> str:
        """The task's state as a name (``'READY'``, ``'TIME_SLEEP'``, ...)."""
        return self._reason

    @property
    def result(self) -> _T:
        """The task's return value; re-raises the exception it failed with."""
        if not self.terminated:
            raise RuntimeError("Task not terminated")
        self._exc_unretrieved = False
        if self._exception is not None:
            raise self._exception
        return self._result  # type: ignore[no-any-return]

    @result.setter
    def result(self, value: _T) -> None:
        self._result = value
        self._exception = None

    @property
    def exception(self) -> BaseException | None:
        """The exception that ended the task, or ``None``; ``RuntimeError``
        while the task is still running (as in Curio)."""
        if not self.terminated:
            raise RuntimeError("Task not terminated")
        self._exc_unretrieved = False
        return self._exception

    @exception.setter
    def exception(self, value: BaseException | None) -> None:
        self._exception = value

    def _frames(self) -> list[Any]:
        frames = []
        obj: Any = self.coro
        while obj is not None:
            frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
            if frame is not None:
                frames.append(frame)
            obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
        return frames

    def where(self) -> tuple[str | None, int | None]:
        """``(filename, lineno)`` of the innermost point the task is suspended
        at, outside curionet's own kernel modules when there is such a frame."""
        frames = self._frames()
        if not frames:
            return (None, None)
        outside = [f for f in frames if not f.f_code.co_filename.startswith(_KERNEL_DIR)]
        f = (outside or frames)[-1]
        return (f.f_code.co_filename, f.f_lineno)

    def traceback(self) -> str:
        """A formatted stack of where the task is suspended."""
        lines = []
        for f in self._frames():
            lines.extend(_tb.format_stack(f, limit=1))
        return "".join(lines)

    # -- pending cancellation and deadlines (called by the kernel) ---------
    def _take_cancel(self) -> BaseException:
        """Clear and return the pending cancellation, which the caller raises
        in the task now.

        An expired deadline is not done with when its timeout is raised: the
        exception may be caught by code inside the block, or by code between
        a nested block and this one.  Until the timeout is raised while the
        block it belongs to is the innermost timeout block, it is pending
        again at once, for the next blocking operation."""
        exc = self.cancel_pending
        assert exc is not None
        self.cancel_pending = None
        if self._deadlines is not None:
            self._timeout_raised(exc)
        return exc

    def _timeout_raised(self, exc: BaseException) -> None:
        """*exc* is being raised in the task: settle its due deadline (see
        :meth:`_take_cancel`)."""
        stack = self._deadlines
        assert stack is not None
        for index, entry in enumerate(stack):  # noqa: B007
            if entry[1] == DEADLINE_DUE:
                break
        else:
            return
        if type(exc) is TaskTimeout:
            if index == len(stack) - 1:
                entry[1] = DEADLINE_SPENT
            elif self.cancel_pending is None:
                self.cancel_pending = TaskTimeout(*exc.args)
        elif self.cancel_pending is None:
            # Another exception took the timeout's turn.
            self.cancel_pending = TaskTimeout(entry[0])

    # -- waiting and cancelling ------------------------------------------
    async def wait(self) -> None:
        """Wait for the task to terminate; return nothing, raise nothing."""
        if not self.terminated:
            if self._joining is None:
                self._joining = SchedBarrier()
            await _scheduler_wait(self._joining, "TASK_JOIN")

    async def join(self) -> _T:
        """Wait for the task and return its result.

        A failure is raised as :class:`TaskError` chained (``__cause__``) to
        the exception that ended the task.  Joining a task removes it from its
        task group."""
        if self._taskgroup is not None:
            self._taskgroup._discard(self)
        await self.wait()
        self._exc_unretrieved = False
        if self._exception is not None:
            raise TaskError("Task crashed") from self._exception
        return self._result  # type: ignore[no-any-return]

    async def cancel(self, blocking: bool = True, exc: Any = TaskCancelled) -> bool:
        """Cancel the task by raising *exc* (a class or instance) in it.

        With ``blocking=True`` wait until it has terminated.  Cancelling a
        terminated task does nothing.  Uncaught exceptions the task raises
        while handling the cancellation are logged, not propagated.
        Returns ``True`` if this call requested the cancellation."""
        if self._taskgroup is not None:
            self._taskgroup._discard(self)
        if self.terminated:
            return False
        first = not self._cancel_requested
        if first:
            await _cancel_task(self, exc)
        if blocking:
            await self.wait()
            if self._exception is not None and not isinstance(self._exception, CancelledError):
                self._exc_unretrieved = False
                log.error("Task %d (%s) failed while being cancelled", self.id, self.name,
                          exc_info=(type(self._exception), self._exception, self._exception.__traceback__))  # fmt: skip
        return first


class _ContextCoroutine:
    """What the kernel drives for a :class:`ContextTask`: the task's coroutine,
    each step of which runs inside the task's ``contextvars.Context``.  Every
    other attribute (``cr_frame``, ``cr_await``, ``__qualname__`` ...) is the
    coroutine's own, so ``where()`` and the monitor see through it."""

    __slots__ = ("_coro", "_context")

    def __init__(self, coro: Any, context: contextvars.Context) -> None:
        self._coro = coro
        self._context = context

    def send(self, value: Any) -> Any:
        return self._context.run(self._coro.send, value)

    def throw(self, exc: BaseException) -> Any:
        return self._context.run(self._coro.throw, exc)

    def close(self) -> None:
        self._context.run(self._coro.close)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coro, name)

    def __repr__(self) -> str:
        return repr(self._coro)


class ContextTask(Task[_T]):
    """A task that runs in its own copy of the ``contextvars`` context
    (Curio's ``ContextTask``): ``Kernel(taskcls=ContextTask)`` or
    ``run(main, taskcls=ContextTask)``.

    A task starts with a copy of the context of the task that spawned it (the
    main task: of the thread that called ``run()``), so values set before a
    ``spawn`` are inherited and values set afterwards, in either task, stay
    in that task."""

    __slots__ = ("_context",)

    def __init__(self, coro: Coroutine[Any, Any, Any], kernel: Any, task_id: int, daemon: bool = False) -> None:
        super().__init__(coro, kernel, task_id, daemon)
        parent = getattr(kernel, "_current", None)
        parent_context = getattr(parent, "_context", None)
        self._context = parent_context.copy() if parent_context is not None else contextvars.copy_context()
        self.coro = _ContextCoroutine(coro, self._context)  # type: ignore[assignment]


@overload
async def spawn(corofunc: Coroutine[Any, Any, _T], *, daemon: bool = False) -> Task[_T]: ...
@overload
async def spawn(corofunc: Callable[..., Awaitable[_T]], *args: Any, daemon: bool = False) -> Task[_T]: ...


async def spawn(corofunc: Any, *args: Any, daemon: bool = False) -> Task[Any]:
    """Start ``corofunc(*args)`` (or a coroutine object) as a new task."""
    return await _spawn(instantiate_coroutine(corofunc, args), daemon)


async def current_task() -> Task[Any]:
    """Return the :class:`Task` running the caller."""
    return await _get_current()


# ---------------------------------------------------------------------------
# Task groups
# ---------------------------------------------------------------------------


class TaskGroup:
    """A group of tasks joined together (Curio's ``TaskGroup``).

    ``wait`` sets what :meth:`join` waits for: ``all`` (every task), ``any``
    (the first task to finish), ``object`` (the first task to return
    something other than ``None``), or ``None`` (cancel everything at once).
    When join stops waiting, or a member fails under ``wait=all``, or the
    ``async with`` body raises, the remaining tasks are cancelled.  No member
    task outlives the group.
    """

    def __init__(self, tasks: Any = (), *, wait: Any = all) -> None:
        if wait not in (all, any, object, None):
            raise ValueError("wait must be one of all, any, object, None")
        self._wait = wait
        self._running: dict[Task, None] = {}  # non-daemon members still running
        self._daemons: dict[Task, None] = {}
        self._finished: list[Task] = []  # terminated, not yet handed out by next_done
        self._collected: list[Task] = []  # handed out by next_done (join's record)
        self._waiting = SchedFIFO()
        self._joined = False
        self.completed: Task | None = None
        for task in tasks:
            self._add(task)

    def __repr__(self) -> str:
        return f"<TaskGroup running={len(self._running)} finished={len(self._finished)}>"

    # -- membership, called synchronously (also by the kernel) -------------
    def _add(self, task: Task) -> None:
        if task._taskgroup is not None:
            raise RuntimeError("task is already in a task group")
        if self._joined:
            raise RuntimeError("task group has already been joined")
        task._taskgroup = self
        if task.daemon:
            self._daemons[task] = None
        elif task.terminated:
            self._finished.append(task)
        else:
            self._running[task] = None

    def _task_done(self, task: Task) -> None:
        """Kernel callback: a member terminated."""
        if task.daemon:
            self._daemons.pop(task, None)
            task._taskgroup = None
            return
        if self._running.pop(task, _MISSING) is not _MISSING:
            self._finished.append(task)
            self._wake_waiters()

    def _discard(self, task: Task) -> None:
        """Remove *task* from the group (it was joined or cancelled directly)."""
        self._running.pop(task, None)
        self._daemons.pop(task, None)
        if task in self._finished:
            self._finished.remove(task)
        task._taskgroup = None
        if not self._running:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        # One finished task serves one next_done() waiter.  Once no member is
        # running, every waiter must re-check: it takes a finished task or
        # returns None, instead of waiting for a member that no longer exists
        # (after cancel_remaining(), a cancelled join(), or a member joined or
        # cancelled directly).
        if self._waiting:
            self._waiting._wake(1 if self._running else len(self._waiting))

    # -- public API -------------------------------------------------------
    @overload
    async def spawn(self, coro: Coroutine[Any, Any, _T], *, daemon: bool = False) -> Task[_T]: ...
    @overload
    async def spawn(self, coro: Callable[..., Awaitable[_T]], *args: Any, daemon: bool = False) -> Task[_T]: ...

    async def spawn(self, coro: Any, *args: Any, daemon: bool = False) -> Task[Any]:
        """Start ``coro(*args)`` (or the coroutine object *coro*) as a member
        of the group."""
        if self._joined:
            raise RuntimeError("task group has already been joined")
        task = await _spawn(instantiate_coroutine(coro, args), daemon)
        self._add(task)
        return task

    async def add_task(self, task: Task) -> None:
        """Add an existing task to the group."""
        self._add(task)

    async def next_done(self) -> Task | None:
        """Wait for and return the next member to terminate; ``None`` when no
        members remain."""
        while not self._finished:
            if not self._running:
                return None
            await _scheduler_wait(self._waiting, "TASKGROUP_WAIT")
        task = self._finished.pop(0)
        self._collected.append(task)
        if self.completed is None:
            # The first task to satisfy the wait policy completes the group,
            # whether join() or the caller (next_done/next_result/async for)
            # collected it.
            if self._wait is object:
                if task._exception is None and task._result is not None:
                    self.completed = task
            else:
                self.completed = task
        return task

    async def next_result(self) -> Any:
        """Wait for the next member to terminate and return its result (its
        exception is raised)."""
        task = await self.next_done()
        if task is None:
            raise RuntimeError("no task available")
        return task.result

    async def join(self) -> None:
        """Wait for the members according to the group's ``wait`` policy, then
        cancel whatever is still running (including daemons).

        Under ``wait=any`` and ``wait=object`` a task the caller already
        collected with :meth:`next_done`/:meth:`next_result` counts: if it
        satisfied the policy, ``join()`` waits no further.  (Curio 1.6 keeps
        waiting for *another* such task, so its own Happy Eyeballs recipe
        hangs when a losing attempt hangs.)"""
        try:
            wait = self._wait
            if wait is not None:
                while not (wait is not all and self.completed is not None):
                    task = await self.next_done()
                    if task is None:
                        break
                    exc = task._exception
                    if wait is object:
                        if exc is not None:
                            # wait=object asks for the first real result;
                            # failed attempts are expected, consumed here.
                            task._exc_unretrieved = False
                        continue
                    if wait is all and exc is not None and not isinstance(exc, CancelledError):
                        break
        finally:
            await self._cancel_all(include_daemons=True)
            self._joined = True

    async def _cancel_all(self, include_daemons: bool) -> None:
        victims = list(self._running)
        if include_daemons:
            victims.extend(self._daemons)
        for task in victims:
            self._discard(task)
        for task in victims:
            if not task._cancel_requested and not task.terminated:
                await _cancel_task(task, None)
        # Wait for the members to end even if a cancellation or timeout
        # arrives meanwhile (it is raised afterwards): none outlives the group.
        if victims:
            async with disable_cancellation():
                for task in victims:
                    await task.wait()
        for task in victims:
            exc = task._exception
            if exc is not None and not isinstance(exc, CancelledError):
                task._exc_unretrieved = False
                log.error("Task %d (%s) failed while being cancelled", task.id, task.name,
                          exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip

    async def cancel_remaining(self) -> None:
        """Cancel and remove every still-running non-daemon member."""
        await self._cancel_all(include_daemons=False)

    def _collected_sorted(self) -> list[Task]:
        return sorted(self._collected, key=lambda t: t.id)

    def _check_joined(self) -> None:
        if not self._joined:
            raise RuntimeError("Task group not yet terminated")

    @property
    def result(self) -> Any:
        """The result of :attr:`completed` (its exception is raised).  Like
        :attr:`results`, :attr:`exception` and :attr:`exceptions`, it raises
        ``RuntimeError`` until the group has been joined, as in Curio."""
        self._check_joined()
        if self.completed is None:
            raise RuntimeError("no task successfully completed")
        return self.completed.result

    @property
    def exception(self) -> BaseException | None:
        """The exception of :attr:`completed`, or ``None``."""
        self._check_joined()
        if self.completed is None:
            return None
        return self.completed.exception

    @property
    def results(self) -> list[Any]:
        """Results of every task collected by :meth:`join`, by task id; the
        first failure (by task id) is raised."""
        self._check_joined()
        return [t.result for t in self._collected_sorted()]

    @property
    def exceptions(self) -> list[BaseException | None]:
        """Exceptions (or ``None``) of every collected task, by task id."""
        self._check_joined()
        return [t.exception for t in self._collected_sorted()]

    @property
    def tasks(self) -> list[Task]:
        """Every non-daemon member, by task id."""
        members = list(self._running) + self._finished + self._collected
        return sorted(members, key=lambda t: t.id)

    async def __aenter__(self) -> TaskGroup:
        return self

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        if ty is None:
            await self.join()
        else:
            await self._cancel_all(include_daemons=True)
            self._joined = True

    def __aiter__(self) -> TaskGroup:
        return self

    async def __anext__(self) -> Task:
        task = await self.next_done()
        if task is None:
            raise StopAsyncIteration
        return task

    # Plain 'with', 'for' and next() work in an async thread; elsewhere AsyncOnlyError.
    __enter__ = sync_enter
    __exit__ = sync_exit
    __iter__ = sync_iter
    __next__ = sync_next

    async def spawn_thread(self, func: Callable[..., Any], *args: Any, daemon: bool = False) -> Any:
        """Start a thread in the group (see :func:`curionet.spawn_thread`)."""
        if _thread_spawner is None:
            raise RuntimeError("TaskGroup.spawn_thread() needs curionet.thread (import curionet)")
        thread = await _thread_spawner(func, *args, daemon=daemon)
        self._add(thread)
        return thread


# TaskGroup.spawn_thread() starts threads with curionet.thread's spawn_thread,
# installed by that module (which the package imports): the kernel imports no
# module above it.
_thread_spawner: Callable[..., Any] | None = None


def set_thread_spawner(spawner: Callable[..., Any] | None) -> None:
    """Make ``await spawner(func, *args, daemon=...)`` what
    :meth:`TaskGroup.spawn_thread` uses to start a thread (it returns the
    thread's task)."""
    global _thread_spawner
    _thread_spawner = spawner


# ---------------------------------------------------------------------------
# Cancellation control
# ---------------------------------------------------------------------------


class _DisableCancellation:
    def __init__(self, coro: Any = None) -> None:
        self._coro = coro
        self._task: Task | None = None
        self._prior = True

    async def __aenter__(self) -> _DisableCancellation:
        task = self._task = await _get_current()
        self._prior = task.allow_cancel
        task.allow_cancel = False
        return self

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        assert self._task is not None
        self._task.allow_cancel = self._prior

    # A plain 'with' works in an async thread; elsewhere AsyncOnlyError.
    __enter__ = sync_enter
    __exit__ = sync_exit

    def __await__(self) -> Any:
        return self._run().__await__()

    async def _run(self) -> Any:
        async with self:
            return await self._coro


def disable_cancellation(coro: Any = None, *args: Any) -> Any:
    """Shield code from cancellation and timeouts.

    As a context manager (``async with disable_cancellation():``) it shields a
    block; called with a function (``await disable_cancellation(f, x)``) or a
    coroutine it shields one call.  A cancellation that arrives meanwhile
    stays pending and is delivered at the first blocking operation after the
    shield ends.
    """
    if coro is None:
        return _DisableCancellation()
    return _DisableCancellation(instantiate_coroutine(coro, args))


async def check_cancellation(exc_type: Any = None) -> BaseException | None:
    """Check for a pending cancellation.

    With cancellation allowed, a pending cancellation is raised here.  With it
    disabled, the pending exception is returned (or ``None``).  If *exc_type*
    (an exception class; Curio's parameter name) is given, nothing is raised:
    a pending exception of that type is returned and cleared, anything else
    gives ``None``."""
    task = await _get_current()
    pending = task.cancel_pending
    if exc_type is not None:
        if isinstance(pending, exc_type):
            return task._take_cancel()
        return None
    if task.allow_cancel and pending is not None:
        raise task._take_cancel()
    return pending


async def set_cancellation(exc: BaseException | None) -> BaseException | None:
    """Set (or clear, with ``None``) the pending cancellation of the calling
    task; return the one it replaces.  It is raised at the next blocking
    operation if cancellation is allowed."""
    task = await _get_current()
    prior = task.cancel_pending
    task.cancel_pending = exc
    return prior

