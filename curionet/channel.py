"""Message passing between processes (Curio's ``curio.channel``).

A :class:`Channel` is an address to meet at; ``accept()`` and ``connect()``
give a :class:`Connection` that sends and receives size-prefixed messages:
bytes (``send_bytes``/``recv_bytes``) or pickled objects (``send``/``recv``).
The framing and the optional ``authkey`` handshake are those of
:mod:`multiprocessing.connection`, so a curionet task can talk to a
``multiprocessing`` ``Listener``/``Client`` in another program::

    # producer                               # consumer
    ch = Channel(("localhost", 30000))       ch = Channel(("localhost", 30000))
    c = await ch.accept(authkey=b"key")      c = await ch.connect(authkey=b"key")
    await c.send({"job": 1})                 job = await c.recv()

Discussion: the handshake.  With an ``authkey`` each side sends the other a
random challenge and checks the HMAC of it that comes back, so both prove
they know the key without sending it.  The challenge carries the digest
name (``{sha256}``, as Python 3.12's ``multiprocessing`` does); a peer that
answers with a bare HMAC-MD5 (Python 3.11 and older) is accepted, and a
challenge without a digest name is answered with HMAC-MD5.  A handshake has
:attr:`Channel.handshake_timeout` seconds (1 s, Curio's figure): a failed or
stalled one makes ``connect()`` raise (:class:`AuthenticationError`,
``TimeoutError``) while ``accept()`` logs it, drops that client and goes on
waiting for the next one.

``recv()`` unpickles what the peer sent, which runs code of the peer's
choosing: only use it with peers you trust (that is what ``authkey`` is
for).  Message sizes are checked against ``maxlength`` before anything is
stored, and a message is read as it arrives, never into a buffer sized by
what the peer claims.
"""

from __future__ import annotations

import hmac
import logging
import os
import pickle
import socket as _socket
import struct
from typing import Any

from .errors import CurionetError, TaskTimeout
from .kernel.io import FileStream, Socket
from .kernel.time import timeout_after

__all__ = ["Channel"]

log = logging.getLogger(__name__)


class ConnectionError(CurionetError):  # Curio's name; shadows the builtin in this module only
    """A channel connection failed (Curio's ``curio.channel.ConnectionError``;
    not the builtin of the same name)."""


class AuthenticationError(ConnectionError):
    """The ``authkey`` handshake failed: the peer has another key, or does not
    speak the protocol."""


_CHALLENGE = b"#CHALLENGE#"
_WELCOME = b"#WELCOME#"
_FAILURE = b"#FAILURE#"
_DIGEST = "sha256"
_DIGESTS = frozenset({"md5", "sha256", "sha384", "sha3_256", "sha3_384"})
_CHALLENGE_BYTES = 40  # random bytes in a challenge we send
_MIN_CHALLENGE_BYTES = 20  # the shortest challenge we answer (Python <= 3.11 sends 20)
_HANDSHAKE_LIMIT = 256  # the longest handshake message we accept
_CHUNK = 256 * 1024  # read a large message in pieces of this size


def _split_digest(message: bytes) -> tuple[str, bytes]:
    """``('sha256', rest)`` for ``b'{sha256}rest'``; ``('', message)`` when the
    message names no digest (the legacy HMAC-MD5 protocol)."""
    if message.startswith(b"{"):
        end = message.find(b"}", 1, 20)
        if end > 0:
            name = message[1:end].decode("ascii", "replace")
            if name in _DIGESTS:
                return name, message[end + 1 :]
    return "", message


def _response(authkey: bytes, challenge: bytes) -> bytes:
    """The answer to *challenge*: a bare HMAC-MD5 for a legacy challenge,
    else ``{name}`` and the HMAC with the digest the challenge names."""
    name, _ = _split_digest(challenge)
    mac = hmac.new(authkey, challenge, name or "md5").digest()
    return mac if not name else b"{%s}%s" % (name.encode("ascii"), mac)


def _verify(authkey: bytes, challenge: bytes, response: bytes) -> None:
    name, mac = _split_digest(response)
    expected = hmac.new(authkey, challenge, name or "md5").digest()
    if not hmac.compare_digest(expected, mac):
        raise AuthenticationError("digest received was wrong")


def _check_authkey(authkey: Any) -> bytes:
    if not isinstance(authkey, bytes):
        raise TypeError(f"authkey must be bytes, not {type(authkey).__name__}")
    return authkey


class Connection:
    """One end of a channel: size-prefixed messages over a pair of curionet
    streams (one stream may serve as both).  ``async with`` closes it."""

    def __init__(self, reader: Any, writer: Any) -> None:
        self._reader = reader
        self._writer = writer

    def __repr__(self) -> str:
        return f"<curionet.channel.Connection reader={self._reader!r}>"

    @classmethod
    def from_Connection(cls, conn: Any) -> Connection:
        """A :class:`Connection` taking over the file descriptor of a
        :class:`multiprocessing.connection.Connection` (for example one end of
        ``multiprocessing.Pipe()``), which is closed and may not be used any
        more."""
        readable, writable = conn.readable, conn.writable
        fd = os.dup(conn.fileno())
        conn.close()
        mode = "rb+" if readable and writable else ("rb" if readable else "wb")
        stream = FileStream(open(fd, mode, buffering=0))
        return cls(stream, stream)

    # -- bytes -------------------------------------------------------------------
    async def send_bytes(self, buf: Any, offset: int = 0, size: int | None = None) -> None:
        """Send ``buf[offset:offset + size]`` (all of *buf* by default) as one message."""
        with memoryview(buf) as view, view.cast("B") as data:
            total = len(data)
            if offset < 0:
                raise ValueError("offset is negative")
            if total < offset:
                raise ValueError("buffer length < offset")
            if size is None:
                size = total - offset
            elif size < 0:
                raise ValueError("size is negative")
            elif offset + size > total:
                raise ValueError("buffer length < offset + size")
            payload = data[offset : offset + size]
            header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
            if size <= 16384:
                await self._writer.write(header + payload)
            else:
                await self._writer.write(header)
                await self._writer.write(payload)

    async def _read_exactly(self, n: int) -> bytes:
        chunks = []
        while n > 0:
            chunk = await self._reader.read(min(n, _CHUNK))
            if not chunk:
                raise EOFError("the channel connection was closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    async def _recv_size(self) -> int:
        (size,) = struct.unpack("!i", await self._read_exactly(4))
        if size == -1:
            (size,) = struct.unpack("!Q", await self._read_exactly(8))
        elif size < 0:
            raise OSError(f"bad message length {size}")
        return int(size)

    async def recv_bytes(self, maxlength: int | None = None) -> bytes:
        """Receive one message as bytes.  A message longer than *maxlength*
        raises ``OSError`` before any of it is read (the connection is then
        out of step and should be closed); ``EOFError`` at end of stream."""
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        size = await self._recv_size()
        if maxlength is not None and size > maxlength:
            raise OSError(f"bad message length: {size} bytes, at most {maxlength} expected")
        return await self._read_exactly(size)

    async def recv_bytes_into(self, buf: Any, offset: int = 0) -> int:
        """Receive one message into the writable buffer *buf* from byte
        *offset* on; return its size.  If it does not fit,
        ``multiprocessing.BufferTooShort`` is raised with the message as its
        argument (as ``multiprocessing`` does)."""
        with memoryview(buf) as view, view.cast("B") as dest:
            if offset < 0 or offset > len(dest):
                raise ValueError("offset out of range")
            size = await self._recv_size()
            if size > len(dest) - offset:
                from multiprocessing import BufferTooShort

                raise BufferTooShort(await self._read_exactly(size))
            done = 0
            while done < size:
                chunk = await self._reader.read(min(size - done, _CHUNK))
                if not chunk:
                    raise EOFError("the channel connection was closed")
                dest[offset + done : offset + done + len(chunk)] = chunk
                done += len(chunk)
            return size

    # -- objects ---------------------------------------------------------------
    async def send(self, obj: Any) -> None:
        """Send a picklable object."""
        await self.send_bytes(pickle.dumps(obj))

    async def recv(self) -> Any:
        """Receive an object (unpickled: trusted peers only)."""
        return pickle.loads(await self.recv_bytes())

    # -- the authkey handshake ----------------------------------------------------
    async def _deliver_challenge(self, authkey: bytes) -> None:
        challenge = b"{%s}" % _DIGEST.encode("ascii") + os.urandom(_CHALLENGE_BYTES)
        await self.send_bytes(_CHALLENGE + challenge)
        response = await self.recv_bytes(_HANDSHAKE_LIMIT)
        try:
            _verify(authkey, challenge, response)
        except AuthenticationError:
            await self.send_bytes(_FAILURE)
            raise
        await self.send_bytes(_WELCOME)

    async def _answer_challenge(self, authkey: bytes) -> None:
        message = await self.recv_bytes(_HANDSHAKE_LIMIT)
        if not message.startswith(_CHALLENGE):
            raise AuthenticationError("protocol error: expected a challenge")
        challenge = message[len(_CHALLENGE) :]
        if len(challenge) < _MIN_CHALLENGE_BYTES:
            raise AuthenticationError(f"challenge too short: {len(challenge)} bytes")
        await self.send_bytes(_response(authkey, challenge))
        if await self.recv_bytes(_HANDSHAKE_LIMIT) != _WELCOME:
            raise AuthenticationError("digest sent was rejected")

    async def authenticate_server(self, authkey: bytes) -> None:
        """The accepting side's handshake: challenge the peer, then answer its
        challenge.  :class:`AuthenticationError` if either fails."""
        authkey = _check_authkey(authkey)
        await self._deliver_challenge(authkey)
        await self._answer_challenge(authkey)

    async def authenticate_client(self, authkey: bytes) -> None:
        """The connecting side's handshake: answer the peer's challenge, then
        challenge it.  :class:`AuthenticationError` if either fails."""
        authkey = _check_authkey(authkey)
        await self._answer_challenge(authkey)
        await self._deliver_challenge(authkey)

    # -- closing -------------------------------------------------------------
    async def close(self) -> None:
        """Close the stream(s)."""
        await self._reader.close()
        if self._writer is not self._reader:
            await self._writer.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.close()


class Channel:
    """A meeting point for two programs: a listening address for
    :meth:`accept`, or the address :meth:`connect` dials.

    *address* is a ``(host, port)`` pair (port ``0`` picks a free port,
    readable as :attr:`address` after :meth:`bind`) or, with
    ``family=socket.AF_UNIX``, a path.  *check_address*, if given, is called
    with each client's address and returns whether to accept it (it replaces
    :meth:`check_address`)."""

    #: Seconds an ``authkey`` handshake may take.
    handshake_timeout = 1.0

    def __init__(self, address: Any, family: int = _socket.AF_INET, check_address: Any = None) -> None:
        self.address = address
        self.family = family
        self._sock: Socket | None = None
        if check_address is not None:
            self.check_address = check_address  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"<curionet.channel.Channel address={self.address!r}>"

    def check_address(self, addr: Any) -> bool:
        """Whether to accept a client connecting from *addr* (default: all)."""
        return True

    def bind(self) -> None:
        """Start listening at :attr:`address` (``accept()`` does it if needed)."""
        if self._sock is not None:
            return
        sock = Socket(_socket.socket(self.family, _socket.SOCK_STREAM))
        try:
            if self.family != _socket.AF_UNIX:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            sock.bind(self.address)
            sock.listen(5)
        except BaseException:
            sock._socket.close()
            raise
        self.address = sock.getsockname()
        self._sock = sock

    async def accept(self, *, authkey: bytes | None = None) -> Connection:
        """Wait for a client and return the :class:`Connection` to it.

        With *authkey*, the client must pass the handshake; one that fails,
        stalls or is refused by :meth:`check_address` is logged (warning)
        and dropped, and ``accept()`` waits for the next client."""
        if authkey is not None:
            _check_authkey(authkey)
        self.bind()
        assert self._sock is not None
        while True:
            client, addr = await self._sock.accept()
            if not self.check_address(addr):
                log.warning("Channel %r: refused a connection from %r", self.address, addr)
                await client.close()
                continue
            stream = client.as_stream()
            conn = Connection(stream, stream)
            if authkey is None:
                return conn
            try:
                async with timeout_after(self.handshake_timeout):
                    await conn.authenticate_server(authkey)
            except (TaskTimeout, OSError, EOFError, AuthenticationError) as e:
                log.warning("Channel %r: handshake with %r failed: %r", self.address, addr, e)
                await conn.close()
                continue
            except BaseException:
                await conn.close()
                raise
            return conn

    async def connect(self, *, authkey: bytes | None = None) -> Connection:
        """Connect to :attr:`address` and return the :class:`Connection`.

        With *authkey* the handshake must succeed: :class:`AuthenticationError`
        if the keys differ, ``TimeoutError`` if the peer does not complete it
        within :attr:`handshake_timeout` seconds."""
        if authkey is not None:
            _check_authkey(authkey)
        sock = Socket(_socket.socket(self.family, _socket.SOCK_STREAM))
        try:
            await sock.connect(self.address)
        except BaseException:
            await sock.close()
            raise
        stream = sock.as_stream()
        conn = Connection(stream, stream)
        if authkey is not None:
            try:
                async with timeout_after(self.handshake_timeout):
                    await conn.authenticate_client(authkey)
            except TaskTimeout as e:
                await conn.close()
                raise TimeoutError(f"Channel connection to {self.address!r}: the handshake timed out") from e
            except BaseException:
                await conn.close()
                raise
        return conn

    async def close(self) -> None:
        """Stop listening."""
        sock, self._sock = self._sock, None
        if sock is not None:
            await sock.close()

    async def __aenter__(self) -> Channel:
        return self

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        await self.close()
