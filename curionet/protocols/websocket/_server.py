"""The server side: :func:`accept_websocket`, :func:`websocket_handler`,
:class:`WebSocketServer` and :func:`websocket_server`."""

from __future__ import annotations

import functools
import re
import socket as _socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ...errors import CancelledError, CurionetError
from ...kernel.sync import Event
from ...kernel.task import Task, spawn
from ...kernel.time import ignore_after
from ._connection import MiB, WebSocket
from ._errors import ConnectionClosed
from ._handshake import _DEFAULT, _server_handshake, _ServerOptions
from ._headers import Request, Response
from ._transport import _close_quietly, _peername, as_stream

__all__ = ["accept_websocket", "websocket_handler", "WebSocketServer", "websocket_server", "serve"]


async def accept_websocket(
    stream: Any,
    remote_address: Any = None,
    *,
    subprotocols: Sequence[str] = (),
    compression: Any = True,
    max_message_size: int | None = MiB,
    max_queue: int = 16,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    open_timeout: float | None = 10,
    close_timeout: float | None = 10,
    origins: Sequence[str | re.Pattern[str] | None] | None = None,
    process_request: Callable[[Request], Any] | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
    shutdown_close_timeout: float | None = 1,
    process_response: Callable[[Request, Response], Any] | None = None,
    select_subprotocol: Callable[[Request, Sequence[str]], Any] | None = None,
    server_header: Any = _DEFAULT,
) -> WebSocket | None:
    """Perform the server side of the opening handshake on *stream* (a
    connection accepted by :func:`~curionet.network.tcp_server`).

    Returns the open :class:`WebSocket`, or ``None`` if the handshake was
    refused or failed; the client then got an HTTP error response (400 for a
    non-WebSocket request, 403 for an Origin not in *origins*, whatever
    *process_request* returned) and *stream* is closed.

    ``process_request(request)`` (plain or async) runs first, before the
    request is checked as an upgrade: it may return ``None`` to go on, or
    answer with an ``int`` status, a ``(status, headers, body)`` tuple,
    ``(status, body)`` or a :class:`Response` (so it can also serve plain
    HTTP, such as a health check, on the WebSocket port).
    ``process_response(request, response)`` (plain or async) sees the 101
    :class:`Response` before it is sent: it may change ``response.headers``
    or return another :class:`Response` (one that is not a 101 refuses the
    upgrade).  ``select_subprotocol(request, offered)`` (plain or async)
    replaces the ``subprotocols`` list: it returns one of *offered* or
    ``None``.  ``origins`` holds allowed ``Origin`` values: strings,
    compiled regular expressions (matched whole) and ``None`` (no Origin
    header).  ``server_header`` is the ``Server`` header of every response
    (default ``curionet/<version> Python/<x.y>``; ``None``: no header).  ``compression`` is ``True``,
    ``False`` or a dict of ``permessage-deflate`` parameters
    (``server_max_window_bits``, ``client_no_context_takeover`` ...).
    ``shutdown_close_timeout`` bounds the closing handshake when the
    connection's task is cancelled (the server is shutting down) instead
    of ``close_timeout``; then the connection is aborted.
    """
    opts = _ServerOptions(
        subprotocols, compression, max_message_size, max_queue, ping_interval, ping_timeout,
        open_timeout, close_timeout, origins, process_request, extra_headers, shutdown_close_timeout,
        process_response, select_subprotocol, server_header,
    )  # fmt: skip
    if remote_address is None:
        remote_address = _peername(stream)
    transport = as_stream(stream)
    ws: WebSocket | None = None
    try:
        async with ignore_after(open_timeout):
            ws = await _server_handshake(transport, remote_address, opts)
    except (OSError, CurionetError):
        ws = None
    except BaseException:
        await _close_quietly(transport)
        raise
    if ws is None:
        await _close_quietly(transport)
        return None
    await ws._start()
    return ws


def websocket_handler(handler: Callable[[WebSocket], Awaitable[Any]], **options: Any) -> Callable[..., Any]:
    """Turn ``handler(ws)`` into a ``client_connected_task(client, addr)``
    for :func:`~curionet.network.tcp_server`: each connection is upgraded
    with :func:`accept_websocket` (*options* are its keyword arguments) and
    the handler runs with the :class:`WebSocket`.  When the handler returns
    the connection is closed with 1000; if it raises, with 1011; if it is
    cancelled (server shutdown), with 1001."""

    async def client_connected_task(client: Any, addr: Any = None) -> None:
        await _serve_one(client, addr, handler, options)

    return client_connected_task


async def _serve_one(client: Any, addr: Any, handler: Callable[[WebSocket], Awaitable[Any]],
                     options: dict[str, Any], registry: set[WebSocket] | None = None) -> None:  # fmt: skip
    ws = await accept_websocket(client, addr, **options)
    if ws is None:
        return
    if registry is not None:
        registry.add(ws)
    try:
        try:
            await handler(ws)
        except ConnectionClosed:
            pass
        except CancelledError:
            await ws._close_on_cancel(1001)
            raise
        except Exception:
            import logging

            logging.getLogger("curionet").exception("WebSocket handler %r failed", handler)
            await ws.close(1011, "internal error")
            return
        await ws.close()
    finally:
        if registry is not None:
            registry.discard(ws)
        if not ws._stream_closed:
            await ws._abort()
        await ws._finish()


class WebSocketServer:
    """A listening WebSocket server.

    ``async with WebSocketServer(host, port, handler, ...) as server:``
    listens (``port=0`` picks a free port: read ``server.port``), serves each
    connection in its own task and, on exit, stops accepting and closes every
    open connection with 1001 (going away), waiting at most
    ``shutdown_close_timeout`` (default 1 s) for each peer's Close before
    aborting it.  :func:`websocket_server` wraps
    it for the common "serve forever" case.  Options are those of
    :func:`accept_websocket`, plus ``ssl`` (an ``SSLContext``), ``backlog``
    and ``reuse_address``.
    """

    def __init__(self, host: str, port: int, handler: Callable[[WebSocket], Awaitable[Any]], *,
                 ssl: Any = None, backlog: int = 128, reuse_address: bool = True, **options: Any) -> None:  # fmt: skip
        self.host = host
        self._port = port
        self.handler = handler
        self.ssl = ssl
        self.backlog = backlog
        self.reuse_address = reuse_address
        self.options = options
        #: Open connections (for :func:`broadcast`).
        self.connections: set[WebSocket] = set()
        self._sock: Any = None
        self._server_task: Task | None = None
        self._stopped = Event()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._sock.getsockname()[1]) if self._sock is not None else self._port

    @property
    def address(self) -> Any:
        """The address the server listens on (``getsockname()``)."""
        return self._sock.getsockname() if self._sock is not None else (self.host, self._port)

    async def start(self) -> None:
        """Start listening and accepting in the background."""
        from ...network import run_server, tcp_server_socket

        family = _socket.AF_INET6 if ":" in self.host else _socket.AF_INET
        self._sock = tcp_server_socket(self.host, self._port, family, self.backlog, self.reuse_address)
        handler = functools.partial(_serve_one, handler=self.handler, options=self.options,
                                    registry=self.connections)  # fmt: skip
        self._server_task = await spawn(run_server, self._sock, handler, self.ssl, daemon=True)

    async def serve_forever(self) -> None:
        """Wait until :meth:`close` is called (or the task is cancelled)."""
        await self._stopped.wait()

    async def close(self) -> None:
        """Stop accepting, close every connection with 1001 (going away)
        and wait for the handlers to finish."""
        task, self._server_task = self._server_task, None
        if task is not None:
            await task.cancel()
        self._sock = None
        await self._stopped.set()

    async def __aenter__(self) -> WebSocketServer:
        await self.start()
        return self

    def __await__(self) -> Any:
        """``server = await WebSocketServer(...)`` (or ``await serve(...)``)
        starts it and returns it; stop it with :meth:`close`."""
        return self.__aenter__().__await__()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def websocket_server(host: str, port: int, handler: Callable[[WebSocket], Awaitable[Any]], *,
                           ssl: Any = None, subprotocols: Sequence[str] = (), compression: Any = True,
                           max_message_size: int | None = MiB, ping_interval: float | None = 20,
                           ping_timeout: float | None = 20, open_timeout: float | None = 10,
                           close_timeout: float | None = 10,
                           origins: Sequence[str | re.Pattern[str] | None] | None = None,
                           process_request: Callable[[Request], Any] | None = None,
                           **options: Any) -> None:  # fmt: skip
    """Serve WebSocket connections on *host*:*port* forever, running
    ``await handler(ws)`` for each in its own task.

    Cancelling it stops the server and closes open connections with 1001.
    See :func:`accept_websocket` for the options."""
    server = WebSocketServer(
        host, port, handler, ssl=ssl, subprotocols=subprotocols, compression=compression,
        max_message_size=max_message_size, ping_interval=ping_interval, ping_timeout=ping_timeout,
        open_timeout=open_timeout, close_timeout=close_timeout, origins=origins,
        process_request=process_request, **options,
    )  # fmt: skip
    async with server:
        await server.serve_forever()


def serve(handler: Callable[[WebSocket], Awaitable[Any]], host: str, port: int, **options: Any) -> WebSocketServer:
    """:class:`WebSocketServer` under the websockets library's name and
    argument order: ``async with serve(handler, host, port) as server:``
    (``await server.serve_forever()`` to run until cancelled), or
    ``server = await serve(...)``.  Takes websockets' option names too
    (``max_size``, ``compression="deflate"`` or ``None``)."""
    from ._client import _translate

    return WebSocketServer(host, port, handler, **_translate(options))
