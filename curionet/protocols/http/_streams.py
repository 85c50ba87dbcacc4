"""The byte streams the HTTP connection runs over, and how to open one.

A stream has three coroutines and one synchronous check::

    await stream.receive_some(max_bytes, timeout)  # b"" at EOF; TimeoutError
    await stream.send_all(data, timeout)           # TimeoutError, OSError
    await stream.aclose()                          # never blocks
    stream.is_readable()                           # idle connection went stale?

``timeout`` (seconds or ``None``) bounds one wait, through the kernel's
``timeout_after``, so it follows the mock clock in tests.  The connection
turns ``TimeoutError``/``OSError`` into the HTTP error hierarchy.

Discussion: the fast path.  A receive first tries the non-blocking syscall
and only when that would block enters the kernel (and the timeout block);
on a busy keep-alive connection most reads complete without a trap.  Right
after a request, :meth:`SocketStream.wait_readable` asks a one-socket poll
set first (no exception when nothing is there, unlike a failing ``recv``):
a fast peer has often answered already, and then the read needs no trap and
no timeout block at all.  Closing
is immediate (release the descriptor in the kernel, close it): no TLS
``close_notify`` round trip, so closing on a cancellation path cannot block.

Connections are opened through the Happy Eyeballs connector
(:func:`curionet.protocols.happy_eyeballs.open_tcp_stream`) when it is
available, else with a plain non-blocking connect to each resolved address.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
from typing import Any, Protocol

from ...errors import TaskTimeout
from ...kernel.io import send_hint
from ...kernel.time import timeout_after
from ...kernel.traps import _io_release, _read_wait, _write_wait

__all__ = ["Stream", "SocketStream", "TLSStream", "open_stream"]

_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError)


class Stream(Protocol):
    """What :class:`HTTP11Connection` needs from a transport stream."""

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes: ...

    async def send_all(self, data: bytes, timeout: float | None = None) -> None: ...

    async def aclose(self) -> None: ...

    def is_readable(self) -> bool: ...


async def _wait(trap: Any, sock: Any, timeout: float | None) -> None:
    if timeout is None:
        await trap(sock)
        return
    try:
        async with timeout_after(timeout):
            await trap(sock)
    except TaskTimeout as exc:
        raise TimeoutError(f"no progress in {timeout} s") from exc


class SocketStream:
    """A stream over a connected non-blocking stdlib socket (plain or
    ``ssl.SSLSocket``).  *owner* is the curionet ``Socket`` wrapping it, if
    any; it is closed with the stream."""

    __slots__ = ("_sock", "_owner", "_tls", "closed", "_poll")

    def __init__(self, sock: socket.socket, owner: Any = None) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover
                pass
        self._sock = sock
        self._owner = owner
        self._tls = isinstance(sock, ssl.SSLSocket)
        self.closed = False
        # "Would a receive block?" without a failing syscall and its
        # exception: a private poll set holding just this socket (EOF and
        # errors count as readable, as they do for recv).
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)

    def fileno(self) -> int:
        return self._sock.fileno()

    def get_extra_info(self, name: str) -> Any:
        if name == "socket":
            return self._sock
        if name == "ssl_object":
            return self._sock if self._tls else None
        if name == "peername":
            return self._sock.getpeername()
        return None

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:
        sock = self._sock
        while True:
            try:
                return sock.recv(max_bytes)
            except _WOULD_BLOCK:
                await _wait(_read_wait, sock, timeout)
            except ssl.SSLWantWriteError:  # pragma: no cover - renegotiation
                await _wait(_write_wait, sock, timeout)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    async def receive_into(self, buffer: Any, timeout: float | None = None) -> int:
        """Receive into *buffer* (a writable buffer); 0 at EOF."""
        sock = self._sock
        while True:
            try:
                return sock.recv_into(buffer)
            except _WOULD_BLOCK:
                await _wait(_read_wait, sock, timeout)
            except ssl.SSLWantWriteError:  # pragma: no cover - renegotiation
                await _wait(_write_wait, sock, timeout)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return 0

    async def wait_readable(self, timeout: float | None = None) -> None:
        """Wait until a receive would not block.  Used right after sending a
        request, when trying the syscall first would almost always fail."""
        sock = self._sock
        if self._tls and sock.pending():  # type: ignore[attr-defined]
            return
        if self._poll.poll(0):
            return  # already readable (a fast peer): no trap, no timeout block
        if timeout is None:
            await _read_wait(sock)
            return
        try:
            async with timeout_after(timeout):
                await _read_wait(sock)
        except TaskTimeout as exc:
            raise TimeoutError(f"no progress in {timeout} s") from exc

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:
        sock = self._sock
        send_hint.sent = True  # an answer is due: the kernel may busy-poll for it
        try:
            # A request usually fits the socket buffer: one send, no view.
            n = sock.send(data)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            n = 0
        if n == len(data):
            return
        view = memoryview(data)[n:]
        try:
            while view:
                try:
                    n = sock.send(view)
                except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                    await _wait(_write_wait, sock, timeout)
                    continue
                except ssl.SSLWantReadError:  # pragma: no cover - renegotiation
                    await _wait(_read_wait, sock, timeout)
                    continue
                view = view[n:]
        finally:
            view.release()

    def has_pending_data(self) -> bool:
        """Whether bytes (not just EOF) are waiting to be received, without
        consuming them."""
        if self.closed:
            return False
        sock = self._sock
        if self._tls:
            return bool(sock.pending())  # type: ignore[attr-defined]
        try:
            return bool(sock.recv(1, socket.MSG_PEEK))
        except (BlockingIOError, InterruptedError, OSError):
            return False

    def is_readable(self) -> bool:
        """``True`` when the peer sent something (or closed) while the
        connection was idle: then it cannot be reused."""
        if self.closed:
            return True
        if not self._poll.poll(0):
            return False  # nothing to receive, no EOF, no error
        sock = self._sock
        try:
            # socket.socket.recv bypasses TLS: we only peek at raw TCP bytes.
            peek = socket.socket.recv(sock, 1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not peek:
            return True
        if self._tls:
            # Possibly a TLS 1.3 session ticket: let OpenSSL consume it.
            try:
                sock.recv(1)
            except ssl.SSLWantReadError:
                return False
            except (OSError, ValueError):
                return True
            return True  # application data or EOF: stale either way
        return True

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        owner, self._owner = self._owner, None
        if owner is not None:
            await owner.close()  # releases the descriptor in the kernel, then closes
            self._sock.close()
            return
        sock = self._sock
        try:
            if sock.fileno() >= 0:
                await _io_release(sock)
        finally:
            sock.close()


class TLSStream:
    """TLS (through ``ssl.MemoryBIO``) over another stream: used inside an
    HTTP proxy's ``CONNECT`` tunnel."""

    def __init__(self, stream: Any, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._stream = stream
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=False, server_hostname=server_hostname)
        self.closed = False

    def get_extra_info(self, name: str) -> Any:
        if name == "ssl_object":
            return self._obj
        return self._stream.get_extra_info(name) if hasattr(self._stream, "get_extra_info") else None

    async def _retry(self, fn: Any, *args: Any, timeout: float | None) -> Any:
        while True:
            want_read = False
            try:
                result = fn(*args)
            except ssl.SSLWantReadError:
                want_read = True
            out = self._out.read()
            if out:
                await self._stream.send_all(out, timeout)
            if not want_read:
                return result
            data = await self._stream.receive_some(65536, timeout)
            if data:
                self._in.write(data)
            else:
                self._in.write_eof()

    async def do_handshake(self, timeout: float | None = None) -> None:
        await self._retry(self._obj.do_handshake, timeout=timeout)

    async def receive_some(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await self._retry(self._obj.read, max_bytes, timeout=timeout)  # type: ignore[no-any-return]
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""

    async def send_all(self, data: bytes, timeout: float | None = None) -> None:
        view = memoryview(data)
        while view:
            n = await self._retry(self._obj.write, view, timeout=timeout)
            view = view[n:]

    def is_readable(self) -> bool:
        return bool(self.closed or self._obj.pending() or self._in.pending or self._stream.is_readable())

    async def aclose(self) -> None:
        self.closed = True
        await self._stream.aclose()


def _happy_eyeballs() -> Any:
    try:
        from ...kernel import io  # noqa: F401  (the connector returns kernel sockets)
        from ..happy_eyeballs import open_tcp_stream
    except ImportError:  # pragma: no cover - only while the layers below are missing
        return None
    return open_tcp_stream


def _raw_socket(sock: Any) -> socket.socket:
    raw = getattr(sock, "_socket", sock)
    if not isinstance(raw, socket.socket):  # pragma: no cover - defensive
        raise TypeError(f"the connector returned {sock!r}, which wraps no socket")
    return raw


async def _fallback_connect(host: str, port: int) -> socket.socket:
    """A plain non-blocking connect to each address in turn."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError | None = None
    for family, type_, proto, _, addr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            err = sock.connect_ex(addr)
            if err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                await _write_wait(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, f"connect to {addr!r} failed: {os.strerror(err)}")
            return sock
        except OSError as exc:
            last = exc
            await _io_release(sock)
            sock.close()
        except BaseException:
            await _io_release(sock)
            sock.close()
            raise
    raise last if last is not None else OSError(f"no address found for {host}")


async def _tls_handshake(raw: socket.socket, context: ssl.SSLContext, server_hostname: str) -> ssl.SSLSocket:
    tls = context.wrap_socket(raw, server_hostname=server_hostname, do_handshake_on_connect=False)
    try:
        while True:
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                await _read_wait(tls)
            except ssl.SSLWantWriteError:
                await _write_wait(tls)
    except BaseException:
        await _io_release(tls)
        tls.close()
        raise


async def open_stream(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None
) -> SocketStream:
    """Connect to *host*:*port* (TLS when *ssl_context* is given) and return a
    :class:`SocketStream`.  Whatever is opened is closed again if this is
    cancelled or fails."""
    connect = _happy_eyeballs()
    if connect is not None:
        sock = await connect(host, port, ssl=ssl_context, server_hostname=server_hostname or host)
        return SocketStream(_raw_socket(sock), owner=sock)
    raw = await _fallback_connect(host, port)
    if ssl_context is None:
        return SocketStream(raw)
    try:
        tls = await _tls_handshake(raw, ssl_context, server_hostname or host)
    except BaseException:
        await _io_release(raw)
        raw.close()
        raise
    return SocketStream(tls)
