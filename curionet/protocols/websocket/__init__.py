"""WebSocket client and server (RFC 6455, RFC 7692) on ``wsproto``.

The adapter drives ``wsproto`` over a stream: bytes read from the stream
are fed to the protocol (``receive_data``), events come out, and the bytes
for events we send go back to the stream.  A stream is the kernel's
:class:`~curionet.kernel.stream.Stream` (a ``SocketStream``, a
``MemoryStream`` ...), a curionet :class:`~curionet.kernel.io.Socket`
(plain or TLS), or anything with async ``recv(maxbytes)``, ``sendall(data)``
and ``close()`` (see ``_transport.py``).

Entry points:

* :func:`websocket_connect` (client; awaitable and async context manager),
* :func:`websocket_server` / :class:`WebSocketServer` (a listening server),
* :func:`accept_websocket` and :func:`websocket_handler` to upgrade a
  connection accepted by :func:`curionet.network.tcp_server`,
* :class:`WebSocket`, the connection object, and :func:`broadcast`.

The package, from the wire up: ``_frames`` (the frame codec: pure functions,
no I/O), ``_deflate`` (permessage-deflate with a size bound), ``_wsproto``
(the only reads of wsproto's private state), ``_transport`` (the stream
interface), ``_reader`` and ``_connection`` (the :class:`WebSocket` object),
``_handshake``, ``_server`` and ``_client``; ``_errors`` and ``_headers``
hold the exceptions and the request type.
"""

from __future__ import annotations

from ._client import (
    InsecureRedirect as InsecureRedirect,
    RedirectError as RedirectError,
    TooManyRedirects as TooManyRedirects,
    connect as connect,
    default_process_exception as default_process_exception,
    websocket_connect as websocket_connect,
)
from ._connection import State as State, WebSocket as WebSocket, broadcast as broadcast
from ._errors import (
    Close as Close,
    ConnectionClosed as ConnectionClosed,
    ConnectionClosedError as ConnectionClosedError,
    ConnectionClosedOK as ConnectionClosedOK,
    HandshakeError as HandshakeError,
    InvalidStatus as InvalidStatus,
    WebSocketError as WebSocketError,
)
from ._frames import SPEEDUPS as SPEEDUPS  # True when the C masking loop is in use
from ._headers import Headers as Headers, Request as Request, Response as Response
from ._server import (
    WebSocketServer as WebSocketServer,
    accept_websocket as accept_websocket,
    serve as serve,
    websocket_handler as websocket_handler,
    websocket_server as websocket_server,
)

__all__ = [
    "WebSocket",
    "State",
    "WebSocketServer",
    "WebSocketError",
    "Close",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "HandshakeError",
    "InvalidStatus",
    "RedirectError",
    "TooManyRedirects",
    "InsecureRedirect",
    "Request",
    "Response",
    "Headers",
    "websocket_connect",
    "default_process_exception",
    "websocket_server",
    "websocket_handler",
    "accept_websocket",
    "broadcast",
    "serve",
    "connect",
]
