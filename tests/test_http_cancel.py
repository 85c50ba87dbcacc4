"""Cancellation at every blocking point of a request never leaks a pool slot
or a socket.

``curionet.testing.cancel_at_blocking_point`` runs the request in a task
cancelled at its n-th blocking point, for n = 1, 2, ... until a run
completes without reaching n.  After each run the pool must hold no active
connection and no waiting request; every stream opened is either closed or
idle in the pool; after the session closes, every stream is closed and the
server has seen every connection end.
"""

import gc
import ssl
import time
import warnings

import pytest
import trustme
from http_testing import H11Server, wait_until

from curionet import Event, sleep, spawn
from curionet.protocols.http import ClientSession, Limits
from curionet.protocols.http._streams import open_stream
from curionet.testing import cancel_at_blocking_point


def recording_connector(opened):
    async def connect(host, port, **kwargs):
        stream = await open_stream(host, port, **kwargs)
        opened.append(stream)
        return stream

    return connect


def check_pool(session, opened):
    pool = session.transport.pool
    assert pool.active_connections == 0, pool
    assert pool.pending_requests == 0, pool
    idle_streams = {id(c.stream) for c in pool.connections if c.state == "IDLE"}
    for stream in opened:
        assert stream.closed or id(stream) in idle_streams


async def sweep(make_session, scenario, server, warmup=None, limit=400):
    """Cancel *scenario* at every blocking point; return how many points."""
    n = 0
    while True:
        n += 1
        assert n < limit, "the scenario never completed"
        opened = []
        session = make_session(recording_connector(opened))
        cleanup = None
        try:
            if warmup is not None:
                cleanup = await warmup(session)
            completed = (await cancel_at_blocking_point(n, scenario, session)).completed
            if cleanup is not None:
                await cleanup()
            check_pool(session, opened)
            # The session still works after the cancellation.
            if not completed:
                await scenario(session)
                check_pool(session, opened)
        finally:
            await session.aclose()
        assert all(s.closed for s in opened)
        assert wait_until(lambda: server.live == 0), f"server still sees {server.live} open connections"
        if completed:
            print(f"{n - 1} cancellation points")
            return n - 1


def app(conn_no, req_no, request, body):
    time.sleep(0.001)  # so that waiting for the response always blocks
    target = request.target
    if target == b"/redirect":
        return (302, [("Location", "/final"), ("Content-Length", "0")], b"")
    if target == b"/big":
        return (200, [("Content-Length", str(1 << 20))], [b"b" * (1 << 17)] * 8)
    return (200, [("Content-Length", str(len(body) + 2))], b"ok" + body)


@pytest.fixture(scope="module")
def server():
    srv = H11Server(app).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls_server():
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    srv = H11Server(app, ssl_context=ctx).start()
    client = ssl.create_default_context()
    ca.configure_trust(client)
    yield srv, client
    srv.stop()


def plain_session(connector):
    from curionet.protocols.http import HTTPTransport

    return ClientSession(transport=HTTPTransport(connector=connector))


async def test_cancel_get_on_new_connection(server):
    async def scenario(session):
        r = await session.get(server.url("/x"))
        assert r.content == b"ok"

    points = await sweep(plain_session, scenario, server)
    assert points >= 2  # at least: connecting, waiting for the response


async def test_cancel_get_on_reused_connection(server):
    async def warmup(session):
        assert (await session.get(server.url("/warm"))).content == b"ok"

    async def scenario(session):
        assert (await session.get(server.url("/x"))).content == b"ok"

    await sweep(plain_session, scenario, server, warmup=warmup)


async def test_cancel_post_with_streaming_body(server):
    async def scenario(session):
        async def gen():
            for _ in range(4):
                yield b"z" * 70000

        r = await session.post(server.url("/up"), content=gen())
        assert r.content == b"ok" + b"z" * 280000

    await sweep(plain_session, scenario, server)


async def test_cancel_while_streaming_a_body(server):
    async def scenario(session):
        total = 0
        async with session.stream("GET", server.url("/big")) as r:
            async for chunk in r.aiter_bytes():
                total += len(chunk)
        assert total == 1 << 20

    points = await sweep(plain_session, scenario, server)
    assert points >= 4  # connect, head, and body pieces arriving 1 ms apart


async def test_cancel_while_reading_a_body_in_place(server):
    async def scenario(session):
        response = await session.get(server.url("/big"))  # received into one buffer
        assert response.content == b"b" * (1 << 20)

    points = await sweep(plain_session, scenario, server)
    assert points >= 4


async def test_cancel_across_a_redirect(server):
    async def scenario(session):
        r = await session.get(server.url("/redirect"))
        assert r.status_code == 200 and len(r.history) == 1

    await sweep(plain_session, scenario, server)


async def test_cancel_during_tls(tls_server):
    srv, client_ctx = tls_server
    from curionet.protocols.http import HTTPTransport

    def make(connector):
        return ClientSession(transport=HTTPTransport(connector=connector, verify=client_ctx))

    async def scenario(session):
        assert (await session.get(srv.url("/x", scheme="https"))).content == b"ok"

    await sweep(make, scenario, srv)


async def test_cancel_while_waiting_for_a_pool_slot(server):
    from curionet.protocols.http import HTTPTransport

    def make(connector):
        return ClientSession(transport=HTTPTransport(connector=connector, limits=Limits(max_connections=1)))

    async def warmup(session):
        """Another task holds the only connection until the request under
        test is queued for it."""
        holding = Event()
        release = Event()

        async def holder():
            async with session.stream("GET", server.url("/big")) as r:
                await holding.set()
                await release.wait()
                await r.aread()

        async def releaser():
            while session.transport.pool.pending_requests == 0:
                await sleep(0)
            await release.set()

        t = await spawn(holder)
        await holding.wait()
        r = await spawn(releaser)

        async def cleanup():
            await r.cancel()
            await release.set()
            await t.join()

        return cleanup

    async def scenario(session):
        assert (await session.get(server.url("/x"))).content == b"ok"

    await sweep(make, scenario, server, warmup=warmup)


def test_no_socket_left_for_the_garbage_collector():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
