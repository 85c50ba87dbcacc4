"""Curio's ``curio.sched`` module name: the wait queues tasks suspend on.

The classes live in :mod:`curionet.kernel.sched`; this module lets
``from curio.sched import SchedFIFO`` run with only the import changed.
"""

from .kernel import sched as _sched
from .kernel.sched import *  # noqa: F403

__all__ = list(_sched.__all__)
