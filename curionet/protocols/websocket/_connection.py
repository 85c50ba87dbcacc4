"""The WebSocket connection object: :class:`WebSocket` and :func:`broadcast`.

:class:`WebSocket` holds what the application calls (``receive``, ``send``,
``ping``, ``close``) and the closing machinery; the background task that
reads the stream is in :mod:`._reader`, a base class of it.

Discussion: writes.  They go straight to the stream under a lock; when the
peer stops reading, the OS send buffer fills and ``send()`` waits: the write
buffer is bounded by the kernel's.  A send cancelled part-way through a frame
leaves the peer unable to find the next frame, so the connection is aborted.
"""

from __future__ import annotations

import enum
import os
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterable, AsyncIterator, Generator, Iterable, Sequence
from typing import Any

from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError

from ...errors import CancelledError, CurionetError
from ...kernel.lowlevel import current_kernel
from ...kernel.sched import SchedFIFO
from ...kernel.sync import Event, Lock
from ...kernel.task import Task, spawn
from ...kernel.time import clock, ignore_after, sleep
from ._deflate import _BoundedDeflate
from ._errors import Close, ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, WebSocketError
from ._frames import encode_frame, frame_head
from ._headers import Headers, Request, Response
from ._reader import _CLOSED, _CLOSING, _END_OF_MESSAGE, _OPEN, _Reader
from ._transport import Stream
from ._wsproto import UNKNOWN, _accept_close_1014, _parser_state

__all__ = ["WebSocket", "State", "broadcast", "MiB"]

MiB = 1024 * 1024
_BROADCAST_BACKLOG = 32  # broadcast frames queued per peer before it is skipped
# From this many payload bytes a server sends header and payload with one
# gathering call instead of joining them (below it the copy costs less).
_GATHER_MIN = 16384

# Close codes an endpoint may put in a Close frame (RFC 6455 7.4, IANA).
_SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

_END = object()


class State(enum.IntEnum):
    """A connection's state (``WebSocket.state``), as in ``websockets``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


_STATES = (State.OPEN, State.CLOSING, State.CLOSED)  # indexed by _state


class WebSocket(_Reader):
    """One WebSocket connection (client or server side).

    Created by :func:`websocket_connect` and by the server; never directly.
    ``receive()`` returns whole messages (``str`` or ``bytes``), ``send()``
    sends one, ``async for message in ws`` iterates until a normal close,
    ``close()`` performs the closing handshake.
    """

    def __init__(
        self,
        stream: Stream,
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
        self._send_gather = getattr(stream, "send_gather", None)
        self._conn = conn
        _accept_close_1014(conn)
        self.client = client
        #: The handshake request (path and headers).
        self.request = request
        #: The subprotocol both sides agreed on, or ``None``.
        self.subprotocol = subprotocol
        #: Headers of the handshake response (client side) or ``None``.
        self.response_headers = response_headers
        #: The handshake's HTTP response (a 101 :class:`Response`), set by the handshake on both sides.
        self.response: Response | None = None
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
        #: The reason that goes with ``close_code``.
        self.close_reason: str | None = None
        #: The Close frame this side sent, once sent (a :class:`Close`).
        self.close_sent: Close | None = None
        #: The Close frame received from the peer, once received.
        self.close_rcvd: Close | None = None
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
        self._id: uuid.UUID | None = None
        #: Round trip of the last Ping answered, in seconds (0 before the first).
        self.latency = 0.0
        #: Our end's address as the socket reports it (``None`` if unknown).
        self.local_address = _sockname(stream)
        self._init_streaming()
        self._init_fast_path(conn)

    def _init_streaming(self) -> None:
        """State of receive_streaming() (see _reader._stream_data)."""
        self._stream_wanted = False
        self._streaming = False
        self._stream_drop = False
        self._stream_mode = False
        self._stream_busy = False
        self._pieces: deque[Any] = deque()

    def _init_fast_path(self, conn: Connection) -> None:
        """The fast paths frame and parse data frames themselves (see _reader)."""
        self._fast = _parser_state(conn) != UNKNOWN and all(isinstance(e, _BoundedDeflate) for e in self.extensions)
        self._parser_idle = False
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
    def id(self) -> uuid.UUID:
        """A random (version 4) UUID naming this connection, e.g. in logs."""
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    @property
    def state(self) -> State:
        """:class:`State`: ``OPEN``, ``CLOSING`` once the closing handshake
        started, ``CLOSED`` (a ``WebSocket`` is never ``CONNECTING``: it
        exists once the opening handshake is done)."""
        return _STATES[self._state]

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

    async def receive_streaming(self) -> AsyncIterator[str | bytes]:
        """Yield the next message in pieces, as its frames arrive: ``str``
        pieces for a text message (decoded incrementally, so a character
        split between frames comes whole), ``bytes`` for binary.

        While a message is streamed, ``max_message_size`` applies to each
        of its frames, not to the whole: a large upload sent in frames needs
        neither a large limit nor the memory for the message.  A message
        that arrived whole before streaming started is yielded whole.
        Leaving the loop early discards the rest of the message (once the
        generator is closed: use ``curionet.meta.finalize`` or ``aclose()``).
        Raises :class:`ConnectionClosed` like :meth:`receive`; one task at a
        time may use it, and not together with :meth:`receive`."""
        if self._stream_busy:
            raise RuntimeError("another task is already receiving a message with receive_streaming()")
        self._stream_busy = True
        inbox = self._inbox
        pieces = self._pieces
        finished = False
        try:
            if not inbox:
                if self._fragments:
                    # A message already partly in: its first piece is what came so far.
                    parts = self._fragments
                    self._fragments = []
                    self._fragment_size = 0
                    pieces.append("".join(parts) if type(parts[0]) is str else b"".join(parts))
                    self._streaming = True
                    if self._deflate is not None:
                        self._deflate._reset_size()  # from here on, per frame
                else:
                    self._stream_wanted = True
                self._set_stream_mode()
            while True:
                if pieces:
                    piece = pieces.popleft()
                    if self._putter._queue:
                        self._putter._wake(1)
                    if piece is _END_OF_MESSAGE:
                        finished = True
                        return
                    yield piece
                elif inbox and not self._streaming:
                    # A message that came whole: the next one is not streamed.
                    self._stream_wanted = False
                    self._set_stream_mode()
                    finished = True
                    yield await self.receive()
                    return
                elif self._state == _CLOSED or (self._reader_task is not None and self._reader_task.terminated):
                    finished = True
                    raise self._closed_exc()
                else:
                    await self._getters.suspend("WEBSOCKET_RECEIVE")
        finally:
            self._stream_busy = False
            self._stream_wanted = False
            if not finished:
                # Abandoned part-way: drop the rest of this message.
                if _END_OF_MESSAGE not in pieces and self._streaming:
                    self._stream_drop = True
                self._streaming = False
                pieces.clear()
                if self._putter._queue:
                    self._putter._wake(len(self._putter._queue))
            self._set_stream_mode()

    recv_streaming = receive_streaming

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
            return ConnectionClosedOK(code, reason, self.close_sent, self.close_rcvd)
        return ConnectionClosedError(code, reason, self.close_sent, self.close_rcvd)

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
            deflate = self._deflate
            if deflate is not None:
                payload = deflate.deflate_message(self.client, payload)
            if self._send_gather is not None and len(payload) >= _GATHER_MIN and not self.client:
                await self._write(frame_head(opcode, len(payload), True, deflate is not None), payload)
            else:
                data = encode_frame(opcode, payload, True, deflate is not None, os.urandom(4) if self.client else None)
                await self._write(data)
        finally:
            await lock.release()

    async def _write(self, data: Any, payload: Any = None) -> None:
        """Send *data*: whole frames, or (with *payload*) a frame's header,
        which then goes out with its payload in one gathering system call
        (``_send_gather``), so a big payload is not copied into a frame
        first; what that call leaves (the socket's buffer was full) goes by
        ``send_all``."""
        started = False  # the beginning of a frame went out
        try:
            if payload is not None:
                assert self._send_gather is not None
                sent = await self._send_gather((data, payload))
                if sent == len(data) + len(payload):
                    return
                started = sent > 0
                data = data[sent:] + payload if sent < len(data) else memoryview(payload)[sent - len(data) :]
            await self._stream.send_all(data)
        except CancelledError as exc:
            # Cancelled (or timed out) part-way through a frame: the peer
            # would read the next frame as the rest of this one, so the
            # connection cannot be used any more.
            sent = getattr(exc, "bytes_sent", None)
            if (started or sent) and (sent is None or sent < len(data)):
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
        self.latency = latency = await clock() - start
        return latency

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
        frame may carry (1000-1003, 1007-1014, 3000-4999)."""
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
                self.close_sent = Close(code, reason)
                try:
                    await self._stream.send_all(data)
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
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
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


class _PingWaiter:
    __slots__ = ("event", "answered")

    def __init__(self) -> None:
        self.event = Event()
        self.answered = False


def _sockname(stream: Any) -> Any:
    """Our address as the socket under *stream* reports it, or ``None``."""
    for obj in (stream, getattr(stream, "_obj", None), getattr(stream, "_socket", None)):
        getsockname = getattr(obj, "getsockname", None)
        if getsockname is not None:
            try:
                return getsockname()
            except (OSError, TypeError):
                return None
    return None


async def _current() -> Task:
    from ...kernel.task import current_task

    return await current_task()


class _Count(int):
    """:func:`broadcast`'s result: an ``int`` that may also be awaited
    (``await broadcast(...)``, as curionet's broadcast once had to be)."""

    def __await__(self) -> Generator[Any, None, int]:
        return int(self)
        yield  # a generator that finishes at once


def broadcast(websockets: Iterable[WebSocket], message: str | bytes) -> int:
    """Send *message* to every open connection in *websockets* without
    waiting for any of them.

    A plain function, as in ``websockets``: call it from synchronous code
    (a callback) or from a task, in the kernel's thread; ``await
    broadcast(...)`` works too.  A peer that is closed, or still has
    earlier broadcasts queued because it reads slowly, is skipped (it misses
    this message) instead of slowing everyone down.  Returns the number of
    connections the message was queued for; delivery happens in background
    tasks, in order per connection."""
    if not isinstance(message, (str, bytes, bytearray, memoryview)):
        raise TypeError("broadcast() sends str or bytes")
    kernel = current_kernel()
    if kernel is None:
        raise RuntimeError("broadcast() must be called in the thread of a running curionet kernel")
    if not isinstance(message, str):
        message = bytes(message)
    count = 0
    for ws in websockets:
        if ws._state != _OPEN or ws._broadcast_pending >= _BROADCAST_BACKLOG:
            continue
        ws._broadcast_pending += 1
        kernel.new_task(_broadcast_one(ws, message), daemon=True)
        count += 1
    return _Count(count)


async def _broadcast_one(ws: WebSocket, message: str | bytes) -> None:
    try:
        await ws.send(message)
    except (ConnectionClosed, OSError, CurionetError):
        pass
    finally:
        ws._broadcast_pending -= 1
