"""WebSocket client and server (RFC 6455, RFC 7692) on ``wsproto``.

The adapter drives ``wsproto`` over a curionet stream: bytes read from the
stream are fed to the protocol (``receive_data``), events come out, and the
bytes for events we send go back to the stream.  Anything with async
``recv(maxbytes)``, ``sendall(data)`` and ``close()`` is a stream (a curionet
:class:`~curionet.kernel.io.Socket`, a TLS socket, an in-memory pair in
tests); ``shutdown(how)`` is used when present.

Entry points:

* :func:`websocket_connect` (client; awaitable and async context manager),
* :func:`websocket_server` / :class:`WebSocketServer` (a listening server),
* :func:`accept_websocket` and :func:`websocket_handler` to upgrade a
  connection accepted by :func:`curionet.network.tcp_server`,
* :class:`WebSocket`, the connection object, and :func:`broadcast`.

Discussion: one reader task per connection.  A background task reads the
socket, answers pings, completes the closing handshake and puts whole
messages in a bounded inbox.  When the inbox is full it stops reading, so a
peer that floods a connection whose owner does not call ``receive()`` is
slowed down by TCP instead of filling our memory.  Writes go straight to the
socket under a lock; when the peer stops reading, the OS send buffer fills
and ``send()`` waits: the write buffer is bounded by the kernel's.

Discussion: wsproto's quirks, hidden here.  EOF is ``receive_data(None)``
(h11 uses ``b""``); a frame that violates the protocol does not raise but
yields a ``CloseConnection`` event *without* changing the state, after which
the parser is dead and must not be fed again (its buffer would grow without
bound); ``permessage-deflate`` decompresses whatever arrived in one call with
no output limit.  We tell a protocol failure from a real Close by the state,
stop feeding wsproto after a failure, and decompress through a subclass that
enforces ``max_message_size`` on the decompressed size.

Discussion: sizes a peer claims.  A frame header announces its payload length
(up to 2**63) before any payload arrives.  Nothing here allocates from that
number: a header over ``max_message_size`` closes the connection with 1009 as
soon as it is parsed (by the fast path, by ``_BoundedDeflate`` for each header
wsproto parses, or, without compression, by a look at the header wsproto is
in the middle of), and the buffer that collects a big frame grows with the
bytes that arrive.
"""

from __future__ import annotations

import functools
import os
import socket as _socket
import ssl as _ssl
import struct
import zlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request as WSRequest,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ...errors import CancelledError, CurionetError, TaskTimeout
from ...kernel.sched import SchedFIFO
from ...kernel.sync import Event, Lock
from ...kernel.task import Task, spawn
from ...kernel.time import clock, ignore_after, sleep, timeout_after

__all__ = [
    "WebSocket",
    "WebSocketServer",
    "WebSocketError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "HandshakeError",
    "InvalidStatus",
    "Request",
    "Headers",
    "websocket_connect",
    "websocket_server",
    "websocket_handler",
    "accept_websocket",
    "broadcast",
]

MiB = 1024 * 1024
_RECV_SIZE = 65536
_MAX_HANDSHAKE = 16384  # bytes of HTTP request/response head we accept
_MAX_REJECT_BODY = 65536  # bytes of a refusal body the client keeps
_BROADCAST_BACKLOG = 32  # broadcast frames queued per peer before it is skipped

# Close codes an endpoint may put in a Close frame (RFC 6455 7.4, IANA),
# less 1014, which wsproto 1.3 (and so a curionet peer) rejects as unknown.
_SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013})

# States of WebSocket._state.
_OPEN, _CLOSING, _CLOSED = range(3)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Small value types
# ---------------------------------------------------------------------------


class Headers:
    """HTTP headers: an ordered list of ``(name, value)`` string pairs with
    case-insensitive lookup."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[Any, Any]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(_text(k), _text(v)) for k, v in items]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header *name*, or *default*."""
        name = name.lower()
        for k, v in self._items:
            if k.lower() == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of header *name*, in order."""
        name = name.lower()
        return [v for k, v in self._items if k.lower() == name]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers as ``(name, value)`` byte pairs (latin-1)."""
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._items]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


@dataclass
class Request:
    """The opening handshake request: ``path`` (with query) and ``headers``."""

    path: str
    headers: Headers = field(default_factory=Headers)


class _Stream(Protocol):
    async def recv(self, maxbytes: int) -> bytes: ...

    async def sendall(self, data: bytes) -> Any: ...

    async def close(self) -> Any: ...


# ---------------------------------------------------------------------------
# permessage-deflate with a bound on the decompressed size
# ---------------------------------------------------------------------------


class _BoundedDeflate(PerMessageDeflate):
    """``PerMessageDeflate`` that never inflates more than the message limit.

    wsproto inflates each chunk of payload in one call; a few KiB of
    compressed zeros would become hundreds of MiB before anyone could look at
    the size.  Here each call gets an output limit of what is left of
    ``max_message_size`` and an overrun closes with 1009.  The lengths the
    frame headers of a message announce are checked too, as each header is
    parsed: more than ``max_message_size`` uncompressed, or than
    :func:`_deflate_bound` of it compressed, closes with 1009 before any of
    the payload is read.
    """

    def __init__(self, max_size: int | None = None, *, window_bits: int = 12, mem_level: int = 5,
                 level: int = 3, **params: Any) -> None:  # fmt: skip
        super().__init__(**params)
        if not 9 <= window_bits <= 15 or not 1 <= mem_level <= 9 or not -1 <= level <= 9:
            raise ValueError("window_bits must be 9..15, mem_level 1..9 and level -1..9")
        self._max_size = max_size
        self._inflated = 0
        self._claimed = 0  # payload bytes the headers of this message announced
        self._control = False
        # Our compressor may always use a smaller window than negotiated
        # (RFC 7692 7.1.2); 12 bits and memLevel 5 keep it ~8x smaller than
        # zlib's defaults, which matters with many connections.  Level 3,
        # not zlib's 6: deflate is most of a compressing server's CPU time,
        # and on JSON, logs, prose and source code level 3 compressed about
        # 1.5-2x faster for 6-14% more bytes (benchmarks/deflate_levels.py).
        self._window_bits = window_bits
        self._mem_level = mem_level
        self._level = level

    def _make_compressor(self, client: bool) -> Any:
        bits = self.client_max_window_bits if client else self.server_max_window_bits
        return zlib.compressobj(self._level, zlib.DEFLATED, -min(bits, self._window_bits), self._mem_level)

    def frame_outbound(self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool) -> tuple[RsvBits, bytes]:
        if self._compressor is None and opcode in (Opcode.TEXT, Opcode.BINARY):
            self._compressor = self._make_compressor(proto.client)
        return super().frame_outbound(proto, opcode, rsv, data, fin)

    # wsproto 1.3 lets a control frame that arrives between the fragments of
    # a compressed message reset the message's "compressed" flag, and the
    # remaining fragments then come out still deflated.  Control frames are
    # kept out of the per-message state here.
    def frame_inbound_header(self, proto: Any, opcode: Opcode, rsv: RsvBits, payload_length: int) -> Any:
        if opcode.iscontrol():
            self._control = True
            return CloseReason.PROTOCOL_ERROR if rsv.rsv1 else RsvBits(True, False, False)
        self._control = False
        result = super().frame_inbound_header(proto, opcode, rsv, payload_length)
        limit = self._max_size
        if limit is None or isinstance(result, CloseReason):
            return result
        if opcode is not Opcode.CONTINUATION:
            self._claimed = 0
        self._claimed += payload_length
        if self._claimed > (_deflate_bound(limit) if self._inbound_compressed else limit):
            return CloseReason.MESSAGE_TOO_BIG
        return result

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        d = self._decompressor
        assert d is not None
        limit = self._max_size
        try:
            if limit is None:
                out = d.decompress(data)
            else:
                out = d.decompress(data, limit - self._inflated + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if limit is not None and (self._inflated > limit or d.unconsumed_tail):
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | CloseReason:
        if self._control or not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        return self._inflate(data)

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | CloseReason | None:
        if not fin or self._control:
            return None
        compressed = self._inbound_compressed and self._inbound_is_compressible
        self._inbound_compressed = None
        if not compressed:
            self._inflated = 0
            return None
        out = self._inflate(b"\x00\x00\xff\xff")
        self._inflated = 0
        if isinstance(out, CloseReason):
            return out
        no_takeover = self.server_no_context_takeover if proto.client else self.client_no_context_takeover
        if no_takeover:
            self._decompressor = None
        return out

    # Whole-message helpers for the fast path; they keep the same state
    # (compressor, decompressor, context takeover) as wsproto's hooks.
    def inflate_message(self, client: bool, payload: bytes) -> bytes | CloseReason:
        if self._decompressor is None:
            bits = self.server_max_window_bits if client else self.client_max_window_bits
            self._decompressor = zlib.decompressobj(-bits)
        self._inflated = 0
        out = self._inflate(payload)
        if isinstance(out, CloseReason):
            return out
        tail = self._inflate(b"\x00\x00\xff\xff")
        self._inflated = 0
        if isinstance(tail, CloseReason):
            return tail
        if self.server_no_context_takeover if client else self.client_no_context_takeover:
            self._decompressor = None
        return out + tail if tail else out

    def deflate_message(self, client: bool, payload: bytes) -> bytes:
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = self._make_compressor(client)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if self.client_no_context_takeover if client else self.server_no_context_takeover:
            self._compressor = None
        return data[:-4]


def _deflate_bound(size: int) -> int:
    """The most payload bytes a compressed message of *size* bytes may take.

    Deflate makes incompressible data a little bigger; this is zlib's
    conservative ``deflateBound`` (any window and memory level) plus room
    for the flush marker, so a message of exactly ``max_message_size``
    bytes is never refused for its compressed length."""
    return size + ((size + 7) >> 3) + ((size + 63) >> 6) + 64


def _deflate_extension(compression: Any, max_size: int | None) -> list[Any]:
    if not compression:
        return []
    params = dict(compression) if isinstance(compression, dict) else {}
    return [_BoundedDeflate(max_size, **params)]


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------


class WebSocket:
    """One WebSocket connection (client or server side).

    Created by :func:`websocket_connect` and by the server; never directly.
    ``receive()`` returns whole messages (``str`` or ``bytes``), ``send()``
    sends one, ``async for message in ws`` iterates until a normal close,
    ``close()`` performs the closing handshake.
    """

    def __init__(
        self,
        stream: Any,
        conn: Connection,
        *,
        client: bool,
        request: Request,
        subprotocol: str | None = None,
        extensions: Sequence[Any] = (),
        remote_address: Any = None,
        max_message_size: int | None = MiB,
        max_queue: int = 16,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        shutdown_close_timeout: float | None = 1,
        response_headers: Headers | None = None,
    ) -> None:
        self._stream = stream
        self._conn = conn
        self.client = client
        #: The handshake request (path and headers).
        self.request = request
        #: The subprotocol both sides agreed on, or ``None``.
        self.subprotocol = subprotocol
        #: Headers of the handshake response (client side) or ``None``.
        self.response_headers = response_headers
        #: The peer's address as the socket reports it.
        self.remote_address = remote_address
        #: Extensions in use (``permessage-deflate`` when negotiated).
        self.extensions = list(extensions)
        self.max_message_size = max_message_size
        self.max_queue = max(1, max_queue)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.shutdown_close_timeout = shutdown_close_timeout
        #: RFC 6455 close code of the connection once closed (see :class:`ConnectionClosed`).
        self.close_code: int | None = None
        #: The reason string of the peer's Close frame.
        self.close_reason: str | None = None
        self._state = _OPEN
        self._inbox: deque[str | bytes] = deque()
        self._getters = SchedFIFO()
        self._putter = SchedFIFO()
        self._write_lock = Lock()
        self._message_lock = Lock()
        self._fragments: list[Any] = []
        self._fragment_size = 0
        self._pings: OrderedDict[bytes, _PingWaiter] = OrderedDict()
        self._closed_event = Event()
        self._reader_task: Task | None = None
        self._keepalive_task: Task | None = None
        self._discard = False  # close() started: drop incoming messages
        self._stream_closed = False
        self._sent_close = False
        self._broadcast_pending = 0
        self._fast = _fast_path_ok(conn)
        self._partial: bytearray | None = None  # a big frame being collected
        self._partial_filled = 0
        self._partial_total = 0  # the frame's size: the buffer grows towards it
        self._partial_info = (0, False, 0)  # opcode, compressed, payload offset
        self._deflate: _BoundedDeflate | None = next(
            (e for e in self.extensions if isinstance(e, _BoundedDeflate)), None
        )

    def __repr__(self) -> str:
        side = "client" if self.client else "server"
        state = ("OPEN", "CLOSING", "CLOSED")[self._state]
        return f"<WebSocket {side} {self.request.path!r} {state}>"

    # -- properties ----------------------------------------------------
    @property
    def path(self) -> str:
        """The request path (with query string)."""
        return self.request.path

    @property
    def closed(self) -> bool:
        """True once the connection is closed (or closing)."""
        return self._state != _OPEN

    # -- life cycle ----------------------------------------------------
    async def _start(self) -> None:
        self._reader_task = await spawn(self._reader, daemon=True)
        if self.ping_interval is not None and self.ping_interval > 0:
            self._keepalive_task = await spawn(self._keepalive, daemon=True)

    async def __aenter__(self) -> WebSocket:
        return self

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        if ty is not None and issubclass(ty, CancelledError):
            await self._close_on_cancel(1001 if not self.client else 1000)
        elif ty is not None and not issubclass(ty, ConnectionClosed):
            await self.close(1011, "internal error")
        else:
            await self.close()

    async def _close_on_cancel(self, code: int) -> None:
        # The task is being cancelled (server shutdown, Ctrl-C): still try
        # the closing handshake, but for at most shutdown_close_timeout, not
        # close_timeout: a peer that never answers must not hold up the
        # shutdown.  Then the connection is aborted; a second cancellation
        # aborts it at once.
        try:
            async with ignore_after(self.shutdown_close_timeout) as block:
                await self.close(code)
        except CancelledError:
            await self._abort()
            raise
        if block.expired:
            await self._finish()

    # -- receiving -------------------------------------------------------
    async def receive(self) -> str | bytes:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`ConnectionClosedOK` after a normal close and
        :class:`ConnectionClosedError` otherwise, once every message that
        arrived before the close has been returned."""
        inbox = self._inbox
        while not inbox:
            if self._state == _CLOSED or (self._reader_task is not None and self._reader_task.terminated):
                raise self._closed_exc()
            await self._getters.suspend("WEBSOCKET_RECEIVE")
        message = inbox.popleft()
        if self._putter._queue:
            self._putter._wake(1)
        return message

    recv = receive

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.receive()
        except ConnectionClosedOK:
            raise StopAsyncIteration

    def _closed_exc(self) -> ConnectionClosed:
        code = self.close_code if self.close_code is not None else 1006
        reason = self.close_reason or ""
        if code in (1000, 1001):
            return ConnectionClosedOK(code, reason)
        return ConnectionClosedError(code, reason)

    # -- sending -----------------------------------------------------------
    async def send(self, message: str | bytes | bytearray | memoryview | Iterable[Any] | AsyncIterable[Any]) -> None:
        """Send a message.

        ``str`` is sent as text, bytes-like as binary.  An iterable or async
        iterable of ``str`` (or of bytes-like) is sent as one fragmented
        message, a frame per item.  Waits while the peer is not reading (the
        OS send buffer is full).  Raises :class:`ConnectionClosed` once the
        connection is closing."""
        if self._fast and not self._message_lock._locked:
            if type(message) is str:
                await self._send_fast(1, message.encode("utf-8"))
                return
            if isinstance(message, (bytes, bytearray, memoryview)):
                await self._send_fast(2, bytes(message))
                return
        if isinstance(message, str):
            event: Any = TextMessage(data=message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = BytesMessage(data=bytes(message))
        elif isinstance(message, dict):
            raise TypeError("cannot send a dict; encode it first")
        elif hasattr(message, "__aiter__") or hasattr(message, "__iter__"):
            await self._send_fragments(message)
            return
        else:
            raise TypeError(f"cannot send {type(message).__name__}")
        if self._message_lock._locked:
            async with self._message_lock:
                await self._send_event(event)
        else:
            await self._send_event(event)

    async def _send_event(self, event: Any) -> None:
        lock = self._write_lock
        await lock.acquire()
        try:
            if self._state != _OPEN:
                raise self._closed_exc()
            try:
                data = self._conn.send(event)
            except LocalProtocolError:
                raise self._closed_exc()
            await self._write(data)
        finally:
            await lock.release()

    async def _send_fast(self, opcode: int, payload: bytes) -> None:
        """Frame a whole message ourselves (see :meth:`_fast_receive`).
        Compression and framing happen under the write lock so that frames
        leave in the order their compression context saw them."""
        lock = self._write_lock
        await lock.acquire()
        try:
            if self._state != _OPEN or self._conn.state is not ConnectionState.OPEN:
                raise self._closed_exc()
            b0 = 0x80 | opcode
            deflate = self._deflate
            if deflate is not None:
                payload = deflate.deflate_message(self.client, payload)
                b0 |= 0x40
            n = len(payload)
            if self.client:
                key = os.urandom(4)
                if n < 126:
                    head = bytes((b0, 0x80 | n))
                elif n < 65536:
                    head = _pack_head2(b0, 0xFE, n)
                else:
                    head = _pack_head8(b0, 0xFF, n)
                data = head + key + _unmask(payload, key)
            elif n < 126:
                data = bytes((b0, n)) + payload
            elif n < 65536:
                data = _pack_head2(b0, 126, n) + payload
            else:
                data = _pack_head8(b0, 127, n) + payload
            await self._write(data)
        finally:
            await lock.release()

    async def _write(self, data: bytes) -> None:
        try:
            await self._stream.sendall(data)
        except CancelledError as exc:
            # Cancelled (or timed out) part-way through a frame: the peer
            # would read the next frame as the rest of this one, so the
            # connection cannot be used any more.
            if getattr(exc, "bytes_sent", len(data)) not in (0, len(data)):
                await self._abort()
            raise
        except (OSError, CurionetError) as exc:
            if isinstance(exc, WebSocketError):
                raise
            await self._abort()
            raise self._closed_exc() from exc

    async def _send_fragments(self, fragments: Any) -> None:
        async with self._message_lock:
            kind: type | None = None
            if hasattr(fragments, "__aiter__"):
                iterator = fragments.__aiter__()

                async def _next() -> Any:
                    try:
                        return await iterator.__anext__()
                    except StopAsyncIteration:
                        return _END

            else:
                sync_iterator = iter(fragments)

                async def _next() -> Any:
                    return next(sync_iterator, _END)

            while True:
                item = await _next()
                if item is _END:
                    break
                if isinstance(item, str):
                    this: type = str
                    event: Any = TextMessage(data=item, message_finished=False)
                elif isinstance(item, (bytes, bytearray, memoryview)):
                    this = bytes
                    event = BytesMessage(data=bytes(item), message_finished=False)
                else:
                    raise TypeError(f"message fragments must be str or bytes, not {type(item).__name__}")
                if kind is None:
                    kind = this
                elif kind is not this:
                    await self._fail(1011, "mixed fragment types")
                    raise TypeError("all fragments of a message must be str, or all bytes-like")
                await self._send_event(event)
            if kind is None:
                return  # an empty iterable sends nothing
            final: Any = TextMessage(data="") if kind is str else BytesMessage(data=b"")
            await self._send_event(final)

    # -- ping ----------------------------------------------------------
    async def ping(self, data: bytes | str | None = None) -> float:
        """Send a Ping and wait for the matching Pong; return the round-trip
        time in seconds.  A Pong also answers every earlier Ping."""
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)
            if payload in self._pings:
                raise ValueError("a ping with this payload is already waiting for its pong")
        waiter = _PingWaiter()
        self._pings[payload] = waiter
        start = await clock()
        try:
            await self._send_event(Ping(payload=payload))
            await waiter.event.wait()
        finally:
            self._pings.pop(payload, None)
        if not waiter.answered:
            raise self._closed_exc()
        return await clock() - start

    async def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited Pong (a unidirectional heartbeat)."""
        await self._send_event(Pong(payload=bytes(data)))

    async def _keepalive(self) -> None:
        assert self.ping_interval is not None
        try:
            while self._state == _OPEN:
                await sleep(self.ping_interval)
                if self._state != _OPEN:
                    return
                async with ignore_after(self.ping_timeout) as block:
                    try:
                        await self.ping()
                    except ConnectionClosed:
                        return
                if block.expired:
                    await self._fail(1011, "keepalive ping timeout")
                    return
        except (ConnectionClosed, CancelledError):
            # Cancelled by _finish(): end quietly (see _reader).
            return

    # -- closing -------------------------------------------------------
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake: send a Close frame, wait (at most
        ``close_timeout``) for the peer's, then close the TCP connection.

        Closing a closed connection does nothing.  Messages that arrive
        after ``close()`` starts are discarded.  *code* must be one a Close
        frame may carry (1000-1003, 1007-1013, 3000-4999)."""
        if code not in _SENDABLE_CODES and not 3000 <= code <= 4999:
            raise ValueError(f"{code} is not a close code that may be sent")
        if self._state == _CLOSED:
            await self._finish()
            return
        self._discard = True
        self._inbox.clear()
        if self._putter._queue:
            self._putter._wake(len(self._putter._queue))
        await self._send_close(code, reason)
        await self._wait_closed()

    async def _send_close(self, code: int, reason: str) -> None:
        if self._sent_close or self._stream_closed:
            return
        self._sent_close = True
        if self._state == _OPEN:
            self._state = _CLOSING
        async with ignore_after(self.close_timeout) as block:
            async with self._write_lock:
                try:
                    data = self._conn.send(CloseConnection(code=code, reason=reason))
                except LocalProtocolError:
                    return
                try:
                    await self._stream.sendall(data)
                except (OSError, CurionetError):
                    await self._abort()
        if block.expired:
            await self._abort()

    async def _wait_closed(self) -> None:
        reader = self._reader_task
        if reader is not None and not reader.terminated:
            async with ignore_after(self.close_timeout) as block:
                await reader.wait()
            if block.expired:
                await self._abort()
                await reader.wait()
        await self._finish()

    async def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): send Close with *code*, then
        close the transport without waiting for the peer's Close."""
        self._discard = True
        await self._send_close(code, reason)
        await self._abort()

    async def _abort(self) -> None:
        """Close the transport now."""
        if self.close_code is None:
            self.close_code = 1006
            self.close_reason = ""
        self._state = _CLOSED
        if not self._stream_closed:
            self._stream_closed = True
            try:
                await self._stream.close()
            except (OSError, CurionetError):
                pass
        await self._wake_all()

    async def _finish(self) -> None:
        await self._abort()
        for task in (self._keepalive_task, self._reader_task):
            if task is not None and not task.terminated:
                current = await _current()
                if task is not current:
                    await task.cancel()

    async def _wake_all(self) -> None:
        if self._getters:
            await self._getters.wake(len(self._getters))
        if self._putter:
            await self._putter.wake(len(self._putter))
        for waiter in list(self._pings.values()):
            await waiter.event.set()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (by either side)."""
        reader = self._reader_task
        if reader is not None:
            await reader.wait()

    # -- the reader task -------------------------------------------------
    async def _reader(self) -> None:
        conn = self._conn
        stream = self._stream
        try:
            # Trailing bytes that came with the handshake.
            if not await self._handle_events(conn):
                return
            while True:
                partial = self._partial
                if partial is not None:
                    # A big frame being collected straight into its buffer.
                    if await self._fill_partial(partial):
                        if self._partial_filled < self._partial_total:
                            continue
                        self._partial = None
                        if not await self._partial_frame(partial):
                            return
                        continue
                    data = b""
                else:
                    try:
                        data = await stream.recv(_RECV_SIZE)
                    except (OSError, CurionetError):
                        data = b""
                if not data:
                    if conn.state is ConnectionState.CLOSED:
                        return
                    conn.receive_data(None)
                    await self._handle_events(conn)
                    return
                if self._fast and _idle(conn):
                    pos = await self._fast_receive(data)
                    if pos < 0:
                        return
                    if pos == len(data):
                        continue
                    data = data[pos:]
                conn.receive_data(data)
                if not await self._handle_events(conn):
                    return
        except (OSError, CurionetError):
            pass  # the transport failed (while answering a ping, say): 1006
        except CancelledError:
            # Cancelled by _finish(): end quietly.  A task that ends with an
            # exception keeps it, its traceback keeps our frames and they
            # keep this connection, in a cycle through self._reader_task;
            # and the kernel may hold a cancelled task for a while (a
            # sleeping keepalive stays in the timer heap until its time).
            pass
        finally:
            if self.close_code is None:
                self.close_code = 1006
                self.close_reason = ""
            await self._abort()
            keepalive = self._keepalive_task
            if keepalive is not None and not keepalive.terminated:
                # The connection is closed: a keepalive sleeping until its
                # next ping would keep it in memory until then.
                await keepalive.cancel(blocking=False)

    async def _handle_events(self, conn: Connection) -> bool:
        """Process pending events; False when the reader should stop."""
        event: Any
        for event in conn.events():
            cls = type(event)
            if cls is TextMessage or cls is BytesMessage:
                if not await self._on_data(event):
                    return False
            elif cls is Ping:
                if conn.state is ConnectionState.OPEN:
                    async with self._write_lock:
                        try:
                            data = conn.send(event.response())
                        except LocalProtocolError:
                            continue
                        await self._stream.sendall(data)
            elif cls is Pong:
                await self._on_pong(event.payload)
            elif cls is CloseConnection:
                return await self._on_close(conn, event)
        limit = self.max_message_size
        if limit is not None and self._deflate is None and self._fragment_size + _unread_claim(conn) > limit:
            # A header announced more than the limit allows: refuse it now
            # instead of reading up to the limit first.  (With
            # permessage-deflate, _BoundedDeflate checks each header.)
            await self._fail_protocol(1009, f"message larger than {limit} bytes")
            return False
        return True

    async def _on_data(self, event: Any) -> bool:
        data = event.data
        limit = self.max_message_size
        if event.message_finished and not self._fragments:
            if limit is not None and len(data) > limit and _size(data) > limit:
                await self._fail_protocol(1009, f"message larger than {limit} bytes")
                return False
            message = data
        else:
            if data:
                self._fragments.append(data)
                self._fragment_size += _size(data)
            if limit is not None and self._fragment_size > limit:
                await self._fail_protocol(1009, f"message larger than {limit} bytes")
                return False
            if not event.message_finished:
                return True
            parts = self._fragments
            if type(event) is TextMessage:
                message = "".join(parts)
            else:
                message = b"".join(parts)
            self._fragments = []
            self._fragment_size = 0
        if type(message) is bytearray:
            message = bytes(message)
        await self._deliver(message)
        return True

    async def _deliver(self, message: str | bytes) -> None:
        """Put a whole message in the inbox, waiting while it is full."""
        if self._discard:
            return
        inbox = self._inbox
        while len(inbox) >= self.max_queue:
            await self._putter.suspend("WEBSOCKET_INBOX_FULL")
            if self._discard:
                return
        inbox.append(message)
        if self._getters._queue:
            self._getters._wake(1)

    async def _fill_partial(self, buf: bytearray) -> bool:
        """Read more of the frame being collected into *buf*; False at EOF.

        A full buffer grows by the larger of one read (``_RECV_SIZE``) and
        what it already holds, up to the frame's size: it follows the data
        that arrived, never the length the header claims."""
        filled = self._partial_filled
        if filled == len(buf):
            buf.extend(bytes(min(self._partial_total - filled, max(filled, _RECV_SIZE))))
        view = memoryview(buf)[filled:]
        try:
            recv_into = getattr(self._stream, "recv_into", None)
            if recv_into is not None:
                got = await recv_into(view)
            else:
                chunk = await self._stream.recv(len(view))
                got = len(chunk)
                view[:got] = chunk
        except (OSError, CurionetError):
            return False
        finally:
            view.release()
        self._partial_filled += got
        return got > 0

    async def _partial_frame(self, buf: bytearray) -> bool:
        """Deliver a collected frame (already checked by :meth:`_fast_receive`)."""
        opcode, compressed, start = self._partial_info
        if not self.client:
            key = bytes(buf[start - 4 : start])
            for i in range(4):
                buf[start + i :: 4] = buf[start + i :: 4].translate(_XOR_TABLES[key[i]])
        with memoryview(buf) as view:
            payload: Any = view[start:]
            if compressed:
                assert self._deflate is not None
                inflated = self._deflate.inflate_message(self.client, payload)
                if isinstance(inflated, CloseReason):
                    await self._fail_protocol(int(inflated), "invalid compressed message")
                    return False
                payload = inflated
            try:
                message: str | bytes = str(payload, "utf-8") if opcode == 1 else bytes(payload)
            except UnicodeDecodeError:
                await self._fail_protocol(1007, "invalid UTF-8")
                return False
            finally:
                if isinstance(payload, memoryview):
                    payload.release()
        await self._deliver(message)
        return True

    async def _fast_receive(self, data: bytes) -> int:
        """Handle the complete, unfragmented data frames at the start of
        *data* without going through wsproto; return the offset of the first
        byte left for wsproto, or -1 if the connection failed.

        Discussion: the fast path.  wsproto turns every frame into several
        objects (header, frame, event) and copies the payload a few times;
        for the common frame (FIN set, text or binary, whole in one read)
        that is most of the server's CPU time.  This path only runs while
        wsproto's parser is idle (between frames, no message in progress)
        and handles only frames that are valid by construction: anything
        else (control frames, fragments, reserved bits, non-minimal lengths,
        invalid UTF-8, oversized messages) stops it, and wsproto parses from
        that frame on, so every error and close code still comes from it.
        """
        pos = 0
        n = len(data)
        want_mask = 0 if self.client else 0x80
        deflate = self._deflate
        limit = self.max_message_size
        while n - pos >= 2:
            b0 = data[pos]
            b1 = data[pos + 1]
            opcode = b0 & 0x0F
            if not b0 & 0x80 or (opcode != 1 and opcode != 2) or b1 & 0x80 != want_mask:
                break
            compressed = False
            if b0 & 0x70:
                if b0 & 0x70 != 0x40 or deflate is None:
                    break
                compressed = True
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                if length < 126:
                    break
                start = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                if length < 65536 or length >> 63:
                    break
                start = pos + 10
            if want_mask:
                key = data[start : start + 4]
                start += 4
            end = start + length
            if limit is not None and length > limit and (not compressed or length > _deflate_bound(limit)):
                # Refused on the header alone: no payload is waited for.
                await self._fail_protocol(1009, f"message larger than {limit} bytes")
                return -1
            if end > n:
                if length > 4096:
                    # A big frame arriving over several reads: collect it
                    # in one buffer, then unmask it in place.  The buffer
                    # starts at what arrived plus one read and grows with
                    # the data (see _fill_partial): a header alone claims
                    # no memory.
                    buf = bytearray(min(end - pos, n - pos + _RECV_SIZE))
                    buf[: n - pos] = memoryview(data)[pos:]
                    self._partial = buf
                    self._partial_filled = n - pos
                    self._partial_total = end - pos
                    self._partial_info = (opcode, compressed, start - pos)
                    return n
                break
            if want_mask:
                payload = _unmask(data[start:end], key)
            else:
                payload = data[start:end] if start or end != n else data
            if compressed:
                assert deflate is not None
                inflated = deflate.inflate_message(self.client, payload)
                if isinstance(inflated, CloseReason):
                    await self._fail_protocol(int(inflated), "invalid compressed message")
                    return -1
                payload = inflated
            if opcode == 1:
                try:
                    message: str | bytes = payload.decode("utf-8")
                except UnicodeDecodeError:
                    if compressed:
                        await self._fail_protocol(1007, "invalid UTF-8")
                        return -1
                    break  # wsproto reports it (1007)
            else:
                message = payload
            await self._deliver(message)
            pos = end
        return pos

    async def _on_pong(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return
        # A Pong acknowledges its Ping and every Ping sent before it.
        while pings:
            key, waiter = pings.popitem(last=False)
            waiter.answered = True
            await waiter.event.set()
            if key == payload:
                break

    async def _on_close(self, conn: Connection, event: CloseConnection) -> bool:
        state = conn.state
        if state is ConnectionState.REMOTE_CLOSING:
            # The peer started the closing handshake: echo its code.
            self.close_code = event.code
            self.close_reason = event.reason or ""
            self._state = _CLOSING
            self._discard = True
            self._sent_close = True
            async with ignore_after(self.close_timeout):
                async with self._write_lock:
                    try:
                        # An empty Close is echoed empty; wsproto only
                        # does that for the enum member (an "is" test).
                        code = CloseReason.NO_STATUS_RCVD if event.code == 1005 else event.code
                        data = conn.send(CloseConnection(code=code))
                        await self._stream.sendall(data)
                    except (LocalProtocolError, OSError, CurionetError):
                        pass
            await self._after_handshake()
            return False
        if state is ConnectionState.CLOSED:
            if self.close_code is None:
                self.close_code = event.code
                self.close_reason = event.reason or ""
            if event.code != 1006:
                await self._after_handshake()
            return False
        # OPEN or LOCAL_CLOSING with a CloseConnection: wsproto's parser
        # failed (the event carries the close code to send).
        await self._fail_protocol(event.code, event.reason or "protocol error")
        return False

    async def _after_handshake(self) -> None:
        """Both Close frames were exchanged: the server closes TCP first, the
        client waits (bounded) for the server to do so."""
        if self.client:
            await self._drain(self.close_timeout)
        await self._abort()

    async def _fail_protocol(self, code: int, reason: str) -> None:
        """The peer broke the protocol: send Close(*code*), stop parsing, then
        half-close and discard input until the peer closes (bounded by
        ``close_timeout``), so our Close frame is not lost to a TCP reset."""
        if self.close_code is None:
            self.close_code = 1006
            self.close_reason = ""
        self._discard = True
        self._state = _CLOSING
        self._fragments = []
        await self._send_close(code, reason)
        shutdown = getattr(self._stream, "shutdown", None)
        if shutdown is not None and not self._stream_closed:
            try:
                await shutdown(_socket.SHUT_WR)
            except (OSError, CurionetError, AttributeError, ValueError):
                pass
        await self._drain(self.close_timeout)
        await self._abort()

    async def _drain(self, seconds: float | None) -> None:
        if self._stream_closed:
            return
        async with ignore_after(seconds):
            while True:
                try:
                    data = await self._stream.recv(_RECV_SIZE)
                except (OSError, CurionetError):
                    return
                if not data:
                    return


_END = object()
_pack_head2 = struct.Struct("!BBH").pack
_pack_head8 = struct.Struct("!BBQ").pack
_XOR_TABLES = [bytes(a ^ b for a in range(256)) for b in range(256)]


def _unmask(data: bytes, key: bytes) -> bytes:
    """XOR *data* with the 4-byte masking *key* (RFC 6455 5.3)."""
    n = len(data)
    if n <= 512:
        # One big-integer XOR: fastest for small payloads (the conversions
        # grow faster than linearly, so not for big ones).
        mask = (key * ((n >> 2) + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")
    # Larger: translate each of the four byte lanes with its own table.
    out = bytearray(data)
    for i in range(4):
        out[i::4] = out[i::4].translate(_XOR_TABLES[key[i]])
    return bytes(out)


def _fast_path_ok(conn: Connection) -> bool:
    """True if this wsproto exposes the parser state the fast path checks."""
    try:
        proto = conn._proto
        decoder = proto._frame_decoder
        _ = (decoder.header, decoder.buffer.buffer, proto._message_decoder.opcode, proto._outbound_opcode)
        _ = conn._events
        extensions = proto.extensions
    except AttributeError:  # pragma: no cover - a wsproto we do not know
        return False
    return all(isinstance(e, _BoundedDeflate) for e in extensions)


def _idle(conn: Connection) -> bool:
    """wsproto's parser is between frames with no message in progress."""
    proto = conn._proto
    decoder = proto._frame_decoder
    return (
        conn._state is ConnectionState.OPEN
        and decoder.header is None
        and not decoder.buffer.buffer
        and proto._message_decoder.opcode is None
        and not conn._events
    )


def _unread_claim(conn: Connection) -> int:
    """Payload bytes that the data frame wsproto is in the middle of has
    announced and not yet delivered (0 between frames and for control
    frames)."""
    try:
        decoder = conn._proto._frame_decoder
        head = decoder.header
        if head is None or head.opcode.iscontrol():
            return 0
        return int(head.payload_len - decoder.payload_consumed)
    except AttributeError:  # pragma: no cover - a wsproto we do not know
        return 0


class _PingWaiter:
    __slots__ = ("event", "answered")

    def __init__(self) -> None:
        self.event = Event()
        self.answered = False


def _size(data: str | bytes) -> int:
    """Size in bytes of a message part (UTF-8 for text)."""
    if type(data) is str:
        return len(data) if data.isascii() else len(data.encode("utf-8"))  # type: ignore[union-attr]
    return len(data)


async def _current() -> Task:
    from ...kernel.task import current_task

    return await current_task()


# ---------------------------------------------------------------------------
# broadcast
# ---------------------------------------------------------------------------


async def broadcast(websockets: Iterable[WebSocket], message: str | bytes) -> int:
    """Send *message* to every open connection in *websockets* without
    waiting for any of them.

    A peer that is closed, or still has earlier broadcasts queued because it
    reads slowly, is skipped (it misses this message) instead of slowing
    everyone down.  Returns the number of connections the message was queued
    for; delivery happens in background tasks, in order per connection."""
    if not isinstance(message, (str, bytes, bytearray, memoryview)):
        raise TypeError("broadcast() sends str or bytes")
    if not isinstance(message, str):
        message = bytes(message)
    count = 0
    for ws in websockets:
        if ws._state != _OPEN or ws._broadcast_pending >= _BROADCAST_BACKLOG:
            continue
        ws._broadcast_pending += 1
        await spawn(_broadcast_one, ws, message, daemon=True)
        count += 1
    return count


async def _broadcast_one(ws: WebSocket, message: str | bytes) -> None:
    try:
        await ws.send(message)
    except (ConnectionClosed, OSError, CurionetError):
        pass
    finally:
        ws._broadcast_pending -= 1


# ---------------------------------------------------------------------------
# Handshake helpers
# ---------------------------------------------------------------------------


async def _recv_into(stream: Any, h: Any, *, h11_style: bool) -> bool:
    """Read once from *stream* into the sans-I/O object *h*; False at EOF."""
    data = await stream.recv(_RECV_SIZE)
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
    origins: Sequence[str | None] | None = None,
    process_request: Callable[[Request], Any] | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
    shutdown_close_timeout: float | None = 1,
) -> WebSocket | None:
    """Perform the server side of the opening handshake on *stream* (a
    connection accepted by :func:`~curionet.network.tcp_server`).

    Returns the open :class:`WebSocket`, or ``None`` if the handshake was
    refused or failed; the client then got an HTTP error response (400 for a
    non-WebSocket request, 403 for an Origin not in *origins*, whatever
    *process_request* returned) and *stream* is closed.

    ``process_request(request)`` (plain or async) may return ``None`` to go
    on, or refuse the upgrade with an ``int`` status, a ``(status, headers,
    body)`` tuple or ``(status, body)``.  ``compression`` is ``True``,
    ``False`` or a dict of ``permessage-deflate`` parameters
    (``server_max_window_bits``, ``client_no_context_takeover`` ...).
    ``shutdown_close_timeout`` bounds the closing handshake when the
    connection's task is cancelled (the server is shutting down) instead
    of ``close_timeout``; then the connection is aborted.
    """
    opts = _ServerOptions(
        subprotocols, compression, max_message_size, max_queue, ping_interval, ping_timeout,
        open_timeout, close_timeout, origins, process_request, extra_headers, shutdown_close_timeout,
    )  # fmt: skip
    if remote_address is None:
        remote_address = _peername(stream)
    ws: WebSocket | None = None
    try:
        async with ignore_after(open_timeout):
            ws = await _server_handshake(stream, remote_address, opts)
    except (OSError, CurionetError):
        ws = None
    except BaseException:
        await _close_quietly(stream)
        raise
    if ws is None:
        await _close_quietly(stream)
        return None
    await ws._start()
    return ws


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


async def _send_refusal(stream: Any, status: int, headers: Iterable[tuple[Any, Any]], body: bytes) -> None:
    try:
        await stream.sendall(_response_bytes(status, headers, body))
    except (OSError, CurionetError):
        pass


async def _server_handshake(stream: Any, remote_address: Any, opts: _ServerOptions) -> WebSocket | None:
    # Read the request head with h11 so every header reaches the handler.
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
    path = event.target.decode("latin-1")
    request = Request(path, Headers(event.headers))
    if event.method != b"GET" or event.http_version != b"1.1":
        # wsproto's initiate_upgrade_connection() rebuilds the request as a
        # GET, so the method and version are checked here (RFC 6455 4.1).
        await _send_refusal(stream, 400, (), b"WebSocket handshake needs GET and HTTP/1.1\n")
        return None
    trailing = h.trailing_data[0] if h.their_state is h11.MIGHT_SWITCH_PROTOCOL else b""

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
    await stream.sendall(data)
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


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


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

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def websocket_server(host: str, port: int, handler: Callable[[WebSocket], Awaitable[Any]], *,
                           ssl: Any = None, subprotocols: Sequence[str] = (), compression: Any = True,
                           max_message_size: int | None = MiB, ping_interval: float | None = 20,
                           ping_timeout: float | None = 20, open_timeout: float | None = 10,
                           close_timeout: float | None = 10, origins: Sequence[str | None] | None = None,
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


# ---------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------


class websocket_connect:  # noqa: N801 - used like a function
    """Open a WebSocket connection to *url* (``ws://`` or ``wss://``).

    ``ws = await websocket_connect(url)`` returns an open :class:`WebSocket`;
    ``async with websocket_connect(url) as ws:`` also closes it.  ``ssl`` is
    an ``SSLContext`` (default for ``wss://``: the system's default
    context).  ``extra_headers`` are added to the request; ``compression``
    is ``True``, ``False`` or a dict of ``permessage-deflate`` parameters.
    The connection and handshake must finish within ``open_timeout``
    seconds, else :class:`HandshakeError` is raised.  A refused upgrade
    raises :class:`InvalidStatus`.  If the ``async with`` block is
    cancelled, the closing handshake takes at most
    ``shutdown_close_timeout`` seconds (not ``close_timeout``).
    """

    def __init__(self, url: str, *, ssl: Any = None, subprotocols: Sequence[str] = (),
                 extra_headers: Iterable[tuple[str, str]] | dict[str, str] | None = None,
                 compression: Any = True, max_message_size: int | None = MiB, max_queue: int = 16,
                 ping_interval: float | None = 20, ping_timeout: float | None = 20,
                 open_timeout: float | None = 10, close_timeout: float | None = 10,
                 origin: str | None = None, server_hostname: str | None = None,
                 stream: Any = None, shutdown_close_timeout: float | None = 1) -> None:  # fmt: skip
        self.url = url
        self._kw = dict(
            ssl=ssl, subprotocols=subprotocols, extra_headers=extra_headers, compression=compression,
            max_message_size=max_message_size, max_queue=max_queue, ping_interval=ping_interval,
            ping_timeout=ping_timeout, open_timeout=open_timeout, close_timeout=close_timeout,
            origin=origin, server_hostname=server_hostname, stream=stream,
            shutdown_close_timeout=shutdown_close_timeout,
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
                   shutdown_close_timeout: float | None) -> WebSocket:  # fmt: skip
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
                stream_ = opened
            else:
                stream_ = stream
            ws = await _client_handshake(
                stream_, host, port, secure, path, subprotocols, extra_headers, compression,
                max_message_size, origin,
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


async def _client_handshake(stream: Any, host: str, port: int, secure: bool, path: str,
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
    await stream.sendall(wsconn.send(request_event))
    all_headers = Headers([(b"host", host_header.encode("latin-1")), *headers])
    request = Request(path, all_headers)
    reject: RejectConnection | None = None
    body = bytearray()
    while True:
        try:
            data = await stream.recv(_RECV_SIZE)
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
