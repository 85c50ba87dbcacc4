"""Curio's ``curio.traps`` module name: the low-level kernel traps.

The traps live in :mod:`curionet.kernel.traps`; this module lets
``from curio.traps import _read_wait`` run with only the import changed.
``docs/curio.md`` lists where a trap's arguments differ from Curio 1.6's.
"""

from .kernel.traps import (
    _cancel_task as _cancel_task,
    _clock as _clock,
    _future_wait as _future_wait,
    _get_current as _get_current,
    _get_kernel as _get_kernel,
    _io_release as _io_release,
    _io_waiting as _io_waiting,
    _read_wait as _read_wait,
    _scheduler_wait as _scheduler_wait,
    _scheduler_wake as _scheduler_wake,
    _set_timeout as _set_timeout,
    _sleep as _sleep,
    _spawn as _spawn,
    _unset_timeout as _unset_timeout,
    _write_wait as _write_wait,
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
