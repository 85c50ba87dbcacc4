"""Each timeout kind, on the mock clock: in-memory streams and an h11 server
task in the same kernel, so virtual time is exact and nothing really waits."""

import h11
import pytest
from http_testing import memory_stream_pair

from curionet import TaskTimeout, clock, sleep, spawn, timeout_after
from curionet.protocols.http import (
    ClientSession,
    ConnectTimeout,
    HTTPTransport,
    Limits,
    PoolTimeout,
    ReadTimeout,
    Timeout,
    TimeoutException,
    TotalTimeout,
    WriteTimeout,
)


async def h11_server(stream, behaviour):
    """Read one request at a time and act: "hang", "no-read", or a callable
    ``async (conn, stream) -> None`` that answers."""
    conn = h11.Connection(h11.SERVER)
    if behaviour == "no-read":
        await sleep(10_000)
        return
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            if not data:
                return
            conn.receive_data(data)
            continue
        if isinstance(event, h11.EndOfMessage):
            if behaviour == "hang":
                await sleep(10_000)
                return
            await behaviour(conn, stream)
            conn.start_next_cycle()
        if isinstance(event, h11.ConnectionClosed):
            return


def session_for(behaviour, timeout, capacity=1 << 20, limits=None, opened=None):
    async def connector(host, port, **kwargs):
        client, server = memory_stream_pair(capacity)
        await spawn(h11_server, server, behaviour, daemon=True)
        if opened is not None:
            opened.append(client)
        return client

    transport = HTTPTransport(connector=connector, limits=limits or Limits())
    return ClientSession(timeout=timeout, transport=transport)


async def answer_ok(conn, stream):
    data = conn.send(h11.Response(status_code=200, headers=[("Content-Length", "2")]))
    await stream.send_all(data + conn.send(h11.Data(data=b"ok")) + conn.send(h11.EndOfMessage()))


def drip(pieces, every):
    async def answer(conn, stream):
        size = sum(len(p) for p in pieces)
        await stream.send_all(conn.send(h11.Response(status_code=200, headers=[("Content-Length", str(size))])))
        for piece in pieces:
            await sleep(every)
            await stream.send_all(conn.send(h11.Data(data=piece)))
        await stream.send_all(conn.send(h11.EndOfMessage()))

    return answer


async def test_memory_server_answers(autojump_clock):
    async with session_for(answer_ok, Timeout(5)) as session:
        assert (await session.get("http://test/")).content == b"ok"
        assert (await session.get("http://test/")).content == b"ok"
        assert session.transport.pool.idle_connections == 1
    assert await clock() == 0


async def test_connect_timeout(autojump_clock):
    async def never_connects(host, port, **kwargs):
        await sleep(1000)

    session = ClientSession(timeout=Timeout(5, connect=1.5), transport=HTTPTransport(connector=never_connects))
    async with session:
        with pytest.raises(ConnectTimeout) as info:
            await session.get("http://test/slow")
        assert "http://test/slow" in str(info.value)
        assert await clock() == 1.5
        assert session.transport.pool.active_connections == 0


async def test_read_timeout_waiting_for_the_head(autojump_clock):
    opened = []
    async with session_for("hang", Timeout(5, read=2.0), opened=opened) as session:
        with pytest.raises(ReadTimeout) as info:
            await session.get("http://test/hang")
        assert "http://test/hang" in str(info.value)
        assert await clock() == 2.0
        assert session.transport.pool.active_connections == 0
        assert opened[0].closed


async def test_read_timeout_in_the_body(autojump_clock):
    async with session_for(drip([b"a", b"b", b"c"], every=3.0), Timeout(5, read=2.5)) as session:
        with pytest.raises(ReadTimeout):
            await session.get("http://test/")
        assert await clock() == 2.5
        # Pieces arriving within the read timeout are fine, however long the total.
    async with session_for(drip([b"a", b"b", b"c"], every=2.0), Timeout(5, read=2.5)) as session:
        r = await session.get("http://test/")
        assert r.content == b"abc"


async def test_write_timeout(autojump_clock):
    opened = []
    async with session_for("no-read", Timeout(5, write=3.0), capacity=1024, opened=opened) as session:
        start = await clock()
        with pytest.raises(WriteTimeout) as info:
            await session.post("http://test/upload", content=b"u" * 100_000)
        assert "http://test/upload" in str(info.value)
        assert await clock() - start == 3.0
        assert opened[0].closed
        assert session.transport.pool.active_connections == 0


async def test_pool_timeout(autojump_clock):
    async with session_for(answer_ok, Timeout(5, pool=0.5), limits=Limits(max_connections=1)) as session:
        async with session.stream("GET", "http://test/held") as held:
            with pytest.raises(PoolTimeout) as info:
                await session.get("http://test/waiting")
            assert "http://test/waiting" in str(info.value)
            assert await clock() == 0.5
            assert session.transport.pool.pending_requests == 0
            assert await held.aread() == b"ok"
        # The slot came back: the next request gets it.
        assert (await session.get("http://test/after")).content == b"ok"
        assert session.transport.pool.active_connections == 0


async def test_total_timeout(autojump_clock):
    behaviour = drip([b"x"] * 10, every=1.0)
    async with session_for(behaviour, Timeout(5, total=3.5)) as session:
        with pytest.raises(TotalTimeout) as info:
            await session.get("http://test/drip")
        assert isinstance(info.value, TimeoutException)
        assert await clock() == 3.5
        assert session.transport.pool.active_connections == 0
    # A per-request override.
    async with session_for(behaviour, Timeout(5)) as session:
        r = await session.get("http://test/drip", timeout=Timeout(5, total=20))
        assert r.content == b"x" * 10


async def test_an_outer_timeout_after_stays_a_task_timeout(autojump_clock):
    async with session_for("hang", Timeout(None)) as session:
        with pytest.raises(TaskTimeout):
            async with timeout_after(4):
                await session.get("http://test/")
        assert await clock() == 4
        assert session.transport.pool.active_connections == 0


async def test_keepalive_expiry_on_the_mock_clock(autojump_clock):
    opened = []
    limits = Limits(keepalive_expiry=10)
    async with session_for(answer_ok, Timeout(5), limits=limits, opened=opened) as session:
        await session.get("http://test/")
        await sleep(5)
        await session.get("http://test/")
        assert len(opened) == 1
        await sleep(11)
        await session.get("http://test/")
        assert len(opened) == 2 and opened[0].closed


async def test_max_keepalive_connections(autojump_clock):
    opened = []
    limits = Limits(max_connections=3, max_keepalive_connections=1)
    async with session_for(answer_ok, Timeout(5), limits=limits, opened=opened) as session:
        responses = []
        for _ in range(3):  # three responses held open at once: three connections
            cm = session.stream("GET", "http://test/")
            responses.append((cm, await cm.__aenter__()))
        assert len(opened) == 3 and session.transport.pool.active_connections == 3
        for cm, response in responses:
            await response.aread()
            await cm.__aexit__(None, None, None)
        pool = session.transport.pool
        assert pool.idle_connections == 1 and pool.active_connections == 0
        assert sum(s.closed for s in opened) == 2
        # The one kept alive is reused.
        assert (await session.get("http://test/")).content == b"ok"
        assert len(opened) == 3
