"""Curio's ``curio.traps`` module name: the low-level kernel traps.

The traps are :mod:`curionet.kernel.lowlevel`'s (the same functions, named
without the underscore); this module lets
``from curio.traps import _read_wait`` run with only the import changed.
``docs/curio.md`` lists where a trap's arguments differ from Curio 1.6's.
"""

# ruff: noqa: F401 - every import is re-exported by the computed __all__ below
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

# Every trap imported above, under Curio's underscored name.
__all__ = sorted(name for name in dir() if name.startswith("_") and not name.startswith("__"))
