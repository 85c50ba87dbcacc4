"""The opening handshake, server side and client side (RFC 6455 section 4).

The server reads the request head with ``h11`` (so every header reaches the
application), lets wsproto check the upgrade, applies the origin check and
``process_request``, then answers 101 or an HTTP error.  The client sends the
request with wsproto and reads the response, keeping at most 64 KiB of a
refusal's body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    RejectConnection,
    RejectData,
    Request as WSRequest,
)
from wsproto.utilities import RemoteProtocolError

from ...errors import CurionetError
from ._connection import MiB, WebSocket
from ._deflate import _deflate_extension
from ._errors import HandshakeError, InvalidStatus
from ._headers import Headers, Request
from ._transport import _RECV_SIZE, Stream, _peername

_MAX_HANDSHAKE = 16384  # bytes of HTTP request/response head we accept
_MAX_REJECT_BODY = 65536  # bytes of a refusal body the client keeps


async def _recv_into(stream: Stream, h: Any, *, h11_style: bool) -> bool:
    """Read once from *stream* into the sans-I/O object *h*; False at EOF."""
    data = await stream.receive_some(_RECV_SIZE)
    if not data:
        if h11_style:
            h.receive_data(b"")
        return False
    h.receive_data(data)
    return True


def _response_bytes(status: int, headers: Iterable[tuple[Any, Any]] = (), body: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response that ends the connection."""
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, "Error").encode())]
    names = set()
    for k, v in headers:
        kb = k.encode("latin-1") if isinstance(k, str) else bytes(k)
        vb = v.encode("latin-1") if isinstance(v, str) else bytes(v)
        if b"\r" in kb + vb or b"\n" in kb + vb:
            raise ValueError("invalid header")
        names.add(kb.lower())
        lines.append(kb + b": " + vb)
    if b"content-type" not in names and body:
        lines.append(b"Content-Type: text/plain; charset=utf-8")
    lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class _ServerOptions:
    subprotocols: Sequence[str] = ()
    compression: Any = True
    max_message_size: int | None = MiB
    max_queue: int = 16
    ping_interval: float | None = 20
    ping_timeout: float | None = 20
    open_timeout: float | None = 10
    close_timeout: float | None = 10
    origins: Sequence[str | None] | None = None
    process_request: Callable[[Request], Any] | None = None
    extra_headers: Sequence[tuple[str, str]] = ()
    shutdown_close_timeout: float | None = 1


async def _send_refusal(stream: Stream, status: int, headers: Iterable[tuple[Any, Any]], body: bytes) -> None:
    try:
        await stream.send_all(_response_bytes(status, headers, body))
    except (OSError, CurionetError):
        pass


async def _read_request_head(stream: Stream) -> tuple[h11.Request, bytes] | None:
    """Read the request head with h11 (so every header reaches the handler);
    return it with the bytes that followed it, or ``None`` if the request was
    refused (answered with the status h11 suggests) or the peer left."""
    h = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HANDSHAKE)
    while True:
        try:
            event = h.next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            await _send_refusal(stream, status, (), f"Invalid HTTP request: {exc}\n".encode())
            return None
        if event is h11.NEED_DATA:
            if not await _recv_into(stream, h, h11_style=True):
                return None
            continue
        if isinstance(event, h11.Request):
            break
        return None  # ConnectionClosed or anything else
    trailing = h.trailing_data[0] if h.their_state is h11.MIGHT_SWITCH_PROTOCOL else b""
    return event, trailing


async def _server_handshake(stream: Stream, remote_address: Any, opts: _ServerOptions) -> WebSocket | None:
    head = await _read_request_head(stream)
    if head is None:
        return None
    event, trailing = head
    path = event.target.decode("latin-1")
    request = Request(path, Headers(event.headers))
    if event.method != b"GET" or event.http_version != b"1.1":
        # wsproto's initiate_upgrade_connection() rebuilds the request as a
        # GET, so the method and version are checked here (RFC 6455 4.1).
        await _send_refusal(stream, 400, (), b"WebSocket handshake needs GET and HTTP/1.1\n")
        return None

    wsconn = WSConnection(ConnectionType.SERVER)
    try:
        wsconn.initiate_upgrade_connection(list(event.headers), event.target)
        wsevent = next(wsconn.events(), None)
    except RemoteProtocolError as exc:
        hint = exc.event_hint
        status = hint.status_code if isinstance(hint, RejectConnection) else 400
        extra = list(hint.headers) if isinstance(hint, RejectConnection) else []
        if status == 400 and (request.headers.get("upgrade") or "").lower() != "websocket":
            status = 426
            extra.append((b"Upgrade", b"websocket"))
        await _send_refusal(stream, status, extra, f"WebSocket handshake failed: {exc}\n".encode())
        return None
    if not isinstance(wsevent, WSRequest):  # pragma: no cover - wsproto always yields one
        await _send_refusal(stream, 400, (), b"WebSocket handshake failed\n")
        return None

    if opts.origins is not None:
        origin = request.headers.get("origin")
        if origin not in opts.origins:
            await _send_refusal(stream, 403, (), b"Origin not allowed\n")
            return None

    if opts.process_request is not None:
        try:
            verdict = opts.process_request(request)
            if isinstance(verdict, Awaitable):
                verdict = await verdict
        except Exception:
            await _send_refusal(stream, 500, (), b"Internal server error\n")
            raise
        if verdict is not None:
            status, headers, body = _parse_verdict(verdict)
            await _send_refusal(stream, status, headers, body)
            return None

    subprotocol = None
    offered = list(wsevent.subprotocols)
    for candidate in opts.subprotocols:
        if candidate in offered:
            subprotocol = candidate
            break
    extensions = _deflate_extension(opts.compression, opts.max_message_size)
    accept = AcceptConnection(
        subprotocol=subprotocol,
        extensions=extensions,
        extra_headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in opts.extra_headers],
    )
    data = wsconn.send(accept)
    await stream.send_all(data)
    conn = wsconn.connection
    assert conn is not None
    if trailing:
        conn.receive_data(trailing)
    return WebSocket(
        stream, conn, client=False, request=request, subprotocol=subprotocol,
        extensions=[e for e in extensions if e.enabled()], remote_address=remote_address,
        max_message_size=opts.max_message_size, max_queue=opts.max_queue,
        ping_interval=opts.ping_interval, ping_timeout=opts.ping_timeout, close_timeout=opts.close_timeout,
        shutdown_close_timeout=opts.shutdown_close_timeout,
    )  # fmt: skip


def _parse_verdict(verdict: Any) -> tuple[int, list[tuple[Any, Any]], bytes]:
    if isinstance(verdict, int):
        return verdict, [], (_REASONS.get(verdict, "Refused") + "\n").encode()
    if isinstance(verdict, tuple):
        if len(verdict) == 3:
            status, headers, body = verdict
        elif len(verdict) == 2:
            status, body = verdict
            headers = []
        else:
            raise ValueError("process_request must return None, a status, (status, body) or (status, headers, body)")
        if isinstance(body, str):
            body = body.encode()
        if isinstance(headers, dict):
            headers = list(headers.items())
        return int(status), list(headers or []), bytes(body or b"")
    raise ValueError("process_request must return None, a status, (status, body) or (status, headers, body)")


async def _client_handshake(stream: Stream, host: str, port: int, secure: bool, path: str,
                            subprotocols: Sequence[str], extra_headers: Any, compression: Any,
                            max_message_size: int | None, origin: str | None) -> WebSocket:  # fmt: skip
    wsconn = WSConnection(ConnectionType.CLIENT)
    default_port = 443 if secure else 80
    host_header = host if ":" not in host else f"[{host}]"
    if port != default_port:
        host_header = f"{host_header}:{port}"
    headers: list[tuple[bytes, bytes]] = []
    if extra_headers:
        items = extra_headers.items() if isinstance(extra_headers, dict) else extra_headers
        headers = [(k.encode("latin-1") if isinstance(k, str) else k, v.encode("latin-1") if isinstance(v, str) else v)
                   for k, v in items]  # fmt: skip
    if origin is not None:
        headers.append((b"Origin", origin.encode("latin-1")))
    extensions = _deflate_extension(compression, max_message_size)
    request_event = WSRequest(
        host=host_header, target=path, subprotocols=list(subprotocols), extensions=extensions,
        extra_headers=headers,
    )  # fmt: skip
    await stream.send_all(wsconn.send(request_event))
    all_headers = Headers([(b"host", host_header.encode("latin-1")), *headers])
    request = Request(path, all_headers)
    reject: RejectConnection | None = None
    body = bytearray()
    while True:
        try:
            data = await stream.receive_some(_RECV_SIZE)
        except (OSError, CurionetError) as exc:
            raise HandshakeError(f"connection lost during the opening handshake: {exc}") from exc
        if not data:
            if reject is not None:
                raise InvalidStatus(reject.status_code, Headers(reject.headers), bytes(body))
            raise HandshakeError("connection closed during the opening handshake")
        # h11 bounds the response head (16 KiB); bytes after a 101 are frames.
        try:
            wsconn.receive_data(data)
            for event in wsconn.events():
                if isinstance(event, AcceptConnection):
                    conn = wsconn.connection
                    assert conn is not None
                    return WebSocket(
                        stream, conn, client=True, request=request, subprotocol=event.subprotocol,
                        extensions=[e for e in event.extensions if e.enabled()],
                        remote_address=_peername(stream), max_message_size=max_message_size,
                        response_headers=Headers(event.extra_headers),
                    )  # fmt: skip
                if isinstance(event, RejectConnection):
                    reject = event
                    if not event.has_body:
                        raise InvalidStatus(event.status_code, Headers(event.headers), b"")
                elif isinstance(event, RejectData):
                    if len(body) < _MAX_REJECT_BODY:
                        body += event.data[: _MAX_REJECT_BODY - len(body)]
                    if event.body_finished and reject is not None:
                        raise InvalidStatus(reject.status_code, Headers(reject.headers), bytes(body))
        except RemoteProtocolError as exc:
            raise HandshakeError(f"invalid handshake response: {exc}") from exc
