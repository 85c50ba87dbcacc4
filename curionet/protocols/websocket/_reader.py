"""The reader task of a WebSocket connection.

Discussion: one reader task per connection.  A background task reads the
stream, answers pings, completes the closing handshake and puts whole
messages in a bounded inbox.  When the inbox is full it stops reading, so a
peer that floods a connection whose owner does not call ``receive()`` is
slowed down by TCP instead of filling our memory.

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

from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from ...errors import CancelledError, CurionetError
from ...kernel.sched import SchedFIFO
from ...kernel.sync import Lock
from ...kernel.task import Task
from ...kernel.time import ignore_after
from ._deflate import _BoundedDeflate, _deflate_bound
from ._errors import Close
from ._frames import Frame, _unmask_in_place, scan_frames
from ._transport import _RECV_SIZE, Stream
from ._wsproto import IDLE, _parser_state

# States of WebSocket._state.
_OPEN, _CLOSING, _CLOSED = range(3)

#: The end of a streamed message in ``_pieces``.
_END_OF_MESSAGE = object()


class _Reader:
    """The receiving half of :class:`~._connection.WebSocket` (its base
    class): the reader task and what it does with each event."""

    # Set by WebSocket.__init__.
    client: bool
    max_message_size: int | None
    max_queue: int
    close_timeout: float | None
    close_code: int | None
    close_reason: str | None
    close_sent: Close | None
    close_rcvd: Close | None
    _conn: Connection
    _stream: Stream
    _state: int
    _inbox: deque[str | bytes]
    _getters: SchedFIFO
    _putter: SchedFIFO
    _write_lock: Lock
    _fragments: list[Any]
    _fragment_size: int
    _pings: OrderedDict[bytes, Any]
    _keepalive_task: Task | None
    _discard: bool
    _stream_closed: bool
    _sent_close: bool
    _fast: bool
    _parser_idle: bool  # wsproto's parser is known to be idle (see _reader)
    _partial: bytearray | None
    _partial_filled: int
    _partial_total: int
    _partial_info: tuple[int, bool, int]
    _deflate: _BoundedDeflate | None
    # receive_streaming() (see _stream_data): a streamer waits for the next
    # message; the message in progress is streamed; the rest of an abandoned
    # streamed message is dropped.  _stream_mode is true when any is.
    _stream_wanted: bool
    _streaming: bool
    _stream_drop: bool
    _stream_mode: bool
    _pieces: deque[Any]

    if TYPE_CHECKING:

        async def _abort(self) -> None: ...

        async def _send_close(self, code: int, reason: str) -> None: ...

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
                        data = await stream.receive_some(_RECV_SIZE)
                    except (OSError, CurionetError):
                        data = b""
                if not data:
                    if conn.state is ConnectionState.CLOSED:
                        return
                    conn.receive_data(None)
                    await self._handle_events(conn)
                    return
                # wsproto's parser stays idle until it is fed: it is looked
                # at again only after that (reading its state is not free).
                if self._fast and self._state == _OPEN and (self._parser_idle or _parser_state(conn) == IDLE):
                    self._parser_idle = True
                    pos = await self._fast_receive(data)
                    if pos < 0:
                        return
                    if pos == len(data):
                        continue
                    data = data[pos:]
                self._parser_idle = False
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
                        await self._stream.send_all(data)
            elif cls is Pong:
                await self._on_pong(event.payload)
            elif cls is CloseConnection:
                return await self._on_close(conn, event)
        limit = self.max_message_size
        if limit is not None and self._deflate is None and self._fragment_size + max(0, _parser_state(conn)) > limit:
            # A header announced more than the limit allows: refuse it now
            # instead of reading up to the limit first.  (With
            # permessage-deflate, _BoundedDeflate checks each header.)
            await self._fail_protocol(1009, f"message larger than {limit} bytes")
            return False
        return True

    async def _on_data(self, event: Any) -> bool:
        if self._stream_mode:
            streamed = await self._stream_data(event)
            if streamed is not None:
                return streamed
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

    def _set_stream_mode(self) -> None:
        self._stream_mode = self._stream_wanted or self._streaming or self._stream_drop
        if self._deflate is not None:
            # A streamed message's size limit applies to each frame (from
            # its first frame on, which is inflated before it is seen here;
            # a message that ends up not streamed is still held to the
            # whole-message limit by _on_data).
            self._deflate._per_frame = self._streaming or self._stream_wanted

    async def _stream_data(self, event: Any) -> bool | None:
        """A data event while ``receive_streaming()`` is in use: queue it as
        a piece (True), drop it (True), or None for the usual handling (a
        message that is not the one streamed, or arrived whole)."""
        finished = event.message_finished
        if self._stream_drop:
            if finished:
                self._stream_drop = False
                self._set_stream_mode()
            return True
        if not self._streaming:
            if finished or self._inbox or self._fragments or not self._stream_wanted:
                return None
            # The streamer's message starts with this event.
            self._stream_wanted = False
            self._streaming = True
            self._set_stream_mode()
        data = event.data
        if data:
            await self._put_piece(bytes(data) if type(data) is bytearray else data)
        if finished:
            self._streaming = False
            self._set_stream_mode()
            await self._put_piece(_END_OF_MESSAGE)
        return True

    async def _put_piece(self, piece: Any) -> None:
        """Queue a piece of a streamed message, waiting while ``max_queue``
        pieces are waiting."""
        pieces = self._pieces
        while len(pieces) >= self.max_queue and not self._discard:
            await self._putter.suspend("WEBSOCKET_INBOX_FULL")
        if self._discard:
            return
        pieces.append(piece)
        if self._getters._queue:
            self._getters._wake(1)

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
            got = await self._stream.receive_into(view)
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
            _unmask_in_place(buf, start, bytes(buf[start - 4 : start]))
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
        and takes only the frames :func:`~._frames.scan_frames` passes as
        whole messages: anything else (control frames, fragments, reserved
        bits, non-minimal lengths) stops it, and wsproto parses from that
        frame on, so those errors and close codes still come from it.  What
        the fast path refuses itself, it refuses as wsproto would: 1009 for
        a message over ``max_message_size`` (on its header alone), 1007 for
        invalid UTF-8 or deflate data.
        """
        frames: list[Frame] = []
        deflate = self._deflate
        pos, start, end = scan_frames(data, 0, frames, not self.client, deflate is not None, True)
        limit = self.max_message_size
        inbox = self._inbox
        message: str | bytes
        for opcode, _, compressed, payload in frames:
            if limit is not None and len(payload) > limit and (not compressed or len(payload) > _deflate_bound(limit)):
                await self._fail_protocol(1009, f"message larger than {limit} bytes")
                return -1
            if compressed:
                assert deflate is not None
                inflated = deflate.inflate_message(self.client, payload)
                if isinstance(inflated, CloseReason):
                    await self._fail_protocol(int(inflated), "invalid compressed message")
                    return -1
                payload = inflated
            if opcode == 1:
                try:
                    message = payload.decode("utf-8")
                except UnicodeDecodeError:
                    await self._fail_protocol(1007, "invalid UTF-8")
                    return -1
            else:
                message = payload
            # _deliver() inline: no coroutine per message while there is room.
            if len(inbox) < self.max_queue and not self._discard:
                inbox.append(message)
                if self._getters._queue:
                    self._getters._wake(1)
            else:
                await self._deliver(message)
        if end > len(data):
            return await self._fast_incomplete(data, pos, start, end)
        return pos

    async def _fast_incomplete(self, data: bytes, pos: int, start: int, end: int) -> int:
        """The whole-message frame at *pos* has its header but not all its
        payload: refuse it on the header if it is over the limit, start
        collecting it if it is big; return where wsproto takes over (-1 if
        the connection failed)."""
        length = end - start
        compressed = bool(data[pos] & 0x40)
        limit = self.max_message_size
        if limit is not None and length > limit and (not compressed or length > _deflate_bound(limit)):
            # Refused on the header alone: no payload is waited for.
            await self._fail_protocol(1009, f"message larger than {limit} bytes")
            return -1
        if length <= 4096:
            return pos
        # A big frame arriving over several reads: collect it in one buffer,
        # then unmask it in place.  The buffer starts at what arrived plus
        # one read and grows with the data (see _fill_partial): a header
        # alone claims no memory.
        n = len(data)
        buf = bytearray(min(end - pos, n - pos + _RECV_SIZE))
        buf[: n - pos] = memoryview(data)[pos:]
        self._partial = buf
        self._partial_filled = n - pos
        self._partial_total = end - pos
        self._partial_info = (data[pos] & 0x0F, compressed, start - pos)
        return n

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
            self.close_rcvd = Close(event.code, self.close_reason)
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
                        self.close_sent = Close(event.code)
                        await self._stream.send_all(data)
                    except (LocalProtocolError, OSError, CurionetError):
                        pass
            await self._after_handshake()
            return False
        if state is ConnectionState.CLOSED:
            if event.code != 1006:
                # The peer's answer to our Close.
                self.close_rcvd = Close(event.code, event.reason or "")
                self.close_code = event.code
                self.close_reason = event.reason or ""
            elif self.close_code is None:
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
        ``close_timeout``), so our Close frame is not lost to a TCP reset.
        Until a Close arrives, the connection's close code is *code*."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self._discard = True
        self._state = _CLOSING
        self._fragments = []
        await self._send_close(code, reason)
        if not self._stream_closed:
            try:
                await self._stream.send_eof()
            except (OSError, CurionetError, ValueError):
                pass
        await self._drain(self.close_timeout)
        await self._abort()

    async def _drain(self, seconds: float | None) -> None:
        if self._stream_closed:
            return
        async with ignore_after(seconds):
            while True:
                try:
                    data = await self._stream.receive_some(_RECV_SIZE)
                except (OSError, CurionetError):
                    return
                if not data:
                    return


def _size(data: str | bytes) -> int:
    """Size in bytes of a message part (UTF-8 for text)."""
    if type(data) is str:
        return len(data) if data.isascii() else len(data.encode("utf-8"))  # type: ignore[union-attr]
    return len(data)
