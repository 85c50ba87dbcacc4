"""Async sockets and streams: :class:`Socket`, :class:`SocketStream`, :class:`FileStream`.

:class:`SocketStream` is also the socket implementation of the
:class:`~curionet.kernel.stream.Stream` protocol that HTTP and WebSocket run
over (``receive_some``, ``receive_into``, ``send_all``, ``send_eof``,
``wait_readable``, ``is_readable``, ``close``).

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

Every receive on a socket, whichever method it comes through, goes through
one read policy, :meth:`Socket.recv`'s (when to try the system call first
and when to wait for readability first).
"""

from __future__ import annotations

import errno
import io
import os
import select
import socket as _stdsocket
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import CancelledError, ClosedResourceError, TaskTimeout
from .athread import sync_enter, sync_exit
from .kernel import send_hint
from .stream import StreamBase, _within
from .time import timeout_after
from .traps import _io_release, _read_wait, _recv_wait, _write_wait

try:
    from ssl import SSLWantReadError as _SSLWantRead, SSLWantWriteError as _SSLWantWrite
except ImportError:  # pragma: no cover - Python built without ssl

    class _SSLWantRead(Exception):  # type: ignore[no-redef]
        pass

    class _SSLWantWrite(Exception):  # type: ignore[no-redef]
        pass


__all__ = ["Socket", "SocketStream", "FileStream", "StreamBase", "WantRead", "WantWrite"]

#: Exceptions meaning "wait until readable, then retry".
WantRead = (BlockingIOError, InterruptedError, _SSLWantRead)
#: Exceptions meaning "wait until writable, then retry".
WantWrite = (BlockingIOError, InterruptedError, _SSLWantWrite)


_SOL_SOCKET = _stdsocket.SOL_SOCKET
_SO_ERROR = _stdsocket.SO_ERROR
_SHUT_WR = _stdsocket.SHUT_WR
_MSG_PEEK = _stdsocket.MSG_PEEK
_raw_recv = _stdsocket.socket.recv  # past TLS: the bytes on the wire

# ---------------------------------------------------------------------------
# The read policy
# ---------------------------------------------------------------------------

# States of a reader's ``_rwait`` (the policy is Socket.recv's docstring): 0 =
# try first; 1 = try first, the last try failed; _WAIT_FIRST.._SAMPLE-1 = wait
# for readability first; _SAMPLE = try first once to see whether waiting is
# still worth it (every 32nd receive).
_WAIT_FIRST = 2
_SAMPLE = 34


def _wait(trap: Any, fd: int, timeout: float | None) -> Any:
    """The wait *trap* on *fd*, bounded by *timeout* (``TimeoutError``) unless
    it is ``None``.  A plain function, so an unbounded wait is the trap
    itself, with no coroutine around it."""
    return trap(fd) if timeout is None else _within(timeout, trap(fd))


def _raise_if_closed(r: Any) -> None:
    """In an ``except OSError`` block: the failure of a call on a socket
    that was closed is :class:`ClosedResourceError` (else the caller
    re-raises the original)."""
    if r._fileno < 0:
        raise ClosedResourceError("socket is closed")


def _tls_end(r: Any, maxsize: int, into: Any) -> None:
    """A TLS receive returned nothing: end of file (unless nothing was
    asked for), which OpenSSL repeats while the socket itself need not look
    readable (a close_notify with TCP still open).  Remembered for
    :meth:`SocketStream.is_readable`."""
    if maxsize or (into is not None and memoryview(into).nbytes):
        r._tls_eof = True


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

    __slots__ = (
        "_socket", "_fileno", "_socket_send", "_socket_recv", "_socket_recv_into", "_rwait", "_plain", "_tls_eof",
        "__weakref__",
    )  # fmt: skip
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
        self._socket_recv_into = sock.recv_into
        # The read policy (recv) waits first only on plain sockets.
        self._plain = not hasattr(sock, "pending")
        self._rwait = 0
        self._tls_eof = False

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
    async def recv(self: Any, maxsize: int, flags: int = 0, timeout: float | None = None, _into: Any = None) -> Any:
        """Receive up to *maxsize* bytes; ``b''`` means the peer closed.
        *timeout* (seconds) bounds each wait for data: ``TimeoutError``.

        This is the one read policy: every receive on a socket runs it,
        :meth:`recv_into` and :class:`SocketStream`'s reads too (they pass
        a buffer as *_into*: up to *maxsize* bytes, ``0`` meaning its size,
        go into it and the count is returned).  They call this function
        itself, with no coroutine around it, so a receive costs one
        coroutine, as the echo loop and the HTTP client need.

        Discussion: waiting first.  In request/response traffic the reply
        to what a task just sent is usually not there yet, so trying the
        receive first costs a failing system call and an exception per
        message.  After two tries in a row fail, a plain socket waits for
        readability first; every 32nd receive then tries first again (a
        sample: a failed one costs about a third of a round trip, so they
        are rare), and one that succeeds, or a receive that fills the whole
        buffer (bulk data is queued), returns to trying first.  Both ways
        are correct (waiting on a readable socket returns at once); this
        only picks the cheaper one.  TLS sockets always try first: OpenSSL
        may hold decrypted bytes that epoll cannot see.
        :meth:`SocketStream.wait_readable` sets the reader back to trying
        first: it knows the receive will not block.

        A receive that waits first hands the call to the kernel
        (``traps._recv_wait``), which makes it when a poll reports two or
        more sockets readable, before running any task that poll woke; the
        task wakes with the data (a socket reported alone is left to its
        task).  A server with many clients thus reads
        everything that arrived and then answers in a burst (as a callback
        event loop does), so a client is kept busy instead of being woken
        for each answer.  If the kernel's call would block after all, the
        task tries again itself; its error is raised in the task.  The
        kernel receives at most 8 MiB into new bytes objects per poll; the
        tasks after that receive for themselves."""
        into = _into
        rw = self._rwait
        result = None
        if _WAIT_FIRST <= rw < _SAMPLE:
            self._rwait = rw + 1
            if into is None:
                w = _recv_wait(self._fileno, self._socket_recv, maxsize, flags)
            else:
                w = _recv_wait(self._fileno, self._socket_recv_into, into, maxsize, flags)
            result = await (w if timeout is None else _within(timeout, w))
        else:
            try:
                if into is None:
                    result = self._socket_recv(maxsize, flags)
                else:
                    result = self._socket_recv_into(into, maxsize, flags)
            except WantRead:
                if self._plain:
                    self._rwait = _WAIT_FIRST if rw else 1
                await _wait(_read_wait, self._fileno, timeout)
            except WantWrite:
                await _wait(_write_wait, self._fileno, timeout)
            except OSError:
                _raise_if_closed(self)
                raise
            else:
                if rw:
                    self._rwait = 0
                if not result and not self._plain:
                    _tls_end(self, maxsize, into)
                return result
        while result is None:  # (None from a _recv_wait: the kernel's call would block)
            try:
                if into is None:
                    result = self._socket_recv(maxsize, flags)
                else:
                    result = self._socket_recv_into(into, maxsize, flags)
            except WantRead:
                await _wait(_read_wait, self._fileno, timeout)
            except WantWrite:
                await _wait(_write_wait, self._fileno, timeout)
            except OSError:
                _raise_if_closed(self)
                raise
        n = len(result) if into is None else result
        if n and n == (maxsize or memoryview(into).nbytes):
            self._rwait = 0
        elif not n and not self._plain:
            _tls_end(self, maxsize, into)
        return result

    async def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0, timeout: float | None = None) -> int:
        """Receive up to *nbytes* (default: the buffer's size) into *buffer*;
        return the count (same waiting policy and *timeout* as :meth:`recv`)."""
        return await self.recv(nbytes, flags, timeout, buffer)  # type: ignore[no-any-return]

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


async def _send_rest(send: Any, fileno: int, data: Any, nsent: int, flags: int, timeout: float | None = None) -> int:
    """Send *data* from byte offset *nsent* on, waiting as needed (each wait
    bounded by *timeout*); return the total.  A cancellation gets
    ``bytes_sent`` (the bytes that went out)."""
    with memoryview(data) as view, view.cast("B") as buffer:
        total = len(buffer)
        try:
            while nsent < total:
                try:
                    nsent += send(buffer[nsent:], flags)
                except WantWrite:
                    await _wait(_write_wait, fileno, timeout)
                except WantRead:
                    await _wait(_read_wait, fileno, timeout)
        except CancelledError as e:
            e.bytes_sent = nsent  # type: ignore[attr-defined]
            raise
    return total


class SocketStream(StreamBase):
    """A buffered, file-like async stream over a socket, plain or TLS, and
    the socket implementation of the
    :class:`~curionet.kernel.stream.Stream` protocol.

    The socket (a stdlib socket or a :class:`Socket`) is put in non-blocking
    mode and closed only by :meth:`close` or ``async with``.  Curio's file
    methods (``read``, ``readline``, ``write`` ...) and the ``Stream``
    methods share one buffer, so they can be mixed (a line-based handshake,
    then ``receive_some``)."""

    def __init__(self, sock: Any) -> None:
        # A stream made from a Socket shares its FdToken: one owner of the fd.
        owner = sock
        if isinstance(sock, Socket):
            sock = sock._socket
        sock.setblocking(False)
        super().__init__(owner)
        self._fileno = _token(self._fileno)
        self._file = sock
        self._socket = sock
        self._socket_recv = sock.recv
        self._socket_recv_into = sock.recv_into
        self._socket_send = sock.send
        self._plain = not hasattr(sock, "pending")
        self._rwait = 0
        self._poll: Any = None  # a poll set of this socket alone, made when first needed
        # TLS end of file seen: OpenSSL answers b"" from now on, while the
        # socket itself need not look readable (close_notify, TCP still open).
        self._tls_eof = False

    # No __getattr__ delegating to the socket: a class with one pays for it
    # on every attribute access (CPython cannot specialise them), and this
    # class's are on the HTTP client's path several times per request.
    def __repr__(self) -> str:
        return f"<curionet.SocketStream {self._socket!r}>"

    # Every read runs the one read policy, Socket.recv (this class has the
    # attributes it uses), and returns its coroutine: no second one around it.
    _recv = Socket.recv

    def _read(self, maxbytes: int = -1) -> Coroutine[Any, Any, bytes]:  # type: ignore[override]
        return self._recv(maxbytes if maxbytes >= 0 else 65536)  # type: ignore[no-any-return]

    async def write(self, data: Any) -> int:
        """Write all of *data* (see :meth:`Socket.sendall`); returns ``len(data)``.

        If cancelled part-way, the exception's ``bytes_written`` says how
        much went out.  (Curio's name for :meth:`send_all`.)"""
        try:
            await self.send_all(data)
        except CancelledError as e:
            e.bytes_written = e.bytes_sent  # type: ignore[attr-defined]
            raise
        return len(data) if type(data) is bytes or type(data) is bytearray else memoryview(data).nbytes

    # -- the Stream protocol (see curionet.kernel.stream) -----------------
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fileno < 0

    # receive_some and receive_into are plain functions returning the read
    # policy's coroutine (Socket.recv): the HTTP client receives through
    # them once per request, and a coroutine around it would cost one more.
    def receive_some(self, max_bytes: int = 65536, timeout: float | None = None) -> Coroutine[Any, Any, bytes]:
        """Up to *max_bytes*: buffered bytes first, else one receive (waiting
        as the read policy says, each wait bounded by *timeout*); ``b""`` at
        end of file."""
        if self._buffer:
            return self.read(max_bytes)
        return self._recv(max_bytes, 0, timeout)  # type: ignore[no-any-return]

    def receive_into(self, buffer: Any, timeout: float | None = None) -> Coroutine[Any, Any, int]:
        """Receive into *buffer*: buffered bytes first, else one receive;
        ``0`` at end of file."""
        if self._buffer:
            return self.readinto(buffer)
        return self._recv(0, 0, timeout, buffer)  # type: ignore[no-any-return]

    async def send_all(self, data: Any, timeout: float | None = None) -> None:
        """Send all of *data*, each wait bounded by *timeout*.  If cancelled
        part-way, the exception's ``bytes_sent`` says how much went out."""
        send_hint.sent = True  # an answer is due: the kernel may busy-poll for it
        try:
            # Usually one send takes everything: no view, no loop.
            nsent = self._socket_send(data)
        except WantWrite:
            nsent = 0
        except WantRead:
            nsent = 0
        except OSError:
            _raise_if_closed(self)
            raise
        else:
            if nsent == len(data) and (type(data) is bytes or type(data) is bytearray):
                return
        try:
            await _send_rest(self._socket_send, self._fileno, data, nsent, 0, timeout)
        except OSError:
            _raise_if_closed(self)
            raise

    async def send_eof(self) -> None:
        """Shut the sending side (``SHUT_WR``; TLS: a ``close_notify``
        alert first).  Receiving goes on working."""
        if self._fileno < 0:
            raise ClosedResourceError("stream is closed")
        sock = self._socket
        if not self._plain:
            while True:
                try:
                    sock.unwrap()
                except _SSLWantRead:
                    return  # ours is sent; the peer's close_notify is its own business
                except _SSLWantWrite:
                    await _write_wait(self._fileno)
                    continue
                break  # the peer had ended TLS already: the socket is plain again
        _stdsocket.socket.shutdown(sock, _SHUT_WR)

    def _poll_set(self) -> Any:
        """A poll set holding this socket alone, made on first use."""
        poll = self._poll = select.poll()
        poll.register(self._fileno, select.POLLIN)
        return poll

    async def wait_readable(self, timeout: float | None = None) -> None:
        """Wait until a receive would not block.  A one-socket poll set
        answers first, without a trap or a timeout block, when something
        (or end of file) is already there; the next receive then tries the
        system call first."""
        if self._fileno < 0:
            raise ClosedResourceError("stream is closed")
        if self._buffer or (not self._plain and (self._tls_eof or self._socket.pending())):
            return
        if not (self._poll or self._poll_set()).poll(0):
            # The HTTP client waits here once per request: the timeout block
            # is written out, to save the coroutine _wait would add.
            if timeout is None:
                await _read_wait(self._fileno)
            else:
                try:
                    async with timeout_after(timeout):
                        await _read_wait(self._fileno)
                except TaskTimeout as exc:
                    raise TimeoutError(errno.ETIMEDOUT, f"no progress in {timeout} s") from exc
        self._rwait = 0

    def is_readable(self) -> bool:
        """Whether a receive would return at once: data, end of file or an
        error is there (or the stream is closed).  A TLS stream lets OpenSSL
        take protocol records (session tickets) first: they do not count."""
        if self._buffer or self._fileno < 0 or self._tls_eof:
            return True
        if not (self._poll or self._poll_set()).poll(0):
            return False  # nothing to receive, no end of file, no error
        if self._plain:
            return True
        sock = self._socket
        try:
            peek = _raw_recv(sock, 1, _MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not peek:
            return True
        try:
            data = sock.recv(1)  # TLS: let OpenSSL read the record
        except _SSLWantRead:
            return False  # a protocol record only
        except (OSError, ValueError):
            return True
        self._buffer += data  # a byte of application data (or end of file)
        return True

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
        self._fileno = _token(self._fileno)
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
