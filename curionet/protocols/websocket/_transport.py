"""The one place the WebSocket package meets its transport.

A connection runs over the kernel's :class:`~curionet.kernel.stream.Stream`
(``receive_some``, ``receive_into``, ``send_all``, ``send_eof``, ``close``):
a :class:`~curionet.kernel.io.SocketStream`, a ``TLSStream``, a
``MemoryStream`` in tests.  The entry points also take what they took
before there was one: a curionet :class:`~curionet.kernel.io.Socket` (what
``tcp_server`` hands a handler and ``open_tcp_stream`` returns, TLS or not),
or any object with async ``recv(maxbytes)``, ``sendall(data)`` and
``close()`` (``recv_into`` and ``shutdown`` used when present).
:func:`as_stream` makes a ``Stream`` of either, and the rest of the package
calls only ``Stream`` methods.

Discussion: why a Socket is not turned into a SocketStream.  Whoever
accepted the socket closes it when the handler returns (``run_server``
does), and a SocketStream made from it would be a second owner of the file
descriptor: after the WebSocket closed the stream, the socket's own close
would release the descriptor number again, possibly another connection's
by then.  So the socket stays the only owner, and :class:`_ObjectStream`
calls its methods (bound once: no extra call on the hot path).
"""

from __future__ import annotations

import socket as _socket
from collections.abc import Callable, Coroutine
from typing import Any

from ...errors import CurionetError
from ...kernel.io import Socket
from ...kernel.stream import Stream

__all__ = ["Stream", "as_stream"]

# Bytes asked of the stream per read.  Big enough that a 64 KiB message and
# its frame header (65,550 bytes from a client) come in one read when they
# have arrived, so the whole frame is unmasked in one pass (one read of
# exactly 64 KiB would leave its last bytes for a second read and send the
# frame through the slower collect-then-copy path); under glibc's 128 KiB
# mmap threshold, so the read's temporary buffer comes from the heap.  The
# buffer is cut to what arrived: no connection keeps this much.
_RECV_SIZE = 127 * 1024


def as_stream(obj: Any) -> Stream:
    """*obj* if it is a :class:`Stream`, else a ``Stream`` over its
    ``recv``/``sendall``/``close`` methods (a curionet ``Socket`` ...)."""
    if isinstance(obj, Stream):
        return obj
    for name in ("recv", "sendall", "close"):
        if not callable(getattr(obj, name, None)):
            raise TypeError(f"a WebSocket needs a stream; {type(obj).__name__} has no {name}()")
    return _ObjectStream(obj)


class _ObjectStream:
    """The :class:`Stream` methods the package uses, over an object with
    async ``recv``, ``sendall`` and ``close``, which stays its owner.  Only
    called with positional arguments and no *timeout* (the package bounds
    its waits with ``timeout_after``)."""

    __slots__ = ("receive_some", "receive_into", "send_all", "send_gather", "close", "_obj")

    receive_some: Callable[..., Coroutine[Any, Any, bytes]]
    receive_into: Callable[..., Coroutine[Any, Any, int]]
    send_all: Callable[..., Coroutine[Any, Any, None]]
    send_gather: Callable[..., Coroutine[Any, Any, int]] | None
    close: Callable[[], Coroutine[Any, Any, None]]

    def __init__(self, obj: Any) -> None:
        self._obj = obj
        self.receive_some = obj.recv
        self.receive_into = getattr(obj, "recv_into", None) or self._receive_into
        self.send_all = obj.sendall
        self.close = obj.close
        #: ``sendmsg`` of a plain (not TLS) curionet socket: one system call
        #: that sends several buffers, some of them or none, without joining
        #: them (see ``WebSocket._write``); ``None`` otherwise.
        self.send_gather = obj.sendmsg if isinstance(obj, Socket) and not hasattr(obj, "pending") else None

    def __repr__(self) -> str:
        return f"<stream over {self._obj!r}>"

    async def _receive_into(self, buffer: Any) -> int:
        chunk = await self._obj.recv(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    async def send_eof(self) -> None:
        shutdown = getattr(self._obj, "shutdown", None)
        if shutdown is not None:
            await shutdown(_socket.SHUT_WR)

    async def wait_readable(self, timeout: float | None = None) -> None:  # pragma: no cover - not used here
        raise NotImplementedError("wait_readable")

    def is_readable(self) -> bool:  # pragma: no cover - not used here
        raise NotImplementedError("is_readable")


async def _close_quietly(stream: Any) -> None:
    try:
        await stream.close()
    except (OSError, CurionetError):
        pass


def _peername(stream: Any) -> Any:
    """The peer's address as the socket under *stream* reports it, or ``None``."""
    if isinstance(stream, _ObjectStream):
        stream = stream._obj
    for obj in (stream, getattr(stream, "_socket", None)):
        getpeername = getattr(obj, "getpeername", None)
        if getpeername is not None:
            try:
                return getpeername()
            except (OSError, TypeError):
                pass
    return None
