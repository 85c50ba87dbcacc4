"""The client side: :class:`websocket_connect`."""

from __future__ import annotations

import ssl as _ssl
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from ...errors import TaskTimeout
from ...kernel.time import timeout_after
from ._connection import MiB, WebSocket
from ._errors import HandshakeError
from ._handshake import _DEFAULT, _client_handshake
from ._transport import _close_quietly, as_stream

__all__ = ["websocket_connect"]


class websocket_connect:  # noqa: N801 - used like a function
    """Open a WebSocket connection to *url* (``ws://`` or ``wss://``).

    ``ws = await websocket_connect(url)`` returns an open :class:`WebSocket`;
    ``async with websocket_connect(url) as ws:`` also closes it.  ``ssl`` is
    an ``SSLContext`` (default for ``wss://``: the system's default
    context).  ``extra_headers`` are added to the request; ``compression``
    is ``True``, ``False`` or a dict of ``permessage-deflate`` parameters.
    The connection and handshake must finish within ``open_timeout``
    seconds, else :class:`HandshakeError` is raised.  A refused upgrade
    raises :class:`InvalidStatus`, a failed TCP connection the socket's
    ``OSError`` (``ConnectionRefusedError`` ...).  If the ``async with`` block is
    cancelled, the closing handshake takes at most
    ``shutdown_close_timeout`` seconds (not ``close_timeout``).
    ``user_agent_header`` is the ``User-Agent`` header (default
    ``curionet/<version> Python/<x.y>``; ``None``: no header).
    """

    def __init__(self, url: str, *, ssl: Any = None, subprotocols: Sequence[str] = (),
                 extra_headers: Iterable[tuple[str, str]] | dict[str, str] | None = None,
                 compression: Any = True, max_message_size: int | None = MiB, max_queue: int = 16,
                 ping_interval: float | None = 20, ping_timeout: float | None = 20,
                 open_timeout: float | None = 10, close_timeout: float | None = 10,
                 origin: str | None = None, server_hostname: str | None = None,
                 stream: Any = None, shutdown_close_timeout: float | None = 1,
                 user_agent_header: Any = _DEFAULT) -> None:  # fmt: skip
        self.url = url
        self._kw = dict(
            ssl=ssl, subprotocols=subprotocols, extra_headers=extra_headers, compression=compression,
            max_message_size=max_message_size, max_queue=max_queue, ping_interval=ping_interval,
            ping_timeout=ping_timeout, open_timeout=open_timeout, close_timeout=close_timeout,
            origin=origin, server_hostname=server_hostname, stream=stream,
            shutdown_close_timeout=shutdown_close_timeout, user_agent_header=user_agent_header,
        )  # fmt: skip
        self._ws: WebSocket | None = None

    def __await__(self) -> Any:
        return _connect(self.url, **self._kw).__await__()

    async def __aenter__(self) -> WebSocket:
        self._ws = await _connect(self.url, **self._kw)
        return self._ws

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        assert self._ws is not None
        await self._ws.__aexit__(ty, val, tb)


def _parse_url(url: str) -> tuple[bool, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URL: {url!r}")
    secure = parts.scheme == "wss"
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return secure, parts.hostname, port, path


async def _connect(url: str, *, ssl: Any, subprotocols: Sequence[str], extra_headers: Any, compression: Any,
                   max_message_size: int | None, max_queue: int, ping_interval: float | None,
                   ping_timeout: float | None, open_timeout: float | None, close_timeout: float | None,
                   origin: str | None, server_hostname: str | None, stream: Any,
                   shutdown_close_timeout: float | None, user_agent_header: Any) -> WebSocket:  # fmt: skip
    secure, host, port, path = _parse_url(url)
    if secure and (ssl is None or ssl is True):
        ssl = _ssl.create_default_context()
    elif not secure:
        ssl = None
    ws: WebSocket | None = None
    opened: Any = None
    try:
        async with timeout_after(open_timeout):
            if stream is None:
                opened = await _open_stream(host, port, ssl, server_hostname or host)
                stream_ = as_stream(opened)
            else:
                stream_ = as_stream(stream)
            ws = await _client_handshake(
                stream_, host, port, secure, path, subprotocols, extra_headers, compression,
                max_message_size, origin, user_agent_header,
            )  # fmt: skip
    except TaskTimeout as exc:
        if opened is not None:
            await _close_quietly(opened)
        raise HandshakeError(f"opening handshake with {url} timed out after {open_timeout} s") from exc
    except BaseException:
        if opened is not None:
            await _close_quietly(opened)
        raise
    ws.max_queue = max(1, max_queue)
    ws.ping_interval = ping_interval
    ws.ping_timeout = ping_timeout
    ws.close_timeout = close_timeout
    ws.shutdown_close_timeout = shutdown_close_timeout
    await ws._start()
    return ws


async def _open_stream(host: str, port: int, ssl_context: Any, server_hostname: str) -> Any:
    """Connect through the Happy Eyeballs connector (TLS-wrapped for wss)."""
    try:
        from ..happy_eyeballs import open_tcp_stream
    except ImportError:  # pragma: no cover - the connector ships with curionet
        from ...network import open_connection

        if ssl_context is None:
            return await open_connection(host, port)
        return await open_connection(host, port, ssl=ssl_context, server_hostname=server_hostname)
    try:
        if ssl_context is not None:
            return await open_tcp_stream(host, port, ssl=ssl_context, server_hostname=server_hostname)
        return await open_tcp_stream(host, port)
    except _ssl.SSLError as exc:
        raise HandshakeError(f"TLS handshake with {host}:{port} failed: {exc}") from exc
