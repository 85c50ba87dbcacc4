"""Debugging hooks for the kernel (Curio's ``curio.debug``).

Each is a scheduler :class:`~curionet.Activation`; pass the class or an
instance as ``run(main, debug=...)`` (or ``Kernel(debug=...)``), alone or in a
list::

    run(main, debug=[longblock(max_time=0.05), logcrash])

* :class:`longblock`: warn when a task holds the kernel (runs without
  yielding) longer than ``max_time`` seconds, naming the task and the place
  it finally yielded at.
* :class:`logcrash`: log every task that ends with an exception (other than
  a cancellation), with its traceback.
* :class:`schedtrace`: log every creation, run, suspension and termination.
* :class:`traptrace`: like ``schedtrace``, and name the trap a task
  suspended on.

``debug=True`` is Curio's default: :class:`schedtrace`.

Every hook takes ``level`` (a ``logging`` level), ``log`` (a ``Logger``,
default ``logging.getLogger("curionet.debug")``) and ``filter`` (a set of
task names to report on; default: every task).  Like Curio's, the hooks
accept other keyword arguments and ignore them, with a ``RuntimeWarning``
naming them (so a misspelt option does not pass unnoticed).  Logging is
synchronous: configure a ``QueueHandler`` if handlers may be slow.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

from .errors import CancelledError
from .kernel.activation import Activation

__all__ = ["DebugBase", "longblock", "logcrash", "schedtrace", "traptrace"]

_log = logging.getLogger("curionet.debug")


class DebugBase(Activation):
    """Common options of the debugging hooks."""

    default_level = logging.INFO

    def __init__(self, *, level: int | None = None, log: logging.Logger | None = None,
                 filter: Any = None, **kwargs: Any) -> None:  # fmt: skip
        if kwargs:
            # The caller of the hook's constructor: one frame further up when
            # a subclass's __init__ forwarded to this one.
            stacklevel = 2 if type(self).__init__ is DebugBase.__init__ else 3
            names = ", ".join(sorted(kwargs))
            warnings.warn(f"{type(self).__name__}() ignores the keyword arguments {names}", RuntimeWarning,
                          stacklevel=stacklevel)  # fmt: skip
        self.level = self.default_level if level is None else level
        self.log = log if log is not None else _log
        self.filter = set(filter) if filter is not None else None

    def check_filter(self, task: Any) -> bool:
        return self.filter is None or task.name in self.filter or task.name.split(".")[-1] in self.filter


class longblock(DebugBase):
    """Warn about a task that keeps the kernel busy longer than *max_time*
    seconds in one step (between resuming and yielding)."""

    default_level = logging.WARNING

    def __init__(self, max_time: float = 0.05, *, level: int | None = None, **kwargs: Any) -> None:
        super().__init__(level=level, **kwargs)
        if max_time < 0:
            raise ValueError("max_time must be >= 0")
        self.max_time = max_time
        self._start = 0.0

    def running(self, task: Any) -> None:
        self._start = time.perf_counter()

    def suspended(self, task: Any, trap: Any) -> None:
        elapsed = time.perf_counter() - self._start
        if elapsed > self.max_time and self.check_filter(task):
            filename, lineno = task.where()
            where = f"{filename}:{lineno}" if filename else "its end"
            self.log.log(self.level, "Task %d (%s) ran for %.3f s without yielding (limit %.3f s), up to %s",
                         task.id, task.name, elapsed, self.max_time, where)  # fmt: skip


class logcrash(DebugBase):
    """Log every task that terminates with an exception (not a cancellation)."""

    default_level = logging.ERROR

    def __init__(self, level: int | None = None, **kwargs: Any) -> None:
        super().__init__(level=level, **kwargs)

    def terminated(self, task: Any) -> None:
        exc = task._exception
        if exc is not None and not isinstance(exc, CancelledError) and self.check_filter(task):
            self.log.log(self.level, "Task %d (%s) crashed", task.id, task.name,
                         exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip


class schedtrace(DebugBase):
    """Log every scheduling event."""

    def created(self, task: Any) -> None:
        if self.check_filter(task):
            self.log.log(self.level, "CREATE: %r", task)

    def running(self, task: Any) -> None:
        if self.check_filter(task):
            self.log.log(self.level, "RUN: %r", task)

    def suspended(self, task: Any, trap: Any) -> None:
        if self.check_filter(task):
            self.log.log(self.level, "SUSPEND: %r", task)

    def terminated(self, task: Any) -> None:
        if self.check_filter(task):
            self.log.log(self.level, "TERMINATED: %r", task)


class traptrace(schedtrace):
    """``schedtrace`` plus the trap each suspension happened on."""

    def suspended(self, task: Any, trap: Any) -> None:
        if self.check_filter(task):
            self.log.log(self.level, "SUSPEND: %r trap=%r", task, trap)
