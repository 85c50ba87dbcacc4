"""Curio's ``curio.queue`` module name: queues for tasks, and the
:class:`UniversalQueue` shared with threads and asyncio.

Task queues live in :mod:`curionet.kernel.queue`, the universal queue in
:mod:`curionet.universal`.  This module lets ``from curio.queue import
UniversalQueue`` run with only the import changed.
"""

from .kernel.queue import LifoQueue as LifoQueue, PriorityQueue as PriorityQueue, Queue as Queue
from .universal import UniversalQueue as UniversalQueue

__all__ = ["Queue", "PriorityQueue", "LifoQueue", "UniversalQueue"]
