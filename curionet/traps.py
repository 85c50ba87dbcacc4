"""Curio's ``curio.traps`` module name: the low-level kernel traps.

The traps are :mod:`curionet.kernel.lowlevel`'s (the same functions, named
without the underscore); this module lets
``from curio.traps import _read_wait`` run with only the import changed.
``docs/curio.md`` lists where a trap's arguments differ from Curio 1.6's.
"""

from .kernel import traps as _traps
from .kernel.traps import *  # noqa: F403

__all__ = list(_traps.__all__)
