"""Hostile peers: hand-built frames on a raw loopback socket.

Each case checks the close code the server sends (or a clean close), that
the server keeps serving other clients afterwards, and that no socket is
left open.  Timeouts (open, close, keepalive) run on the autojump clock.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
import zlib

import pytest
from test_websocket_support import (
    KEY,
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

from curionet import MockClock, TaskGroup, clock, ignore_after, sleep
from curionet.network import open_connection, tcp_server_socket
from curionet.protocols.websocket import (
    ConnectionClosed,
    ConnectionClosedError,
    HandshakeError,
    WebSocketServer,
    websocket_connect,
)


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def expect_close(sock, code: int | None) -> None:
    """The server sends Close(*code*) and then closes the TCP connection."""
    assert await read_close(sock) == code
    await read_until_eof(sock)
    await sock.close()


@pytest.fixture
def patient_clock():
    """Auto-jumps only after 50 ms without I/O: loopback data that the OS
    has not delivered yet must not let the clock run past a timeout."""
    return MockClock(autojump_threshold=0.05)


@pytest.fixture
def fd_check():
    before = open_fds()
    yield
    assert open_fds() <= before, "a socket was left open"


HOSTILE_FRAMES = {
    "unmasked client frame": (frame(0x1, b"hello", mask=False), 1002),
    "reserved bit rsv2": (frame(0x1, b"hello", rsv=0b010), 1002),
    "rsv1 without compression": (frame(0x1, b"hello", rsv=0b100), 1002),
    "bad opcode 0x3": (frame(0x3, b"x"), 1002),
    "bad control opcode 0xB": (frame(0xB, b"x"), 1002),
    "oversized ping": (frame(0x9, b"p" * 126), 1002),
    "fragmented ping": (frame(0x9, b"p", fin=False), 1002),
    "continuation without start": (frame(0x0, b"x"), 1002),
    "new message inside fragmented one": (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002),
    "invalid utf-8": (frame(0x1, b"\xff\xfe"), 1007),
    "invalid utf-8 in close reason": (frame(0x8, close_payload(1000, b"\xff")), 1007),
    "close with 1-byte payload": (frame(0x8, b"\x03"), 1002),
    "close with reserved code 1005": (frame(0x8, close_payload(1005)), 1002),
    "close with code 999": (frame(0x8, close_payload(999)), 1002),
    "non-minimal length": (b"\x81\xfe\x00\x05" + os.urandom(4) + b"hello", 1002),
}


@pytest.mark.parametrize("name", list(HOSTILE_FRAMES))
async def test_hostile_frame_gets_right_close_code(name, fd_check):
    data, code = HOSTILE_FRAMES[name]
    errors = []

    async def handler(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed as exc:
            errors.append(exc)

    async with WebSocketServer("127.0.0.1", 0, handler, compression=False) as server:
        sock = await raw_client(server.port)
        await sock.sendall(data)
        await expect_close(sock, code)
        await assert_still_serving(server.port)
    assert not server.connections


async def test_invalid_utf8_fails_fast_inside_fragmented_text(fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo) as server:
        sock = await raw_client(server.port)
        # First fragment valid, second contains an invalid byte; the final
        # fragment is never sent: the server must not wait for it.
        await sock.sendall(frame(0x1, "héllo".encode(), fin=False))
        await sock.sendall(frame(0x0, b"ok \xc3\x28 broken", fin=False))
        await expect_close(sock, 1007)
        await assert_still_serving(server.port)


async def test_invalid_utf8_split_across_fragments_fails_fast(fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo) as server:
        # A sequence started in one fragment and broken in the next: 1007
        # at once, without waiting for the final fragment.
        sock = await raw_client(server.port)
        snowman = "☃".encode()
        await sock.sendall(frame(0x1, b"ok " + snowman[:2], fin=False))
        await sock.sendall(frame(0x0, b"\x28 rest", fin=False))
        await expect_close(sock, 1007)
        # A message whose last fragment leaves a sequence unfinished: 1007.
        sock = await raw_client(server.port)
        await sock.sendall(frame(0x1, b"ok " + snowman[:1], fin=False))
        await sock.sendall(frame(0x0, snowman[1:2], fin=False))
        await sock.sendall(frame(0x0, b""))
        await expect_close(sock, 1007)
        await assert_still_serving(server.port)
    assert not server.connections


async def test_utf8_sequence_split_across_fragments_is_valid(fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo) as server:
        sock = await raw_client(server.port)
        snowman = "☃".encode()
        await sock.sendall(frame(0x1, b"a" + snowman[:1], fin=False))
        await sock.sendall(frame(0x9, b"interleaved ping"))  # control frame between fragments
        await sock.sendall(frame(0x0, snowman[1:2], fin=False))
        await sock.sendall(frame(0x0, snowman[2:] + b"b"))
        assert await read_frame(sock) == (0xA, b"interleaved ping")
        assert await read_frame(sock) == (0x1, "a☃b".encode())
        await sock.sendall(frame(0x8, close_payload(1000)))
        assert await read_close(sock) == 1000
        await read_until_eof(sock)
        await sock.close()


async def test_message_over_max_size_announced_length(fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=10_000) as server:
        sock = await raw_client(server.port)
        # Announce 1 TB, send only 20 kB: the server must not wait for the rest.
        header = frame(0x2, b"", length=1 << 40)
        mask = header[-4:]
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\x00" * 20_000))
        await sock.sendall(header + payload)
        await expect_close(sock, 1009)
        await assert_still_serving(server.port)


async def test_message_over_max_size_in_many_fragments(fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=10_000) as server:
        sock = await raw_client(server.port)
        await sock.sendall(frame(0x2, b"x" * 1000, fin=False))
        for _ in range(20):
            await sock.sendall(frame(0x0, b"x" * 1000, fin=False))
        await expect_close(sock, 1009)
        await assert_still_serving(server.port)


async def test_compressed_bomb_is_refused_with_bounded_memory(fd_check):
    bomb_size = 200 * 1024 * 1024
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\x00" * (1 << 20)
    compressed = b"".join(comp.compress(chunk) for _ in range(bomb_size // len(chunk)))
    compressed += comp.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(compressed) < 400_000
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=1 << 20) as server:
        sock = await raw_client(server.port, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
        tracemalloc.start()
        try:
            await sock.sendall(frame(0x2, compressed, rsv=0b100))
            await expect_close(sock, 1009)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 16 * 1024 * 1024, f"peak {peak} bytes while refusing a 200 MiB bomb"
        await assert_still_serving(server.port)


async def test_peer_that_stops_reading_blocks_sender_with_bounded_memory(fd_check):
    sent = []
    size = 65536

    async def handler(ws):
        if ws.path != "/flood":
            return await _echo(ws)
        try:
            payload = os.urandom(size)  # incompressible
            for _ in range(10_000):  # 640 MiB if nothing pushed back
                await ws.send(payload)
                sent.append(size)
        except ConnectionClosed:
            pass

    async with WebSocketServer("127.0.0.1", 0, handler) as server:
        sock = await raw_client(server.port, "/flood")
        tracemalloc.start()
        try:
            previous = -1
            while previous != len(sent):  # wait until the sender is stuck
                previous = len(sent)
                await sleep(0.1)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert 0 < len(sent) < 10_000
        assert sum(sent) < 64 * 1024 * 1024  # what the socket buffers absorbed
        assert peak < 8 * 1024 * 1024
        await sock.close()
        await assert_still_serving(server.port)


async def test_receiver_that_does_not_read_stops_reading_socket(fd_check):
    # The handler never calls receive(): the inbox fills (max_queue), then
    # the server stops reading and the client's sends block.
    started = []

    async def handler(ws):
        if ws.path != "/idle":
            return await _echo(ws)
        started.append(ws)
        await sleep(3600)

    async with WebSocketServer("127.0.0.1", 0, handler, max_queue=4) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/idle", ping_interval=None) as client:
            count = 0
            payload = os.urandom(65536)  # incompressible: deflate cannot hide the volume
            async with ignore_after(0.5):
                while True:
                    await client.send(payload)
                    count += 1
            assert count < 2000  # bounded by max_queue + socket buffers, not 128 MiB
            assert len(started[0]._inbox) == 4
            client.close_timeout = 0.1


async def test_peer_never_answers_close_handshake(patient_clock, fd_check):
    async def handler(ws):
        if ws.path != "/bye":
            return await _echo(ws)
        await ws.close(1000, "bye")

    async with WebSocketServer("127.0.0.1", 0, handler, close_timeout=2) as server:
        sock = await raw_client(server.port, "/bye")
        assert await read_close(sock) == 1000
        start = await clock()
        # We never send our Close: the server waits close_timeout (virtual
        # time), then closes the TCP connection.
        assert await read_until_eof(sock) == b""
        assert 2 <= await clock() - start < 5
        await sock.close()
        await assert_still_serving(server.port)


async def test_slow_handshake_closed_after_open_timeout(patient_clock, fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo, open_timeout=1) as server:
        sock = await open_connection("127.0.0.1", server.port)
        start = await clock()
        await sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        assert await read_until_eof(sock) == b""
        assert 1 <= await clock() - start < 5  # closed by open_timeout, not another timer
        await sock.close()
        await assert_still_serving(server.port)


async def test_keepalive_closes_dead_peer_with_1011(patient_clock, fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo, ping_interval=5, ping_timeout=5) as server:
        sock = await raw_client(server.port)
        opcode, _ = await read_frame(sock)
        assert opcode == 0x9  # a keepalive ping we do not answer
        assert await read_close(sock) == 1011
        await read_until_eof(sock)
        await sock.close()
        await assert_still_serving(server.port)


async def test_keepalive_answered_keeps_connection(patient_clock, fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo, ping_interval=5, ping_timeout=5) as server:
        sock = await raw_client(server.port)
        for _ in range(3):
            opcode, payload = await read_frame(sock)
            assert opcode == 0x9
            await sock.sendall(frame(0xA, payload))
        await sock.sendall(frame(0x1, b"alive"))
        while True:
            opcode, payload = await read_frame(sock)
            if opcode != 0x9:
                break
            await sock.sendall(frame(0xA, payload))
        assert (opcode, payload) == (0x1, b"alive")
        await sock.sendall(frame(0x8, close_payload(1000)))
        await expect_close(sock, 1000)


async def test_whole_oversized_request_head_in_one_read_gets_431(fd_check):
    # A valid upgrade request whose head (about 20 KB) is over the 16 KiB
    # limit and arrives whole: h11 bounds only an incomplete head, so the
    # server must measure the whole one itself.
    async with WebSocketServer("127.0.0.1", 0, _echo) as server:
        request = (
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n"
            b"X-Pad: " + b"p" * 20_000 + b"\r\n\r\n"
        )
        sock = await open_connection("127.0.0.1", server.port)
        await sock.sendall(request)
        response = await read_until_eof(sock)
        await sock.close()
        assert response.startswith(b"HTTP/1.1 431"), response[:80]
        await assert_still_serving(server.port)


async def test_non_websocket_requests_get_http_errors(fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo) as server:
        for request, status in [
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"426"),
            (b"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n"
             b"Content-Length: 0\r\n\r\n", b"400"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\nSec-WebSocket-Version: 8\r\n\r\n", b"426"),
            (b"garbage\r\n\r\n", b"400"),
            (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        ]:  # fmt: skip
            sock = await open_connection("127.0.0.1", server.port)
            try:
                await sock.sendall(request)
            except OSError:
                pass
            response = await read_until_eof(sock)
            await sock.close()
            assert response.startswith(b"HTTP/1.1 " + status), response[:80]
        await assert_still_serving(server.port)


async def test_handler_crash_closes_with_1011(fd_check):
    async def handler(ws):
        if ws.path != "/crash":
            return await _echo(ws)
        await ws.receive()
        raise RuntimeError("boom")

    async with WebSocketServer("127.0.0.1", 0, handler) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/crash") as ws:
            await ws.send("trigger")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.receive()
            assert info.value.code == 1011
        await assert_still_serving(server.port)


# ---------------------------------------------------------------------------
# Hostile servers against our client
# ---------------------------------------------------------------------------


async def _raw_server(script):
    """A one-connection raw server running *script(sock)*; returns (port, task)."""
    listener = tcp_server_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]

    async def run():
        try:
            client, _ = await listener.accept()
        finally:
            await listener.close()
        async with client:
            await script(client)

    return port, run


async def _read_request(sock) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _accept_for(request: bytes) -> bytes:
    import base64
    import hashlib

    key = [line.split(b":", 1)[1].strip() for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key")][0]  # noqa: E501
    return base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


async def test_client_closes_1002_on_masked_server_frame(fd_check):
    result = {}

    async def script(sock):
        request = await _read_request(sock)
        await sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Accept: " + _accept_for(request) + b"\r\n\r\n")  # fmt: skip
        await sock.sendall(frame(0x1, b"masked!", mask=True))
        head = await read_exactly(sock, 2)
        result["opcode"] = head[0] & 0x0F

    port, run = await _raw_server(script)
    async with TaskGroup() as g:
        await g.spawn(run)
        async with websocket_connect(f"ws://127.0.0.1:{port}/", close_timeout=1) as ws:
            with pytest.raises(ConnectionClosedError):
                await ws.receive()
    assert result["opcode"] == 0x8


async def test_client_rejects_bad_accept_key(fd_check):
    async def script(sock):
        await _read_request(sock)
        await sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Accept: wrong\r\n\r\n")  # fmt: skip
        await read_until_eof(sock)

    port, run = await _raw_server(script)
    async with TaskGroup() as g:
        await g.spawn(run)
        with pytest.raises(HandshakeError):
            await websocket_connect(f"ws://127.0.0.1:{port}/")


async def test_client_open_timeout_on_silent_server(patient_clock, fd_check):
    async def script(sock):
        await _read_request(sock)
        await sleep(3600)

    port, run = await _raw_server(script)
    async with TaskGroup() as g:
        task = await g.spawn(run)
        with pytest.raises(HandshakeError):
            await websocket_connect(f"ws://127.0.0.1:{port}/", open_timeout=2)
        await task.cancel()


async def test_send_interrupted_mid_frame_aborts_the_connection(fd_check):
    outcome = {}

    async def handler(ws):
        if ws.path != "/big":
            return await _echo(ws)
        async with ignore_after(0.3) as block:
            await ws.send(os.urandom(32 * 1024 * 1024))  # the raw client never reads
        outcome["expired"] = block.expired
        outcome["closed"] = ws.closed
        try:
            await ws.send("next frame")
        except ConnectionClosed:
            outcome["send_after"] = "ConnectionClosed"

    async with WebSocketServer("127.0.0.1", 0, handler, compression=False) as server:
        sock = await raw_client(server.port, "/big")
        while "send_after" not in outcome:
            await sleep(0.05)
        await sock.close()
        await assert_still_serving(server.port)
    assert outcome == {"expired": True, "closed": True, "send_after": "ConnectionClosed"}


async def test_close_refuses_codes_that_may_not_be_sent():
    async with WebSocketServer("127.0.0.1", 0, _echo) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/") as ws:
            for code in (999, 1004, 1005, 1006, 1015, 2999, 5000):
                with pytest.raises(ValueError):
                    await ws.close(code)
            await ws.close(4321, "app specific")
        assert ws.close_code == 4321


async def test_invalid_utf8_in_big_frame_arriving_in_pieces(fd_check):
    async with WebSocketServer("127.0.0.1", 0, _echo, compression=False) as server:
        sock = await raw_client(server.port)
        data = frame(0x1, b"a" * 9000 + b"\xff" + b"b" * 9000)
        await sock.sendall(data[:5000])
        await sleep(0.05)  # the server has the start of the frame and waits for the rest
        await sock.sendall(data[5000:])
        await expect_close(sock, 1007)
        # and a valid big frame in pieces is delivered whole
        sock = await raw_client(server.port)
        data = frame(0x1, "é".encode() * 9000)
        await sock.sendall(data[:7001])  # splits a UTF-8 sequence too
        await sleep(0.05)
        await sock.sendall(data[7001:])
        assert await read_frame(sock) == (0x1, "é".encode() * 9000)
        await sock.sendall(frame(0x8, close_payload(1000)))
        await expect_close(sock, 1000)
        await assert_still_serving(server.port)


async def test_client_keepalive_closes_dead_server_with_1011(patient_clock, fd_check):
    seen = {}

    async def script(sock):
        request = await _read_request(sock)
        await sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Accept: " + _accept_for(request) + b"\r\n\r\n")  # fmt: skip
        frames = []
        while True:  # client frames are masked: read the opcode and skip the rest
            head = await sock.recv(2)
            if len(head) < 2:
                break
            n = head[1] & 0x7F
            rest = await read_exactly(sock, 4 + n)
            payload = bytes(b ^ rest[i % 4] for i, b in enumerate(rest[4:]))
            frames.append((head[0] & 0x0F, payload))
            if head[0] & 0x0F == 0x8:
                break
        seen["frames"] = frames

    port, run = await _raw_server(script)
    async with TaskGroup() as g:
        await g.spawn(run)
        ws = await websocket_connect(f"ws://127.0.0.1:{port}/", ping_interval=5, ping_timeout=5, close_timeout=1)
        with pytest.raises(ConnectionClosedError):
            await ws.receive()
    opcodes = [op for op, _ in seen["frames"]]
    assert opcodes == [0x9, 0x8]  # one unanswered ping, then Close
    assert seen["frames"][1][1][:2] == b"\x03\xf3"  # 1011
