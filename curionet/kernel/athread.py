"""Plain ``with``/``for`` on kernel objects inside async threads.

In an async thread (``curionet.thread``), Curio lets synchronous code use its
objects with ordinary syntax: ``with lock:``, ``with timeout_after(5):``,
``with TaskGroup() as g:``, ``for line in stream:``.  Each such statement runs
the object's async counterpart (``__aenter__``, ``__aexit__``, ``__anext__``)
on the kernel on behalf of the thread, as ``AWAIT()`` would.  Anywhere else
(a task, a plain thread) the statement raises
:class:`~curionet.errors.AsyncOnlyError`: the object is async-only there.

The functions below are assigned as the sync dunder methods of those classes
(``__enter__ = sync_enter``).  This module records which async thread, if
any, the calling thread is; ``curionet.thread`` sets that record, so the
kernel modules need no import of ``curionet.thread``.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import AsyncOnlyError

__all__ = ["current_async_thread", "sync_enter", "sync_exit", "sync_iter", "sync_next"]

# ``_local.thread``: the AsyncThread the calling thread runs the code of.
_local = threading.local()


def current_async_thread() -> Any:
    """The :class:`~curionet.thread.AsyncThread` the calling thread is, or ``None``."""
    return getattr(_local, "thread", None)


def _thread_for(obj: Any, statement: str) -> Any:
    thread = getattr(_local, "thread", None)
    if thread is None:
        raise AsyncOnlyError(
            f"use 'async {statement}' with a {type(obj).__name__}: a plain '{statement}' works only in an "
            "async thread (see curionet.thread.spawn_thread)"
        )
    return thread


def sync_enter(self: Any) -> Any:
    """``__enter__``: ``AWAIT(self.__aenter__())`` in an async thread."""
    return _thread_for(self, "with")._await(self.__aenter__())


def sync_exit(self: Any, ty: Any, val: Any, tb: Any) -> Any:
    """``__exit__``: ``AWAIT(self.__aexit__(...))`` in an async thread.

    A cancellation pending on the thread is not raised before the exit runs
    (it would skip the clean-up: a lock left held, a deadline left set); it
    stays pending for the exit's own blocking operations or the next
    ``AWAIT``."""
    return _thread_for(self, "with")._await(self.__aexit__(ty, val, tb), deliver=False)


def sync_iter(self: Any) -> Any:
    """``__iter__``: the async iterator, usable by ``for`` in an async thread."""
    _thread_for(self, "for")
    return self.__aiter__()


def sync_next(self: Any) -> Any:
    """``__next__``: ``AWAIT(self.__anext__())`` in an async thread."""
    thread = _thread_for(self, "for")
    try:
        return thread._await(self.__anext__())
    except StopAsyncIteration:
        raise StopIteration from None
