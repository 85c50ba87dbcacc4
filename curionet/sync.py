"""Curio's ``curio.sync`` module name: synchronisation primitives.

Task-only primitives live in :mod:`curionet.kernel.sync`; the ones shared
with threads and asyncio in :mod:`curionet.universal`.  This module lets
``from curio.sync import Lock, UniversalEvent`` run with only the import
changed.
"""

from .kernel.sync import (
    BoundedSemaphore as BoundedSemaphore,
    Condition as Condition,
    Event as Event,
    Lock as Lock,
    Result as Result,
    RLock as RLock,
    Semaphore as Semaphore,
)
from .universal import UniversalEvent as UniversalEvent, UniversalResult as UniversalResult

__all__ = [
    "Event",
    "UniversalEvent",
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Condition",
    "Result",
    "UniversalResult",
]
