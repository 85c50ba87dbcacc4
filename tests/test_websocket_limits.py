"""Resource limits of the WebSocket adapter against hostile or vanishing peers.

* A frame header that claims more than ``max_message_size`` is refused with
  1009 as soon as the header is parsed, before any payload, and nothing is
  allocated from the claimed length (compressed or not, whole or fragmented,
  server or client side).
* Decompression stays bounded by the limit, across fragments too.
* A closed connection is freed by reference counting alone: no cycles
  between the connection, its tasks and the tracebacks they keep.
* Stopping a server bounds each closing handshake by a short grace period
  (``shutdown_close_timeout``), not by ``close_timeout``.

Hand-built frames go over raw loopback sockets; the shutdown tests run on a
patient mock clock (it jumps only after 50 ms without I/O).
"""

from __future__ import annotations

import base64
import gc
import hashlib
import logging
import os
import signal
import struct
import subprocess
import sys
import tracemalloc
import weakref
import zlib

import pytest
from test_websocket_support import (
    assert_still_serving,
    close_payload,
    echo_handler as _echo,
    frame,
    raw_client,
    read_close,
    read_exactly,
    read_frame,
    read_until_eof,
)

import curionet
from curionet import Event, MockClock, TaskGroup, clock, sleep, spawn, timeout_after
from curionet.network import tcp_server_socket
from curionet.protocols.websocket import (
    ConnectionClosed,
    ConnectionClosedError,
    WebSocketServer,
    websocket_connect,
    websocket_server,
)

DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
MiB = 1 << 20
GUARD = 5  # seconds of real time: only a hang guard, 1009 comes at once


@pytest.fixture
def patient_clock():
    return MockClock(autojump_threshold=0.05)


async def accept_by_hand(sock, extra: str = "") -> None:
    """The server side of the opening handshake, by hand."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = await sock.recv(4096)
        assert chunk, f"EOF during handshake: {request!r}"
        request += chunk
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key"))  # fmt: skip
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    await sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extra.encode() + b"\r\n")  # fmt: skip


def header(opcode: int, length: int, *, rsv: int = 0, fin: bool = True, mask: bool = True) -> bytes:
    """A frame header announcing *length* bytes of payload, and nothing else."""
    return frame(opcode, b"", length=length, rsv=rsv, fin=fin, mask=mask)


def no_errors_logged(caplog) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


# ---------------------------------------------------------------------------
# Claimed lengths over the limit: 1009 at header time, no allocation
# ---------------------------------------------------------------------------

CLAIMS = {
    "compressed 256 MiB": (DEFLATE, 0b100, 256 * MiB),
    "plain 100 MiB, deflate negotiated": (DEFLATE, 0, 100 * MiB),
    "plain 100 MiB, no deflate": ("", 0, 100 * MiB),
    "compressed 1 TiB": (DEFLATE, 0b100, 1 << 40),
    "plain 1 TiB": ("", 0, 1 << 40),
    "compressed 2 MiB + 1": (DEFLATE, 0b100, 2 * MiB + 1),
}


@pytest.mark.parametrize("name", list(CLAIMS))
async def test_claimed_length_over_limit_gets_1009_without_payload(name, caplog):
    extra, rsv, claim = CLAIMS[name]
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=MiB) as server:
        sock = await raw_client(server.port, extra=extra)
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            await sock.sendall(header(0x2, claim, rsv=rsv))
            # The peer sends no payload at all: the Close must not wait for it.
            async with timeout_after(GUARD):
                code = await read_close(sock)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert code == 1009
        assert await read_until_eof(sock) == b""
        await sock.close()
        assert peak - start < 5 * MiB, f"{(peak - start) / MiB:.1f} MiB allocated for a header"
        await assert_still_serving(server.port)
    no_errors_logged(caplog)


async def test_fragmented_message_refused_when_next_header_passes_limit(caplog):
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=10_000, compression=False) as server:
        sock = await raw_client(server.port)
        await sock.sendall(frame(0x1, b"a" * 6000, fin=False))
        await sock.sendall(frame(0x9, b"ping between fragments"))
        assert await read_frame(sock) == (0xA, b"ping between fragments")
        # 6000 delivered + 6000 claimed > 10000: refused before the payload.
        await sock.sendall(header(0x0, 6000, fin=False))
        async with timeout_after(GUARD):
            assert await read_close(sock) == 1009
        await read_until_eof(sock)
        await sock.close()
        await assert_still_serving(server.port)
    no_errors_logged(caplog)


async def test_compressed_continuation_claiming_too_much_gets_1009(caplog):
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = comp.compress(b"hello " * 100) + comp.flush(zlib.Z_SYNC_FLUSH)
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=MiB) as server:
        sock = await raw_client(server.port, extra=DEFLATE)
        await sock.sendall(frame(0x1, first, rsv=0b100, fin=False))
        await sock.sendall(header(0x0, 64 * MiB))  # continuation: rsv1 clear
        async with timeout_after(GUARD):
            assert await read_close(sock) == 1009
        await read_until_eof(sock)
        await sock.close()
        await assert_still_serving(server.port)
    no_errors_logged(caplog)


async def test_fast_path_claim_between_frames_gets_1009():
    # A valid frame and an oversized header in the same segment.
    received = []

    async def handler(ws):
        async for message in ws:
            received.append(message)

    async with WebSocketServer("127.0.0.1", 0, handler, max_message_size=MiB, compression=False) as server:
        sock = await raw_client(server.port)
        await sock.sendall(frame(0x1, b"fine") + header(0x2, 3 * MiB))
        async with timeout_after(GUARD):
            assert await read_close(sock) == 1009
        await read_until_eof(sock)
        await sock.close()
    assert received == ["fine"]


async def test_client_refuses_server_frame_claiming_too_much(caplog):
    listener = tcp_server_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    seen = {}

    async def script():
        try:
            sock, _ = await listener.accept()
        finally:
            await listener.close()
        async with sock:
            await accept_by_hand(sock, DEFLATE)
            await sock.sendall(header(0x2, 256 * MiB, rsv=0b100, mask=False))
            b0, b1 = await read_exactly(sock, 2)
            rest = await read_exactly(sock, 4 + (b1 & 0x7F))
            payload = bytes(b ^ rest[i % 4] for i, b in enumerate(rest[4:]))
            seen["opcode"] = b0 & 0x0F
            seen["code"] = struct.unpack("!H", payload[:2])[0]

    async with TaskGroup() as g:
        await g.spawn(script)
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            async with timeout_after(GUARD):
                async with websocket_connect(f"ws://127.0.0.1:{port}/", close_timeout=1) as ws:
                    with pytest.raises(ConnectionClosedError):
                        await ws.receive()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert seen == {"opcode": 0x8, "code": 1009}
    assert peak - start < 5 * MiB
    no_errors_logged(caplog)


def test_parser_state_reads_wsproto_parser_state():
    # _parser_state reads wsproto's private decoder state: fail loudly if
    # a new wsproto moves it (the header-time check would silently stop).
    from wsproto import ConnectionType
    from wsproto.connection import Connection

    from curionet.protocols.websocket._wsproto import IDLE, _parser_state

    conn = Connection(ConnectionType.SERVER)
    assert _parser_state(conn) == IDLE
    conn.receive_data(header(0x2, 5000, fin=False) + b"\x00" * 100)
    events = list(conn.events())
    assert sum(len(e.data) for e in events) == 100
    assert _parser_state(conn) == 4900


@pytest.mark.parametrize("size", [0, 1, 1000, 70_000])
def test_deflate_bound_covers_incompressible_data(size):
    from curionet.protocols.websocket._deflate import _deflate_bound

    data = os.urandom(size)
    for level in (0, 1, 6, 9):
        for mem_level in (1, 5, 8, 9):
            for bits in (9, 15):
                comp = zlib.compressobj(level, zlib.DEFLATED, -bits, mem_level)
                out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
                assert len(out) - 4 <= _deflate_bound(size), (level, mem_level, bits)


# ---------------------------------------------------------------------------
# Buffers grow with what arrives, never with what is claimed
# ---------------------------------------------------------------------------


async def test_no_limit_buffer_grows_with_arrivals_not_claim(caplog):
    seen = []

    async def handler(ws):
        seen.append(ws)
        await _echo(ws)

    claim = 256 * MiB
    async with WebSocketServer("127.0.0.1", 0, handler, max_message_size=None) as server:
        sock = await raw_client(server.port, extra=DEFLATE)
        head = header(0x2, claim, rsv=0b100)
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            await sock.sendall(head + os.urandom(200_000))  # not a valid stream; never finished
            # Wait until the server has read all of it (bounded).
            for _ in range(500):
                if seen and seen[0]._partial_filled >= len(head) + 200_000:
                    break
                await sleep(0.01)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert seen and seen[0]._partial_filled >= len(head) + 200_000
        assert peak - start < 5 * MiB, f"{(peak - start) / MiB:.1f} MiB allocated for 200 kB"
        await sock.close()
        await assert_still_serving(server.port)
    no_errors_logged(caplog)


async def test_big_frame_in_pieces_still_delivered_whole():
    # A frame much bigger than one read, arriving slowly, is put together.
    payload = os.urandom(900_000)
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=MiB, compression=False) as server:
        sock = await raw_client(server.port)
        data = frame(0x2, payload)
        for i in range(0, len(data), 100_000):
            await sock.sendall(data[i : i + 100_000])
            await sleep(0.005)
        assert await read_frame(sock) == (0x2, payload)
        await sock.sendall(frame(0x8, close_payload(1000)))
        assert await read_close(sock) == 1000
        await read_until_eof(sock)
        await sock.close()


async def test_incompressible_message_at_the_limit_passes_compressed():
    # Deflate makes random data a little bigger: a message of exactly
    # max_message_size bytes has a compressed frame over the limit, and
    # must still get through.
    limit = 256 * 1024
    message = os.urandom(limit)
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=limit) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/", max_message_size=limit,
                                     ping_interval=None) as ws:  # fmt: skip
            await ws.send(message)
            assert await ws.receive() == message
            await ws.send(message[:1000] + b"x" * (limit - 1000 + 1))
            with pytest.raises(ConnectionClosedError) as info:
                await ws.receive()
            assert info.value.code == 1009


async def test_compressed_bomb_across_fragments_is_bounded(caplog):
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = comp.compress(b"\x00" * MiB)
    fragments = [chunk + comp.flush(zlib.Z_SYNC_FLUSH)]
    for _ in range(63):
        fragments.append(comp.compress(b"\x00" * MiB) + comp.flush(zlib.Z_SYNC_FLUSH))
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=MiB) as server:
        sock = await raw_client(server.port, extra=DEFLATE)
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            try:
                await sock.sendall(frame(0x2, fragments[0], rsv=0b100, fin=False))
                for piece in fragments[1:]:
                    await sock.sendall(frame(0x0, piece, fin=False))
            except OSError:
                pass  # the server may have closed already
            async with timeout_after(GUARD):
                assert await read_close(sock) == 1009
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        await read_until_eof(sock)
        await sock.close()
        assert peak - start < 8 * MiB, f"{(peak - start) / MiB:.1f} MiB while refusing a 64 MiB bomb"
        await assert_still_serving(server.port)
    no_errors_logged(caplog)


# ---------------------------------------------------------------------------
# Closed connections are freed at once
# ---------------------------------------------------------------------------


async def _count_alive(refs: list, server: WebSocketServer) -> list:
    for _ in range(200):  # the server's side finishes just after the client's
        if not server.connections and all(r() is None for r in refs):
            break
        await sleep(0.01)
    return [r() for r in refs if r() is not None]


async def test_closed_connections_are_freed_without_the_cycle_collector():
    refs: list[weakref.ref] = []

    async def handler(ws):
        refs.append(weakref.ref(ws))
        async for message in ws:
            await ws.send(message)

    gc.collect()
    gc.disable()
    try:
        async with WebSocketServer("127.0.0.1", 0, handler) as server:
            url = f"ws://127.0.0.1:{server.port}/"

            async def one(i: int) -> None:
                async with websocket_connect(url) as ws:
                    refs.append(weakref.ref(ws))
                    await ws.send(f"hello {i}")
                    assert await ws.receive() == f"hello {i}"

            for batch in range(20):
                async with TaskGroup() as g:
                    for i in range(50):
                        await g.spawn(one, batch * 50 + i)
            alive = await _count_alive(refs, server)
            assert len(refs) == 2000
            assert not alive, f"{len(alive)} closed WebSocket objects alive without gc: {alive[:3]}"
    finally:
        gc.enable()
    gc.collect()
    assert all(r() is None for r in refs)


@pytest.mark.parametrize("how", ["server closes", "handler crashes", "message too big"])
async def test_connections_closed_other_ways_are_freed_too(how):
    # The client never calls close(): the connection ends from the server's
    # side (the keepalive, sleeping for 20 s, must not hold it).
    refs: list[weakref.ref] = []

    async def handler(ws):
        refs.append(weakref.ref(ws))
        if how == "server closes":
            return
        message = await ws.receive()
        if how == "handler crashes":
            raise RuntimeError("boom")
        await ws.send(message)

    # A logged failure's record keeps its traceback (and so the handler's
    # frames); pytest's log capture keeps every record, a real handler does not.
    logger = logging.getLogger("curionet")
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    logger.propagate = False
    gc.collect()
    gc.disable()
    try:
        async with WebSocketServer("127.0.0.1", 0, handler, max_message_size=100) as server:
            for _ in range(30):
                ws = await websocket_connect(f"ws://127.0.0.1:{server.port}/")
                refs.append(weakref.ref(ws))
                await ws.send("x" * (1000 if how == "message too big" else 10))
                with pytest.raises(ConnectionClosed):
                    await ws.receive()
                await ws.wait_closed()
                del ws
            alive = await _count_alive(refs, server)
            assert len(refs) == 60
            assert not alive, f"{len(alive)} closed WebSocket objects alive without gc: {alive[:3]}"
    finally:
        gc.enable()
        logger.propagate = True
        logger.removeHandler(quiet)


# ---------------------------------------------------------------------------
# Shutdown: a short grace period for the closing handshake
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("grace", [0.2, None])
async def test_server_close_bounds_close_handshake_by_grace(grace, patient_clock):
    options = {} if grace is None else {"shutdown_close_timeout": grace}
    server = WebSocketServer("127.0.0.1", 0, _echo, close_timeout=30, **options)
    peers = []
    try:
        async with timeout_after(60):  # virtual seconds: a hang guard
            await server.start()
            peers = [await raw_client(server.port) for _ in range(3)]
            while len(server.connections) < 3:
                await sleep(0.01)
            start = await clock()
            await server.close()
            elapsed = await clock() - start
        # Not close_timeout (30 s): the grace period (default 1 s).
        assert elapsed < (1 if grace is not None else 5), elapsed
        for sock in peers:
            assert await read_close(sock) == 1001
            assert await read_until_eof(sock) == b""
    finally:
        for sock in peers:
            await sock.close()


async def test_cancelled_websocket_server_bounds_close_handshake(patient_clock):
    listener = tcp_server_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    await listener.close()
    opened = []

    async def handler(ws):
        opened.append(ws)
        await _echo(ws)

    async def serve():
        await websocket_server("127.0.0.1", port, handler, close_timeout=30, shutdown_close_timeout=0.2)

    task = await spawn(serve)
    peer = None
    try:
        async with timeout_after(60):
            while peer is None:
                try:
                    peer = await raw_client(port)
                except OSError:
                    await sleep(0.01)
            while not opened:
                await sleep(0.01)
            start = await clock()
            await task.cancel()  # what run() does on SIGINT/SIGTERM
            elapsed = await clock() - start
        assert elapsed < 1, elapsed
        assert await read_close(peer) == 1001
        assert await read_until_eof(peer) == b""
    finally:
        await task.cancel()
        if peer is not None:
            await peer.close()


@pytest.mark.parametrize("grace", [0.2, None])
async def test_client_cancelled_bounds_close_handshake(grace, patient_clock):
    options = {} if grace is None else {"shutdown_close_timeout": grace}
    listener = tcp_server_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    got = {}

    async def silent_server():
        try:
            sock, _ = await listener.accept()
        finally:
            await listener.close()
        async with sock:
            await accept_by_hand(sock)
            got["eof"] = await read_until_eof(sock)  # reads our Close, never answers

    connected = Event()

    async def client():
        async with websocket_connect(f"ws://127.0.0.1:{port}/", close_timeout=30, **options) as ws:
            await connected.set()
            await ws.receive()

    async with timeout_after(60), TaskGroup() as g:  # virtual seconds: a hang guard
        await g.spawn(silent_server)
        task = await g.spawn(client)
        await connected.wait()
        start = await clock()
        await task.cancel()
        elapsed = await clock() - start
    assert elapsed < (1 if grace is not None else 5), elapsed  # not close_timeout (30 s)
    assert got["eof"][:1] == b"\x88"  # our Close frame went out first


async def test_normal_close_unaffected_by_shutdown_grace():
    # The grace period only applies to a cancelled connection: a normal
    # close still completes the handshake and reports 1000.
    async with WebSocketServer("127.0.0.1", 0, _echo, shutdown_close_timeout=0.1) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("x")
            assert await ws.receive() == "x"
        assert ws.close_code == 1000
    with pytest.raises(ConnectionClosed):
        await ws.receive()


_SIGTERM_SERVER = """
import curionet

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    async with curionet.WebSocketServer("127.0.0.1", 0, echo, close_timeout=30) as server:
        print(server.port, flush=True)
        await server.serve_forever()

curionet.run(main)
"""


async def test_sigterm_stops_server_within_grace():
    # The default grace (1 s), not close_timeout (30 s), bounds the shutdown.
    root = os.path.dirname(os.path.dirname(curionet.__file__))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.Popen([sys.executable, "-c", _SIGTERM_SERVER], stdout=subprocess.PIPE, env=env)
    peer = None
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        peer = await raw_client(port)  # never answers Close
        await sleep(0.1)  # let the server's handler start (not a timing assert)
        proc.send_signal(signal.SIGTERM)
        async with timeout_after(10):  # real seconds: a guard, far below close_timeout
            while proc.poll() is None:
                await sleep(0.02)
        assert await read_close(peer) == 1001
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        if peer is not None:
            await peer.close()
