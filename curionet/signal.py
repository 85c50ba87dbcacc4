"""Unix signals for tasks, and ``run()``'s handling of SIGINT and SIGTERM.

Python runs signal handlers in the main thread only.  :class:`SignalQueue`
and :class:`SignalEvent` install handlers that feed a
:class:`~curionet.UniversalQueue` / :class:`~curionet.UniversalEvent`, so a
task waits for a signal like for any other event::

    async with SignalQueue(signal.SIGUSR1, signal.SIGHUP) as signals:
        signo = await signals.get()

Leaving the ``async with`` block (or calling ``close()``) restores the
previous handlers.

``curionet.run()`` in the main thread turns SIGINT and SIGTERM into a
cancellation of the main task (only while their handlers are the default
ones): ``finally`` blocks and ``except CancelledError`` handlers run, the
kernel shuts down, then ``run()`` raises ``KeyboardInterrupt`` (SIGINT, as
``asyncio.run`` does) or ``SystemExit(128 + SIGTERM)`` (SIGTERM, the exit
status a shell reports for a process killed by SIGTERM).  A second signal
while the main task cleans up is not caught: it raises ``KeyboardInterrupt``
/ ``SystemExit`` at once.  So does the first signal once the main task has
ended, while the kernel's shutdown waits for the other tasks.  Either way the
tasks still running are abandoned (named in a warning), the kernel is
closed, and ``run()`` raises without waiting any longer.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from .errors import TaskCancelled
from .kernel.lowlevel import set_run_guard
from .universal import UniversalEvent, UniversalQueue

__all__ = ["SignalQueue", "SignalEvent"]


def _check_signals(signos: tuple[Any, ...]) -> tuple[int, ...]:
    if not signos:
        raise TypeError("give at least one signal number")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("signal handlers can only be installed from the main thread")
    valid = signal.valid_signals()
    out = []
    for s in signos:
        if s not in valid or s in (signal.SIGKILL, signal.SIGSTOP):
            raise ValueError(f"{s!r} is not a signal that can be caught")
        out.append(int(s))
    return tuple(out)


class _SignalHandlers:
    def _install(self, signos: tuple[Any, ...]) -> None:
        self._old: dict[int, Any] = {}
        for s in _check_signals(signos):
            self._old[s] = signal.signal(s, self._handler)

    def _handler(self, signo: int, frame: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        """Restore the handlers that were installed before."""
        old, self._old = self._old, {}
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)

    # ``with`` / ``async with``: leaving calls close().
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class SignalQueue(UniversalQueue, _SignalHandlers):
    """A queue receiving the number of each listed signal that arrives.

    Create it in the main thread; ``await q.get()`` returns a signal number
    (``signal.Signals``).  Usable with ``with`` or ``async with``; leaving
    restores the previous handlers."""

    def __init__(self, *signos: Any, maxsize: int = 0) -> None:
        UniversalQueue.__init__(self, maxsize=maxsize)
        self._install(signos)

    def _handler(self, signo: int, frame: Any) -> None:
        if not self.full():
            self.put(signal.Signals(signo))

    def close(self) -> None:
        _SignalHandlers.close(self)
        UniversalQueue.close(self)


class SignalEvent(UniversalEvent, _SignalHandlers):
    """An event set when any of the listed signals arrives (Curio's howto
    recipe).  ``signo`` holds the last signal received.  Usable with
    ``with`` / ``async with``; leaving restores the previous handlers."""

    def __init__(self, *signos: Any) -> None:
        UniversalEvent.__init__(self)
        self.signo: signal.Signals | None = None
        self._install(signos)

    def _handler(self, signo: int, frame: Any) -> None:
        self.signo = signal.Signals(signo)
        self.set()


# ---------------------------------------------------------------------------
# run(): SIGINT/SIGTERM cancel the main task; with_monitor
# ---------------------------------------------------------------------------


@contextmanager
def _run_guard(kernel: Any, with_monitor: bool) -> Iterator[None]:
    received: list[int] = []
    installed: dict[int, Any] = {}

    def _cancel_main() -> None:
        main = kernel.main_task
        if main is not None and not main.terminated:
            kernel.cancel_task(main, TaskCancelled, "cancelled by a signal")

    def _handler(signo: int, frame: Any) -> None:
        if received or kernel.main_task is None:
            # Second signal (or none to cancel): behave as by default, and
            # let the kernel's shutdown abandon its tasks rather than wait.
            kernel.abandon_on_shutdown()
            if signo == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signo)
        received.append(signo)
        # Runs in the kernel's thread, which it interrupted (maybe in its poll).
        kernel.expect_threadsafe_calls()
        kernel.call_soon_threadsafe(_cancel_main)

    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            installed[signal.SIGINT] = signal.signal(signal.SIGINT, _handler)
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            installed[signal.SIGTERM] = signal.signal(signal.SIGTERM, _handler)
    monitor = None
    if with_monitor:
        from .monitor import Monitor

        monitor = Monitor(kernel)
    try:
        yield
    except BaseException as e:
        if received and (isinstance(e, TaskCancelled) or not isinstance(e, Exception)):
            raise _signal_exit(received[0]) from e
        raise
    else:
        if received:
            raise _signal_exit(received[0])
    finally:
        for s, h in installed.items():
            signal.signal(s, h)
        if monitor is not None:
            monitor.close()


def _signal_exit(signo: int) -> BaseException:
    if signo == signal.SIGINT:
        return KeyboardInterrupt()
    return SystemExit(128 + signo)


# curionet.run() enters _run_guard around every kernel it runs.  The package
# imports this module, so the guard is in place before run() can be called.
set_run_guard(_run_guard)
