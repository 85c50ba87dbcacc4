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


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code`` and ``reason`` say how.

    ``code`` is the RFC 6455 "connection close code": the code of the Close
    frame received from the peer, 1005 if it had none, 1006 if the
    connection ended without one."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"WebSocket connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed normally (1000 or 1001)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed with an error code or without a close handshake."""
