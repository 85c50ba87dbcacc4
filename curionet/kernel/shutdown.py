"""The kernel's shutdown: cancel what is left, wait, abandon the stubborn.

:class:`_ShutdownMixin` holds the methods of
:class:`~curionet.kernel.kernel.Kernel` that :meth:`Kernel.run` calls with
``shutdown=True`` (see the Discussion in :meth:`_ShutdownMixin._shutdown`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import traps
from .task import TERMINATED, Task

if TYPE_CHECKING:
    from .poll import _Poller

log = logging.getLogger("curionet")

#: Default ``shutdown_timeout`` in seconds (see ``Kernel._shutdown``).
SHUTDOWN_TIMEOUT = 5.0
# A task still running this long after its cancellation at shutdown is
# cancelled again; the delay doubles up to _RECANCEL_MAX.
_RECANCEL_FIRST = 0.5
_RECANCEL_MAX = 2.0


def _describe(task: Task) -> str:
    filename, lineno = task.where()
    where = f" at {filename}:{lineno}" if filename else ""
    return f"task {task.id} ({task.name}){where}"


class _ShutdownMixin:
    """The kernel's shutdown methods (see the module's docstring)."""

    _tasks: dict[int, Task]
    _ready: deque[Task]
    _poller: _Poller
    _notify_sock: tuple[socket.socket, socket.socket] | None
    _now: Callable[[], float]

    if TYPE_CHECKING:

        def tasks(self) -> list[Task]: ...
        def _new_task(self, coro: Any, daemon: bool = False) -> Task: ...
        def _loop(self, main: Task | None) -> None: ...

    def _init_shutdown(self, shutdown_timeout: float | None) -> None:
        if shutdown_timeout is None:
            shutdown_timeout = float(os.environ.get("CURIONET_SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT))
        if not shutdown_timeout >= 0:
            raise ValueError("shutdown_timeout must be >= 0")
        self._shutdown_timeout = shutdown_timeout
        self._shutdown_now = False  # set by a second Ctrl-C: abandon, do not wait
        self._shutdown_callbacks: list[Callable[[], Any]] = []
        self._closed = False

    def _shutdown(self) -> None:
        """Cancel every remaining task, let them finish, close resources.

        Discussion: tasks that refuse to finish.  A task may catch its
        cancellation and carry on.  One still running ``_RECANCEL_FIRST``
        seconds after it was cancelled is named in a warning (the
        ``curionet`` logger) with the place it waits at, and cancelled again
        at whatever blocking call it has reached; again after twice that
        delay, and so on (at most ``_RECANCEL_MAX`` apart).  Whatever is
        still running ``shutdown_timeout`` seconds after the shutdown began
        is abandoned with a second warning: its coroutine is closed and
        ``run()`` returns.  An exception out of the wait (a Ctrl-C or
        SIGTERM: see ``signal._run_guard``) abandons the rest at once.  The
        kernel is closed in every case, so ``__exit__`` does not run the
        shutdown a second time.  So does ``_shutdown_now``, set when a signal
        ends ``run()`` while the main task still cleans up."""
        reaper = None
        try:
            if self._tasks and not self._shutdown_now:
                reaper = self._new_task(self._reap(), daemon=True)
                reaper.name = "kernel shutdown"
                self._loop(reaper)
        except BaseException as e:
            self._warn_abandoned(f"interrupted by {type(e).__name__}", reaper)
            raise
        else:
            if self._shutdown_now:
                self._warn_abandoned("cut short by a signal", reaper)
        finally:
            try:
                self._abandon()
                for cb in self._shutdown_callbacks:
                    try:
                        cb()
                    except Exception:  # pragma: no cover - defensive
                        log.exception("kernel shutdown callback failed")
            finally:
                self._poller.close()
                if self._notify_sock is not None:
                    for s in self._notify_sock:
                        s.close()
                    self._notify_sock = None
                self._closed = True

    async def _reap(self) -> None:
        """The shutdown task: cancel every other task until none is left
        (see :meth:`_shutdown`)."""
        from .time import ignore_after

        me = await traps._get_current()
        now = self._now
        deadline = now() + self._shutdown_timeout
        delay = _RECANCEL_FIRST
        cancels: dict[Task, int] = {}

        async def wait_all(tasks: list[Task]) -> None:
            for t in tasks:
                await t.wait()

        # Loop: cleanup code may spawn new tasks while we wait.
        while True:
            others = [t for t in self.tasks() if t is not me]
            if not others:
                return
            for t in others:
                if not t._cancel_requested:
                    cancels[t] = 1
                    await traps._cancel_task(t, None)
            async with ignore_after(max(0.0, min(delay, deadline - now()))) as waited:
                await wait_all(others)
            if self._shutdown_now:
                return  # _shutdown() abandons the rest
            if not waited.expired:
                continue
            stubborn = [t for t in others if not t.terminated]
            if now() >= deadline:
                for t in stubborn:
                    log.warning("kernel shutdown: abandoning %s, still running after %d cancellations "
                                "and %g s (shutdown_timeout)", _describe(t), cancels.get(t, 1),
                                self._shutdown_timeout)  # fmt: skip
                return
            for t in stubborn:
                if cancels.setdefault(t, 1) == 1:  # (or cancelled before the shutdown)
                    log.warning("kernel shutdown: %s ignored its cancellation; cancelling it again",
                                _describe(t))  # fmt: skip
                cancels[t] += 1
                await traps._cancel_task(t, None)
            delay = min(2 * delay, _RECANCEL_MAX)

    def _warn_abandoned(self, why: str, reaper: Task | None) -> None:
        left = [t for t in self.tasks() if t is not reaper]
        if left:
            log.warning("kernel shutdown %s: abandoning %s", why, "; ".join(_describe(t) for t in left))

    def _abandon(self) -> None:
        """Forget the tasks left after a shutdown: close their coroutines
        (``GeneratorExit`` runs their ``finally`` blocks; one that awaits in
        there can no longer block, and its error is ignored)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._ready.clear()
        for t in tasks:
            t._state = TERMINATED
            t._reason = "TERMINATED"
            t.terminated = True
            try:
                t.coro.close()
            except Exception:
                pass
