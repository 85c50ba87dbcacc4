"""Subprocesses without blocking the kernel (Curio's ``curio.subprocess``).

:class:`Popen` takes the arguments of :class:`subprocess.Popen`; its
``stdin``/``stdout``/``stderr`` pipes are async :class:`~curionet.kernel.io.FileStream`
objects and ``wait()`` / ``communicate()`` are coroutines.  :func:`run` and
:func:`check_output` mirror the standard library functions.  Pipes carry
bytes (``text=True`` and friends are refused).

Waiting for exit uses a Linux ``pidfd`` (the kernel's poller tells when the
child exits; no thread, no ``SIGCHLD`` handler); elsewhere it falls back to a
worker thread.

Cancellation, as in Curio: a cancelled ``Popen.wait()`` or
``Popen.communicate()`` does not touch the child (the exception of a cancelled
``communicate`` carries ``stdout``/``stderr``: the output read so far).
A cancelled :func:`run` / :func:`check_output` kills the child and reaps it
before the cancellation propagates, and so does leaving an
``async with Popen(...)`` block by an exception: no zombie is left behind.

Discussion: a curionet stream as the child's stdin, stdout or stderr.  A
curionet stream or socket is non-blocking, and ``O_NONBLOCK`` belongs to the
open file, which the child shares: a child reading an empty non-blocking
stdin gets ``EAGAIN`` (most programs take it for the end of the input), one
writing to a full non-blocking pipe fails.  Clearing the flag around the
fork does not help (the parent setting it back also changes the child's
file), and neither does a ``dup()`` (same open file).  So a pipe is opened
again through ``/proc/self/fd`` (a new open file of the same pipe, blocking,
given to the child; the parent's stream stays non-blocking and usable).  A
socket cannot be opened again: it is put in blocking mode and handed over to
the child, as Curio does; close it in the parent.
"""

from __future__ import annotations

import os
import stat
import subprocess as _subprocess
from subprocess import (
    DEVNULL as DEVNULL,
    PIPE as PIPE,
    STDOUT as STDOUT,
    CalledProcessError as CalledProcessError,
    CompletedProcess as CompletedProcess,
    SubprocessError as SubprocessError,
    TimeoutExpired as TimeoutExpired,
)
from typing import Any

from .errors import TaskTimeout
from .kernel.athread import sync_enter, sync_exit
from .kernel.io import FileStream
from .kernel.lowlevel import io_release, read_wait
from .kernel.task import TaskGroup, disable_cancellation
from .kernel.time import timeout_after
from .workers import run_in_thread

__all__ = [
    "Popen",
    "run",
    "check_output",
    "PIPE",
    "STDOUT",
    "DEVNULL",
    "CalledProcessError",
    "CompletedProcess",
    "SubprocessError",
    "TimeoutExpired",
]


def _blocking_for_child(arg: Any, reading: bool, opened: list[int]) -> Any:
    """The ``stdin``/``stdout``/``stderr`` argument to give the standard
    library for *arg*: a blocking descriptor where *arg* is a non-blocking
    one (a curionet stream or socket); see the module's Discussion.  A
    descriptor opened here is added to *opened* (for the caller to close)."""
    if arg is None or (isinstance(arg, int) and arg < 0):  # PIPE, STDOUT, DEVNULL
        return arg
    try:
        fd = arg if isinstance(arg, int) else arg.fileno()
        if os.get_blocking(fd):
            return arg
        fifo = stat.S_ISFIFO(os.fstat(fd).st_mode)
    except (AttributeError, OSError, ValueError):
        return arg  # not a descriptor: subprocess.Popen reports it
    if fifo:
        # O_NONBLOCK here only so that opening a pipe with no writer (or
        # no reader) left does not block; the child's file is blocking.
        mode = os.O_RDONLY if reading else os.O_WRONLY
        try:
            new = os.open(f"/proc/self/fd/{fd}", mode | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            pass  # no /proc, or no reader for a write end: hand the file over
        else:
            opened.append(new)
            os.set_blocking(new, True)
            return new
    os.set_blocking(fd, True)
    return arg


class Popen:
    """An async wrapper around :class:`subprocess.Popen` (same arguments).

    Attributes and methods not listed here (``pid``, ``returncode``,
    ``poll()``, ``send_signal()``, ``terminate()``, ``kill()`` ...) are those
    of the wrapped object."""

    def __init__(self, args: Any, **kwargs: Any) -> None:
        for key in ("text", "universal_newlines", "encoding", "errors"):
            if kwargs.get(key):
                raise ValueError(f"curionet.subprocess.Popen pipes carry bytes: {key}= is not supported")
        kwargs["bufsize"] = 0
        opened: list[int] = []
        try:
            for key in ("stdin", "stdout", "stderr"):
                if key in kwargs:
                    kwargs[key] = _blocking_for_child(kwargs[key], key == "stdin", opened)
            self._popen = _subprocess.Popen(args, **kwargs)
        finally:
            for fd in opened:
                os.close(fd)
        p = self._popen
        self.stdin = FileStream(p.stdin) if p.stdin is not None else None
        self.stdout = FileStream(p.stdout) if p.stdout is not None else None
        self.stderr = FileStream(p.stderr) if p.stderr is not None else None

    def __repr__(self) -> str:
        return f"<curionet.subprocess.Popen pid={self._popen.pid} returncode={self._popen.returncode}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._popen, name)

    async def wait(self) -> int:
        """Wait for the child to exit and return its exit code."""
        p = self._popen
        if p.poll() is not None:
            return p.returncode
        try:
            pidfd = os.pidfd_open(p.pid)
        except (AttributeError, OSError):
            return await run_in_thread(p.wait)  # type: ignore[no-any-return]
        try:
            while p.poll() is None:
                await read_wait(pidfd)
        finally:
            await io_release(pidfd)
            os.close(pidfd)
        return p.returncode

    async def communicate(self, input: bytes | None = b"", timeout: float | None = None) -> tuple[Any, Any]:
        """Send *input* to stdin (then close it), read stdout and stderr to
        the end, wait for exit; return ``(stdout, stderr)`` (``None`` for a
        stream that is not a pipe).

        If cancelled, the exception has ``stdout`` and ``stderr`` attributes
        with what was read.  With *timeout*, :class:`TimeoutExpired` is raised
        after that many seconds (the child keeps running)."""
        if timeout is not None:
            try:
                return await timeout_after(timeout, self._communicate, input)  # type: ignore[no-any-return]
            except TaskTimeout as e:
                raise TimeoutExpired(self._popen.args, timeout, getattr(e, "stdout", None),
                                     getattr(e, "stderr", None)) from None  # fmt: skip
        return await self._communicate(input)

    async def _communicate(self, input: bytes | None) -> tuple[Any, Any]:
        out: list[bytes] = []
        err: list[bytes] = []

        async def collect(stream: FileStream, chunks: list[bytes]) -> None:
            while True:
                data = await stream.read(65536)
                if not data:
                    await stream.close()  # as the stdlib's communicate() does
                    return
                chunks.append(data)

        try:
            async with TaskGroup() as g:
                if self.stdout is not None:
                    await g.spawn(collect, self.stdout, out)
                if self.stderr is not None:
                    await g.spawn(collect, self.stderr, err)
                if self.stdin is not None:
                    if input:
                        try:
                            await self.stdin.write(input)
                        except (BrokenPipeError, ConnectionResetError):
                            pass  # the child exited without reading it all, as in the stdlib
                    await self.stdin.close()
            await self.wait()
        except BaseException as e:
            self._popen.poll()  # reap the child now if it has already exited
            e.stdout = b"".join(out) if self.stdout is not None else None  # type: ignore[attr-defined]
            e.stderr = b"".join(err) if self.stderr is not None else None  # type: ignore[attr-defined]
            raise
        return (b"".join(out) if self.stdout is not None else None,
                b"".join(err) if self.stderr is not None else None)  # fmt: skip

    async def _close_pipes(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                await stream.close()

    async def _kill_and_reap(self) -> None:
        async with disable_cancellation():
            if self._popen.poll() is None:
                try:
                    self._popen.kill()
                except ProcessLookupError:  # pragma: no cover - exited meanwhile
                    pass
            await self.wait()

    async def __aenter__(self) -> Popen:
        return self

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        async with disable_cancellation():
            await self._close_pipes()
        if ty is not None:
            await self._kill_and_reap()
        else:
            await self.wait()

    # A plain 'with' works in an async thread; elsewhere AsyncOnlyError.
    __enter__ = sync_enter
    __exit__ = sync_exit


async def run(args: Any, *, stdin: Any = None, input: bytes | None = None, stdout: Any = None, stderr: Any = None,
              shell: bool = False, check: bool = False, timeout: float | None = None,
              **kwargs: Any) -> CompletedProcess[Any]:  # fmt: skip
    """Run a command and return a :class:`subprocess.CompletedProcess`.

    Arguments as for :func:`subprocess.run`.  With ``check=True`` a non-zero
    exit raises :class:`CalledProcessError`; with *timeout*, the child is
    killed and :class:`TimeoutExpired` raised.  If cancelled, the child is
    killed and reaped; the exception has ``stdout``/``stderr`` attributes."""
    if input is not None:
        if stdin is not None:
            raise ValueError("stdin and input arguments may not both be used")
        stdin = PIPE
    p = Popen(args, stdin=stdin, stdout=stdout, stderr=stderr, shell=shell, **kwargs)
    async with p:
        if timeout is None:
            out, err = await p._communicate(input)
        else:
            try:
                out, err = await timeout_after(timeout, p._communicate, input)
            except TaskTimeout as e:  # our own timeout (an outer one is TimeoutCancellationError)
                await p._kill_and_reap()
                raise TimeoutExpired(args, timeout, getattr(e, "stdout", None), getattr(e, "stderr", None)) from None
    if check and p.returncode:
        raise CalledProcessError(p.returncode, args, out, err)
    return CompletedProcess(args, p.returncode, out, err)


async def check_output(args: Any, *, stdin: Any = None, stderr: Any = None, shell: bool = False,
                       input: bytes | None = None, timeout: float | None = None, **kwargs: Any) -> Any:  # fmt: skip
    """Run a command and return its standard output; a non-zero exit raises
    :class:`CalledProcessError` (with ``output`` and ``stderr``)."""
    if "stdout" in kwargs:
        raise ValueError("stdout argument not allowed, it will be overridden")
    result = await run(args, stdin=stdin, input=input, stdout=PIPE, stderr=stderr, shell=shell, check=True,
                       timeout=timeout, **kwargs)  # fmt: skip
    return result.stdout
