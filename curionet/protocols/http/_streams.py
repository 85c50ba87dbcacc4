"""How the HTTP client opens the stream a connection runs over.

A connection runs over any :class:`curionet.kernel.stream.Stream`; by
default a :class:`curionet.kernel.io.SocketStream` on a socket connected
(and TLS-wrapped) by the Happy Eyeballs connector,
:func:`curionet.protocols.happy_eyeballs.open_tcp_stream`, or on a
Unix-domain socket (:func:`open_unix_stream`, for ``uds=``).  The connection
turns the stream's ``TimeoutError``/``OSError`` into the HTTP error
hierarchy.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from ...kernel.io import Socket, SocketStream
from ...kernel.stream import TLSStream
from ..happy_eyeballs import open_tcp_stream

__all__ = ["open_stream", "open_unix_stream"]


async def open_stream(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None
) -> SocketStream:
    """Connect to *host*:*port* (TLS when *ssl_context* is given) and return a
    :class:`~curionet.kernel.io.SocketStream`.  Whatever is opened is closed
    again if this is cancelled or fails."""
    sock = await open_tcp_stream(host, port, ssl=ssl_context, server_hostname=server_hostname or host)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            # Requests and their bodies go out in as few sends as we can make
            # them: Nagle's algorithm would only delay the last segment.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - every TCP socket takes it
            pass
    return sock.as_stream()  # type: ignore[no-any-return]


async def open_unix_stream(
    path: str, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> Any:
    """Connect to the Unix-domain socket at *path* for the origin
    *host*:*port* (which only names the TLS server, when *ssl_context* is
    given: TLS then runs as a :class:`~curionet.kernel.stream.TLSStream`).
    The connector of ``HTTPTransport(uds=path)``."""
    sock = Socket(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    try:
        await sock.connect(path)
        stream = sock.as_stream()
        if ssl_context is None:
            return stream
        tls = TLSStream(stream, ssl_context, server_hostname=server_hostname or host)
        await tls.do_handshake()
        return tls
    except BaseException:
        await sock.close()
        raise
