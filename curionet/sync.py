"""Curio's ``curio.sync`` module name: synchronisation primitives.

Task-only primitives live in :mod:`curionet.kernel.sync`; the ones shared
with threads and asyncio in :mod:`curionet.universal`.  This module lets
``from curio.sync import Lock, UniversalEvent`` run with only the import
changed.
"""

from .kernel import sync as _sync
from .kernel.sync import *  # noqa: F403
from .universal import UniversalEvent as UniversalEvent, UniversalResult as UniversalResult

__all__ = [*_sync.__all__, "UniversalEvent", "UniversalResult"]
