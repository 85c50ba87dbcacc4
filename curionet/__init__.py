"""curionet: a Curio-style coroutine kernel with HTTP, WebSocket and Happy
Eyeballs on top.

Every public name is re-exported here, so Curio programs run after replacing
``curio`` with ``curionet`` in their imports.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    AsyncOnlyError as AsyncOnlyError,
    CancelledError as CancelledError,
    ClosedResourceError as ClosedResourceError,
    CurioError as CurioError,
    CurionetError as CurionetError,
    ReadResourceBusy as ReadResourceBusy,
    ResourceBusy as ResourceBusy,
    SyncIOError as SyncIOError,
    TaskCancelled as TaskCancelled,
    TaskError as TaskError,
    TaskTimeout as TaskTimeout,
    TimeoutCancellationError as TimeoutCancellationError,
    UncaughtTimeoutError as UncaughtTimeoutError,
    WriteResourceBusy as WriteResourceBusy,
)
from .kernel import (
    Activation as Activation,
    BoundedSemaphore as BoundedSemaphore,
    Condition as Condition,
    Event as Event,
    Kernel as Kernel,
    LifoQueue as LifoQueue,
    Lock as Lock,
    MockClock as MockClock,
    PriorityQueue as PriorityQueue,
    Queue as Queue,
    Result as Result,
    RLock as RLock,
    Semaphore as Semaphore,
    SystemClock as SystemClock,
    Task as Task,
    TaskGroup as TaskGroup,
    check_cancellation as check_cancellation,
    clock as clock,
    current_task as current_task,
    disable_cancellation as disable_cancellation,
    ignore_after as ignore_after,
    run as run,
    set_cancellation as set_cancellation,
    sleep as sleep,
    spawn as spawn,
    timeout_after as timeout_after,
)

# -- later layers register their public names below, one block per module --
from .protocols.happy_eyeballs import open_tcp_stream as open_tcp_stream  # RFC 8305 connector (issue 5)
