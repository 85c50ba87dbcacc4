"""The Stream protocol: one test body, every implementation.

Each test runs over an in-memory pair, a loopback TCP connection, TLS on a
loopback TCP connection (OpenSSL's socket, trustme certificates), TLS through
``ssl.MemoryBIO`` (:class:`TLSStream`) over a TCP connection, and
:class:`TLSStream` over an in-memory pair.  Then the read policy every socket
receive shares, and what only the in-memory pair has (chunking, bounds).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import random
import socket as stdsocket
import ssl as stdssl
import weakref

import pytest
import trustme

import curionet
from curionet import (
    ClosedResourceError,
    MockClock,
    ReadResourceBusy,
    TaskCancelled,
    WriteResourceBusy,
    socket as cnsocket,
)
from curionet.kernel import poll, traps
from curionet.kernel.io import SocketStream
from curionet.kernel.stream import Stream, TLSStream
from curionet.testing import MemoryStream, memory_stream_pair

KINDS = ["memory", "socket", "tls-socket", "tls-bio", "tls-memory"]
BUFFER = 16384  # small socket buffers: a peer that does not read stalls a sender soon


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server = stdssl.create_default_context(stdssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server)
    client = stdssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture
def clock():
    """Virtual time that jumps once every task has waited 50 ms of real
    time: data in flight on loopback is not overtaken by a jump."""
    return MockClock(autojump_threshold=0.05)


async def _tcp_pair():
    listener = cnsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_STREAM)
    client = cnsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_STREAM)
    try:
        for s in (listener, client):
            s.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_RCVBUF, BUFFER)
            s.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_SNDBUF, BUFFER)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        await client.connect(listener.getsockname())
        server, _ = await listener.accept()
    except BaseException:
        await client.close()
        raise
    finally:
        await listener.close()
    return client, server


async def _both(first, second):
    """Run two coroutines at once (the two ends of a handshake)."""
    task = await curionet.spawn(second)
    try:
        result = await first
    except BaseException:
        await task.cancel()
        raise
    return result, await task.join()


@contextlib.asynccontextmanager
async def stream_pair(kind, tls):
    """Two connected :class:`Stream` ends of the given kind, closed after."""
    server_ctx, client_ctx = tls
    if kind in ("memory", "tls-memory"):
        a, b = memory_stream_pair()
    elif kind == "tls-socket":
        client, server = await _tcp_pair()
        wrapped = await _both(
            curionet.ssl.CurioSSLContext(client_ctx).wrap_socket(client, server_hostname="localhost"),
            curionet.ssl.CurioSSLContext(server_ctx).wrap_socket(server, server_side=True),
        )
        a, b = (s.as_stream() for s in wrapped)
    else:
        client, server = await _tcp_pair()
        a, b = client.as_stream(), server.as_stream()
    if kind in ("tls-bio", "tls-memory"):
        a = TLSStream(a, client_ctx, server_hostname="localhost")
        b = TLSStream(b, server_ctx, server_side=True)
        await _both(a.do_handshake(5), b.do_handshake(5))
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def receive_exactly(stream, n):
    data = bytearray()
    while len(data) < n:
        chunk = await stream.receive_some(n - len(data), timeout=10)
        assert chunk, f"end of file after {len(data)} of {n} bytes"
        data += chunk
    return bytes(data)


async def receive_all(stream):
    data = bytearray()
    while chunk := await stream.receive_some(timeout=10):
        data += chunk
    return bytes(data)


async def blocked(task):
    """Let *task* run until it waits on something."""
    for _ in range(1000):
        if task.state not in ("READY", "RUNNING"):
            return
        await curionet.sleep(0)
    raise AssertionError(f"{task} never blocked")


async def round_trip(a, b):
    """A message each way: TLS session tickets and the like are behind us."""
    await a.send_all(b"ping")
    assert await receive_exactly(b, 4) == b"ping"
    await b.send_all(b"pong")
    assert await receive_exactly(a, 4) == b"pong"


# ---------------------------------------------------------------------------
# The same body over every kind
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_is_a_stream_and_carries_bytes_both_ways(kind, tls):
    async with stream_pair(kind, tls) as (a, b):
        assert isinstance(a, Stream) and isinstance(b, Stream)
        await round_trip(a, b)
        await a.send_all(bytearray(b"from a"))
        await a.send_all(memoryview(b"--and a view--")[2:-2])
        assert await receive_exactly(b, 16) == b"from aand a view"


@pytest.mark.parametrize("kind", KINDS)
async def test_receive_into_fills_what_it_is_given(kind, tls):
    payload = bytes(range(256)) * 4
    async with stream_pair(kind, tls) as (a, b):
        await a.send_all(payload)
        got = bytearray()
        buffer = bytearray(100)
        while len(got) < len(payload):
            n = await b.receive_into(memoryview(buffer)[:37], timeout=10)
            assert 0 < n <= 37
            got += buffer[:n]
        assert bytes(got) == payload
        assert await b.receive_into(bytearray(0)) == 0  # nothing asked, nothing waited for


@pytest.mark.parametrize("kind", KINDS)
async def test_bulk_data_both_ways_at_once(kind, tls):
    size = 300_000
    up = bytes(range(251)) * (size // 251)
    down = bytes(reversed(up))
    async with stream_pair(kind, tls) as (a, b):

        async def echo_side(stream, payload):
            sender = await curionet.spawn(stream.send_all, payload)
            data = await receive_exactly(stream, len(payload))
            await sender.join()
            return data

        got_down, got_up = await _both(echo_side(a, up), echo_side(b, down))
        assert got_up == up and got_down == down


@pytest.mark.parametrize("kind", KINDS)
async def test_send_eof_ends_one_direction_only(kind, tls):
    async with stream_pair(kind, tls) as (a, b):
        await round_trip(a, b)
        await a.send_all(b"last words")
        await a.send_eof()
        assert await receive_all(b) == b"last words"
        assert await b.receive_some() == b""  # end of file stays end of file
        assert b.is_readable()
        await b.send_all(b"still listening")
        assert await receive_exactly(a, 15) == b"still listening"


@pytest.mark.parametrize("kind", KINDS)
async def test_close_is_end_of_file_for_the_peer_and_an_error_for_the_closer(kind, tls):
    async with stream_pair(kind, tls) as (a, b):
        await round_trip(a, b)
        await a.send_all(b"bye")
        await a.close()
        await a.close()  # twice is harmless
        assert a.closed
        assert await receive_all(b) == b"bye"
        with pytest.raises(ClosedResourceError):
            await a.receive_some()
        with pytest.raises(ClosedResourceError):
            await a.send_all(b"x")
        with pytest.raises(ClosedResourceError):
            await a.wait_readable()
        assert a.is_readable()  # a receive would not block: it raises


@pytest.mark.parametrize("kind", KINDS)
async def test_closing_wakes_a_blocked_receiver(kind, tls):
    async with stream_pair(kind, tls) as (a, b):
        await round_trip(a, b)
        task = await curionet.spawn(b.receive_some)
        await blocked(task)
        await b.close()
        with pytest.raises(curionet.TaskError) as info:
            await task.join()
        assert isinstance(info.value.__cause__, ClosedResourceError)


@pytest.mark.parametrize("kind", KINDS)
async def test_readiness_without_receiving(kind, tls):
    async with stream_pair(kind, tls) as (a, b):
        await round_trip(a, b)
        assert not a.is_readable() and not b.is_readable()
        await a.send_all(b"x")
        await b.wait_readable(timeout=10)
        assert b.is_readable()
        assert b.is_readable()  # asking again takes nothing away
        assert await b.receive_some() == b"x"
        assert not b.is_readable()
        await a.send_eof()
        await b.wait_readable(timeout=10)
        assert b.is_readable()  # end of file is readable too
        assert await b.receive_some() == b""


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stalled_receive_or_send_times_out_and_the_stream_survives(kind, tls, clock):
    async with stream_pair(kind, tls) as (a, b):
        await round_trip(a, b)
        start = await curionet.clock()
        with pytest.raises(TimeoutError):
            await b.receive_some(timeout=30)
        assert await curionet.clock() - start >= 30
        with pytest.raises(TimeoutError):
            await b.wait_readable(timeout=30)
        await a.send_all(b"late")
        assert await receive_exactly(b, 4) == b"late"
        with pytest.raises(TimeoutError):
            await a.send_all(bytes(4_000_000), timeout=30)  # b never reads


@pytest.mark.parametrize("kind", KINDS)
async def test_two_receivers_at_once_is_an_error_and_cancelling_one_loses_nothing(kind, tls):
    async with stream_pair(kind, tls) as (a, b):
        await round_trip(a, b)
        first = await curionet.spawn(b.receive_some)
        await blocked(first)
        with pytest.raises(ReadResourceBusy):
            await b.receive_some()
        await first.cancel()
        assert isinstance(first.exception, TaskCancelled)
        await a.send_all(b"kept")
        assert await receive_exactly(b, 4) == b"kept"


# ---------------------------------------------------------------------------
# One read policy for every socket receive
# ---------------------------------------------------------------------------


def _first_step(coro):
    """What a receive does when started: ``"returned"`` without waiting, or
    the trap it waits in."""
    try:
        request = coro.send(None)
    except StopIteration:
        return "returned"
    coro.close()
    return request[0]


RECEIVERS = {
    "Socket.recv": lambda sock, stream: sock.recv(100),
    "Socket.recv_into": lambda sock, stream: sock.recv_into(bytearray(100)),
    "SocketStream.read": lambda sock, stream: stream.read(100),
    "SocketStream.receive_some": lambda sock, stream: stream.receive_some(100),
    "SocketStream.receive_into": lambda sock, stream: stream.receive_into(bytearray(100)),
}


@pytest.mark.parametrize("receiver", RECEIVERS)
def test_every_socket_receive_follows_the_one_read_policy(receiver):
    # Two receives in a row that find nothing: from then on a receive waits
    # for readability first (even with data there, it traps), until a
    # sample, 32 receives later, tries first again and finds data.
    receive = RECEIVERS[receiver]
    a, b = stdsocket.socketpair()
    sock = cnsocket.Socket(a)
    stream = SocketStream(sock) if "Stream" in receiver else None
    try:
        assert _first_step(receive(sock, stream)) == traps.T_IO_WAIT
        assert _first_step(receive(sock, stream)) == traps.T_IO_WAIT
        b.send(b"x" * 1000)
        steps = [_first_step(receive(sock, stream)) for _ in range(33)]
        assert steps == [traps.T_IO_WAIT] * 32 + ["returned"]
        assert _first_step(receive(sock, stream)) == "returned"  # the sample found data: try first again
    finally:
        a.close()
        b.close()


def test_wait_readable_traps_only_when_nothing_is_there_and_resets_the_policy():
    a, b = stdsocket.socketpair()
    stream = SocketStream(a)
    try:
        for _ in range(2):  # two empty receives: the stream would wait first now
            assert _first_step(stream.receive_some(10)) == traps.T_IO_WAIT
        assert _first_step(stream.wait_readable(5)) == traps.T_GET_CURRENT  # the timeout block, then the wait
        b.send(b"x")
        assert _first_step(stream.wait_readable(5)) == "returned"  # ready: no trap, no timeout block
        assert _first_step(stream.receive_some(10)) == "returned"  # and the receive tries at once
    finally:
        a.close()
        b.close()


def _waiting_first(receive):
    """Two empty receives: the next receives (*receive()*) wait first."""
    for _ in range(2):
        assert _first_step(receive()) == traps.T_IO_WAIT


@pytest.fixture
def kernel_receives_alone(monkeypatch):
    """The kernel receives for a task even when a poll reports its socket
    alone (by default it does only for a batch of two or more)."""
    monkeypatch.setattr(poll, "_RECV_MIN_EVENTS", 1)


@contextlib.asynccontextmanager
async def _receiver_waiting():
    """A socket pair whose curionet end waits first, and a task blocked in
    its ``recv(10)``: ``(socket, peer, task)``; both ends closed after."""
    a, b = stdsocket.socketpair()
    try:
        sock = cnsocket.Socket(a)
        _waiting_first(functools.partial(sock.recv, 10))
        task = await curionet.spawn(sock.recv, 10)
        await blocked(task)
        yield sock, b, task
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("receiver", RECEIVERS)
async def test_the_kernel_receives_for_a_task_that_waits_first(receiver, kernel_receives_alone):
    # Every receive, through whichever method, gets whole and correct data
    # when the kernel makes the call (and the socket's full-buffer rule
    # still sends it back to trying first).
    receive = RECEIVERS[receiver]
    a, b = stdsocket.socketpair()
    sock = cnsocket.Socket(a)
    stream = SocketStream(sock) if "Stream" in receiver else None
    try:
        _waiting_first(lambda: receive(sock, stream))
        task = await curionet.spawn(receive, sock, stream)
        await blocked(task)
        b.send(b"hello")
        got = await task.join()
        assert got in (b"hello", 5)
        assert (stream or sock)._rwait > 2  # still waiting first: the reply was not a full buffer
    finally:
        a.close()
        b.close()


async def test_the_kernel_receives_for_every_woken_reader_before_any_of_them_runs():
    # Two tasks wait first on two sockets that both become readable before
    # the kernel polls: the kernel receives for both, then runs them, so
    # the first to run finds the other's data already taken off its socket.
    pairs = [stdsocket.socketpair() for _ in range(2)]
    socks = [cnsocket.Socket(a) for a, _ in pairs]
    seen = {}

    async def reader(i):
        data = await socks[i].recv(100)
        other = pairs[1 - i][0]
        try:
            other.recv(100, stdsocket.MSG_PEEK | stdsocket.MSG_DONTWAIT)
            seen[i] = "still queued"
        except BlockingIOError:
            seen[i] = "taken"
        return data

    try:
        for sock in socks:
            _waiting_first(lambda sock=sock: sock.recv(10))
        tasks = [await curionet.spawn(reader, i) for i in range(2)]
        for t in tasks:
            await blocked(t)
        for i, (_, b) in enumerate(pairs):
            b.send(b"data %d" % i)
        assert [await t.join() for t in tasks] == [b"data 0", b"data 1"]
        assert seen == {0: "taken", 1: "taken"}
    finally:
        for a, b in pairs:
            a.close()
            b.close()


async def test_the_kernel_receives_at_most_its_budget_for_one_poll(monkeypatch):
    # Six readers whose sockets each hold 100 bytes, woken by one poll, with
    # a budget of 250 bytes: the kernel receives for three of them (the
    # third takes it past the budget) and leaves the rest to the tasks, so
    # the first to run still sees three sockets with their data queued.
    monkeypatch.setattr(poll, "_RECV_BUDGET", 250)
    pairs = [stdsocket.socketpair() for _ in range(6)]
    socks = [cnsocket.Socket(a) for a, _ in pairs]
    queued = []

    async def reader(i):
        data = await socks[i].recv(1000)
        if not queued:
            for a, _ in pairs:
                try:
                    a.recv(1, stdsocket.MSG_PEEK | stdsocket.MSG_DONTWAIT)
                    queued.append(a)
                except BlockingIOError:
                    pass
        return data

    try:
        for sock in socks:
            _waiting_first(functools.partial(sock.recv, 10))
        tasks = [await curionet.spawn(reader, i) for i in range(6)]
        for t in tasks:
            await blocked(t)
        for i, (_, b) in enumerate(pairs):
            b.send(bytes([i]) * 100)
        assert [await t.join() for t in tasks] == [bytes([i]) * 100 for i in range(6)]
        assert len(queued) == 3
        assert all(t._wait_data is None for t in tasks)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


async def test_a_poll_that_reports_one_socket_leaves_the_receive_to_its_task():
    # Alone, the socket's task receives for itself: a receive made the
    # moment a socket turns readable can catch a big message half arrived.
    a, b = stdsocket.socketpair()
    calls = []
    try:
        a.setblocking(False)
        b.send(b"x")
        assert await traps._recv_wait(a.fileno(), lambda *args: calls.append(args), 10, 0) is None
        assert calls == []
    finally:
        a.close()
        b.close()


async def test_a_receive_the_kernel_could_not_make_is_made_by_the_task(kernel_receives_alone):
    # The kernel's call would block after all (the readiness was stale):
    # the trap returns None, and a receive then makes the call itself and
    # waits again.
    a, b = stdsocket.socketpair()
    calls = []

    def failing_recv(n, flags):
        calls.append(n)
        raise BlockingIOError

    try:
        a.setblocking(False)
        b.send(b"x")
        assert await traps._recv_wait(a.fileno(), failing_recv, 10, 0) is None
        assert calls == [10]
        assert a.recv(10) == b"x"
        sock = cnsocket.Socket(a)
        _waiting_first(lambda: sock.recv(10))
        task = await curionet.spawn(sock.recv, 10)
        await blocked(task)
        b.send(b"later")
        assert await task.join() == b"later"
    finally:
        a.close()
        b.close()


async def test_a_reset_seen_by_the_kernel_reaches_the_receiving_task(kernel_receives_alone):
    async with curionet.socket.socket(stdsocket.AF_INET, stdsocket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        peer = stdsocket.create_connection(listener.getsockname())
        conn, _ = await listener.accept()
        async with conn:
            _waiting_first(lambda: conn.recv(10))
            task = await curionet.spawn(conn.recv, 10)
            await blocked(task)
            peer.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            peer.close()  # RST
            with pytest.raises(curionet.TaskError) as info:
                await task.join()
            assert isinstance(info.value.__cause__, ConnectionResetError)


async def test_a_cancelled_receive_takes_none_of_the_data():
    async with _receiver_waiting() as (sock, peer, task):
        await task.cancel()
        peer.send(b"kept")
        assert await sock.recv(10) == b"kept"


async def test_a_timed_out_receive_takes_none_of_the_data():
    a, b = stdsocket.socketpair()
    sock = cnsocket.Socket(a)
    try:
        _waiting_first(lambda: sock.recv(10))
        with pytest.raises(TimeoutError):
            await sock.recv(10, timeout=0.01)
        b.send(b"kept")
        assert await sock.recv(10) == b"kept"
    finally:
        a.close()
        b.close()


@pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning")  # (collected open: the point)
async def test_the_kernel_keeps_no_socket_alive_after_receiving_for_it(kernel_receives_alone):
    # The wait's books name the stdlib socket's recv; a finished task that
    # is kept must not keep that socket (and its descriptor) alive.
    raw, peer = stdsocket.socketpair()
    try:
        sock = cnsocket.Socket(raw)
        refs = weakref.ref(sock), weakref.ref(raw)
        _waiting_first(functools.partial(sock.recv, 10))
        task = await curionet.spawn(sock.recv, 10)
        await blocked(task)
        peer.send(b"x")
        assert await task.join() == b"x"
        del sock, raw
        gc.collect()
        assert [r() for r in refs] == [None, None]
    finally:
        peer.close()


async def test_a_receive_ended_by_a_close_leaves_no_books_on_the_task():
    # The waiter woken by a close (ClosedResourceError) drops its wait's
    # books, which name the socket's recv: a finished task that is kept
    # must not keep the socket through them.
    async with _receiver_waiting() as (sock, peer, task):
        assert task._wait_data is not None
        await sock.close()
        with pytest.raises(curionet.TaskError):
            await task.join()
        assert task._wait_data is None


async def test_receives_cut_short_at_random_lose_and_repeat_no_byte():
    # Twenty connections at once (so one poll wakes many readers), each
    # receiving under timeouts of 0.5-3 ms, some cancelled from outside,
    # while the peer writes 60 KB of random bytes in random pieces at
    # random moments: what the receives return, put together, is exactly
    # what was sent, on every connection.
    rng = random.Random(8305)
    pairs = [stdsocket.socketpair() for _ in range(20)]
    streams = [rng.randbytes(60000) for _ in pairs]
    got = [bytearray() for _ in pairs]
    cut = {"timeouts": 0, "cancels": 0}

    async def reader(i):
        sock = cnsocket.Socket(pairs[i][0])
        while True:
            piece = await curionet.ignore_after(rng.choice([0.0005, 0.001, 0.003]), sock.recv, rng.randrange(1, 200))
            if piece == b"":
                return  # the writer is done (a lost byte shows below, not as a hang)
            if piece is None:
                cut["timeouts"] += 1
            else:
                got[i] += piece

    async def writer(i):
        peer, data, at = pairs[i][1], streams[i], 0
        while at < len(data):
            n = rng.randrange(1, 300)
            peer.sendall(data[at : at + n])
            at += n
            await curionet.sleep(rng.choice([0, 0.0003, 0.001, 0.002]))
        peer.shutdown(stdsocket.SHUT_WR)

    async def canceller(tasks):
        while any(not t.terminated for t in tasks):
            await curionet.sleep(0.0007)
            victim = rng.choice(tasks)
            if not victim.terminated:
                await victim.cancel()
                cut["cancels"] += 1
                i = tasks.index(victim)
                tasks[i] = await curionet.spawn(reader, i)

    try:
        readers = [await curionet.spawn(reader, i) for i in range(len(pairs))]
        writers = [await curionet.spawn(writer, i) for i in range(len(pairs))]
        chaos = await curionet.spawn(canceller, readers)
        for t in writers:
            await t.join()
        await chaos.join()
        assert [bytes(g) for g in got] == streams
        assert cut["timeouts"] and cut["cancels"]  # (the premise: receives were cut short)
    finally:
        for a, b in pairs:
            a.close()
            b.close()


# ---------------------------------------------------------------------------
# What only the in-memory pair has
# ---------------------------------------------------------------------------


async def test_memory_pair_chunks_and_bounds(autojump_clock):
    a, b = memory_stream_pair(max_buffer=10, max_chunk=3)
    sender = await curionet.spawn(a.send_all, b"0123456789abcdefghij")
    await blocked(sender)  # 10 bytes in flight: the rest waits for room
    assert await b.receive_some(100) == b"012"  # at most max_chunk per receive
    pieces = [b"012"]
    while sum(map(len, pieces)) < 20:
        pieces.append(await b.receive_some(100))
    await sender.join()
    assert b"".join(pieces) == b"0123456789abcdefghij" and max(map(len, pieces)) == 3
    assert repr(b) == "<curionet.MemoryStream 0 bytes buffered>"
    await a.close()
    await b.close()
    assert repr(b) == "<curionet.MemoryStream closed>"


async def test_memory_pair_cancelled_send_says_how_much_went_out(autojump_clock):
    a, b = memory_stream_pair(max_buffer=4)
    with pytest.raises(curionet.TaskTimeout) as info:
        async with curionet.timeout_after(1):
            await a.send_all(b"abcdefgh")
    assert info.value.bytes_sent == 4
    assert await b.receive_some() == b"abcd"
    task = await curionet.spawn(a.send_all, b"12345678")
    await blocked(task)
    with pytest.raises(WriteResourceBusy):
        await a.send_all(b"x")  # a second sender
    await b.close()
    with pytest.raises(curionet.TaskError) as err:
        await task.join()
    assert isinstance(err.value.__cause__, BrokenPipeError)  # the peer is gone


async def test_memory_pair_refuses_bad_sizes():
    with pytest.raises(ValueError):
        memory_stream_pair(max_buffer=0)
    with pytest.raises(ValueError):
        memory_stream_pair(max_chunk=0)
    a, b = memory_stream_pair(max_buffer=None)  # unbounded
    assert isinstance(a, MemoryStream)
    with pytest.raises(ValueError):
        await a.receive_some(0)
    await a.send_all(bytes(1_000_000))  # no bound: never waits
    assert len(await b.receive_some(2_000_000)) == 1_000_000
    await a.send_eof()
    with pytest.raises(BrokenPipeError):
        await a.send_all(b"after eof")
