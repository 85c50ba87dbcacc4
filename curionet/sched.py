"""Curio's ``curio.sched`` module name: the wait queues tasks suspend on.

The classes live in :mod:`curionet.kernel.sched`; this module lets
``from curio.sched import SchedFIFO`` run with only the import changed.
"""

from .kernel.sched import SchedBarrier as SchedBarrier, SchedBase as SchedBase, SchedFIFO as SchedFIFO

__all__ = ["SchedBase", "SchedFIFO", "SchedBarrier"]
