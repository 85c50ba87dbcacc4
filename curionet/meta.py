"""Helpers for code that works with coroutines (Curio's ``curio.meta``).

Implemented without stack-frame inspection: whether curionet is running is
read from the kernel's per-thread record.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .kernel.kernel import current_kernel
from .kernel.task import instantiate_coroutine as _instantiate

__all__ = ["curio_running", "curionet_running", "iscoroutinefunction", "instantiate_coroutine"]


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


_ = Callable
