"""WebSocket exceptions: the ``WebSocketError`` family."""

from __future__ import annotations

from ...errors import CurionetError
from ._headers import Headers


class WebSocketError(CurionetError):
    """Base class of WebSocket errors."""


class HandshakeError(WebSocketError):
    """The opening handshake failed (bad response, timeout, refused)."""


class InvalidStatus(HandshakeError):
    """The server refused the upgrade with an HTTP response.

    ``status_code``, ``headers`` (a :class:`Headers`) and ``body`` (bytes,
    at most 64 KiB) describe the response."""

    def __init__(self, status_code: int, headers: Headers, body: bytes) -> None:
        super().__init__(f"server rejected WebSocket connection: HTTP {status_code}")
        self.status_code = status_code
        self.headers = headers
        self.body = body


class Close:
    """A Close frame: its ``code`` and ``reason``.

    ``ConnectionClosed.sent`` and ``.rcvd`` (and ``WebSocket.close_sent``,
    ``.close_rcvd``) are ``Close`` objects.  A Close frame without a status
    code reads as code 1005 and reason ``""``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = int(code)
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Close):
            return NotImplemented
        return self.code == other.code and self.reason == other.reason

    def __hash__(self) -> int:
        return hash((self.code, self.reason))

    def __repr__(self) -> str:
        return f"Close(code={self.code}, reason={self.reason!r})"


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code`` and ``reason`` say how.

    ``code`` is the connection's effective close code: the code of the Close
    frame received from the peer (1005 if it had none); if none was received
    and curionet failed the connection itself (1002 or 1007 for a protocol
    violation, 1009 for a message over ``max_message_size``, 1011 for a
    keepalive timeout or a handler error), the code it sent; otherwise 1006
    (the connection ended without a closing handshake).  ``reason`` goes
    with that code.

    ``sent`` and ``rcvd`` are the :class:`Close` frames this side sent and
    received, ``None`` for one that was not (as in the ``websockets``
    library)."""

    def __init__(self, code: int, reason: str, sent: Close | None = None, rcvd: Close | None = None) -> None:
        super().__init__(f"WebSocket connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason
        self.sent = sent
        self.rcvd = rcvd


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed normally (1000 or 1001)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed with an error code or without a close handshake."""
