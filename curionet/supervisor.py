"""Multi-core serving: :func:`serve` runs a server in several worker
processes that share its port, under a supervising parent.

A kernel runs on one core.  ``serve(main, *args, workers=N)`` forks N
workers; each runs ``curionet.run(main, *args)``, where *main* typically
calls :func:`~curionet.tcp_server` with ``reuse_port=True`` on a fixed port,
so that every worker has its own listening socket on that port
(``SO_REUSEPORT``) and the operating system spreads new connections across
them.  The parent:

* calls ``on_ready()`` once every worker listens (a worker is ready when
  its first server starts accepting);
* replaces a worker that crashes (exits with a non-zero status or is killed
  by a signal), after a delay that doubles with each crash in a row;
* on SIGTERM or SIGINT drains: each worker stops accepting, lets its open
  connections finish for up to *grace* seconds, then cancels what is left
  and exits; a second signal cuts the grace short, and a worker still alive
  after the grace (plus a margin) is killed;
* takes its workers with it when it dies, even by SIGKILL: they drain as on
  SIGTERM (Linux's parent-death signal, and elsewhere a pipe they watch).

Discussion: why a separate socket per worker.  One listening socket shared
by forked workers works too, but every idle worker wakes for each new
connection and the busiest one tends to win; with ``SO_REUSEPORT`` the
kernel hashes each connection to one socket.  The price: a socket that
closes drops the connections still queued on it, so a worker that stops
accepting while the others go on loses a few; :func:`serve` only closes
listening sockets when all the workers stop.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import selectors
import signal
import socket as _stdsocket
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import network
from .errors import CancelledError
from .kernel import TaskGroup, ignore_after, run, spawn
from .kernel.io import Socket
from .signal import SignalQueue

__all__ = ["serve"]

log = logging.getLogger("curionet")

#: Seconds a worker may take beyond the grace (to cancel and close what is
#: left) before the parent kills it.
KILL_MARGIN = 2.0

_PR_SET_PDEATHSIG = 1


def serve(main: Callable[..., Awaitable[Any]], *args: Any, workers: int | None = None, grace: float = 10.0,
          restart_delay: float = 0.1, max_restart_delay: float = 10.0,
          on_ready: Callable[[], Any] | None = None) -> None:  # fmt: skip
    """Run ``curionet.run(main, *args)`` in *workers* processes (default: one
    per CPU) and supervise them until they are stopped.

    *main* serves on a fixed port with ``reuse_port=True`` (for instance
    ``await tcp_server(host, port, handler, reuse_port=True)``), so that the
    workers share it.  ``on_ready()`` is called in this process once every
    worker listens.  A worker that crashes is started again after
    *restart_delay* seconds, doubling with each crash in a row up to
    *max_restart_delay*; one that exits with status 0 is not replaced, and
    :func:`serve` returns once none is left.  A worker that fails before the
    first time all of them listen (a port in use, a bad argument) raises
    ``RuntimeError`` here, after the others are stopped.

    SIGTERM or SIGINT (Ctrl-C) drains: every server in every worker stops
    accepting, open connections get up to *grace* seconds to finish, then
    whatever is left of *main* is cancelled; :func:`serve` returns when the
    workers have exited.  A second signal ends the grace at once.  Call it
    from the main thread, outside any kernel (it forks)."""
    if isinstance(workers, bool) or not isinstance(workers, (int, type(None))):
        raise TypeError(f"workers must be an int, not {type(workers).__name__}")
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if grace < 0:
        raise ValueError(f"grace must be >= 0, not {grace}")
    if not 0 < restart_delay <= max_restart_delay:
        raise ValueError("need 0 < restart_delay <= max_restart_delay")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("serve() must be called from the main thread")
    from .kernel.kernel import current_kernel

    if current_kernel() is not None:
        raise RuntimeError("serve() forks: call it outside curionet.run()")
    _Supervisor(main, args, workers, grace, restart_delay, max_restart_delay, on_ready).run()


@dataclass(eq=False)
class _Supervisor:
    """The parent process: :func:`serve`'s arguments (``n`` workers), and the
    state of its loop, set up in ``__post_init__`` and :meth:`run`."""

    main: Any
    args: tuple[Any, ...]
    n: int
    grace: float
    restart_delay: float
    max_restart_delay: float
    on_ready: Any

    def __post_init__(self) -> None:
        self.pids: dict[int, tuple[int, float]] = {}  # pid -> (slot, started at)
        self.delays = [self.restart_delay] * self.n
        self.restarts: dict[int, float] = {}  # slot -> when to start it again
        self.ready: dict[int, Any] = {}  # pid -> address it listens on
        self.announced = False
        self.stopping = False
        self.kill_at: float | None = None
        self.signals: list[int] = []
        self.buffer = b""

    # -- the parent's loop ------------------------------------------------
    def run(self) -> None:
        self.ready_r, self.ready_w = os.pipe()
        self.death_r, self.death_w = os.pipe()
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.ready_r, self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        # The parent runs no kernel (it forks, and a child must not share
        # the kernel's selector): a plain selector waits for ready messages
        # and signals (set_wakeup_fd), with restarts and the kill as timeouts.
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.ready_r, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        old_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)}
        old_wakeup = signal.set_wakeup_fd(self.wake_w)
        try:
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGCHLD, lambda signo, frame: None)  # wakes select(); reaped below
            for slot in range(self.n):
                self._start(slot)
            while self.pids or self.restarts:
                self._step()
        finally:
            self._kill_all()
            signal.set_wakeup_fd(old_wakeup)
            for s, h in old_handlers.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)
            self.selector.close()
            for fd in (self.ready_r, self.ready_w, self.death_r, self.death_w, self.wake_r, self.wake_w):
                os.close(fd)

    def _on_signal(self, signo: int, frame: Any) -> None:
        self.signals.append(signo)

    def _step(self) -> None:
        now = time.monotonic()
        deadlines = list(self.restarts.values())
        if self.kill_at is not None:
            deadlines.append(self.kill_at)
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        readable = [key.fd for key, _ in self.selector.select(timeout)]
        if self.wake_r in readable:
            try:
                while os.read(self.wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        if self.ready_r in readable:
            self._read_ready()
        while self.signals:
            self._stop(self.signals.pop(0))
        self._reap()
        now = time.monotonic()
        for slot, when in list(self.restarts.items()):
            if when <= now and not self.stopping:
                del self.restarts[slot]
                self._start(slot)
        if self.kill_at is not None and now >= self.kill_at:
            for pid in self.pids:
                log.warning("worker %d still running after the grace: killing it", pid)
            self._kill_all()

    def _stop(self, signo: int) -> None:
        # First signal: drain.  Another one: each worker's second SIGTERM
        # ends its grace.
        self.restarts.clear()
        if not self.stopping:
            self.stopping = True
            self.kill_at = time.monotonic() + self.grace + KILL_MARGIN
        for pid in self.pids:
            _kill(pid, signal.SIGTERM)

    def _read_ready(self) -> None:
        try:
            self.buffer += os.read(self.ready_r, 65536)
        except BlockingIOError:  # pragma: no cover
            return
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            pid_text, _, address = line.decode().partition(" ")
            pid = int(pid_text)
            if pid in self.pids:
                self.ready[pid] = json.loads(address)
        if not self.announced and not self.stopping and len(self.ready) == self.n:
            self.announced = True
            addresses = {json.dumps(a) for a in self.ready.values()}
            if len(addresses) > 1:
                raise RuntimeError(f"the workers listen on different addresses ({', '.join(sorted(addresses))}): "
                                   "give main a fixed port (port 0 picks a different one in each worker)")  # fmt: skip
            if self.on_ready is not None:
                self.on_ready()

    def _reap(self) -> None:
        # Each worker by its pid: waitpid(-1) could reap a child of the
        # caller's own (a subprocess it started) and lose its status.
        for pid in list(self.pids):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # pragma: no cover - reaped elsewhere
                done, status = pid, 0
            if done == 0:
                continue
            slot, started = self.pids.pop(pid)
            was_ready = self.ready.pop(pid, None) is not None
            code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                if code != 0:
                    log.warning("worker %d exited with status %d while stopping", pid, code)
                continue
            if not self.announced:
                raise RuntimeError(f"worker {pid} exited with status {code} before every worker was listening"
                                   + ("" if was_ready else " (it never listened)"))  # fmt: skip
            if code == 0:
                continue  # main returned: the worker is done
            delay, self.delays[slot] = _restart_delays(self.delays[slot], time.monotonic() - started,
                                                      self.restart_delay, self.max_restart_delay)  # fmt: skip
            log.warning("worker %d exited with status %d; starting another in %.2f s", pid, code, delay)
            self.restarts[slot] = time.monotonic() + delay

    def _kill_all(self) -> None:
        for pid in self.pids:
            _kill(pid, signal.SIGKILL)
        for pid in list(self.pids):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # pragma: no cover
                pass
        self.pids.clear()
        self.restarts.clear()

    # -- a worker ---------------------------------------------------------
    def _start(self, slot: int) -> None:
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        # SIGTERM stays blocked until the child has its own handlers: sent
        # just after the fork, it must not reach the parent's handler there.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
        finally:
            if os.getpid() == parent:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if pid:
            self.pids[pid] = (slot, time.monotonic())
            return
        code = 1  # pragma: no cover - the rest runs in the child
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # Ctrl-C reaches every process of the terminal's group: the
            # parent alone decides, and sends SIGTERM.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            self.selector.close()
            for fd in (self.ready_r, self.death_w, self.wake_r, self.wake_w):
                os.close(fd)
            code = _worker(self.main, self.args, self.grace, self.ready_w, self.death_r, parent)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def _restart_delays(delay: float, lived: float, first: float, most: float) -> tuple[float, float]:
    """After a crash: (the delay before starting the worker again, the delay
    for its next crash).  The delay doubles with each crash in a row, up to
    *most*; a worker that lived at least *most* seconds starts from *first*
    again."""
    if lived >= most:
        delay = first
    return delay, min(delay * 2, most)


def _kill(pid: int, signo: int) -> None:
    try:
        os.kill(pid, signo)
    except ProcessLookupError:  # pragma: no cover - exited, not yet reaped
        pass


def _set_parent_death_signal(signo: int) -> bool:
    """Ask Linux to send *signo* to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signo, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover
        return False


def _watch_parent(fd: int, signalled: bool, grace: float) -> None:
    # The parent holds the pipe's write end and never writes: EOF means it is
    # gone.  Drain like on SIGTERM (unless the death signal already does),
    # and make sure this process ends even if the drain hangs.
    try:
        while os.read(fd, 1):
            pass
    except OSError:  # pragma: no cover
        pass
    if not signalled:
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace + KILL_MARGIN)
    os._exit(1)


def _worker(main: Any, args: tuple[Any, ...], grace: float, ready_w: int, death_r: int, parent: int) -> int:
    signalled = _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the death signal was set
        return 0
    threading.Thread(target=_watch_parent, args=(death_r, signalled, grace), daemon=True,
                     name="curionet-parent-watch").start()  # fmt: skip

    def on_listen(sock: Socket) -> None:
        # The first server to accept makes this worker ready.
        network._on_listen = None
        address = sock.getsockname()
        os.write(ready_w, f"{os.getpid()} {json.dumps(address)}\n".encode())

    network._on_listen = on_listen
    try:
        return int(run(_worker_main, main, args, grace))
    except SystemExit as e:
        # SIGTERM before the worker's own handler was in place: run() turned it into SystemExit.
        return 0 if e.code == 128 + signal.SIGTERM else 1


async def _worker_main(main: Any, args: tuple[Any, ...], grace: float) -> int:
    drained: list[bool] = []
    async with SignalQueue(signal.SIGTERM) as signals:
        main_task = await spawn(main, *args)
        drainer = await spawn(_drain_on_signal, signals, main_task, grace, drained)
        try:
            await main_task.wait()
        finally:
            await drainer.cancel()
    exc = main_task.exception
    if exc is None or (drained and isinstance(exc, CancelledError)):
        return 0
    raise exc


async def _drain_on_signal(signals: SignalQueue, main_task: Any, grace: float, drained: list[bool]) -> None:
    await signals.get()
    servers = await network._stop_accepting()

    async def servers_done() -> None:
        for task in servers:
            await task.wait()

    # The grace ends when every server's connections have ended, or at a
    # second SIGTERM, or when it runs out.
    async with ignore_after(grace):
        async with TaskGroup(wait=any) as group:
            await group.spawn(servers_done)
            await group.spawn(signals.get)
    drained.append(True)
    await main_task.cancel(blocking=False)


def _reserve_port(host: str, port: int) -> _stdsocket.socket:
    """A socket bound to *host*:*port* with ``SO_REUSEPORT`` but not
    listening: it keeps the port (``port=0``: a free one, read it with
    ``getsockname()``) for workers to bind with ``reuse_port=True``, and
    receives no connections itself."""
    family = _stdsocket.AF_INET6 if ":" in host else _stdsocket.AF_INET
    sock = _stdsocket.socket(family, _stdsocket.SOCK_STREAM)
    try:
        sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
        sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
