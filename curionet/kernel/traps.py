"""The trap layer: the only place where a task yields to the kernel.

A trap is a tuple ``(kind, arg...)`` yielded from one of the generator-based
coroutines below (nothing else in curionet yields to the kernel); the
kernel looks ``kind`` up in its dispatch table and the value it sends back
becomes the result of the ``await``.  Every kernel operation is one small
function here.  Unless noted, a trap may block and so may raise a
cancellation exception.

The names follow Curio's documented low-level traps (``_read_wait``,
``_scheduler_wait``, ...) so code written against ``curio.traps`` keeps
working.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = [
    "_read_wait",
    "_write_wait",
    "_io_release",
    "_io_waiting",
    "_future_wait",
    "_cancel_task",
    "_scheduler_wait",
    "_scheduler_wake",
    "_get_kernel",
    "_get_current",
    "_sleep",
    "_set_timeout",
    "_unset_timeout",
    "_clock",
    "_spawn",
]

# Trap kinds: indexes into Kernel._handlers.  Keep in step with kernel.py.
(
    T_SCHEDULE,
    T_SLEEP,
    T_IO_WAIT,
    T_IO_RELEASE,
    T_IO_WAITING,
    T_FUTURE_WAIT,
    T_CANCEL_TASK,
    T_SCHED_WAIT,
    T_GET_KERNEL,
    T_GET_CURRENT,
    T_SET_TIMEOUT,
    T_UNSET_TIMEOUT,
    T_CLOCK,
    T_SPAWN,
) = range(14)

# Event bits for T_IO_WAIT (the epoll/poll values).
READ = 0x001
WRITE = 0x004


# Each trap below is its own tiny generator-based coroutine that yields its
# request tuple: one frame per blocked task and no extra call on the hot path.


@types.coroutine
def _sleep(seconds: float) -> Any:
    """Sleep *seconds*; ``0`` only reschedules. Returns the kernel clock."""
    if seconds <= 0:
        return (yield (T_SCHEDULE,))
    return (yield (T_SLEEP, seconds))


@types.coroutine
def _read_wait(fileobj: Any) -> Any:
    """Sleep until *fileobj* (an fd or an object with ``fileno()``) is readable."""
    return (yield (T_IO_WAIT, fileobj, READ))


@types.coroutine
def _recv_wait(fileobj: Any, recv: Any, *args: Any) -> Any:
    """Sleep until *fileobj* is readable, then have the kernel call
    ``recv(*args)`` at once, as it learns of it: the call's result;
    ``None`` if the call would block after all (``BlockingIOError``,
    ``InterruptedError``: the caller tries again); any other exception it
    raises is raised here (a socket error is reported only once, so the
    call must not be repeated to meet it).

    The kernel receives for every such task woken by one poll (of two or
    more descriptors; alone, ``None``) before it runs any of them, so a server with many clients reads all that arrived
    and then answers in a burst, as a callback event loop does.  Not a
    Curio trap: :meth:`curionet.socket.Socket.recv` uses it when it waits
    first."""
    return (yield (T_IO_WAIT, fileobj, READ, recv, args))


@types.coroutine
def _write_wait(fileobj: Any) -> Any:
    """Sleep until *fileobj* is writable."""
    return (yield (T_IO_WAIT, fileobj, WRITE))


@types.coroutine
def _io_release(fileobj: Any) -> Any:
    """Forget *fileobj* in the kernel (call before closing it).  Tasks still
    waiting on it get :class:`~curionet.errors.ClosedResourceError`.
    Returns immediately."""
    return (yield (T_IO_RELEASE, fileobj))


@types.coroutine
def _io_waiting(fileobj: Any) -> Any:
    """Return ``(reading_task, writing_task)`` waiting on *fileobj*. Immediate."""
    return (yield (T_IO_WAITING, fileobj))


@types.coroutine
def _future_wait(future: Any, event: Any = None) -> Any:
    """Sleep until the ``concurrent.futures.Future`` *future* has a result.

    If *event* (a ``threading.Event``) is given it is set once the task is
    registered, so the producer can start only then."""
    return (yield (T_FUTURE_WAIT, future, event))


@types.coroutine
def _cancel_task(task: Any, exc: Any = None, val: Any = None) -> Any:
    """Request cancellation of *task* (default exception ``TaskCancelled``).
    Returns immediately."""
    return (yield (T_CANCEL_TASK, task, exc, val))


@types.coroutine
def _scheduler_wait(sched: Any, state_name: str) -> Any:
    """Suspend on the wait queue *sched* (a :class:`~curionet.kernel.sched.SchedBase`)."""
    return (yield (T_SCHED_WAIT, sched, state_name))


async def _scheduler_wake(sched: Any, n: int = 1, value: Any = None, exc: Any = None) -> int:
    """Wake up to *n* tasks waiting on *sched*.  Returns immediately.

    Waking needs no kernel round trip (the wait queue reschedules directly),
    so this is a plain coroutine kept for Curio compatibility."""
    return sched._wake(n, value, exc)


@types.coroutine
def _get_kernel() -> Any:
    """Return the running :class:`Kernel`. Immediate."""
    return (yield (T_GET_KERNEL,))


@types.coroutine
def _get_current() -> Any:
    """Return the calling :class:`Task`. Immediate."""
    return (yield (T_GET_CURRENT,))


@types.coroutine
def _set_timeout(seconds: float | None) -> Any:
    """Push a deadline *seconds* from now on the calling task's timeout stack.
    Returns the absolute deadline (the token for :func:`_unset_timeout`)."""
    return (yield (T_SET_TIMEOUT, seconds))


@types.coroutine
def _unset_timeout(previous: Any) -> Any:
    """Pop the deadline *previous* returned by :func:`_set_timeout`.
    Returns the current clock. Immediate."""
    return (yield (T_UNSET_TIMEOUT, previous))


@types.coroutine
def _clock() -> Any:
    """Return the kernel clock. Immediate."""
    return (yield (T_CLOCK,))


@types.coroutine
def _spawn(coro: Any, daemon: bool = False) -> Any:
    """Create a task running the coroutine *coro*. Immediate."""
    return (yield (T_SPAWN, coro, daemon))
