"""Every exception curionet raises, in one place.

The hierarchy follows Curio's names so that ``except curio.TaskTimeout`` keeps
working after ``curio`` becomes ``curionet``:

* ``CurionetError`` (alias ``CurioError``) is the base of ordinary errors.
* ``CancelledError`` and its family derive from ``BaseException``, so a plain
  ``except Exception`` never swallows a cancellation or a timeout.

Protocol adapters add their own families (HTTP, WebSocket) below
``CurionetError`` in their modules; foreign exceptions (h11, wsproto, ssl,
OSError) are mapped to these once, at the boundary, with ``raise ... from``.
"""

from __future__ import annotations

import errno

__all__ = [
    "CurionetError",
    "CurioError",
    "CancelledError",
    "TaskCancelled",
    "TaskTimeout",
    "TimeoutCancellationError",
    "UncaughtTimeoutError",
    "TaskError",
    "SyncIOError",
    "AsyncOnlyError",
    "ResourceBusy",
    "ReadResourceBusy",
    "WriteResourceBusy",
    "ClosedResourceError",
]


class CurionetError(Exception):
    """Base class of every ordinary (non-cancellation) curionet error."""


#: Curio's name for the base class.
CurioError = CurionetError


class CancelledError(BaseException):
    """Base class of every cancellation-related exception.

    It derives from ``BaseException`` (as ``asyncio.CancelledError`` does) so
    that ``except Exception`` handlers do not swallow cancellation.
    """


class TaskCancelled(CancelledError):
    """Raised inside a task cancelled with :meth:`Task.cancel`."""


class TaskTimeout(CancelledError):
    """Raised inside a task whose innermost ``timeout_after`` expired.

    ``args[0]`` is the kernel clock at the moment the timeout was delivered.
    """


class TimeoutCancellationError(CancelledError):
    """A timeout expired, but in an *outer* timeout block, not this one."""


class UncaughtTimeoutError(CurionetError):
    """A ``TaskTimeout`` escaped its own ``timeout_after`` block into an outer
    one that did not expire: the inner timeout lacked an exception handler."""


class TaskError(CurionetError):
    """Raised by :meth:`Task.join` when the task failed; ``__cause__`` holds
    the exception that ended the task."""


class SyncIOError(CurionetError):
    """A synchronous operation was attempted on an async-only object."""


class AsyncOnlyError(CurionetError):
    """``AWAIT()`` of a coroutine, or a plain ``with``/``for`` on an async-only
    object, was used outside an async thread."""


class ResourceBusy(CurionetError):
    """Another task is already performing this operation on the resource."""


class ReadResourceBusy(ResourceBusy):
    """Another task is already reading from this file descriptor."""


class WriteResourceBusy(ResourceBusy):
    """Another task is already writing to this file descriptor."""


class ClosedResourceError(CurionetError, OSError):
    """The resource was closed (possibly by another task) while in use.

    It is also an ``OSError`` with ``errno.EBADF`` so that code written for
    plain sockets keeps handling it.
    """

    def __init__(self, message: str = "resource was closed") -> None:
        OSError.__init__(self, errno.EBADF, message)
