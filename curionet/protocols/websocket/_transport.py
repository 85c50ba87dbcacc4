"""The one place the WebSocket package touches its transport.

A connection runs over a *stream*: anything with async ``recv(maxbytes)``,
``sendall(data)`` and ``close()`` (a curionet
:class:`~curionet.kernel.io.Socket`, a TLS socket, an in-memory pair in
tests).  ``recv_into(buffer)`` and ``shutdown(how)`` are used when present.
The rest of the package calls only these methods, and the helpers below for
the optional ones, so moving to another stream interface is a change here.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...errors import CurionetError

_RECV_SIZE = 65536  # bytes asked of the stream per read


class Stream(Protocol):
    """What a WebSocket connection needs from its transport."""

    async def recv(self, maxbytes: int) -> bytes: ...

    async def sendall(self, data: bytes) -> Any: ...

    async def close(self) -> Any: ...


async def _close_quietly(stream: Any) -> None:
    try:
        await stream.close()
    except (OSError, CurionetError):
        pass


def _peername(stream: Any) -> Any:
    for obj in (stream, getattr(stream, "_socket", None)):
        getpeername = getattr(obj, "getpeername", None)
        if getpeername is not None:
            try:
                return getpeername()
            except (OSError, TypeError):
                pass
    return None
