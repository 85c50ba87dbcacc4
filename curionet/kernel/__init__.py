"""The curionet kernel: traps, scheduler, clock, tasks, time, sync, queues."""

from .clock import Clock as Clock, MockClock as MockClock, SystemClock as SystemClock
from .kernel import Activation as Activation, Kernel as Kernel, current_kernel as current_kernel, run as run
from .queue import LifoQueue as LifoQueue, PriorityQueue as PriorityQueue, Queue as Queue
from .sched import SchedBarrier as SchedBarrier, SchedFIFO as SchedFIFO
from .sync import (
    BoundedSemaphore as BoundedSemaphore,
    Condition as Condition,
    Event as Event,
    Lock as Lock,
    Result as Result,
    RLock as RLock,
    Semaphore as Semaphore,
)
from .task import (
    Task as Task,
    TaskGroup as TaskGroup,
    check_cancellation as check_cancellation,
    current_task as current_task,
    disable_cancellation as disable_cancellation,
    set_cancellation as set_cancellation,
    spawn as spawn,
)
from .time import clock as clock, ignore_after as ignore_after, sleep as sleep, timeout_after as timeout_after
