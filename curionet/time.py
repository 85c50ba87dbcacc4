"""Curio's ``curio.time`` module name: ``sleep``, ``clock`` and timeouts.

The implementation lives in :mod:`curionet.kernel.time`; this module lets
``from curio.time import timeout_after`` run with only the import changed.
"""

from .kernel.time import (
    clock as clock,
    ignore_after as ignore_after,
    sleep as sleep,
    timeout_after as timeout_after,
)

__all__ = ["sleep", "clock", "timeout_after", "ignore_after"]
