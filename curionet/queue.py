"""Curio's ``curio.queue`` module name: queues for tasks, and the
:class:`UniversalQueue` shared with threads and asyncio.

Task queues live in :mod:`curionet.kernel.queue`, the universal queue in
:mod:`curionet.universal`.  This module lets ``from curio.queue import
UniversalQueue`` run with only the import changed.
"""

from .kernel import queue as _queue
from .kernel.queue import *  # noqa: F403
from .universal import UniversalQueue as UniversalQueue

__all__ = [*_queue.__all__, "UniversalQueue"]
