"""Curio's ``curio.time`` module name: ``sleep``, ``clock`` and timeouts.

The implementation lives in :mod:`curionet.kernel.time`; this module lets
``from curio.time import timeout_after`` run with only the import changed.
"""

from .kernel import time as _time
from .kernel.time import *  # noqa: F403

__all__ = list(_time.__all__)
