"""Curio's ``curio.traps`` module name: the low-level kernel traps.

The traps are :mod:`curionet.kernel.lowlevel`'s (the same functions, named
without the underscore); this module lets
``from curio.traps import _read_wait`` run with only the import changed.
``docs/curio.md`` lists where a trap's arguments differ from Curio 1.6's.
"""

from .kernel.lowlevel import (
    cancel_task as _cancel_task,
    clock as _clock,
    future_wait as _future_wait,
    get_current as _get_current,
    get_kernel as _get_kernel,
    io_release as _io_release,
    io_waiting as _io_waiting,
    read_wait as _read_wait,
    scheduler_wait as _scheduler_wait,
    scheduler_wake as _scheduler_wake,
    set_timeout as _set_timeout,
    sleep as _sleep,
    spawn as _spawn,
    unset_timeout as _unset_timeout,
    write_wait as _write_wait,
)

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
