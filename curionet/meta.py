"""Helpers for code that works with coroutines (Curio's ``curio.meta``).

Implemented without stack-frame inspection: whether curionet is running is
read from the kernel's per-thread record.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any

from .kernel.kernel import current_kernel
from .kernel.task import instantiate_coroutine as _instantiate

__all__ = [
    "curio_running",
    "curionet_running",
    "iscoroutinefunction",
    "instantiate_coroutine",
    "awaitable",
    "asyncioable",
    "finalize",
    "from_coroutine",
]


def curionet_running() -> bool:
    """``True`` if a curionet kernel is running in this thread."""
    return current_kernel() is not None


#: Curio's name.
curio_running = curionet_running


def iscoroutinefunction(func: Any) -> bool:
    """``True`` if calling *func* produces a coroutine (or an async generator).

    Unlike ``inspect.iscoroutinefunction`` it sees through
    ``functools.partial`` and recognises objects with an async ``__call__``."""
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        return True
    if getattr(func, "_awaitable", False):
        return True
    if inspect.isfunction(func) or inspect.ismethod(func) or not callable(func):
        return False
    return inspect.iscoroutinefunction(type(func).__call__)


def instantiate_coroutine(corofunc: Any, *args: Any, **kwargs: Any) -> Any:
    """Return a coroutine from a coroutine object or ``corofunc(*args, **kwargs)``."""
    if kwargs:
        return _instantiate(functools.partial(corofunc, **kwargs), args)
    return _instantiate(corofunc, args)


def awaitable(syncfunc: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: attach an async implementation to the synchronous function
    *syncfunc* under one name (Curio's ``meta.awaitable``)::

        def spam(x): ...          # used from synchronous code

        @awaitable(spam)
        async def spam(x): ...    # used from async code: await spam(x)

    Curio picks the version by inspecting the caller's frame.  curionet asks
    whether a curionet kernel (or an asyncio loop) runs in the calling thread:
    if so the async version is called, otherwise the synchronous one.  So
    synchronous code running inside the kernel's thread gets the async
    version (a coroutine); such code should not call blocking functions
    anyway.  The two functions must take the same arguments."""
    if not callable(syncfunc) or iscoroutinefunction(syncfunc):
        raise TypeError("awaitable() expects the synchronous function as its argument")

    def decorate(asyncfunc: Callable[..., Any]) -> Callable[..., Any]:
        _check_async("awaitable", syncfunc, asyncfunc)
        # Under asyncio the one async version serves too.
        return _dispatcher(syncfunc, asyncfunc, asyncfunc)

    return decorate


def asyncioable(awaitablefunc: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: add an asyncio version to a function made by
    :func:`awaitable` (Curio's ``meta.asyncioable``)::

        def spam(): ...               # synchronous callers

        @awaitable(spam)
        async def spam(): ...         # curionet tasks

        @asyncioable(spam)
        async def spam(): ...         # coroutines running under asyncio

    The call goes to the curionet version when a curionet kernel runs in the
    calling thread, to the asyncio version when an asyncio loop runs there,
    and to the synchronous function otherwise.  The three functions must
    take the same arguments."""
    syncfunc = getattr(awaitablefunc, "_syncfunc", None)
    curiofunc = getattr(awaitablefunc, "_asyncfunc", None)
    if syncfunc is None or curiofunc is None:
        raise TypeError("asyncioable() expects a function made by @awaitable(...)")

    def decorate(aiofunc: Callable[..., Any]) -> Callable[..., Any]:
        _check_async("asyncioable", syncfunc, aiofunc)
        wrapper = _dispatcher(syncfunc, curiofunc, aiofunc)
        wrapper._asynciofunc = aiofunc  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _check_async(decorator: str, syncfunc: Callable[..., Any], func: Callable[..., Any]) -> None:
    if not iscoroutinefunction(func):
        raise TypeError(f"@{decorator}({syncfunc.__name__}) must decorate an async function")


def _dispatcher(
    syncfunc: Callable[..., Any], curiofunc: Callable[..., Any], aiofunc: Callable[..., Any]
) -> Callable[..., Any]:
    """What :func:`awaitable` and :func:`asyncioable` return: a function (named
    and documented as *aiofunc*) that calls *curiofunc* when a curionet kernel
    runs in the calling thread, *aiofunc* when an asyncio loop runs there, and
    *syncfunc* otherwise."""

    @functools.wraps(aiofunc)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_kernel() is not None:
            return curiofunc(*args, **kwargs)
        if _asyncio_running():
            return aiofunc(*args, **kwargs)
        return syncfunc(*args, **kwargs)

    wrapper._awaitable = True  # type: ignore[attr-defined]
    wrapper._syncfunc = syncfunc  # type: ignore[attr-defined]
    wrapper._asyncfunc = curiofunc  # type: ignore[attr-defined]
    return wrapper


class finalize:
    """Async context manager that closes an async generator when the block
    ends, however it ends (Curio's ``meta.finalize``)::

        async with finalize(agen()) as gen:
            async for item in gen:
                if item == stop:
                    break          # gen.aclose() runs here, in this task

    Without it, an async generator abandoned mid-iteration is finalised
    later by the garbage collector, outside any task, and a ``finally``
    block in it that awaits (a lock, a socket close) cannot run properly.
    An object that is not an async generator (has no ``aclose``) is handed
    through unchanged."""

    __slots__ = ("_aobj",)

    def __init__(self, aobj: Any) -> None:
        self._aobj = aobj

    async def __aenter__(self) -> Any:
        return self._aobj

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        aclose = getattr(self._aobj, "aclose", None)
        if aclose is not None:
            await aclose()


def _asyncio_running() -> bool:
    aio = sys.modules.get("asyncio")
    return aio is not None and aio.events._get_running_loop() is not None


def from_coroutine(level: int = 2) -> bool:
    """``True`` if the function that called the caller of ``from_coroutine``
    (``level`` frames up) is a coroutine (Curio's ``meta.from_coroutine``).

    This is the one helper here that needs stack-frame inspection; it is
    kept for Curio programs that use it.  Prefer :func:`awaitable` or
    :func:`curionet_running`."""
    try:
        frame = sys._getframe(level)
    except ValueError:  # the stack is not that deep
        return False
    return bool(frame.f_code.co_flags & (inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE
                                         | inspect.CO_ASYNC_GENERATOR))  # fmt: skip
