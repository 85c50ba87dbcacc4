"""Work done outside the kernel: bounded thread and process pools
(Curio's ``curio.workers``).

``run_in_thread(func, *args)`` runs a blocking callable on a pool worker
thread; ``run_in_process(func, *args)`` runs it in a worker process started
with ``multiprocessing``'s "spawn" method.  The calling task sleeps in the
kernel meanwhile; other tasks keep running.

Each kernel has its own pools, created on first use and shut down with the
kernel.  At most :data:`MAX_WORKER_THREADS` threads (and
:data:`MAX_WORKER_PROCESSES` processes) work for the tasks of one kernel at a
time; further callers wait their turn.  Both limits are read on every call,
so they may be changed at any time (``curionet.workers.MAX_WORKER_THREADS =
8``).

Discussion: cancellation.  A thread cannot be killed.  A cancelled
``run_in_thread`` frees the task at once, but the worker thread finishes the
call (Curio's "zombie thread") and keeps its pool slot until it does: the
slot is what bounds the number of threads, so giving it back early would let
every cancelled call add a thread.  When the abandoned call returns, its
result goes to ``call_on_cancel`` if one was given; otherwise a value is
thrown away and an exception is logged (logger ``curionet``), since no task
will ever see it.  Then the slot is freed.  A process can be killed: a
cancelled ``run_in_process`` sends its worker ``SIGTERM`` (``SIGKILL`` if it
is still alive a second later), reaps it, and a fresh worker replaces it on
the next call, so a cancelled call never leaves a child process behind.

Exceptions raised by the callable are re-raised in the task: from a thread
with the original traceback; from a process as the same exception type, with
the worker's formatted traceback attached as ``__cause__`` (tracebacks cannot
cross a process boundary).
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
import traceback
from collections.abc import Callable
from typing import Any

from .kernel.lowlevel import (
    Kernel,
    SchedFIFO,
    current_kernel,
    future_wait,
    get_kernel,
    io_release,
    read_wait,
    scheduler_wait,
    send_hint,
    write_wait,
)
from .kernel.task import disable_cancellation

__all__ = [
    "MAX_WORKER_THREADS",
    "MAX_WORKER_PROCESSES",
    "run_in_thread",
    "run_in_process",
    "block_in_thread",
    "run_in_executor",
    "RemoteTraceback",
]

log = logging.getLogger("curionet")

#: Most threads one kernel's ``run_in_thread`` calls use at a time (Curio: 64).
MAX_WORKER_THREADS = 64

#: Most processes one kernel's ``run_in_process`` calls use at a time.
MAX_WORKER_PROCESSES = os.cpu_count() or 1


class RemoteTraceback(Exception):
    """The formatted traceback of an exception raised in a worker process;
    attached as ``__cause__`` of the exception re-raised in the task."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------------------
# A future-like job record for the kernel's future_wait trap
# ---------------------------------------------------------------------------


class _Job:
    """One call handed to a worker thread.

    The kernel's ``future_wait`` trap only needs ``add_done_callback`` and a
    ``_curionet_waiter`` attribute; this is lighter than a
    ``concurrent.futures.Future`` (no lock, no condition).  The done/callback
    hand-off is race-free under the GIL: the worker sets ``_done`` before
    reading ``_cb`` and the kernel sets ``_cb`` before reading ``_done``, so
    at least one side calls the callback (a second call is harmless: the
    kernel side checks the task still waits)."""

    __slots__ = ("func", "args", "_curionet_waiter", "_cb", "_done", "result", "exc")

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.func: Any = func
        self.args: Any = args
        self._curionet_waiter: Any = None
        self._cb: Any = None
        self._done = False
        self.result: Any = None
        self.exc: BaseException | None = None

    def add_done_callback(self, cb: Callable[[Any], Any]) -> None:
        self._cb = cb
        if self._done:
            cb(self)

    def _finish(self) -> None:
        self._done = True
        cb = self._cb
        if cb is not None:
            cb(self)


class _Abandoned:
    """Done-callback of a job whose caller was cancelled: hands the outcome
    to ``call_on_cancel`` (or logs an exception), then frees the job's slot
    in the kernel thread.

    Discussion: it may be called twice (by the worker, and by the kernel if
    it saw the job already done when it installed the callback; see
    :class:`_Job`), from either thread: a non-blocking lock acquire makes it
    run once.  It runs in the thread that calls it, so a late exception is
    still logged after the kernel has shut down; the slot is freed through
    ``call_soon_threadsafe`` unless it runs in the kernel thread."""

    __slots__ = ("_once", "_kernel", "_release", "_func", "_call_on_cancel")

    def __init__(
        self, kernel: Any, release: Callable[[], Any], func: Any, call_on_cancel: Callable[[Any], Any] | None
    ) -> None:
        self._once = threading.Lock()
        self._kernel = kernel
        self._release = release
        self._func = func
        self._call_on_cancel = call_on_cancel

    def __call__(self, job: _Job) -> None:
        if not self._once.acquire(blocking=False):
            return
        try:
            exc, job.exc = job.exc, None
            result, job.result = job.result, None
            on_cancel = self._call_on_cancel
            if on_cancel is not None:
                fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
                if exc is None:
                    fut.set_result(result)
                else:
                    fut.set_exception(exc)
                try:
                    on_cancel(fut)
                except BaseException:  # logged: nobody else would see it
                    log.exception("call_on_cancel %r of a cancelled call to %s failed", on_cancel, _name(self._func))
            elif exc is not None:
                log.error(
                    "%s raised %s after its caller was cancelled",
                    _name(self._func), type(exc).__name__, exc_info=exc,
                )  # fmt: skip
            del exc, result
        finally:
            kernel = self._kernel
            if current_kernel() is kernel:
                self._release()
            else:
                kernel.call_soon_threadsafe(self._release)


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _abandon(job: _Job, cb: _Abandoned) -> None:
    """Make *cb* the done-callback of *job*, whose caller gave up on it."""
    # A caller cancelled before its first wait never set up the kernel's
    # cross-thread wake-up, which the slot's release will need.
    cb._kernel.expect_threadsafe_calls()
    job._cb = cb
    if job._done:
        cb(job)


# ---------------------------------------------------------------------------
# Thread pool
# ---------------------------------------------------------------------------


class _ThreadWorker:
    __slots__ = ("_pool", "_go", "job", "thread")

    def __init__(self, pool: _ThreadPool) -> None:
        self._pool = pool
        self._go = threading.Lock()
        self._go.acquire()
        self.job: _Job | None = None
        self.thread = threading.Thread(target=self._main, name="curionet-worker", daemon=True)
        self.thread.start()

    def start(self, job: _Job) -> None:
        self.job = job
        self._go.release()

    def stop(self) -> None:
        self.job = None
        self._go.release()

    def _main(self) -> None:
        pool = self._pool
        go = self._go
        while True:
            go.acquire()
            job = self.job
            if job is None:
                return
            self.job = None
            try:
                job.result = job.func(*job.args)
            except BaseException as e:  # handed to the task, whatever it is
                job.exc = e
            job.func = job.args = None
            # Back to the idle list before waking the task, so the task's
            # next call finds this (warm) thread.
            with pool._lock:
                closed = pool._closed
                if not closed:
                    pool._idle.append(self)
            job._finish()
            del job
            if closed:
                return


class _Slots:
    """Counts the workers in use by one kernel's tasks; callers past the
    limit wait (FIFO).  *limit* is a function so the module-level maximum can
    change at any time."""

    __slots__ = ("busy", "_waiting", "_limit")

    def __init__(self, limit: Callable[[], int]) -> None:
        self.busy = 0
        self._waiting = SchedFIFO()
        self._limit = limit

    async def acquire(self) -> None:
        if self.busy >= self._limit() or self._waiting:
            while True:
                await scheduler_wait(self._waiting, "WORKER_WAIT")
                if self.busy < self._limit():
                    break
        self.busy += 1

    def release(self) -> None:
        self.busy -= 1
        if self._waiting and self.busy < self._limit():
            self._waiting._wake(1)


def _max_threads() -> int:
    n = MAX_WORKER_THREADS
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"curionet.workers.MAX_WORKER_THREADS must be a positive int, not {n!r}")
    return n


def _max_processes() -> int:
    n = MAX_WORKER_PROCESSES
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"curionet.workers.MAX_WORKER_PROCESSES must be a positive int, not {n!r}")
    return n


class _ThreadPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_ThreadWorker] = []
        self._closed = False
        self.slots = _Slots(_max_threads)
        self.exclusive: dict[Any, _Turn] = {}  # block_in_thread's turns, by callable

    def submit(self, job: _Job) -> None:
        try:
            worker = self._idle.pop()
        except IndexError:
            worker = _ThreadWorker(self)
        worker.start(job)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            w.stop()
        for w in idle:
            w.thread.join(1.0)


def _thread_pool(kernel: Any) -> _ThreadPool:
    pool = kernel.pools.get("thread")
    if pool is None:
        pool = kernel.register_pool("thread", _ThreadPool())
    return pool  # type: ignore[no-any-return]


async def run_in_thread(
    callable: Callable[..., Any],
    *args: Any,
    call_on_cancel: Callable[[concurrent.futures.Future[Any]], Any] | None = None,
) -> Any:
    """Run ``callable(*args)`` in a worker thread and return its result.

    The calling task waits in the kernel; other tasks keep running.  An
    exception raised by *callable* is re-raised here with its original traceback.

    If the task is cancelled, the cancellation is raised at once, but the
    thread cannot be stopped: it finishes the call in the background and
    keeps its pool slot until then, so abandoned calls count against
    :data:`MAX_WORKER_THREADS`.  When it finishes, ``call_on_cancel(fut)``
    is called with a done ``concurrent.futures.Future`` holding the result
    or exception (in the worker thread, or in the kernel's if the call had
    already returned; it must not block); without
    ``call_on_cancel`` a result is discarded and an exception is logged."""
    kernel = current_kernel()
    if kernel is None:
        kernel = await get_kernel()
    pool = kernel.pools.get("thread") or _thread_pool(kernel)
    slots = pool.slots
    await slots.acquire()
    try:
        job = _Job(callable, args)
        pool.submit(job)
    except BaseException:
        slots.release()
        raise
    return await _outcome(kernel, job, slots.release, callable, call_on_cancel)


async def _outcome(
    kernel: Kernel,
    job: _Job,
    release: Callable[[], Any],
    callable: Callable[..., Any],
    call_on_cancel: Callable[[concurrent.futures.Future[Any]], Any] | None,
) -> Any:
    """Wait for *job*, submitted to a worker thread, then ``release()`` its
    slot and return its result or raise its exception.  If the task is
    cancelled the worker still runs *callable* and keeps the slot: the job is
    abandoned to :func:`_abandon`, which releases the slot when it ends."""
    try:
        await future_wait(job)
    except BaseException:
        _abandon(job, _Abandoned(kernel, release, callable, call_on_cancel))
        raise
    release()
    exc = job.exc
    if exc is not None:
        job.exc = None
        try:
            raise exc
        finally:
            del exc
    return job.result


class _Turn:
    """The turn of one callable in :func:`block_in_thread`."""

    __slots__ = ("busy", "waiting", "users")

    def __init__(self) -> None:
        self.busy = False  # a thread runs the callable (or is about to)
        self.waiting = SchedFIFO()
        self.users = 0  # calls holding or waiting for the turn


async def block_in_thread(
    callable: Callable[..., Any],
    *args: Any,
    call_on_cancel: Callable[[concurrent.futures.Future[Any]], Any] | None = None,
) -> Any:
    """Like :func:`run_in_thread`, but at most one thread runs *callable* at a
    time however many tasks call it: the others wait their turn in the
    kernel, not in threads.  Meant for callables that block for an unknown
    time on a shared resource (``queue.Queue.get``, a foreign lock).

    A cancelled call keeps the turn until its thread has finished the call
    (otherwise the next call would run *callable* beside it); ``call_on_cancel``
    is as for :func:`run_in_thread`."""
    kernel = current_kernel() or await get_kernel()
    pool = _thread_pool(kernel)
    turns = pool.exclusive
    turn = turns.get(callable)
    if turn is None:
        turn = turns[callable] = _Turn()
    turn.users += 1

    def done() -> None:
        turn.busy = False
        turn.users -= 1
        if turn.users == 0:
            if turns.get(callable) is turn:
                del turns[callable]
        else:
            turn.waiting._wake(1)

    try:
        while turn.busy:
            await scheduler_wait(turn.waiting, "THREAD_EXCLUSIVE")
    except BaseException:
        turn.users -= 1
        if turn.users == 0 and turns.get(callable) is turn:
            del turns[callable]
        raise
    turn.busy = True
    slots = pool.slots
    try:
        await slots.acquire()
    except BaseException:
        done()
        raise

    def release() -> None:
        slots.release()
        done()

    try:
        job = _Job(callable, args)
        pool.submit(job)
    except BaseException:
        release()
        raise
    return await _outcome(kernel, job, release, callable, call_on_cancel)


async def run_in_executor(exc: Any, callable: Callable[..., Any], *args: Any) -> Any:
    """Run ``callable(*args)`` on the ``concurrent.futures`` executor *exc*
    and return the result.  If the task is cancelled, the future is cancelled
    too (which stops the call only if it has not started)."""
    fut = exc.submit(callable, *args)
    try:
        await future_wait(fut)
    except BaseException:
        fut.cancel()
        raise
    return fut.result()


# ---------------------------------------------------------------------------
# Process pool
# ---------------------------------------------------------------------------

_HEADER = struct.Struct("!Q")


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _process_main(conn: Any) -> None:
    """The loop of a worker process: read a pickled ``(func, args)``, call
    it, write back a pickled ``(ok, value)``; exit on EOF."""
    # Ctrl-C reaches the whole process group; the parent decides what to do
    # (cancel the task, which terminates this worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    conn.close()
    sock.setblocking(True)
    with sock:
        while True:
            header = _recv_exact(sock, _HEADER.size)
            if header is None:
                return
            body = _recv_exact(sock, _HEADER.unpack(header)[0])
            if body is None:
                return
            try:
                func, args = pickle.loads(body)
                reply = (True, func(*args))
                out = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
            except BaseException as e:  # sent to the parent, whatever it is
                tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                try:
                    out = pickle.dumps((False, (e, tb)), pickle.HIGHEST_PROTOCOL)
                except Exception:
                    err = RuntimeError(f"{type(e).__name__}: {e} (the exception could not be pickled)")
                    out = pickle.dumps((False, (err, tb)), pickle.HIGHEST_PROTOCOL)
            sock.sendall(_HEADER.pack(len(out)) + out)


class _ProcessWorker:
    """One worker process and the socket to it (parent side, non-blocking)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        try:
            # daemon: if a kernel is never shut down, multiprocessing's atexit
            # hook still terminates the worker instead of hanging on it.
            self.proc = ctx.Process(target=_process_main, args=(child,), name="curionet-process-worker", daemon=True)
            self.proc.start()
        finally:
            child.close()
        self.sock = socket.socket(fileno=os.dup(parent.fileno()))
        parent.close()
        self.sock.setblocking(False)

    async def call(self, data: bytes) -> tuple[bool, Any]:
        msg = memoryview(_HEADER.pack(len(data)) + data)
        sock = self.sock
        send_hint.sent = True  # the worker answers soon: the kernel may busy-poll for it
        while msg:
            try:
                n = sock.send(msg)
            except BlockingIOError:
                await write_wait(sock)
                continue
            msg = msg[n:]
        header = await self._recv_exact(_HEADER.size)
        body = await self._recv_exact(_HEADER.unpack(header)[0])
        return pickle.loads(body)  # type: ignore[no-any-return]

    async def _recv_exact(self, n: int) -> bytes:
        sock = self.sock
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except BlockingIOError:
                await read_wait(sock)
                continue
            if not chunk:
                self.proc.join(1.0)
                raise RuntimeError(
                    f"worker process {self.proc.pid} died (exit code {self.proc.exitcode}); if it died at start-up, "
                    "check that the program's entry point is guarded by `if __name__ == '__main__':` "
                    "(workers are started with multiprocessing's 'spawn' method)"
                )
            buf += chunk
        return bytes(buf)

    async def kill(self) -> None:
        """Terminate and reap the worker (SIGTERM, then SIGKILL after 1 s)."""
        await io_release(self.sock)
        self.sock.close()
        proc = self.proc
        if proc.is_alive():
            proc.terminate()
        await run_in_thread(proc.join, 1.0)
        if proc.exitcode is None:
            proc.kill()
            await run_in_thread(proc.join)
        proc.close()

    def close(self) -> None:
        """Synchronous shutdown of an idle worker: EOF makes it exit."""
        self.sock.close()
        proc = self.proc
        proc.join(2.0)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
        proc.close()


class _ProcessPool:
    def __init__(self) -> None:
        self._idle: list[_ProcessWorker] = []
        self.slots = _Slots(_max_processes)

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for w in idle:
            w.close()


async def run_in_process(callable: Callable[..., Any], *args: Any) -> Any:
    """Run ``callable(*args)`` in a worker process and return its result.

    *callable*, *args* and the result travel by pickle, so *callable* must be
    importable by the worker (a module-level function).  An exception raised
    by *callable* is re-raised here with the worker's traceback as ``__cause__``.
    If the task is cancelled, the worker is terminated and reaped before the
    cancellation propagates."""
    kernel: Any = current_kernel() or await get_kernel()
    pool: _ProcessPool | None = kernel.pools.get("process")
    if pool is None:
        pool = kernel.register_pool("process", _ProcessPool())
    # Pickling errors surface here, before any worker is involved.
    data = pickle.dumps((callable, args), pickle.HIGHEST_PROTOCOL)
    slots = pool.slots
    await slots.acquire()
    try:
        worker = pool._idle.pop() if pool._idle else None
        if worker is None:
            # Shielded: a worker started for a cancelled call must not leak.
            async with disable_cancellation():
                worker = await run_in_thread(_ProcessWorker)
        try:
            ok, value = await worker.call(data)
        except BaseException:
            async with disable_cancellation():
                await worker.kill()
            raise
        pool._idle.append(worker)
    finally:
        slots.release()
    if ok:
        return value
    exc, tb = value
    exc.__cause__ = RemoteTraceback(f'\n"""\n{tb}"""')
    raise exc
