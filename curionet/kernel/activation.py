"""Scheduler activations: the kernel's debugging hooks (Curio's ``Activation``).

Kept apart from the kernel so that hooks (``curionet.debug``) can subclass
:class:`Activation` without importing the kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kernel import Kernel
    from .task import Task

__all__ = ["Activation"]


class Activation:
    """Base class for scheduler activations (Curio's debugging hooks)."""

    def activate(self, kernel: Kernel) -> None:
        pass

    def created(self, task: Task) -> None:
        pass

    def running(self, task: Task) -> None:
        pass

    def suspended(self, task: Task, trap: Any) -> None:
        pass

    def terminated(self, task: Task) -> None:
        pass
