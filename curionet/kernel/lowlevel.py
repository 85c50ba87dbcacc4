"""The kernel's public low-level API: what code built on the kernel (async
threads, worker pools, universal queues, signals, the monitor, sockets and
subprocesses) may use of it (the idea of Trio's ``trio.lowlevel``).

Modules outside :mod:`curionet.kernel` use this module and the documented
methods of :class:`Kernel`, never the kernel's private attributes nor
:mod:`curionet.kernel.traps` directly.  It holds:

* the traps, under the Curio names without the underscore
  (:func:`read_wait` is ``curio.traps._read_wait``): a task awaits one to
  ask the kernel for something.  These are the very functions of
  :mod:`curionet.kernel.traps`, so using them costs nothing more.
  :func:`sleep`, :func:`clock` and :func:`spawn` are the raw traps, not
  :func:`curionet.sleep` / :func:`curionet.clock` / :func:`curionet.spawn`;
* :class:`Kernel` (see its methods ``new_task``, ``cancel_task``,
  ``call_soon_threadsafe``, ``expect_threadsafe_calls``, ``register_pool``,
  ``add_shutdown_callback``, ``hand_over`` / ``run_until`` / ``take_back``)
  and :func:`current_kernel`;
* :data:`send_hint` (tell the loop an answer is due: it may busy-poll) and
  :func:`set_run_guard` (what :func:`curionet.run` wraps around a kernel)
  and :func:`set_thread_spawner` (how ``TaskGroup.spawn_thread`` starts a
  thread): hooks the modules above the kernel install, so that the kernel
  never imports them.
"""

from __future__ import annotations

from .activation import Activation as Activation
from .kernel import (
    Kernel as Kernel,
    current_kernel as current_kernel,
    send_hint as send_hint,
    set_run_guard as set_run_guard,
)
from .sched import SchedBarrier as SchedBarrier, SchedFIFO as SchedFIFO
from .task import Task as Task, set_thread_spawner as set_thread_spawner
from .traps import (
    _cancel_task as cancel_task,
    _clock as clock,
    _future_wait as future_wait,
    _get_current as get_current,
    _get_kernel as get_kernel,
    _io_release as io_release,
    _io_waiting as io_waiting,
    _read_wait as read_wait,
    _scheduler_wait as scheduler_wait,
    _scheduler_wake as scheduler_wake,
    _set_timeout as set_timeout,
    _sleep as sleep,
    _spawn as spawn,
    _unset_timeout as unset_timeout,
    _write_wait as write_wait,
)

__all__ = [
    "Activation",
    "Kernel",
    "SchedBarrier",
    "SchedFIFO",
    "Task",
    "cancel_task",
    "clock",
    "current_kernel",
    "future_wait",
    "get_current",
    "get_kernel",
    "io_release",
    "io_waiting",
    "read_wait",
    "scheduler_wait",
    "scheduler_wake",
    "send_hint",
    "set_run_guard",
    "set_thread_spawner",
    "set_timeout",
    "sleep",
    "spawn",
    "unset_timeout",
    "write_wait",
]
