"""Curio's ``curio.task`` module name: tasks, task groups and cancellation
control.

The implementation lives in :mod:`curionet.kernel.task`; this module lets
``from curio.task import TaskGroup`` run with only the import changed.
"""

from .kernel.task import (
    ContextTask as ContextTask,
    Task as Task,
    TaskGroup as TaskGroup,
    check_cancellation as check_cancellation,
    current_task as current_task,
    disable_cancellation as disable_cancellation,
    set_cancellation as set_cancellation,
    spawn as spawn,
)

__all__ = [
    "Task",
    "TaskGroup",
    "ContextTask",
    "spawn",
    "current_task",
    "disable_cancellation",
    "check_cancellation",
    "set_cancellation",
]
