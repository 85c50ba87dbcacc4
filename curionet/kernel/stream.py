"""Byte streams: the one :class:`Stream` protocol that protocol adapters run over.

A stream is a reliable, ordered, two-way byte connection.  HTTP, WebSocket
and anything else that speaks a protocol over bytes takes a :class:`Stream`
and never touches a socket, a file descriptor or a trap.  Three kinds
implement it:

* :class:`~curionet.kernel.io.SocketStream`: a connected socket, plain or
  TLS (``sock.as_stream()``);
* :class:`TLSStream`: TLS (through ``ssl.MemoryBIO``) over any other stream,
  an HTTP proxy's ``CONNECT`` tunnel for instance;
* :class:`MemoryStream`: one end of an in-memory pair made by
  :func:`memory_stream_pair` (also in :mod:`curionet.testing`), for tests.

:class:`StreamBase` here is something else: the buffered, file-like methods
(``read``, ``readline``, ``read_exactly`` ...) of Curio's
:class:`~curionet.kernel.io.SocketStream` and
:class:`~curionet.kernel.io.FileStream`.

Discussion: timeouts per wait.  ``receive_some``, ``receive_into``,
``send_all`` and ``wait_readable`` take a *timeout* that bounds each wait for
progress, not the whole call: a download that keeps moving never times out,
one that stalls for *timeout* seconds raises :class:`TimeoutError` (an
``OSError``).  A call that completes without waiting never enters a timeout
block, so the common case (the data is already there) costs no clock and no
timer.  The timeout follows the kernel's clock, so it jumps with the mock
clock in tests.  Wrap a call in ``timeout_after`` for a bound on the whole.

Discussion: closing.  ``close()`` never blocks (no TLS ``close_notify``
round trip), so it is safe in ``finally`` blocks and on cancellation paths.
A task blocked on a stream that is closed gets
:class:`~curionet.errors.ClosedResourceError`; so does any later call.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from ..errors import CancelledError, ClosedResourceError, ReadResourceBusy, TaskTimeout, WriteResourceBusy
from .athread import sync_enter, sync_exit, sync_iter, sync_next
from .sched import SchedFIFO
from .sync import Lock
from .time import timeout_after
from .traps import _scheduler_wait

__all__ = ["Stream", "StreamBase", "TLSStream", "MemoryStream", "memory_stream_pair"]

#: What a receive fills: a ``bytearray``, a writable ``memoryview`` ...
WritableBuffer = bytearray | memoryview
#: What a send takes: ``bytes``, ``bytearray``, ``memoryview`` ...
ReadableBuffer = bytes | bytearray | memoryview


@runtime_checkable
class Stream(Protocol):
    """A two-way byte stream (see the module docstring for *timeout*).

    One task may receive while another sends; two tasks receiving (or
    sending) at once is an error (``ReadResourceBusy``/``WriteResourceBusy``)
    wherever the stream can tell.  Failures of the connection are
    ``OSError`` (``ConnectionResetError``, ``BrokenPipeError``,
    ``ssl.SSLError`` ...); :class:`TimeoutError` when a wait runs out.
    """

    async def receive_some(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        """Up to *max_bytes* (at least 1) bytes, waiting until some arrive;
        ``b""`` once the peer has finished sending."""

    async def receive_into(self, buffer: WritableBuffer, timeout: float | None = None) -> int:
        """Receive into *buffer*, waiting until something arrives; return
        the count, ``0`` once the peer has finished sending."""

    async def send_all(self, data: ReadableBuffer, timeout: float | None = None) -> None:
        """Send all of *data*.  If cancelled part-way, the exception's
        ``bytes_sent`` says how much of *data* went out."""

    async def send_eof(self) -> None:
        """Finish sending: the peer receives end of file once it has read
        everything before it.  Receiving goes on working.  (TLS: a
        ``close_notify`` alert.)"""

    async def wait_readable(self, timeout: float | None = None) -> None:
        """Wait until :meth:`is_readable` (TLS: until bytes arrive, which
        may turn out to be only protocol records)."""

    def is_readable(self) -> bool:
        """Whether a receive has something to return at once: data, end of
        file or an error (or the stream is closed).  An idle connection that
        is readable has gone stale."""

    async def close(self) -> None:
        """Close the stream (never blocks; closing twice is harmless)."""


async def _within(timeout: float, wait: Awaitable[Any]) -> Any:
    """Await the trap *wait* with *timeout*: :class:`TimeoutError` when it
    runs out (callers only come here for a wait that has to happen)."""
    try:
        async with timeout_after(timeout):
            return await wait
    except TaskTimeout as exc:
        raise TimeoutError(errno.ETIMEDOUT, f"no progress in {timeout} s") from exc


# ---------------------------------------------------------------------------
# Curio's buffered, file-like streams
# ---------------------------------------------------------------------------


_Line = TypeVar("_Line")


class AsyncLineFile(Generic[_Line]):
    """What Curio's file-like objects share (:class:`StreamBase`, and
    :class:`curionet.file.AsyncFile` with lines of bytes or str): ``async
    with`` closes the object at the end (a plain ``with`` too, in an async
    thread; elsewhere AsyncOnlyError), and ``async for`` gives the lines
    ``readline()`` returns until the empty one at end of file."""

    readline: Callable[[], Awaitable[_Line]]
    close: Callable[[], Awaitable[None]]

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[_Line]:
        return self

    async def __anext__(self) -> _Line:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    __enter__ = sync_enter
    __exit__ = sync_exit


class StreamBase(AsyncLineFile[bytes]):
    """Buffered byte-stream logic shared by :class:`SocketStream` and :class:`FileStream`.

    Subclasses provide ``_read(maxbytes)`` (one non-blocking read, waiting
    as needed; ``b''`` at EOF) and ``write(data)``.
    """

    def __init__(self, fileobj: Any) -> None:
        self._file = fileobj
        self._fileno: int = fileobj.fileno()
        self._buffer = bytearray()

    def fileno(self) -> int:
        return self._fileno

    async def _read(self, maxbytes: int = -1) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    async def write(self, data: Any) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    async def read(self, maxbytes: int = -1) -> bytes:
        """Return up to *maxbytes* (any amount when ``-1``) of available data,
        waiting only if none is buffered; ``b''`` at end of file."""
        buf = self._buffer
        if buf:
            if maxbytes < 0 or maxbytes >= len(buf):
                data = bytes(buf)
                buf.clear()
            else:
                data = bytes(buf[:maxbytes])
                del buf[:maxbytes]
            return data
        return await self._read(maxbytes)

    async def readall(self) -> bytes:
        """Read until end of file."""
        chunks = [bytes(self._buffer)]
        self._buffer.clear()
        try:
            while True:
                chunk = await self._read(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except CancelledError as e:
            e.bytes_read = b"".join(chunks)  # type: ignore[attr-defined]
            raise

    async def read_exactly(self, nbytes: int) -> bytes:
        """Read exactly *nbytes*.  ``EOFError`` (with ``bytes_read``) if the
        stream ends first."""
        buf = self._buffer
        try:
            while len(buf) < nbytes:
                chunk = await self._read(max(65536, nbytes - len(buf)))
                if not chunk:
                    exc = EOFError(f"Unexpected end of data: wanted {nbytes} bytes, got {len(buf)}")
                    exc.bytes_read = bytes(buf)  # type: ignore[attr-defined]
                    buf.clear()
                    raise exc
                buf += chunk
        except CancelledError as e:
            e.bytes_read = bytes(buf)  # type: ignore[attr-defined]
            raise
        data = bytes(buf[:nbytes])
        del buf[:nbytes]
        return data

    async def readinto(self, memory: Any) -> int:
        """Read into the writable buffer *memory* (a ``bytearray``,
        ``memoryview`` ...) and return the number of bytes stored: buffered
        data first, else what one read returns; ``0`` at end of file."""
        with memoryview(memory) as view, view.cast("B") as dest:
            size = len(dest)
            buf = self._buffer
            if buf or not size:
                n = min(size, len(buf))
                dest[:n] = buf[:n]
                del buf[:n]
                return n
            data = await self._read(size)
            n = len(data)
            dest[:n] = data
            return n

    async def readline(self, maxlen: int | None = None) -> bytes:
        """Read one line (ending in ``b'\\n'``, or shorter at end of file)."""
        buf = self._buffer
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl >= 0:
                line = bytes(buf[: nl + 1])
                del buf[: nl + 1]
                return line
            if maxlen is not None and len(buf) >= maxlen:
                line = bytes(buf[:maxlen])
                del buf[:maxlen]
                return line
            start = len(buf)
            chunk = await self._read(65536)
            if not chunk:
                line = bytes(buf)
                buf.clear()
                return line
            buf += chunk

    async def readlines(self) -> list[bytes]:
        """Read every line up to end of file.  If cancelled, the exception's
        ``lines_read`` holds the lines read so far."""
        lines: list[bytes] = []
        try:
            async for line in self:
                lines.append(line)
        except CancelledError as e:
            e.lines_read = lines  # type: ignore[attr-defined]
            raise
        return lines

    async def writelines(self, lines: Iterable[Any]) -> None:
        """Write every item of *lines*.  If cancelled, the exception's
        ``bytes_written`` holds the total written so far."""
        written = 0
        try:
            for line in lines:
                await self.write(line)
                written += len(line)
        except CancelledError as e:
            written += getattr(e, "bytes_sent", 0)
            e.bytes_written = written  # type: ignore[attr-defined]
            raise

    async def flush(self) -> None:
        """Flush buffered output (writes are unbuffered: nothing to do)."""

    async def __aenter__(self) -> Any:
        return self

    # Plain 'for' and next() work in an async thread (as 'with' does); elsewhere AsyncOnlyError.
    __iter__ = sync_iter
    __next__ = sync_next

    async def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# ---------------------------------------------------------------------------
# TLS over another stream
# ---------------------------------------------------------------------------


class TLSStream:
    """TLS over another :class:`Stream` (``ssl.MemoryBIO``): the client side,
    or the server side with ``server_side=True``.  Run :meth:`do_handshake`
    before anything else.

    ``close()`` closes the stream underneath without a ``close_notify``
    (never blocks); a peer that closes without one (a "ragged" end of file)
    reads as end of file too, as ``suppress_ragged_eofs`` makes it for TLS
    sockets.  One task may receive while another sends once the handshake is
    done (TLS 1.3; a TLS 1.2 renegotiation in the middle is not supported).
    """

    def __init__(
        self, stream: Stream, context: ssl.SSLContext, *, server_side: bool = False, server_hostname: str | None = None
    ) -> None:
        self._stream = stream
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=server_side, server_hostname=server_hostname)
        self._send_lock = Lock()  # keeps the records of two tasks in order
        self._closed = False
        self._eof = False  # the peer ended TLS: receives return b"" at once

    def __repr__(self) -> str:
        return f"<curionet.TLSStream over {self._stream!r}>"

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The ``ssl.SSLObject`` (``version()``, ``getpeercert()``,
        ``selected_alpn_protocol()`` ...)."""
        return self._obj

    @property
    def transport(self) -> Stream:
        """The stream underneath."""
        return self._stream

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def _flush(self, timeout: float | None) -> None:
        async with self._send_lock:
            out = self._out.read()
            if out:
                await self._stream.send_all(out, timeout)

    async def _retry(self, fn: Any, *args: Any, timeout: float | None) -> Any:
        """Call the ``SSLObject`` method *fn* until it stops wanting data,
        sending what it produces and feeding it what the stream receives."""
        if self._closed:
            raise ClosedResourceError("TLS stream is closed")
        while True:
            want_read = False
            try:
                result = fn(*args)
            except ssl.SSLWantReadError:
                want_read = True
            if self._out.pending:
                await self._flush(timeout)
            if not want_read:
                return result
            data = await self._stream.receive_some(65536, timeout)
            if data:
                self._in.write(data)
            else:
                self._in.write_eof()

    async def do_handshake(self, timeout: float | None = None) -> None:
        """Run the TLS handshake (*timeout* bounds each wait)."""
        await self._retry(self._obj.do_handshake, timeout=timeout)

    async def receive_some(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        try:
            data: bytes = await self._retry(self._obj.read, max_bytes, timeout=timeout)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b""
        if not data:
            self._eof = True  # OpenSSL answers b"" from now on, whatever the stream below does
        return data

    async def receive_into(self, buffer: WritableBuffer, timeout: float | None = None) -> int:
        with memoryview(buffer) as view, view.cast("B") as dest:
            if not len(dest):
                return 0
            try:
                n: int = await self._retry(self._obj.read, len(dest), dest, timeout=timeout)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                n = 0
            if not n:
                self._eof = True
            return n

    async def send_all(self, data: ReadableBuffer, timeout: float | None = None) -> None:
        with memoryview(data) as view, view.cast("B") as rest:
            total = len(rest)
            nsent = 0
            try:
                while nsent < total:
                    nsent += await self._retry(self._obj.write, rest[nsent:], timeout=timeout)
            except CancelledError as exc:
                exc.bytes_sent = nsent  # type: ignore[attr-defined]
                raise

    async def send_eof(self) -> None:
        """Send a ``close_notify`` alert.  Receiving goes on working; the
        stream underneath stays open until :meth:`close`."""
        if self._closed:
            raise ClosedResourceError("TLS stream is closed")
        try:
            self._obj.unwrap()
        except ssl.SSLWantReadError:
            pass  # ours is written; the peer's close_notify is its own business
        await self._flush(None)

    def is_readable(self) -> bool:
        return bool(self._closed or self._eof or self._obj.pending() or self._in.pending or self._stream.is_readable())

    async def wait_readable(self, timeout: float | None = None) -> None:
        if self._closed:
            raise ClosedResourceError("TLS stream is closed")
        if self._eof or self._obj.pending() or self._in.pending:
            return
        await self._stream.wait_readable(timeout)

    async def close(self) -> None:
        self._closed = True
        await self._stream.close()


# ---------------------------------------------------------------------------
# In-memory streams
# ---------------------------------------------------------------------------


class MemoryStream:
    """One end of an in-memory stream pair (see :func:`memory_stream_pair`).

    What one end sends the other receives, in order.  ``max_chunk`` bounds
    what one receive returns (to exercise code that must cope with short
    reads); ``max_buffer`` bounds the bytes in flight in each direction, so
    a sender waits while the peer does not read, as with a socket.
    """

    def __init__(self, max_buffer: int | None = 65536, max_chunk: int | None = None) -> None:
        if max_buffer is not None and max_buffer < 1:
            raise ValueError("max_buffer must be at least 1 (or None)")
        if max_chunk is not None and max_chunk < 1:
            raise ValueError("max_chunk must be at least 1 (or None)")
        self._incoming = bytearray()
        self._max_buffer = max_buffer
        self._max_chunk = max_chunk
        self._peer: MemoryStream | None = None
        self._eof = False  # the peer finished sending (send_eof or close)
        self._eof_sent = False
        self._closed = False
        self._readable = SchedFIFO()  # our receiver, waiting for data
        self._writable = SchedFIFO()  # the peer's sender, waiting for room in our buffer

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._incoming)} bytes buffered"
        return f"<curionet.MemoryStream {state}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (a test's "did it clean up?")."""
        return self._closed

    async def _wait(self, queue: SchedFIFO, what: str, timeout: float | None) -> None:
        if len(queue):
            busy = ReadResourceBusy if what == "STREAM_READ" else WriteResourceBusy
            raise busy("another task is already waiting on this stream")
        if timeout is None:
            await _scheduler_wait(queue, what)
        else:
            await _within(timeout, _scheduler_wait(queue, what))

    async def _wait_data(self, timeout: float | None) -> None:
        while not self._incoming and not self._eof:
            if self._closed:
                raise ClosedResourceError("stream is closed")
            await self._wait(self._readable, "STREAM_READ", timeout)
        if self._closed:
            raise ClosedResourceError("stream is closed")

    def _take(self, n: int) -> int:
        """How many buffered bytes one receive of *n* takes."""
        if self._max_chunk is not None and n > self._max_chunk:
            n = self._max_chunk
        return min(n, len(self._incoming))

    def _consumed(self) -> None:
        if self._writable:
            self._writable._wake(1)

    async def receive_some(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        await self._wait_data(timeout)
        n = self._take(max_bytes)
        data = bytes(self._incoming[:n])
        del self._incoming[:n]
        self._consumed()
        return data

    async def receive_into(self, buffer: WritableBuffer, timeout: float | None = None) -> int:
        with memoryview(buffer) as view, view.cast("B") as dest:
            if not len(dest):
                return 0
            await self._wait_data(timeout)
            n = self._take(len(dest))
            dest[:n] = self._incoming[:n]
        del self._incoming[:n]
        self._consumed()
        return n

    async def send_all(self, data: ReadableBuffer, timeout: float | None = None) -> None:
        peer = self._peer
        assert peer is not None
        with memoryview(data) as view, view.cast("B") as rest:
            total = len(rest)
            nsent = 0
            try:
                while True:
                    if self._closed:
                        raise ClosedResourceError("stream is closed")
                    if self._eof_sent or peer._closed:
                        raise BrokenPipeError(errno.EPIPE, "the stream is shut for sending")
                    if nsent == total:
                        return
                    room = total - nsent
                    if peer._max_buffer is not None:
                        room = min(room, peer._max_buffer - len(peer._incoming))
                    if room <= 0:
                        await peer._wait(peer._writable, "STREAM_WRITE", timeout)
                        continue
                    peer._incoming += rest[nsent : nsent + room]
                    nsent += room
                    if peer._readable:
                        peer._readable._wake(1)
            except CancelledError as exc:
                exc.bytes_sent = nsent  # type: ignore[attr-defined]
                raise

    async def send_eof(self) -> None:
        if self._closed:
            raise ClosedResourceError("stream is closed")
        self._eof_sent = True
        peer = self._peer
        assert peer is not None
        peer._eof = True
        peer._readable._wake(1)

    def is_readable(self) -> bool:
        return bool(self._incoming) or self._eof or self._closed

    async def wait_readable(self, timeout: float | None = None) -> None:
        while not self.is_readable():
            await self._wait(self._readable, "STREAM_READ", timeout)
        if self._closed:
            raise ClosedResourceError("stream is closed")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._incoming.clear()
        # Our own blocked tasks fail; the peer sees end of file, and its
        # sender (waiting for room here) sees the pipe broken.
        self._readable._wake(1, exc=ClosedResourceError("stream was closed"))
        self._writable._wake(1)
        peer = self._peer
        assert peer is not None
        peer._writable._wake(1, exc=ClosedResourceError("stream was closed"))
        peer._eof = True
        peer._readable._wake(1)


def memory_stream_pair(
    *, max_buffer: int | None = 65536, max_chunk: int | None = None
) -> tuple[MemoryStream, MemoryStream]:
    """Two connected in-memory :class:`Stream` ends: what one sends the other
    receives.

    *max_buffer* bounds the bytes in flight each way (``None``: no bound):
    a sender waits while its peer does not read, as with a socket.
    *max_chunk* bounds what one receive returns, to test code against short
    reads.  Waits follow the kernel's clock (``autojump_clock`` jumps them).
    """
    a = MemoryStream(max_buffer, max_chunk)
    b = MemoryStream(max_buffer, max_chunk)
    a._peer, b._peer = b, a
    return a, b
