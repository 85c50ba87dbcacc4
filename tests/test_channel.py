"""curionet.channel: Curio's message-passing channels, and their
compatibility with multiprocessing.connection."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection as mpc
import pickle
import socket as stdlib_socket
import struct
from typing import Any

import pytest

import curionet
from curionet import MockClock
from curionet.channel import AuthenticationError, Channel, Connection, ConnectionError

KEY = b"peekaboo"


def _channel() -> Channel:
    ch = Channel(("127.0.0.1", 0))
    ch.bind()  # the real port is in ch.address from here on
    return ch


async def test_objects_and_bytes_between_two_tasks() -> None:
    async with _channel() as ch:

        async def server() -> list[Any]:
            async with await ch.accept(authkey=KEY) as c:
                got = [await c.recv(), await c.recv_bytes(), await c.recv_bytes()]
                await c.send({"reply": got[0]["n"] + 1})
                buf = bytearray(10)
                n = await c.recv_bytes_into(buf, 2)
                got.append(bytes(buf[2 : 2 + n]))
                return got

        task = await curionet.spawn(server)
        big = bytes(range(256)) * 4096  # 1 MiB: several reads on both sides
        async with await Channel(ch.address).connect(authkey=KEY) as c:
            await c.send({"n": 41})
            await c.send_bytes(big)
            await c.send_bytes(b"0123456789", 2, 3)
            assert await c.recv() == {"reply": 42}
            await c.send_bytes(memoryview(b"fits"))
        assert await task.join() == [{"n": 41}, big, b"234", b"fits"]


async def test_wrong_authkey_raises_on_the_client_and_the_server_goes_on(caplog: Any) -> None:
    async with _channel() as ch:
        task = await curionet.spawn(_accept, ch, KEY)
        with pytest.raises(AuthenticationError):
            await Channel(ch.address).connect(authkey=b"wrong")
        assert not task.terminated  # the server dropped that client and waits for the next
        async with await Channel(ch.address).connect(authkey=KEY) as c:
            await c.send("hello")
        assert await task.join() == "hello"
    assert any("handshake" in r.getMessage() for r in caplog.records if r.name == "curionet.channel")
    assert issubclass(AuthenticationError, ConnectionError)
    assert issubclass(AuthenticationError, curionet.CurioError)


async def _accept(ch: Channel, authkey: bytes | None) -> Any:
    async with await ch.accept(authkey=authkey) as c:
        return await c.recv()


async def test_client_without_key_against_a_server_with_one() -> None:
    async with _channel() as ch:
        task = await curionet.spawn(_accept, ch, KEY)
        async with await Channel(ch.address).connect() as c:
            # The server's challenge arrives where the client expects data.
            with pytest.raises(pickle.UnpicklingError):
                await c.recv()
        await task.cancel()


async def test_interoperates_with_multiprocessing_connection() -> None:
    """The framing and the handshake are multiprocessing's: a stdlib Client
    and Listener (in threads here; another process in real use) work with a
    curionet Channel."""
    async with _channel() as ch:

        def stdlib_client() -> Any:
            with mpc.Client(ch.address, authkey=KEY) as c:
                c.send(["from", "stdlib"])
                c.send_bytes(b"raw")
                return c.recv()

        thread = await curionet.spawn(curionet.run_in_thread, stdlib_client)
        async with await ch.accept(authkey=KEY) as c:
            assert await c.recv() == ["from", "stdlib"]
            assert await c.recv_bytes() == b"raw"
            await c.send(("from", "curionet"))
        assert await thread.join() == ("from", "curionet")

    with mpc.Listener(("127.0.0.1", 0), authkey=KEY) as listener:

        def stdlib_server() -> Any:
            with listener.accept() as c:
                got = c.recv()
                c.send(got * 2)
                return got

        thread = await curionet.spawn(curionet.run_in_thread, stdlib_server)
        async with await Channel(listener.address).connect(authkey=KEY) as c:
            await c.send(21)
            assert await c.recv() == 42
        assert await thread.join() == 21


async def test_a_legacy_md5_peer_is_understood() -> None:
    """Python <= 3.11 sends a 20-byte challenge without a digest name and
    answers with a bare HMAC-MD5; both directions work."""
    import hmac
    import os

    async with _channel() as ch:
        task = await curionet.spawn(_accept, ch, KEY)
        sock = await curionet.socket.create_connection(ch.address)
        stream = sock.as_stream()
        peer = Connection(stream, stream)
        challenge = await peer.recv_bytes(256)
        assert challenge.startswith(b"#CHALLENGE#{sha256}")
        await peer.send_bytes(hmac.new(KEY, challenge[len(b"#CHALLENGE#") :], "md5").digest())
        assert await peer.recv_bytes(256) == b"#WELCOME#"
        legacy = os.urandom(20)
        await peer.send_bytes(b"#CHALLENGE#" + legacy)
        assert await peer.recv_bytes(256) == hmac.new(KEY, legacy, "md5").digest()
        await peer.send_bytes(b"#WELCOME#")
        await peer.send("legacy")
        assert await task.join() == "legacy"
        await peer.close()


async def test_message_size_limits() -> None:
    a, b = curionet.socket.socketpair()
    sa, sb = a.as_stream(), b.as_stream()
    ca, cb = Connection(sa, sa), Connection(sb, sb)
    async with ca, cb:
        await ca.send_bytes(b"x" * 100)
        with pytest.raises(OSError, match="bad message length"):
            await cb.recv_bytes(maxlength=10)
        with pytest.raises(ValueError):
            await ca.send_bytes(b"abc", 4)
        with pytest.raises(ValueError):
            await ca.send_bytes(b"abc", 1, 5)
        with pytest.raises(ValueError):
            await cb.recv_bytes(-1)


async def test_a_claimed_huge_message_that_never_comes_is_eof() -> None:
    """The peer says 1 TiB follows, sends 5 bytes and hangs up: EOFError,
    and nothing near the claimed size is ever allocated."""
    import tracemalloc

    a, b = curionet.socket.socketpair()
    sb = b.as_stream()
    async with Connection(sb, sb) as conn:
        await a.sendall(struct.pack("!iQ", -1, 1 << 40) + b"12345")
        await a.close()
        tracemalloc.start()
        try:
            with pytest.raises(EOFError):
                await conn.recv_bytes()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 16 << 20


async def test_recv_bytes_into_a_short_buffer() -> None:
    a, b = curionet.socket.socketpair()
    sa, sb = a.as_stream(), b.as_stream()
    async with Connection(sa, sa) as ca, Connection(sb, sb) as cb:
        await ca.send_bytes(b"too long for it")
        await ca.send_bytes(b"next")
        with pytest.raises(multiprocessing.BufferTooShort) as info:
            await cb.recv_bytes_into(bytearray(4))
        assert info.value.args[0] == b"too long for it"
        assert await cb.recv_bytes() == b"next"  # still in step


@pytest.fixture
def jumpy_clock() -> MockClock:
    """Virtual time that jumps once the loopback sockets have been quiet for 50 ms."""
    return MockClock(autojump_threshold=0.05)


async def test_stalled_handshakes_time_out(jumpy_clock: MockClock) -> None:
    """A client that never answers the challenge is dropped after
    handshake_timeout; a server that never sends one makes connect() raise
    TimeoutError."""
    async with _channel() as ch:
        task = await curionet.spawn(_accept, ch, KEY)
        with stdlib_socket.create_connection(ch.address, timeout=10) as silent:
            await curionet.sleep(ch.handshake_timeout + 1)
            assert not task.terminated
            assert b"#CHALLENGE#{sha256}" in silent.recv(100)  # it ignored this
            assert silent.recv(100) == b""  # then the server hung up
        async with await Channel(ch.address).connect(authkey=KEY) as c:
            await c.send("after")
        assert await task.join() == "after"

    listener = curionet.network.tcp_server_socket("127.0.0.1", 0)
    async with listener:
        with pytest.raises(TimeoutError):
            await Channel(listener.getsockname()).connect(authkey=KEY)


async def test_check_address_refuses_clients(caplog: Any) -> None:
    seen = []

    def only_once(addr: Any) -> bool:
        seen.append(addr)
        return len(seen) > 1

    async with Channel(("127.0.0.1", 0), check_address=only_once) as ch:
        ch.bind()
        task = await curionet.spawn(_accept, ch, None)
        refused = await Channel(ch.address).connect()
        async with refused:
            with pytest.raises(EOFError):
                await refused.recv()
        async with await Channel(ch.address).connect() as c:
            await c.send("second")
        assert await task.join() == "second"
    assert len(seen) == 2 and seen[0][0] == "127.0.0.1"


async def test_unix_socket_channel(tmp_path: Any) -> None:
    path = str(tmp_path / "chan.sock")
    async with Channel(path, family=stdlib_socket.AF_UNIX) as ch:
        ch.bind()
        task = await curionet.spawn(_accept, ch, KEY)
        async with await Channel(path, stdlib_socket.AF_UNIX).connect(authkey=KEY) as c:
            await c.send(b"over unix")
        assert await task.join() == b"over unix"


async def test_from_multiprocessing_pipe() -> None:
    p1, p2 = multiprocessing.Pipe()
    async with Connection.from_Connection(p1) as c:
        assert p1.closed
        p2.send({"to": "curionet"})
        assert await c.recv() == {"to": "curionet"}
        await c.send(("to", "stdlib"))
        assert await curionet.run_in_thread(p2.recv) == ("to", "stdlib")
    p2.close()


async def test_bad_arguments() -> None:
    ch = Channel(("127.0.0.1", 0))
    with pytest.raises(TypeError):
        await ch.accept(authkey="not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await ch.connect(authkey="not bytes")  # type: ignore[arg-type]
    await ch.close()
