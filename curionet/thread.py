"""Asynchronous threads: real threads that can call coroutines on the kernel
(Curio's ``curio.thread``).

``await spawn_thread(func, *args)`` runs ``func(*args)`` in a new thread and
returns an :class:`AsyncThread`, which behaves like a task (``join``,
``wait``, ``cancel``, ``result``, ``exception``, task-group membership).
Inside the thread, ``AWAIT(coro)`` runs a coroutine on the kernel on the
thread's behalf and returns its result.

Discussion: an AsyncThread *is* a task.  Its coroutine is a small driver that
starts the thread and then runs, one at a time, the coroutines the thread
hands it through ``AWAIT``.  So everything the kernel does to tasks works
unchanged: task groups, ``join``, timeouts around ``AWAIT``, and
cancellation, which is raised inside the coroutine being awaited and thus
out of ``AWAIT()`` in the thread.  While the thread runs ordinary code the
driver waits with cancellation deferred: a cancellation (or shutdown) is
delivered at the thread's next ``AWAIT``, since a thread cannot be
interrupted (Curio's documented rule).
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .errors import AsyncOnlyError
from .kernel.kernel import current_kernel
from .kernel.sched import SchedFIFO
from .kernel.task import Task, instantiate_coroutine
from .kernel.traps import _get_kernel, _scheduler_wait
from .meta import iscoroutinefunction

__all__ = ["AsyncThread", "spawn_thread", "AWAIT", "async_thread", "is_async_thread"]

_local = threading.local()
_FINISHED: Any = object()


class _Request:
    """A coroutine handed from a thread to its driver task."""

    __slots__ = ("coro", "_done", "value", "exc")

    def __init__(self, coro: Any) -> None:
        self.coro = coro
        self._done = threading.Lock()
        self._done.acquire()
        self.value: Any = None
        self.exc: BaseException | None = None


class AsyncThread(Task):
    """A thread that behaves like a task.  Created by :func:`spawn_thread`.

    Besides the :class:`~curionet.Task` API (``join``, ``wait``, ``cancel``,
    ``result``, ``exception``, ``id``, ``terminated``, ``cancelled``) it has
    ``thread``, the ``threading.Thread`` running the function."""

    __slots__ = ("_func", "_args", "_requests", "_wq", "thread", "_tresult", "_texc")

    def __init__(self, coro: Any, kernel: Any, task_id: int, daemon: bool = False) -> None:
        super().__init__(coro, kernel, task_id, daemon)
        self._requests: deque[Any] = deque()
        self._wq = SchedFIFO()
        self.thread: threading.Thread | None = None
        self._tresult: Any = None
        self._texc: BaseException | None = None

    def __repr__(self) -> str:
        return f"AsyncThread(id={self.id}, name={self.name!r}, state={self.state!r})"

    # -- kernel side -------------------------------------------------------
    async def _drive(self, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        kernel = self._kernel
        kernel._init_notify()
        self.thread = threading.Thread(target=self._thread_main, args=(func, args), name=f"curionet-{self.name}",
                                       daemon=True)  # fmt: skip
        self.thread.start()
        requests = self._requests
        while True:
            # Cancellation is deferred while the thread runs plain code; it
            # stays pending and is delivered at the next AWAIT.
            while not requests:
                prior = self.allow_cancel
                self.allow_cancel = False
                try:
                    await _scheduler_wait(self._wq, "THREAD_RUNNING")
                finally:
                    self.allow_cancel = prior
            req = requests.popleft()
            if req is _FINISHED:
                break
            try:
                pending = self.cancel_pending
                if pending is not None and self.allow_cancel:
                    self.cancel_pending = None
                    req.coro.close()
                    raise pending
                req.value = await req.coro
            except BaseException as e:  # noqa: BLE001 - handed to the thread
                req.exc = e
            finally:
                req._done.release()
        exc = self._texc
        if exc is not None:
            self._texc = None
            raise exc
        return self._tresult

    def _post(self, req: Any) -> None:
        """Hand *req* to the driver (from the thread)."""
        self._requests.append(req)
        self._kernel.call_soon_threadsafe(self._wake_driver)

    def _wake_driver(self) -> None:
        self._wq._wake(1)

    # -- thread side -------------------------------------------------------
    def _thread_main(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        _local.thread = self
        try:
            self._tresult = func(*args)
        except BaseException as e:  # noqa: BLE001 - becomes the task's exception
            self._texc = e
        finally:
            _local.thread = None
            self._post(_FINISHED)

    def _await(self, coro: Any) -> Any:
        req = _Request(coro)
        self._post(req)
        req._done.acquire()
        exc = req.exc
        if exc is not None:
            req.exc = None
            try:
                raise exc
            finally:
                del exc
        return req.value


async def spawn_thread(func: Callable[..., Any] | None = None, *args: Any, daemon: bool = False) -> AsyncThread:
    """Run ``func(*args)`` in a new thread and return its :class:`AsyncThread`.

    Code in the thread may call ``AWAIT(coro)`` to run coroutines on the
    kernel.  ``daemon`` has the task meaning (a daemon thread is not waited
    for by task groups and is cancelled at shutdown)."""
    if func is None:
        raise TypeError(
            "spawn_thread() needs a function; curionet has no 'async with spawn_thread():' block form "
            "(it requires stack-frame tricks). Put the block in a function and pass it."
        )
    if not callable(func):
        raise TypeError(f"spawn_thread() expected a callable, got {func!r}")
    if iscoroutinefunction(func):
        raise TypeError(f"spawn_thread() runs synchronous functions; {func!r} is async (use spawn())")
    kernel = current_kernel() or await _get_kernel()
    holder: list[AsyncThread] = []

    async def _driver() -> Any:
        return await holder[0]._drive(func, args)

    thread: Any = kernel._new_task(_driver(), daemon, AsyncThread)
    thread.name = getattr(func, "__qualname__", None) or repr(func)
    holder.append(thread)
    return thread  # type: ignore[no-any-return]


def is_async_thread() -> bool:
    """``True`` if the caller runs in an :class:`AsyncThread`."""
    return getattr(_local, "thread", None) is not None


def AWAIT(coro: Any, *args: Any) -> Any:
    """Run the coroutine *coro* (or ``coro(*args)``) on the kernel on behalf
    of the calling async thread, block until it finishes and return its
    result (or raise its exception, including cancellation of the thread).

    Raises :class:`~curionet.errors.AsyncOnlyError` outside an async thread.
    A value that is not a coroutine (nor a coroutine function) is returned
    unchanged, as in Curio."""
    thread = getattr(_local, "thread", None)
    if callable(coro) and iscoroutinefunction(coro):
        coro = instantiate_coroutine(coro, args)
    elif args:
        raise TypeError("AWAIT() takes extra arguments only with a coroutine function")
    if not hasattr(coro, "__await__"):
        return coro
    if thread is None:
        if hasattr(coro, "close"):
            coro.close()
        raise AsyncOnlyError("AWAIT() may only be used in an async thread (see spawn_thread)")
    return thread._await(coro)


def async_thread(func: Callable[..., Any] | None = None, *, daemon: bool = False) -> Any:
    """Decorator: make the synchronous *func* run in an async thread when
    called from async code.

    In a thread where a curionet kernel runs, ``func(*args)`` returns a
    coroutine: awaiting it runs *func* in a new :class:`AsyncThread` (where it
    may use ``AWAIT``) and returns its result.  Anywhere else (a plain thread,
    an async thread) *func* is simply called.  Curio decides by inspecting
    the caller's frame; curionet by asking whether the kernel runs in this
    thread, so do not call such a function from synchronous code that runs in
    the kernel's thread."""
    if func is None:
        return functools.partial(async_thread, daemon=daemon)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_kernel() is None:
            return func(*args, **kwargs)

        async def _run() -> Any:
            t = await spawn_thread(functools.partial(func, *args, **kwargs), daemon=daemon)
            try:
                await t.wait()
            except BaseException:
                await t.cancel()
                raise
            return t.result

        return _run()

    wrapper._awaitable = True  # type: ignore[attr-defined]
    return wrapper
