"""Async sockets and streams: :class:`Socket`, :class:`SocketStream`, :class:`FileStream`.

Every operation tries the non-blocking system call first and traps into the
kernel (``_read_wait``/``_write_wait``) only when the call would block, so a
busy connection pays for one system call per operation.  The kernel keeps a
waited-on file descriptor registered with epoll while tasks keep waiting on
it, so an ordinary recv/send loop makes no ``epoll_ctl`` calls either.  Each
socket and stream passes its descriptor as a token of its own
(:class:`_FdToken`), so the kernel can tell a number reused by a new socket
from the file it registered.

Two tasks reading (or writing) one socket at the same time is an error, as in
Curio: the second one to block gets :class:`~curionet.errors.ReadResourceBusy`
(or :class:`~curionet.errors.WriteResourceBusy`).  Closing a socket wakes a
task blocked on it with :class:`~curionet.errors.ClosedResourceError`.

Discussion: SSL.  An ``ssl.SSLSocket`` in non-blocking mode raises
``SSLWantReadError``/``SSLWantWriteError`` instead of ``BlockingIOError``,
and either can come out of a read or a write (a TLS read may need to write and
vice versa).  The same :class:`Socket` class handles both kinds: the
exception tuples below cover plain and TLS sockets, and a "want write" during
a receive waits for writability.  Decrypted bytes OpenSSL has buffered are
never stranded because a wait only happens after a call said "would block".
"""

from __future__ import annotations

import io
import os
import socket as _stdsocket
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import CancelledError, ClosedResourceError
from .athread import sync_enter, sync_exit, sync_iter, sync_next
from .traps import _io_release, _read_wait, _write_wait

try:
    from ssl import SSLWantReadError as _SSLWantRead, SSLWantWriteError as _SSLWantWrite
except ImportError:  # pragma: no cover - Python built without ssl

    class _SSLWantRead(Exception):  # type: ignore[no-redef]
        pass

    class _SSLWantWrite(Exception):  # type: ignore[no-redef]
        pass


__all__ = ["Socket", "SocketStream", "FileStream", "StreamBase", "WantRead", "WantWrite"]


class _SendHint:
    """``sent`` is set by every send and cleared by the kernel each time it
    goes idle: a kernel that sent something since it last went idle (a
    request, or a server's reply) expects an answer or the next request soon
    and busy-polls for it; one that only received (a bulk download) sleeps at
    once.  See the Discussion on busy polling in ``kernel.py``.  There is one
    per process, shared by kernels running in other threads: it is only a
    hint, and a wrong guess costs one spin or one sleep, never correctness."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


send_hint = _SendHint()

#: Exceptions meaning "wait until readable, then retry".
WantRead = (BlockingIOError, InterruptedError, _SSLWantRead)
#: Exceptions meaning "wait until writable, then retry".
WantWrite = (BlockingIOError, InterruptedError, _SSLWantWrite)

# Receive policy states (see Socket.recv): 0 = try first; 1 = try first, the
# last try failed; _WAIT_FIRST.._SAMPLE-1 = wait for readability first;
# _SAMPLE = try first once to see whether waiting is still worth it.
_WAIT_FIRST = 2
_SAMPLE = 10

_SOL_SOCKET = _stdsocket.SOL_SOCKET
_SO_ERROR = _stdsocket.SO_ERROR


class _FdToken(int):
    """A file descriptor number that also names the object waiting on it.

    Each :class:`Socket` and stream holds its descriptor as its own
    ``_FdToken`` (an ``int`` in every other respect) and passes it to
    ``_read_wait``/``_write_wait``.  The kernel keeps a descriptor registered
    with epoll after a wait ends; if that object's file is then closed
    behind the kernel's back (``sock._socket.close()``, ``os.close``, garbage
    collection), epoll forgets it, and a new object given the same number
    comes with a different token, so the kernel checks its registration
    instead of trusting its books.  The kernel holds the token, not the
    socket, so it never keeps a socket alive."""

    __slots__ = ()


def _token(fd: Any) -> _FdToken:
    return fd if type(fd) is _FdToken else _FdToken(fd)


class Socket:
    """An async proxy around a stdlib socket (put in non-blocking mode).

    The socket is closed only by :meth:`close` or by leaving ``async with``.
    Methods not redefined here (``setsockopt``, ``getsockname``, ``family``,
    ``getpeercert`` on TLS sockets ...) are delegated to the wrapped socket,
    which is available as ``._socket``.
    """

    __slots__ = ("_socket", "_fileno", "_socket_send", "_socket_recv", "_rwait", "_plain", "__weakref__")
    _socket: Any
    _fileno: int

    def __init__(self, sock: Any) -> None:
        fd = sock.fileno()  # a Socket passes its token on: the same owner
        if isinstance(sock, Socket):
            sock = sock._socket
        self._socket = sock
        sock.setblocking(False)
        self._fileno = _token(fd)
        # Bound methods cached once: the echo loop calls them per message.
        self._socket_send = sock.send
        self._socket_recv = sock.recv
        # See "Discussion: waiting first" in recv().  Never for TLS sockets:
        # OpenSSL may hold decrypted bytes that epoll cannot see.
        self._plain = not hasattr(sock, "pending")
        self._rwait = 0

    def __repr__(self) -> str:
        return f"<curionet.Socket {self._socket!r}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._socket, name)

    def fileno(self) -> int:
        """The file descriptor (``-1`` once closed)."""
        return self._fileno

    def settimeout(self, seconds: float | None) -> None:
        """Refused: a curionet socket is always non-blocking (use ``timeout_after``)."""
        if seconds:
            raise RuntimeError("Use timeout_after() to set a timeout on a curionet socket")

    def gettimeout(self) -> None:
        """``None``: a curionet socket has no timeout of its own (use ``timeout_after``)."""
        return None

    @contextmanager
    def blocking(self) -> Iterator[Any]:
        """Context manager: the raw socket, temporarily in blocking mode."""
        self._socket.setblocking(True)
        try:
            yield self._socket
        finally:
            self._socket.setblocking(False)

    def dup(self) -> Socket:
        """A new :class:`Socket` on a duplicate of the file descriptor."""
        return Socket(self._socket.dup())

    # -- receiving -------------------------------------------------------
    async def recv(self, maxsize: int, flags: int = 0) -> bytes:
        """Receive up to *maxsize* bytes; ``b''`` means the peer closed.

        Discussion: waiting first.  In request/response traffic the reply
        to what a task just sent is usually not there yet, so trying
        ``recv`` first costs a failing system call and an exception per
        message.  After two tries in a row fail, a plain socket waits for
        readability first; every eighth receive then tries first again
        (a sample), and one that succeeds, or a receive that fills the whole
        buffer (bulk data is queued), returns to trying first.  Both ways
        are correct (waiting on a readable socket returns at once); this
        only picks the cheaper one.  TLS sockets always try first: OpenSSL
        may hold decrypted bytes that epoll cannot see."""
        rw = self._rwait
        if _WAIT_FIRST <= rw < _SAMPLE:
            self._rwait = rw + 1
            await _read_wait(self._fileno)
        else:
            try:
                data = self._socket_recv(maxsize, flags)
            except WantRead:
                if self._plain:
                    self._rwait = _WAIT_FIRST if rw else 1
                await _read_wait(self._fileno)
            except WantWrite:
                await _write_wait(self._fileno)
            else:
                if rw:
                    self._rwait = 0
                return data  # type: ignore[no-any-return]
        while True:
            try:
                data = self._socket_recv(maxsize, flags)
            except WantRead:
                await _read_wait(self._fileno)
                continue
            except WantWrite:
                await _write_wait(self._fileno)
                continue
            if len(data) == maxsize:
                self._rwait = 0
            return data  # type: ignore[no-any-return]

    async def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Receive up to *nbytes* (default: the buffer's size) into *buffer*
        (same waiting policy as :meth:`recv`)."""
        recv_into = self._socket.recv_into
        rw = self._rwait
        if _WAIT_FIRST <= rw < _SAMPLE:
            self._rwait = rw + 1
            await _read_wait(self._fileno)
        else:
            try:
                n = recv_into(buffer, nbytes, flags)
            except WantRead:
                if self._plain:
                    self._rwait = _WAIT_FIRST if rw else 1
                await _read_wait(self._fileno)
            except WantWrite:
                await _write_wait(self._fileno)
            else:
                if rw:
                    self._rwait = 0
                return n  # type: ignore[no-any-return]
        while True:
            try:
                n = recv_into(buffer, nbytes, flags)
            except WantRead:
                await _read_wait(self._fileno)
                continue
            except WantWrite:
                await _write_wait(self._fileno)
                continue
            if n and n == (nbytes or memoryview(buffer).nbytes):
                self._rwait = 0
            return n  # type: ignore[no-any-return]

    async def recvfrom(self, maxsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """Receive a datagram: ``(data, address)``."""
        while True:
            try:
                return self._socket.recvfrom(maxsize, flags)  # type: ignore[no-any-return]
            except WantRead:
                await _read_wait(self._fileno)
            except WantWrite:
                await _write_wait(self._fileno)

    async def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        """Receive a datagram into *buffer*: ``(nbytes, address)``."""
        while True:
            try:
                return self._socket.recvfrom_into(buffer, nbytes, flags)  # type: ignore[no-any-return]
            except WantRead:
                await _read_wait(self._fileno)
            except WantWrite:
                await _write_wait(self._fileno)

    async def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> tuple[bytes, list[Any], int, Any]:
        """Receive normal and ancillary data (see ``socket.recvmsg``)."""
        while True:
            try:
                return self._socket.recvmsg(bufsize, ancbufsize, flags)  # type: ignore[no-any-return]
            except WantRead:
                await _read_wait(self._fileno)

    async def recvmsg_into(self, buffers: Any, ancbufsize: int = 0, flags: int = 0) -> tuple[int, list[Any], int, Any]:
        """Receive normal and ancillary data into *buffers*."""
        while True:
            try:
                return self._socket.recvmsg_into(buffers, ancbufsize, flags)  # type: ignore[no-any-return]
            except WantRead:
                await _read_wait(self._fileno)

    # -- sending ---------------------------------------------------------
    async def send(self, data: Any, flags: int = 0) -> int:
        """Send some of *data*; return the number of bytes sent."""
        send_hint.sent = True
        while True:
            try:
                return self._socket_send(data, flags)  # type: ignore[no-any-return]
            except WantWrite:
                await _write_wait(self._fileno)
            except WantRead:
                await _read_wait(self._fileno)

    async def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of *data*.

        If cancelled part-way, the cancellation exception carries
        ``bytes_sent``: how much of *data* went out (the rest did not)."""
        # Fast path: one system call sends everything (the common case).
        send_hint.sent = True
        try:
            nsent = self._socket_send(data, flags)
        except WantWrite:
            nsent = 0
        except WantRead:
            nsent = 0
        else:
            if nsent == len(data) and (type(data) is bytes or type(data) is bytearray):
                return
        await _send_rest(self._socket_send, self._fileno, data, nsent, flags)

    async def sendto(self, data: Any, flags_or_address: Any, address: Any = None) -> int:
        """Send a datagram: ``sendto(data, address)`` or ``sendto(data, flags, address)``."""
        if address is None:
            flags, address = 0, flags_or_address
        else:
            flags = flags_or_address
        send_hint.sent = True
        while True:
            try:
                return self._socket.sendto(data, flags, address)  # type: ignore[no-any-return]
            except WantWrite:
                await _write_wait(self._fileno)

    async def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        """Send normal and ancillary data (see ``socket.sendmsg``)."""
        send_hint.sent = True
        while True:
            try:
                if address is None:
                    return self._socket.sendmsg(buffers, ancdata, flags)  # type: ignore[no-any-return]
                return self._socket.sendmsg(buffers, ancdata, flags, address)  # type: ignore[no-any-return]
            except WantWrite:
                await _write_wait(self._fileno)

    # -- connections -----------------------------------------------------
    async def accept(self) -> tuple[Socket, Any]:
        """Wait for a connection; return ``(Socket, address)``."""
        while True:
            try:
                client, addr = self._socket.accept()
            except WantRead:
                await _read_wait(self._fileno)
                continue
            try:
                return Socket(client), addr
            except BaseException:  # pragma: no cover - setblocking failed
                client.close()
                raise

    async def connect(self, address: Any) -> None:
        """Connect to *address*; a failure raises the usual ``OSError``."""
        try:
            result = self._socket.connect(address)
        except WantWrite:
            await _write_wait(self._fileno)
            err = self._socket.getsockopt(_SOL_SOCKET, _SO_ERROR)
            if err != 0:
                raise OSError(err, f"Connect call failed {address!r}: {os.strerror(err)}")
            result = None
        if getattr(self._socket, "do_handshake_on_connect", False):
            await self.do_handshake()
        return result

    async def connect_ex(self, address: Any) -> int:
        """Like :meth:`connect` but return an ``errno`` value (0 on success)."""
        try:
            await self.connect(address)
            return 0
        except OSError as e:
            return e.errno or -1

    async def do_handshake(self) -> None:
        """Run the TLS handshake (TLS sockets only)."""
        while True:
            try:
                return self._socket.do_handshake()  # type: ignore[no-any-return]
            except _SSLWantRead:
                await _read_wait(self._fileno)
            except _SSLWantWrite:
                await _write_wait(self._fileno)

    async def unwrap(self) -> Socket:
        """Shut TLS down and return the plain socket (TLS sockets only).

        This :class:`Socket` is unusable afterwards."""
        while True:
            try:
                plain = self._socket.unwrap()
                break
            except _SSLWantRead:
                await _read_wait(self._fileno)
            except _SSLWantWrite:
                await _write_wait(self._fileno)
        # The new wrapper owns the descriptor now.
        self._fileno = -1
        return Socket(plain)

    async def shutdown(self, how: int) -> None:
        """Shut down one or both directions (``SHUT_RD``, ``SHUT_WR``, ``SHUT_RDWR``)."""
        self._socket.shutdown(how)

    async def close(self) -> None:
        """Close the socket.  Tasks blocked on it get ``ClosedResourceError``.

        Closing twice is harmless."""
        if self._fileno >= 0:
            fd = self._fileno
            self._fileno = -1
            await _io_release(fd)
        self._socket.close()

    # -- adapters --------------------------------------------------------
    def as_stream(self) -> SocketStream:
        """A buffered :class:`SocketStream` on this socket (same file descriptor)."""
        return SocketStream(self)

    def makefile(self, mode: str, buffering: int = 0, *, encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None) -> FileStream:  # fmt: skip
        """A binary :class:`FileStream` on this socket (prefer :meth:`as_stream`).

        *encoding*, *errors* and *newline* exist for the stdlib's signature; as
        with ``open()`` in binary mode, giving one raises ``ValueError``."""
        if "b" not in mode:
            raise RuntimeError("File can only be created in binary mode")
        if encoding is not None or errors is not None or newline is not None:
            raise ValueError("binary mode takes no encoding, errors or newline argument")
        f = self._socket.makefile(mode, buffering=buffering)
        return FileStream(f)

    async def __aenter__(self) -> Socket:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.close()

    # A plain 'with' works in an async thread; elsewhere AsyncOnlyError.
    __enter__ = sync_enter
    __exit__ = sync_exit


async def _send_rest(send: Any, fileno: int, data: Any, nsent: int, flags: int) -> int:
    """Send *data* from byte offset *nsent* on, waiting as needed; return the
    total.  A cancellation gets ``bytes_sent`` (the bytes that went out)."""
    with memoryview(data) as view, view.cast("B") as buffer:
        total = len(buffer)
        try:
            while nsent < total:
                try:
                    nsent += send(buffer[nsent:], flags)
                except WantWrite:
                    await _write_wait(fileno)
                except WantRead:
                    await _read_wait(fileno)
        except CancelledError as e:
            e.bytes_sent = nsent  # type: ignore[attr-defined]
            raise
    return total


class StreamBase:
    """Buffered byte-stream logic shared by :class:`SocketStream` and :class:`FileStream`.

    Subclasses provide ``_read(maxbytes)`` (one non-blocking read, waiting
    as needed; ``b''`` at EOF) and ``write(data)``.
    """

    def __init__(self, fileobj: Any) -> None:
        self._file = fileobj
        self._fileno: int = _token(fileobj.fileno())
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

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.close()

    # Plain 'with', 'for' and next() work in an async thread; elsewhere AsyncOnlyError.
    __enter__ = sync_enter
    __exit__ = sync_exit
    __iter__ = sync_iter
    __next__ = sync_next

    async def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class SocketStream(StreamBase):
    """A buffered, file-like async stream over a socket.

    The socket (a stdlib socket or a :class:`Socket`) is put in non-blocking
    mode and closed only by :meth:`close` or ``async with``."""

    def __init__(self, sock: Any) -> None:
        # A stream made from a Socket shares its FdToken: one owner of the fd.
        owner = sock
        if isinstance(sock, Socket):
            sock = sock._socket
        sock.setblocking(False)
        super().__init__(owner)
        self._file = sock
        self._socket = sock
        self._socket_recv = sock.recv
        self._socket_send = sock.send
        self._plain = not hasattr(sock, "pending")
        self._rwait = 0

    def __repr__(self) -> str:
        return f"<curionet.SocketStream {self._socket!r}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._socket, name)

    async def _read(self, maxbytes: int = -1) -> bytes:
        # Same "wait first" policy as Socket.recv (see there).
        if maxbytes < 0:
            maxbytes = 65536
        rw = self._rwait
        if _WAIT_FIRST <= rw < _SAMPLE:
            self._rwait = rw + 1
            await _read_wait(self._fileno)
        else:
            try:
                data = self._socket_recv(maxbytes)
            except WantRead:
                if self._plain:
                    self._rwait = _WAIT_FIRST if rw else 1
                await _read_wait(self._fileno)
            except WantWrite:
                await _write_wait(self._fileno)
            else:
                if rw:
                    self._rwait = 0
                return data  # type: ignore[no-any-return]
        while True:
            try:
                data = self._socket_recv(maxbytes)
            except WantRead:
                await _read_wait(self._fileno)
                continue
            except WantWrite:
                await _write_wait(self._fileno)
                continue
            if len(data) == maxbytes:
                self._rwait = 0
            return data  # type: ignore[no-any-return]

    async def write(self, data: Any) -> int:
        """Write all of *data* (see :meth:`Socket.sendall`); returns ``len(data)``.

        If cancelled part-way, the exception's ``bytes_written`` says how
        much went out."""
        send_hint.sent = True
        try:
            nsent = self._socket_send(data)
        except WantWrite:
            nsent = 0
        except WantRead:
            nsent = 0
        else:
            if nsent == len(data) and (type(data) is bytes or type(data) is bytearray):
                return nsent
        try:
            return await _send_rest(self._socket_send, self._fileno, data, nsent, 0)
        except CancelledError as e:
            e.bytes_written = e.bytes_sent  # type: ignore[attr-defined]
            raise

    @contextmanager
    def blocking(self) -> Iterator[Any]:
        """The stream as a blocking binary file (``open(fd, 'rb+', closefd=False)``)."""
        if self._buffer:
            raise OSError("There is unread buffered data in the stream")
        f = open(self._fileno, "rb+", buffering=0, closefd=False)
        self._socket.setblocking(True)
        try:
            yield f
        finally:
            f.close()
            self._socket.setblocking(False)

    async def close(self) -> None:
        """Close the stream and its socket."""
        if self._fileno >= 0:
            fd = self._fileno
            self._fileno = -1
            await _io_release(fd)
        self._socket.close()


class FileStream(StreamBase):
    """A buffered async stream over a binary file object that supports
    non-blocking I/O (pipes, ``socket.makefile()``, subprocess streams).

    The file's descriptor is put in non-blocking mode; reads and writes go
    straight to the descriptor.  The file is closed only by :meth:`close`
    or ``async with``."""

    def __init__(self, fileobj: Any) -> None:
        super().__init__(fileobj)
        os.set_blocking(self._fileno, False)

    def __repr__(self) -> str:
        return f"<curionet.FileStream {self._file!r}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._file, name)

    async def _read(self, maxbytes: int = -1) -> bytes:
        if self._fileno < 0:
            raise ClosedResourceError("stream is closed")
        if maxbytes < 0:
            maxbytes = 65536
        while True:
            try:
                return os.read(self._fileno, maxbytes)
            except WantRead:
                await _read_wait(self._fileno)

    async def write(self, data: Any) -> int:
        """Write all of *data*; returns ``len(data)``.  If cancelled, the
        exception's ``bytes_written`` says how much went out."""
        if self._fileno < 0:
            raise ClosedResourceError("stream is closed")
        with memoryview(data) as view, view.cast("B") as buffer:
            total = len(buffer)
            nsent = 0
            try:
                while nsent < total:
                    try:
                        nsent += os.write(self._fileno, buffer[nsent:])
                    except WantWrite:
                        await _write_wait(self._fileno)
            except CancelledError as e:
                e.bytes_written = nsent  # type: ignore[attr-defined]
                raise
        return total

    @contextmanager
    def blocking(self) -> Iterator[Any]:
        """The underlying file, temporarily in blocking mode."""
        if self._buffer:
            raise OSError("There is unread buffered data in the stream")
        os.set_blocking(self._fileno, True)
        try:
            yield self._file
        finally:
            os.set_blocking(self._fileno, False)

    async def close(self) -> None:
        """Close the stream and the file."""
        if self._fileno >= 0:
            fd = self._fileno
            self._fileno = -1
            await _io_release(fd)
        self._file.close()


_ = io
