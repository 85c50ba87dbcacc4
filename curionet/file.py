"""Asynchronous files (Curio's ``curio.file``).

``aopen()`` takes the arguments of the built-in ``open()`` and returns an
:class:`AsyncFile` whose I/O methods are coroutines.  Regular files have no
non-blocking mode, so each operation runs in a worker thread
(:func:`~curionet.workers.run_in_thread`): the kernel never blocks on a slow
disk, NFS mount or FIFO.  Operations on one file are serialised, so a
cancelled read (whose thread still finishes in the background) cannot race
the next one.

The file is opened (in a thread too) on ``async with`` or on the first
operation, and closed on leaving the block or by ``await f.close()``.
Synchronous iteration (``for line in f``) raises
:class:`~curionet.errors.SyncIOError`, and a plain ``with f:`` works only in
an async thread (``curionet.thread``; elsewhere it raises
:class:`~curionet.errors.AsyncOnlyError`), as in Curio; when you really want
the blocking file, use ``with f.blocking() as raw:``.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .errors import SyncIOError
from .kernel.stream import AsyncLineFile
from .workers import run_in_thread

__all__ = ["aopen", "AsyncFile", "anext"]

_MISSING: Any = object()


class AsyncFile(AsyncLineFile[Any]):
    """An asynchronous wrapper around a file object (or around the arguments
    to open one, as :func:`aopen` creates it)."""

    def __init__(self, fileobj: Any = None, open_args: tuple[Any, ...] = (), open_kwargs: dict[str, Any] | None = None):
        self._file = fileobj
        self._open_args = open_args
        self._open_kwargs = open_kwargs or {}
        self._lock = threading.Lock()  # serialises operations across worker threads

    def __repr__(self) -> str:
        return f"<AsyncFile {self._file!r}>"

    def _call(self, func: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            return func(*args)

    async def _ensure(self) -> Any:
        if self._file is None:
            if not self._open_args and not self._open_kwargs:
                raise ValueError("AsyncFile has no file")
            args, kwargs = self._open_args, self._open_kwargs
            cell: list[Any] = []  # [file] once opened, ["abandoned"] if cancelled first
            lock = threading.Lock()

            def _open() -> None:
                f = builtins.open(*args, **kwargs)
                with lock:
                    if cell:  # the task was cancelled meanwhile: nobody owns f
                        f.close()
                    else:
                        cell.append(f)

            try:
                await run_in_thread(_open)
            except BaseException:
                with lock:
                    if cell:
                        cell[0].close()
                    else:
                        cell.append(None)
                raise
            if self._file is None:
                self._file = cell[0]
            else:  # pragma: no cover - two tasks opened concurrently
                cell[0].close()
        return self._file

    async def _op(self, name: str, *args: Any) -> Any:
        f = self._file if self._file is not None else await self._ensure()
        return await run_in_thread(self._call, getattr(f, name), *args)

    # -- the async API (Curio's list) ----------------------------------------
    async def read(self, maxbytes: int = -1) -> Any:
        return await self._op("read", maxbytes)

    async def read1(self, maxbytes: int = -1) -> Any:
        return await self._op("read1", maxbytes)

    async def readline(self, maxbytes: int = -1) -> Any:
        return await self._op("readline", maxbytes)

    async def readlines(self, maxbytes: int = -1) -> Any:
        return await self._op("readlines", maxbytes)

    async def readinto(self, buffer: Any) -> Any:
        return await self._op("readinto", buffer)

    async def readinto1(self, buffer: Any) -> Any:
        return await self._op("readinto1", buffer)

    async def readall(self) -> Any:
        return await self._op("readall") if hasattr(await self._ensure(), "readall") else await self._op("read")

    async def write(self, data: Any) -> Any:
        return await self._op("write", data)

    async def writelines(self, lines: Any) -> Any:
        return await self._op("writelines", lines)

    async def truncate(self, pos: int | None = None) -> Any:
        return await self._op("truncate", pos)

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> Any:
        return await self._op("seek", offset, whence)

    async def tell(self) -> Any:
        return await self._op("tell")

    async def flush(self) -> Any:
        return await self._op("flush")

    async def close(self) -> None:
        """Flush and close the file (in a thread)."""
        f = self._file
        if f is not None and not f.closed:
            await run_in_thread(self._call, f.close)

    @property
    def closed(self) -> bool:
        return self._file is None or self._file.closed

    @contextmanager
    def blocking(self) -> Iterator[Any]:
        """The underlying (blocking) file object, for synchronous code.
        Danger: its operations block the kernel."""
        if self._file is None:
            raise RuntimeError("the file is not open yet (use 'async with aopen(...)' first)")
        yield self._file

    # -- context management and iteration ----------------------------------
    async def __aenter__(self) -> AsyncFile:
        await self._ensure()
        return self

    # A plain 'with' works in an async thread (then AWAIT(f.read()) ...), as
    # AsyncLineFile gives it.  Iteration is asynchronous only (as in Curio).
    def __iter__(self) -> Any:
        raise SyncIOError("use 'async for' with an AsyncFile")

    def __next__(self) -> Any:
        raise SyncIOError("use 'async for' (or 'await anext(f)') with an AsyncFile")

    def __getattr__(self, name: str) -> Any:
        # Anything not listed above (name, mode, encoding, fileno ...) is
        # read from the file object; its blocking methods are refused.
        if name.startswith("_"):
            raise AttributeError(name)
        f = self.__dict__.get("_file")
        if f is None:
            raise AttributeError(f"{name!r}: the file is not open yet")
        return getattr(f, name)


def aopen(*args: Any, **kwargs: Any) -> AsyncFile:
    """Open a file asynchronously: the arguments are those of ``open()``.
    Use as ``async with aopen(path) as f:``."""
    if not args and "file" not in kwargs:
        raise TypeError("aopen() missing the file argument")
    return AsyncFile(None, args, kwargs)


async def anext(f: Any, sentinel: Any = _MISSING) -> Any:
    """Return the next item of the async iterator *f* (Curio's
    ``curio.file.anext``, e.g. the next line of an :class:`AsyncFile`); at
    the end return *sentinel* if given, else raise ``StopAsyncIteration``."""
    try:
        return await f.__anext__()
    except StopAsyncIteration:
        if sentinel is _MISSING:
            raise
        return sentinel
