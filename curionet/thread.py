"""Asynchronous threads: real threads that can call coroutines on the kernel
(Curio's ``curio.thread``).

``await spawn_thread(func, *args)`` runs ``func(*args)`` in a new thread and
returns an :class:`AsyncThread`, which behaves like a task (``join``,
``wait``, ``cancel``, ``result``, ``exception``, task-group membership).
Inside the thread, ``AWAIT(coro)`` runs a coroutine on the kernel on the
thread's behalf and returns its result, and curionet's objects work with
plain syntax: ``with lock:``, ``with timeout_after(5):``, ``with TaskGroup()
as g:``, ``for line in stream:`` (see ``kernel/athread.py``).

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
import logging
import os
import sys
import sysconfig
import threading
import traceback as _tb
from collections import deque
from collections.abc import Callable
from typing import Any

from .errors import AsyncOnlyError, CancelledError
from .kernel.athread import _local
from .kernel.lowlevel import (
    SchedFIFO,
    Task,
    current_kernel,
    get_current,
    get_kernel,
    scheduler_wait,
    set_thread_spawner,
)
from .meta import iscoroutinefunction

__all__ = ["AsyncThread", "spawn_thread", "AWAIT", "async_thread", "is_async_thread"]

log = logging.getLogger("curionet")
_SKIP_DIRS = (sysconfig.get_paths()["stdlib"], os.path.dirname(os.path.abspath(__file__)))
_FINISHED: Any = object()


class _Request:
    """A coroutine handed from a thread to its driver task."""

    __slots__ = ("coro", "deliver", "_done", "value", "exc")

    def __init__(self, coro: Any, deliver: bool) -> None:
        self.coro = coro
        self.deliver = deliver  # may a pending cancellation be raised before it runs?
        self._done = threading.Lock()
        self._done.acquire()
        self.value: Any = None
        self.exc: BaseException | None = None


class AsyncThread(Task):
    """A thread that behaves like a task (Curio's ``AsyncThread``).

    ``AsyncThread(target, args=(), kwargs={}, daemon=False)`` then
    ``await t.start()`` runs ``target(*args, **kwargs)`` in a new thread;
    :func:`spawn_thread` does both.  Besides the :class:`~curionet.Task` API
    (``join``, ``wait``, ``cancel``, ``result``, ``exception``, ``id``,
    ``state``, ``terminated``, ``cancelled``) it has ``thread``, the
    ``threading.Thread`` running the function, and :meth:`AWAIT`.

    A daemon thread whose function raises (anything but a cancellation) is
    logged on the ``curionet`` logger at once, since nobody waits for a
    daemon; a non-daemon thread's unretrieved failure is logged when the
    object is discarded, as a task's is."""

    __slots__ = ("target", "args", "kwargs", "_requests", "_wq", "thread", "_tresult", "_texc", "_broken",
                 "_started", "_reported")  # fmt: skip

    def __init__(self, target: Callable[..., Any] | None = None, args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None, daemon: bool = False) -> None:  # fmt: skip
        # Not a task of any kernel until start(): no id yet.
        super().__init__(None, None, None, daemon)  # type: ignore[arg-type]
        self.target = target
        self.args = tuple(args)
        self.kwargs = dict(kwargs) if kwargs else {}
        self.name = getattr(target, "__qualname__", None) or repr(target)
        self._reason = "INITIAL"
        self._requests: deque[Any] = deque()
        self._wq = SchedFIFO()
        self.thread: threading.Thread | None = None
        self._tresult: Any = None
        self._texc: BaseException | None = None
        self._broken: BaseException | None = None  # the helper loop of a thread block died
        self._started = False
        self._reported = False  # the failure was logged when it happened

    def __repr__(self) -> str:
        return f"AsyncThread(id={self.id}, name={self.name!r}, state={self.state!r})"

    def __del__(self) -> None:
        if self._reported:
            self._exc_unretrieved = False
        super().__del__()

    async def start(self) -> None:
        """Start the thread (once); it then runs as a task of the current kernel."""
        if self.target is None:
            raise RuntimeError("an async thread must be given a target")
        if self._started:
            raise RuntimeError("an async thread can be started only once")
        self._started = True
        kernel: Any = current_kernel() or await get_kernel()
        # _adopt stands in for the task class: the kernel registers this object.
        kernel.new_task(self._drive(), self.daemon, self._adopt)

    def _adopt(self, coro: Any, kernel: Any, task_id: int, daemon: bool) -> AsyncThread:
        """The task factory handed to the kernel: this object becomes the task."""
        name = self.name
        Task.__init__(self, coro, kernel, task_id, daemon)
        self.name = name
        return self

    def AWAIT(self, coro: Any) -> Any:
        """Run the coroutine *coro* on the kernel on behalf of this thread and
        return its result (called from the thread itself; the module-level
        :func:`AWAIT` finds the calling thread's object)."""
        if getattr(_local, "thread", None) is not self:
            if hasattr(coro, "close"):
                coro.close()
            raise AsyncOnlyError(f"{self!r}.AWAIT() may only be called from that thread")
        return self._await(coro)

    # -- inspection: where the *thread* is (for the monitor and debugging) ---
    def _thread_frame(self) -> Any:
        th = self.thread
        if th is None or th.ident is None or self.terminated:
            return None
        return sys._current_frames().get(th.ident)

    def where(self) -> tuple[str | None, int | None]:
        """``(filename, lineno)`` the thread is executing (while it waits in
        ``AWAIT``, where its coroutine waits)."""
        if self._requests or self.state != "THREAD_RUNNING":
            return super().where()
        f = self._thread_frame()
        if f is None:
            return super().where()
        # The innermost frame of the program's own code, not the standard
        # library's (threading.Event.wait ...) nor curionet's.
        inner = f
        while f is not None:
            name = f.f_code.co_filename
            if not name.startswith(_SKIP_DIRS):
                inner = f
                break
            f = f.f_back
        return (inner.f_code.co_filename, inner.f_lineno)

    def traceback(self) -> str:
        """The thread's current stack, then the coroutine it awaits (if any)."""
        f = self._thread_frame()
        thread_stack = "".join(_tb.format_stack(f)) if f is not None else ""
        return thread_stack + super().traceback()

    # -- kernel side -------------------------------------------------------
    async def _drive(self) -> Any:
        self._kernel.expect_threadsafe_calls()
        # The thread gets the task in a box it empties: neither the Thread
        # object nor the thread's last frame keeps the task alive once the
        # driver sees it finish.
        self.thread = threading.Thread(target=_thread_main, args=([self],), name=f"curionet-{self.name}",
                                       daemon=True)  # fmt: skip
        self.thread.start()
        await self._serve(self)
        exc = self._texc
        if exc is None:
            return self._tresult
        self._texc = None
        if self.daemon and not isinstance(exc, CancelledError):
            self._reported = True
            log.error("Async thread %d (%s) crashed", self.id, self.name, exc_info=(type(exc), exc, exc.__traceback__))
        # The traceback keeps this frame: drop the reference to the task so
        # that a failed thread is freed (and reported) like a failed task.
        del self
        try:
            raise exc
        finally:
            del exc

    async def _serve(self, owner: Task) -> None:
        """Run the coroutines the thread hands over until it finishes.
        Cancellation pending on *owner* (this task, or the task whose
        ``async with spawn_thread():`` block the thread is) is delivered at
        the next ``AWAIT``."""
        requests = self._requests
        while True:
            # Cancellation is deferred while the thread runs plain code; it
            # stays pending and is delivered at the next AWAIT.
            while not requests:
                prior = self.allow_cancel
                self.allow_cancel = False
                try:
                    await scheduler_wait(self._wq, "THREAD_RUNNING")
                finally:
                    self.allow_cancel = prior
            req = requests.popleft()
            if req is _FINISHED:
                return
            try:
                for t in (self, owner) if req.deliver else ():
                    pending = t.cancel_pending
                    if pending is not None and t.allow_cancel:
                        pending = t._take_cancel()
                        req.coro.close()
                        raise pending
                req.value = await req.coro
            except BaseException as e:  # noqa: BLE001 - handed to the thread
                req.exc = e
            finally:
                req._done.release()

    def _post(self, req: Any) -> None:
        """Hand *req* to the driver (from the thread)."""
        self._requests.append(req)
        self._kernel.call_soon_threadsafe(self._wake_driver)

    def _wake_driver(self) -> None:
        self._wq._wake(1)

    # -- thread side -------------------------------------------------------
    def _await(self, coro: Any, deliver: bool = True) -> Any:
        """Run *coro* in this thread's task and wait for it (from the thread).
        With *deliver* false a pending cancellation is not raised before
        *coro* starts (the exit of a ``with`` block must run)."""
        if self._broken is not None:
            coro.close()
            raise self._broken
        req = _Request(coro, deliver)
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


def _thread_main(box: list[AsyncThread]) -> None:
    """The body of an async thread's ``threading.Thread``."""
    thread = box.pop()
    _local.thread = thread
    try:
        thread._tresult = thread.target(*thread.args, **thread.kwargs)  # type: ignore[misc]
    except BaseException as e:  # noqa: BLE001 - becomes the task's exception
        # Start the traceback at the thread's function: this frame would keep
        # the task alive.
        thread._texc = e.with_traceback(e.__traceback__.tb_next if e.__traceback__ is not None else None)
    finally:
        _local.thread = None
        requests, kernel, wq = thread._requests, thread._kernel, thread._wq
        del thread
        requests.append(_FINISHED)
        kernel.call_soon_threadsafe(functools.partial(wq._wake, 1))


def spawn_thread(func: Callable[..., Any] | None = None, *args: Any, daemon: bool = False) -> Any:
    """Run ``func(*args)`` in a new thread: ``t = await spawn_thread(func, *args)``
    returns its :class:`AsyncThread`.

    Code in the thread may call ``AWAIT(coro)`` to run coroutines on the
    kernel.  ``daemon`` has the task meaning (a daemon thread is not waited
    for by task groups and is cancelled at shutdown).

    Without a function, ``async with spawn_thread():`` runs the *body of the
    block* as thread code: it may block freely and use ``AWAIT``, while the
    other tasks keep running (see :class:`_ThreadBlock` for how)."""
    if func is None:
        if args:
            raise TypeError("spawn_thread() takes arguments only with a function")
        return _ThreadBlock()
    if not callable(func):
        raise TypeError(f"spawn_thread() expected a callable, got {func!r}")
    if iscoroutinefunction(func):
        raise TypeError(f"spawn_thread() runs synchronous functions; {func!r} is async (use spawn())")
    return _spawn_thread(AsyncThread(func, args, daemon=daemon))


async def _spawn_thread(thread: AsyncThread) -> AsyncThread:
    await thread.start()
    return thread


class _ThreadBlock:
    """``async with spawn_thread():`` -- the body runs as an async thread.

    Discussion: Curio moves the block's body into another thread with
    stack-frame tricks.  curionet moves the *kernel* instead: on entry, the
    scheduler loop continues in a new helper thread, and the current thread
    (with the coroutine frame, locals and all) runs the body as plain thread
    code.  ``AWAIT`` hands coroutines to a helper task on the kernel; a
    cancellation or timeout of the task owning the block is delivered at
    the next ``AWAIT``.  On exit the helper thread's loop stops and the
    kernel resumes in the original thread, as if the task had only run one
    long step.  Tasks that were ready at the moment of entry move with the
    kernel (see ``Kernel.hand_over``)."""

    def __init__(self) -> None:
        self._thread: AsyncThread | None = None
        self._loop_thread: threading.Thread | None = None
        self._loop_exc: BaseException | None = None
        self._outer_ready: Any = None
        self._owner: Any = None

    def __await__(self) -> Any:
        raise TypeError("spawn_thread() without a function is used as 'async with spawn_thread():'")

    async def __aenter__(self) -> AsyncThread:
        owner = self._owner = await get_current()
        kernel: Any = owner._kernel
        if current_kernel() is not owner._kernel:
            raise RuntimeError("async with spawn_thread() must be used in the kernel's thread")
        kernel.expect_threadsafe_calls()
        helper = AsyncThread(daemon=True)
        helper.name = f"{owner.name} [thread block]"
        helper._started = True
        kernel.new_task(self._serve_block(owner), True, helper._adopt)
        helper.thread = threading.current_thread()
        self._thread = helper
        # The loop goes on in a helper thread; this thread is thread code now.
        self._outer_ready = kernel.hand_over()
        _local.thread = helper
        self._loop_thread = threading.Thread(target=self._run_kernel, args=(kernel, helper),
                                             name="curionet-kernel", daemon=True)  # fmt: skip
        self._loop_thread.start()
        return helper  # type: ignore[no-any-return]

    async def _serve_block(self, owner: Task) -> None:
        helper = self._thread
        assert helper is not None
        await helper._serve(owner)

    def _run_kernel(self, kernel: Any, helper: AsyncThread) -> None:
        try:
            kernel.run_until(helper)
        except BaseException as e:  # noqa: BLE001 - re-raised in the block's task
            self._loop_exc = e
            helper._broken = e
            while helper._requests:
                req = helper._requests.popleft()
                if req is not _FINISHED:
                    req.exc = e
                    req._done.release()

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        helper = self._thread
        loop_thread = self._loop_thread
        assert helper is not None and loop_thread is not None
        kernel = helper._kernel
        _local.thread = None
        if helper._broken is None:
            helper._post(_FINISHED)
        loop_thread.join()
        # The kernel is back in this thread.
        kernel.take_back(self._outer_ready, self._owner)
        if self._loop_exc is not None:
            exc, self._loop_exc = self._loop_exc, None
            raise exc


def is_async_thread() -> bool:
    """``True`` if the caller runs in an :class:`AsyncThread`."""
    return getattr(_local, "thread", None) is not None


def AWAIT(coro: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a coroutine on the kernel on behalf of the calling async thread,
    block until it finishes and return its result (or raise its exception,
    including cancellation of the thread).

    *coro* is a coroutine, or a coroutine function called as
    ``coro(*args, **kwargs)`` on the kernel's side.  A plain function is
    called here, in the calling thread, and its result is awaited if it is a
    coroutine, else returned; a value that is not a coroutine is returned
    unchanged (both as in Curio).  Running a coroutine outside an async
    thread raises :class:`~curionet.errors.AsyncOnlyError`."""
    thread = getattr(_local, "thread", None)
    if callable(coro) and not hasattr(coro, "__await__"):
        if iscoroutinefunction(coro):
            if thread is None:
                raise AsyncOnlyError(f"AWAIT({coro!r}) may only be used in an async thread (see spawn_thread)")
            coro = _call(coro, args, kwargs)
        else:
            coro = coro(*args, **kwargs)
    elif args or kwargs:
        if hasattr(coro, "close"):
            coro.close()
        raise TypeError("AWAIT() takes arguments only with a function")
    if not hasattr(coro, "__await__"):
        return coro
    if thread is None:
        if hasattr(coro, "close"):
            coro.close()
        raise AsyncOnlyError("AWAIT() may only be used in an async thread (see spawn_thread)")
    return thread._await(coro)


async def _call(corofunc: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Called on the kernel's side, so that an @awaitable function picks its
    # async implementation there.
    return await corofunc(*args, **kwargs)


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


# TaskGroup.spawn_thread() starts its threads here.
set_thread_spawner(spawn_thread)
