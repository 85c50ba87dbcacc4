"""The opening handshake, server side and client side (RFC 6455 section 4).

The server reads the request head with ``h11`` (so every header reaches the
application), lets wsproto check the upgrade, applies the origin check and
``process_request``, then answers 101 or an HTTP error.  The client sends the
request with wsproto and reads the response, keeping at most 64 KiB of a
refusal's body.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
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
from ._headers import Headers, Request, Response, _parse_request_head, _parse_response_head, _response_head_bytes
from ._transport import _RECV_SIZE, Stream, _peername

_MAX_HANDSHAKE = 16384  # bytes of HTTP request/response head we accept
_MAX_REJECT_BODY = 65536  # bytes of a refusal body the client keeps


def _response_bytes(status: int, headers: Iterable[tuple[Any, Any]] = (), body: bytes = b"",
                    reason: str | None = None) -> bytes:  # fmt: skip
    """A complete HTTP/1.1 response that ends the connection."""
    if reason is None:
        reason = _reason(status)
    lines = [b"HTTP/1.1 %d %s" % (status, reason.encode("latin-1"))]
    names = set()
    for k, v in headers:
        kb = k.encode("latin-1") if isinstance(k, str) else bytes(k)
        vb = v.encode("latin-1") if isinstance(v, str) else bytes(v)
        if b"\r" in kb + vb or b"\n" in kb + vb:
            raise ValueError("invalid header")
        lower = kb.lower()
        if lower in (b"content-length", b"connection", b"transfer-encoding"):
            continue  # this response has its own framing
        names.add(lower)
        lines.append(kb + b": " + vb)
    if b"content-type" not in names and body:
        lines.append(b"Content-Type: text/plain; charset=utf-8")
    lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@functools.cache
def default_agent() -> str:
    """``curionet/<version> Python/<x.y>``: the default ``Server`` and ``User-Agent`` value."""
    try:
        version = importlib.metadata.version("curionet")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        version = "unknown"
    return f"curionet/{version} Python/{sys.version_info[0]}.{sys.version_info[1]}"


_DEFAULT: Any = object()  # server_header / user_agent_header left out: default_agent()


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
    origins: Sequence[str | re.Pattern[str] | None] | None = None
    process_request: Callable[[Request], Any] | None = None
    extra_headers: Sequence[tuple[str, str]] = ()
    shutdown_close_timeout: float | None = 1
    process_response: Callable[[Request, Response], Any] | None = None
    select_subprotocol: Callable[[Request, Sequence[str]], Any] | None = None
    server_header: Any = _DEFAULT

    def server_headers(self) -> list[tuple[str, str]]:
        """The ``Server`` header every response carries (none if ``server_header=None``)."""
        if self.server_header is None:
            return []
        return [("Server", default_agent() if self.server_header == _DEFAULT else self.server_header)]


async def _send_refusal(stream: Stream, status: int, headers: Iterable[tuple[Any, Any]], body: bytes,
                        reason: str | None = None) -> None:  # fmt: skip
    try:
        await stream.send_all(_response_bytes(status, headers, body, reason))
    except (OSError, CurionetError):
        pass


async def _read_request_head(stream: Stream) -> tuple[h11.Request, bytes] | None:
    """Read the request head with h11 (so every header reaches the handler);
    return it with the bytes that followed it, or ``None`` if the request was
    refused (answered with the status h11 suggests) or the peer left."""
    h = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HANDSHAKE)
    fed = 0
    while True:
        try:
            event = h.next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            await _send_refusal(stream, status, (), f"Invalid HTTP request: {exc}\n".encode())
            return None
        if event is h11.NEED_DATA:
            # Reads of at most the limit: h11 refuses a head that is still
            # incomplete past it (431) before more of it is read.
            data = await stream.receive_some(_MAX_HANDSHAKE)
            h.receive_data(data)
            if not data:
                return None
            fed += len(data)
            continue
        if isinstance(event, h11.Request):
            break
        return None  # ConnectionClosed or anything else
    unparsed = h.trailing_data[0]
    trailing = unparsed if h.their_state is h11.MIGHT_SWITCH_PROTOCOL else b""
    if fed - len(unparsed) > _MAX_HANDSHAKE:
        # h11 bounds only a head still incomplete; one that came whole in
        # a single read is held to the same limit here.
        await _send_refusal(stream, 431, (), b"Request header fields too large\n")
        return None
    return event, trailing


async def _choose_subprotocol(
    stream: Stream, server: Any, opts: _ServerOptions, request: Request, offered: list[str]
) -> str | None:
    """The subprotocol to accept: the hook's choice (which must be one the
    client offered), else the first of ours the client offered."""
    if opts.select_subprotocol is None:
        return next((p for p in opts.subprotocols if p in offered), None)
    subprotocol: str | None = await _call_hook(stream, server, opts.select_subprotocol, request, offered)
    if subprotocol is not None and subprotocol not in offered:
        await _send_refusal(stream, 500, server, b"Internal server error\n")
        raise ValueError(f"select_subprotocol returned {subprotocol!r}, which the client did not offer: {offered}")
    return subprotocol


async def _processed_response(
    stream: Stream, server: Any, opts: _ServerOptions, request: Request, response: Response
) -> Response:
    """The 101 after ``process_response`` (which may edit it, or replace it)."""
    assert opts.process_response is not None
    replaced = await _call_hook(stream, server, opts.process_response, request, response)
    if replaced is None:
        return response
    if not isinstance(replaced, Response):
        await _send_refusal(stream, 500, server, b"Internal server error\n")
        raise TypeError(f"process_response must return None or a Response, not {replaced!r}")
    return replaced


async def _server_handshake(stream: Stream, remote_address: Any, opts: _ServerOptions) -> WebSocket | None:
    head = await _read_request_head(stream)
    if head is None:
        return None
    event, trailing = head
    path = event.target.decode("latin-1")
    request = Request(path, Headers(event.headers))
    server = opts.server_headers()

    # process_request comes first, so it can answer plain HTTP requests
    # (a load balancer's health check) on the WebSocket port.
    if opts.process_request is not None:
        verdict = await _call_hook(stream, server, opts.process_request, request)
        if verdict is not None:
            status, headers, body, reason = _parse_verdict(verdict)
            await _send_refusal(stream, status, [*server, *headers], body, reason)
            return None

    if event.method != b"GET" or event.http_version != b"1.1":
        # wsproto's initiate_upgrade_connection() rebuilds the request as a
        # GET, so the method and version are checked here (RFC 6455 4.1).
        await _send_refusal(stream, 400, server, b"WebSocket handshake needs GET and HTTP/1.1\n")
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
        await _send_refusal(stream, status, [*server, *extra], f"WebSocket handshake failed: {exc}\n".encode())
        return None
    if not isinstance(wsevent, WSRequest):  # pragma: no cover - wsproto always yields one
        await _send_refusal(stream, 400, server, b"WebSocket handshake failed\n")
        return None

    if opts.origins is not None and not _origin_allowed(request.headers.get("origin"), opts.origins):
        await _send_refusal(stream, 403, server, b"Origin not allowed\n")
        return None

    subprotocol = await _choose_subprotocol(stream, server, opts, request, list(wsevent.subprotocols))
    extensions = _deflate_extension(opts.compression, opts.max_message_size)
    accept = AcceptConnection(
        subprotocol=subprotocol,
        extensions=extensions,
        extra_headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in [*server, *opts.extra_headers]],
    )
    data = wsconn.send(accept)
    response = _parse_response_head(data)
    if opts.process_response is not None:
        response = await _processed_response(stream, server, opts, request, response)
        if response.status_code != 101:
            await _send_refusal(stream, response.status_code, response.headers.multi_items(), response.body,
                                response.reason_phrase)  # fmt: skip
            return None
        data = _response_head_bytes(response)
    await stream.send_all(data)
    conn = wsconn.connection
    assert conn is not None
    if trailing:
        conn.receive_data(trailing)
    ws = WebSocket(
        stream, conn, client=False, request=request, subprotocol=subprotocol,
        extensions=[e for e in extensions if e.enabled()], remote_address=remote_address,
        max_message_size=opts.max_message_size, max_queue=opts.max_queue,
        ping_interval=opts.ping_interval, ping_timeout=opts.ping_timeout, close_timeout=opts.close_timeout,
        shutdown_close_timeout=opts.shutdown_close_timeout,
    )  # fmt: skip
    ws.response = response
    return ws


async def _call_hook(stream: Stream, server: list[tuple[str, str]], hook: Callable[..., Any], *args: Any) -> Any:
    """Call a plain or async server hook; if it raises, answer 500 and re-raise."""
    try:
        result = hook(*args)
        if isinstance(result, Awaitable):
            result = await result
    except Exception:
        await _send_refusal(stream, 500, server, b"Internal server error\n")
        raise
    return result


def _origin_allowed(origin: str | None, origins: Sequence[str | re.Pattern[str] | None]) -> bool:
    """True if *origin* (``None``: no Origin header) is one of *origins*:
    equal to a string, matched whole by a compiled regular expression, or
    missing when ``None`` is in the list."""
    for allowed in origins:
        if allowed is None or isinstance(allowed, str):
            if origin == allowed:
                return True
        elif origin is not None and allowed.fullmatch(origin):
            return True
    return False


def _parse_verdict(verdict: Any) -> tuple[int, list[tuple[Any, Any]], bytes, str | None]:
    if isinstance(verdict, Response):
        return verdict.status_code, verdict.headers.multi_items(), verdict.body, verdict.reason_phrase or None
    if isinstance(verdict, int):
        return verdict, [], (_reason(verdict) + "\n").encode(), None
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
        if isinstance(headers, Headers):
            headers = headers.multi_items()
        elif isinstance(headers, dict):
            headers = list(headers.items())
        return int(status), list(headers or []), bytes(body or b""), None
    raise ValueError("process_request must return None, a status, (status, body) or (status, headers, body)")


async def _client_handshake(stream: Stream, host: str, port: int, secure: bool, path: str,
                            subprotocols: Sequence[str], extra_headers: Any, compression: Any,
                            max_message_size: int | None, origin: str | None,
                            user_agent_header: Any = _DEFAULT) -> WebSocket:  # fmt: skip
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
    if user_agent_header is not None and not any(k.lower() == b"user-agent" for k, _ in headers):
        agent = default_agent() if user_agent_header is _DEFAULT else user_agent_header
        headers.append((b"User-Agent", agent.encode("latin-1")))
    extensions = _deflate_extension(compression, max_message_size)
    request_event = WSRequest(
        host=host_header, target=path, subprotocols=list(subprotocols), extensions=extensions,
        extra_headers=headers,
    )  # fmt: skip
    request_bytes = wsconn.send(request_event)
    await stream.send_all(request_bytes)
    request = _parse_request_head(request_bytes)
    reject: RejectConnection | None = None
    body = bytearray()
    head = bytearray()  # the response head, kept for ws.response (wsproto keeps the handshake headers)
    while True:
        try:
            data = await stream.receive_some(_RECV_SIZE)
        except (OSError, CurionetError) as exc:
            raise HandshakeError(f"connection lost during the opening handshake: {exc}") from exc
        if not data:
            if reject is not None:
                raise _invalid_status(reject, body)
            raise HandshakeError("connection closed during the opening handshake")
        if b"\r\n\r\n" not in head:
            head += data[: _MAX_HANDSHAKE + 4]
        # h11 bounds the response head (16 KiB); bytes after a 101 are frames.
        try:
            wsconn.receive_data(data)
            for event in wsconn.events():
                if isinstance(event, AcceptConnection):
                    conn = wsconn.connection
                    assert conn is not None
                    response = _parse_response_head(bytes(head))
                    ws = WebSocket(
                        stream, conn, client=True, request=request, subprotocol=event.subprotocol,
                        extensions=[e for e in event.extensions if e.enabled()],
                        remote_address=_peername(stream), max_message_size=max_message_size,
                        response_headers=response.headers,
                    )  # fmt: skip
                    ws.response = response
                    return ws
                if isinstance(event, RejectConnection):
                    reject = event
                    if not event.has_body:
                        raise _invalid_status(reject, body)
                elif isinstance(event, RejectData):
                    if len(body) < _MAX_REJECT_BODY:
                        body += event.data[: _MAX_REJECT_BODY - len(body)]
                    if event.body_finished and reject is not None:
                        raise _invalid_status(reject, body)
        except RemoteProtocolError as exc:
            raise HandshakeError(f"invalid handshake response: {exc}") from exc


def _invalid_status(reject: RejectConnection, body: bytearray) -> InvalidStatus:
    return InvalidStatus(reject.status_code, Headers(reject.headers), bytes(body))
