"""Helpers shared by the WebSocket tests (and a check of the helpers).

* ``in_thread(func, *args)``: run blocking code (the ``websockets`` sync API)
  in a thread while the curionet kernel keeps running; returns its result.
* ``memory_stream_pair(limit)``: two connected in-memory streams with the
  ``recv``/``sendall``/``shutdown``/``close`` interface the WebSocket adapter
  uses; ``sendall`` waits while the peer holds more than *limit* unread bytes.
* ``frame(...)``: build a WebSocket frame by hand (for hostile-peer tests).
* ``read_frame(sock)``: read one frame from a curionet socket.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from typing import Any

from curionet import Event, sleep
from curionet.errors import ClosedResourceError


async def in_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the kernel
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    while thread.is_alive():
        await sleep(0.002)
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


class MemoryStream:
    def __init__(self, limit: int, chunk: int = 1 << 20) -> None:
        self.buffer = bytearray()
        self.limit = limit
        self.chunk = chunk  # most bytes one recv() returns
        self.peer: MemoryStream | None = None
        self.eof = False  # the peer shut its writing side
        self.closed = False
        self.readable = Event()
        self.writable = Event()

    async def recv(self, maxbytes: int) -> bytes:
        while not self.buffer and not self.eof:
            if self.closed:
                raise ClosedResourceError()
            self.readable.clear()
            await self.readable.wait()
        if self.closed:
            raise ClosedResourceError()
        n = min(maxbytes, self.chunk)
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        await self.writable.set()
        return data

    async def sendall(self, data: bytes) -> None:
        peer = self.peer
        assert peer is not None
        while True:
            if self.closed:
                raise ClosedResourceError()
            if peer.closed or peer.eof:
                raise BrokenPipeError("peer closed")
            if len(peer.buffer) <= peer.limit:
                break
            peer.writable.clear()
            await peer.writable.wait()
        peer.buffer += data
        await peer.readable.set()

    async def shutdown(self, how: int) -> None:
        assert self.peer is not None
        self.peer.eof = True
        await self.peer.readable.set()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.readable.set()
        await self.writable.set()
        if self.peer is not None:
            self.peer.eof = True
            await self.peer.readable.set()
            await self.peer.writable.set()


def memory_stream_pair(limit: int = 1 << 20, chunk: int = 1 << 20) -> tuple[MemoryStream, MemoryStream]:
    a, b = MemoryStream(limit, chunk), MemoryStream(limit, chunk)
    a.peer, b.peer = b, a
    return a, b


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
          length: int | None = None) -> bytes:  # fmt: skip
    """A frame as a client sends it (masked unless *mask* is false).
    *length* overrides the announced payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


async def read_exactly(sock: Any, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data


async def read_frame(sock: Any) -> tuple[int, bytes]:
    """Read one unmasked (server) frame: ``(opcode, payload)``."""
    b0, b1 = await read_exactly(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await read_exactly(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await read_exactly(sock, 8))
    assert not b1 & 0x80, "server frames are not masked"
    return b0 & 0x0F, await read_exactly(sock, n)


async def read_close(sock: Any) -> int | None:
    """Skip frames until a Close; return its code (None if no code)."""
    while True:
        opcode, payload = await read_frame(sock)
        if opcode == 8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


async def read_until_eof(sock: Any, limit: int = 1 << 22) -> bytes:
    data = b""
    while len(data) < limit:
        try:
            chunk = await sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- a hand-made client and a plain echo server, for tests that speak raw frames --

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


async def raw_client(port: int, path: str = "/", extra: str = "") -> Any:
    """A socket that did the opening handshake by hand (*extra*: more request
    header lines, each ending in CRLF)."""
    from curionet.network import open_connection

    sock = await open_connection("127.0.0.1", port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    await sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await sock.recv(1)
        assert chunk, f"EOF during handshake: {head!r}"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    assert ACCEPT in head
    if "permessage-deflate" in extra:
        assert b"permessage-deflate" in head.lower()
    return sock


async def echo_handler(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def assert_still_serving(port: int) -> None:
    """A fresh client still gets its message echoed."""
    from curionet.protocols.websocket import websocket_connect

    async with websocket_connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
        await ws.send("still here")
        assert await ws.receive() == "still here"


async def test_memory_stream_pair_round_trip_and_eof():
    a, b = memory_stream_pair(limit=4)
    await a.sendall(b"hello")
    assert await b.recv(3) == b"hel"
    assert await b.recv(10) == b"lo"
    await a.close()
    assert await b.recv(10) == b""


def test_frame_builder_masks_and_lengths():
    f = frame(0x1, b"hi", mask=False)
    assert f == b"\x81\x02hi"
    f = frame(0x2, b"x" * 200, mask=False)
    assert f[1] == 126 and struct.unpack("!H", f[2:4])[0] == 200
    f = frame(0x1, b"abcd")
    assert f[1] == 0x84 and len(f) == 2 + 4 + 4
