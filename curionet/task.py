"""Curio's ``curio.task`` module name: tasks, task groups and cancellation
control.

The implementation lives in :mod:`curionet.kernel.task`; this module lets
``from curio.task import TaskGroup`` run with only the import changed.
"""

from .kernel import task as _task
from .kernel.task import *  # noqa: F403

__all__ = list(_task.__all__)
