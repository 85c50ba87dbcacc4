"""Time: ``sleep``, ``clock`` and the timeout context managers.

The kernel only keeps, per task, a stack of deadlines and fires a timer for
the earliest one.  The policy that decides which ``timeout_after`` block a
timeout belongs to lives here, following Curio's documented rules:

1. The outermost block whose deadline has passed receives ``TaskTimeout``
   (``ignore_after`` swallows it and sets ``expired``).
2. Blocks inside it see ``TimeoutCancellationError``: they are being
   cancelled because time ran out *elsewhere*.
3. A ``TaskTimeout`` that escapes its own block into an outer block whose
   deadline has not passed becomes ``UncaughtTimeoutError``: the inner
   timeout lacked an exception handler.
4. A passed deadline is not lost when code catches the exception and goes
   on: the kernel raises ``TaskTimeout`` again at every blocking operation
   inside a block nested in the expired one, and at the first one back in
   the expired block itself, so that block ends at its deadline.  Only a
   ``TaskTimeout`` caught inside its own (innermost) block is not raised
   again: that code chose to carry on.

Inside ``disable_cancellation()`` a timeout is not delivered.  When a block
ends after its deadline without having received the timeout, it completes
normally with ``expired`` set (the work did finish); the undelivered timeout
is discarded unless an outer deadline has passed too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ..errors import TaskTimeout, TimeoutCancellationError, UncaughtTimeoutError
from .athread import sync_enter, sync_exit
from .task import Task, instantiate_coroutine
from .traps import _clock, _get_current, _set_timeout, _sleep, _unset_timeout

__all__ = ["sleep", "clock", "timeout_after", "ignore_after"]

_T = TypeVar("_T")
_R = TypeVar("_R")


async def sleep(seconds: float) -> float:
    """Sleep *seconds*; ``sleep(0)`` just lets other ready tasks run.
    Returns the kernel clock."""
    return await _sleep(seconds)  # type: ignore[no-any-return]


async def clock() -> float:
    """The kernel's clock value (monotonic seconds)."""
    return await _clock()  # type: ignore[no-any-return]


class _TimeoutBlock:
    """The async context manager behind ``timeout_after``/``ignore_after``."""

    __slots__ = ("_seconds", "_ignore", "_task", "_deadline", "expired", "result", "_timeout_result")

    def __init__(self, seconds: float | None, ignore: bool, timeout_result: Any = None) -> None:
        self._seconds = seconds
        self._ignore = ignore
        self._timeout_result = timeout_result
        self._task: Task[Any] | None = None
        self._deadline = 0.0
        self.expired: bool = False
        self.result: Any = True

    async def __aenter__(self) -> _TimeoutBlock:
        self._task = await _get_current()
        self._deadline = await _set_timeout(self._seconds)
        return self

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> bool:
        assert self._task is not None
        # The deadlines of this block and of every block around it, outermost
        # first, as they stand before this block's is removed.
        deadlines = [d for d, _ in self._task._deadlines or ()]
        now = await _unset_timeout(self._deadline)
        if ty is TaskTimeout or ty is TimeoutCancellationError:
            at = val.args[0] if val.args else now
            for index, deadline in enumerate(deadlines):  # noqa: B007
                if deadline <= at:
                    break
            else:
                raise UncaughtTimeoutError(
                    "a TaskTimeout escaped an inner timeout block without being caught"
                ) from val
            if index < len(deadlines) - 1:
                # An outer block's deadline passed: not our timeout.
                if ty is TaskTimeout:
                    raise TimeoutCancellationError(at).with_traceback(tb) from None
                return False
            self.expired = True
            self.result = self._timeout_result
            if self._ignore:
                return True
            if ty is TimeoutCancellationError:
                raise TaskTimeout(at).with_traceback(tb) from None
            return False
        if now >= self._deadline and ty is None:
            self.expired = True
        return False

    # A plain 'with' works in an async thread; elsewhere AsyncOnlyError.
    __enter__ = sync_enter
    __exit__ = sync_exit


if TYPE_CHECKING:

    class _TimeoutAfterBlock(_TimeoutBlock):
        """What type checkers see ``timeout_after(s)`` return: its exit never
        swallows an exception, so code after the block runs only if the block
        finished."""

        async def __aexit__(self, ty: Any, val: Any, tb: Any) -> Literal[False]: ...

else:
    _TimeoutAfterBlock = _TimeoutBlock


def _timeout(
    seconds: float | None, corofunc: Any, args: tuple[Any, ...], ignore: bool, timeout_result: Any = None
) -> Any:
    if seconds is not None and seconds < 0:
        seconds = 0
    if corofunc is None:
        return _TimeoutBlock(seconds, ignore, timeout_result)
    coro = instantiate_coroutine(corofunc, args)

    async def _run() -> Any:
        block = _TimeoutBlock(seconds, ignore, timeout_result)
        async with block:
            return await coro
        return timeout_result

    return _run()


@overload
def timeout_after(seconds: float | None) -> _TimeoutAfterBlock: ...
@overload
def timeout_after(seconds: float | None, coro: Coroutine[Any, Any, _T]) -> Awaitable[_T]: ...
@overload
def timeout_after(seconds: float | None, coro: Callable[..., Awaitable[_T]], *args: Any) -> Awaitable[_T]: ...


def timeout_after(seconds: float | None, coro: Any = None, *args: Any) -> Any:
    """Apply a timeout.

    ``await timeout_after(s, coro, *args)`` runs the call (or the coroutine
    object *coro*) and raises :class:`~curionet.errors.TaskTimeout` if it
    takes longer than *s* seconds; ``async with timeout_after(s):`` applies
    the timeout to a block.  ``None`` means no timeout.
    """
    return _timeout(seconds, coro, args, ignore=False)


@overload
def ignore_after(seconds: float | None, *, timeout_result: Any = None) -> _TimeoutBlock: ...
@overload
def ignore_after(seconds: float | None, coro: Coroutine[Any, Any, _T], *, timeout_result: None = None
                 ) -> Awaitable[_T | None]: ...  # fmt: skip
@overload
def ignore_after(seconds: float | None, coro: Coroutine[Any, Any, _T], *, timeout_result: _R
                 ) -> Awaitable[_T | _R]: ...  # fmt: skip
@overload
def ignore_after(seconds: float | None, coro: Callable[..., Awaitable[_T]], *args: Any, timeout_result: None = None
                 ) -> Awaitable[_T | None]: ...  # fmt: skip
@overload
def ignore_after(seconds: float | None, coro: Callable[..., Awaitable[_T]], *args: Any, timeout_result: _R
                 ) -> Awaitable[_T | _R]: ...  # fmt: skip


def ignore_after(seconds: float | None, coro: Any = None, *args: Any, timeout_result: Any = None) -> Any:
    """Like :func:`timeout_after` but a timeout is swallowed: the call returns
    *timeout_result*; the block's ``expired`` attribute is set to ``True``."""
    return _timeout(seconds, coro, args, ignore=True, timeout_result=timeout_result)
