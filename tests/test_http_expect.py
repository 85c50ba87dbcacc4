"""``Expect: 100-continue``: the head goes first, the body only after
``100 Continue`` (or after ``expect_continue_timeout`` without an answer),
and never after a final answer, whose connection is then closed."""

import h11
import pytest
from http_testing import H11Server, RawServer, memory_stream_pair, ok_app

from curionet import clock, sleep, spawn
from curionet.protocols.http import (
    ClientSession,
    HTTPTransport,
    MockTransport,
    RemoteProtocolError,
    Response,
    Timeout,
    TotalTimeout,
)

BODY = b"x" * 3000
HEAD_END = b"\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def _head_and_rest(raw):
    head, _, rest = raw.partition(HEAD_END)
    return head, rest


async def _chunks():
    yield BODY[:1000]
    yield BODY[1000:]


async def _post_expecting_ok(script, expect_continue_timeout):
    """POST BODY with ``Expect: 100-continue`` to a RawServer running
    *script*; check the answer is ``ok`` and the script raised nothing, and
    return the (stopped) server."""
    server = RawServer(script).start()
    try:
        async with ClientSession(expect_continue_timeout=expect_continue_timeout) as session:
            response = await session.post(server.url("/"), content=BODY, headers={"Expect": "100-continue"})
            assert response.content == b"ok"
    finally:
        server.stop()
    assert not server.errors
    return server


@pytest.mark.parametrize("streamed", [False, True])
async def test_body_waits_for_100_continue(streamed):
    seen = {}

    def script(conn, n):
        for _ in range(2):  # two requests on the one connection
            start = len(conn.raw)
            conn.recv_until(HEAD_END, start=start)
            # The client waits (for up to 30 s here): nothing follows the head.
            conn.recv_exactly(len(conn.raw) + 1, timeout=0.2)
            seen.setdefault("before_100", conn.raw[start:])
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            if streamed:
                conn.recv_until(b"\r\n0\r\n\r\n", start=start)
            else:
                head, _ = _head_and_rest(conn.raw[start:])
                conn.recv_exactly(start + len(head) + 4 + len(BODY))
            conn.send(OK)
            conn.raw += b"|"  # the end of one request

    server = RawServer(script).start()
    try:
        async with ClientSession(expect_continue_timeout=30) as session:
            for _ in range(2):
                content = _chunks() if streamed else BODY
                response = await session.put(server.url("/up"), content=content, headers={"Expect": "100-continue"})
                assert response.status_code == 200 and response.content == b"ok"
    finally:
        server.stop()
    assert not server.errors
    assert server.connections == 1
    head, rest = _head_and_rest(seen["before_100"])
    assert b"\r\nExpect: 100-continue" in head and rest == b""
    first = server.conns[0].raw.split(b"|")[0]
    _, body = _head_and_rest(first)
    if streamed:
        assert body == b"3e8\r\n" + BODY[:1000] + b"\r\n7d0\r\n" + BODY[1000:] + b"\r\n0\r\n\r\n"
    else:
        assert body == BODY


async def test_final_answer_instead_of_100_skips_the_body_and_closes():
    def script(conn, n):
        conn.recv_until(HEAD_END)
        if n == 1:
            # Answer at once, without reading any body, and keep listening.
            conn.send(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 6\r\n\r\nno 100")
            conn.wait_closed()
        else:
            conn.send(OK)
            conn.wait_closed()

    server = RawServer(script).start()
    try:
        async with ClientSession(expect_continue_timeout=30) as session:
            response = await session.post(server.url("/"), content=BODY, headers={"Expect": "100-continue"})
            assert response.status_code == 417 and response.content == b"no 100"
            pool = session.transport.pool  # type: ignore[attr-defined]
            assert pool.idle_connections == 0  # not kept: its request is unfinished
            again = await session.get(server.url("/"))
            assert again.content == b"ok"
    finally:
        server.stop()
    assert not server.errors
    first = server.conns[0]
    assert first.closed_by_peer
    head, rest = _head_and_rest(first.raw)
    assert head.startswith(b"POST / HTTP/1.1") and rest == b""  # the body never went
    assert server.connections == 2


async def test_no_answer_sends_the_body_after_the_timeout():
    def script(conn, n):
        conn.recv_until(HEAD_END)
        head, _ = _head_and_rest(conn.raw)
        conn.recv_exactly(len(head) + 4 + len(BODY))
        conn.send(OK)
        conn.wait_closed()

    server = await _post_expecting_ok(script, 0.05)
    _, body = _head_and_rest(server.conns[0].raw)
    assert body == BODY


async def test_default_wait_is_one_second(autojump_clock):
    arrived = []

    async def server(stream):
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Data):
                arrived.append(await clock())
            elif isinstance(event, h11.EndOfMessage):
                out = conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                await stream.send_all(out + conn.send(h11.EndOfMessage()))
                conn.start_next_cycle()

    async def connector(host, port, **kwargs):
        client, server_end = memory_stream_pair()
        await spawn(server, server_end, daemon=True)
        return client

    async with ClientSession(transport=HTTPTransport(connector=connector)) as session:
        start = await clock()
        response = await session.post("http://test/", content=BODY, headers={"Expect": "100-continue"})
        assert response.status_code == 200
    assert arrived and arrived[0] - start == pytest.approx(1.0)


async def test_other_1xx_keep_the_body_waiting():
    def script(conn, n):
        conn.recv_until(HEAD_END)
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n")
        conn.recv_exactly(len(conn.raw) + 1, timeout=0.2)
        before = conn.raw
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        head, _ = _head_and_rest(conn.raw)
        conn.recv_exactly(len(head) + 4 + len(BODY))
        conn.send(OK)
        conn.raw = before + b"|" + conn.raw
        conn.wait_closed()

    server = await _post_expecting_ok(script, 30)
    before, _ = server.conns[0].raw.split(b"|", 1)
    assert before.endswith(HEAD_END)  # no body after the 103


async def test_h11_server_sees_the_whole_body():
    # A server (h11) that answers 100 when asked, as real servers do.
    server = H11Server(ok_app).start()
    try:
        async with ClientSession(expect_continue_timeout=0.05) as session:
            response = await session.put(server.url("/"), content=BODY, headers={"Expect": "100-continue"})
            assert response.content == b"ok"
            response = await session.put(server.url("/"), content=BODY)
            assert response.content == b"ok"
    finally:
        server.stop()
    assert server.connections == 1
    assert [_head_and_rest(raw)[1] for raw in server.raw] == [BODY, BODY]


async def test_threshold_adds_the_header():
    seen = []

    def handler(request):
        seen.append(request.headers.get("expect"))
        return Response(200)

    session = ClientSession(transport=MockTransport(handler), expect_continue_threshold=1024)
    async with session:
        await session.post("http://test/", content=b"small")
        await session.post("http://test/", content=BODY)
        await session.post("http://test/", content=_chunks())  # unknown length
        await session.get("http://test/")
        await session.post("http://test/", content=BODY, headers={"Expect": "something-else"})
    assert seen == [None, "100-continue", "100-continue", None, "something-else"]


async def test_no_threshold_no_header():
    seen = []

    def handler(request):
        seen.append(request.headers.get("expect"))
        return Response(200)

    async with ClientSession(transport=MockTransport(handler)) as session:
        await session.post("http://test/", content=BODY)
    assert seen == [None]


async def test_final_answer_head_is_bounded_by_max_header_size():
    big_head = b"HTTP/1.1 417 Expectation Failed\r\nX-Big: " + b"a" * 3000 + b"\r\nContent-Length: 0\r\n\r\n"

    def script(conn, n):
        conn.recv_until(HEAD_END)
        conn.send(big_head)
        conn.wait_closed()

    server = RawServer(script).start()
    try:
        async with ClientSession(expect_continue_timeout=30, max_header_size=1024) as session:
            with pytest.raises(RemoteProtocolError):  # "larger than 1024 bytes" (h11 says so if split)
                await session.post(server.url("/"), content=BODY, headers={"Expect": "100-continue"})
    finally:
        server.stop()


async def test_bad_content_length_with_threshold_is_left_to_the_request():
    seen = []

    def handler(request):
        seen.append(request.headers.get("expect"))
        return Response(200)

    async with ClientSession(transport=MockTransport(handler), expect_continue_threshold=10) as session:
        await session.post("http://test/", content=BODY, headers={"Content-Length": "junk"})
    assert seen == ["100-continue"]


async def test_timeout_while_waiting_closes_the_connection(autojump_clock):
    opened = []

    async def silent(stream):
        while await stream.receive_some(65536):
            pass

    async def connector(host, port, **kwargs):
        client, server_end = memory_stream_pair()
        await spawn(silent, server_end, daemon=True)
        opened.append(client)
        return client

    transport = HTTPTransport(connector=connector, expect_continue_timeout=None)
    async with ClientSession(transport=transport, timeout=Timeout(5, total=3)) as session:
        with pytest.raises(TotalTimeout):
            await session.post("http://test/", content=BODY, headers={"Expect": "100-continue"})
        assert transport.pool.connections == [] and transport.pool.pending_requests == 0
        assert opened[0].closed


async def test_a_1xx_does_not_extend_the_wait(autojump_clock):
    arrived = []

    async def server(stream):
        conn = h11.Connection(h11.SERVER)
        hinted = False
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if not hinted:
                    hinted = True
                    await sleep(0.6)
                    await stream.send_all(b"HTTP/1.1 103 Early Hints\r\n\r\n")
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Data):
                arrived.append(await clock())
            elif isinstance(event, h11.EndOfMessage):
                out = conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
                await stream.send_all(out + conn.send(h11.EndOfMessage()))
                return

    async def connector(host, port, **kwargs):
        client, server_end = memory_stream_pair()
        await spawn(server, server_end, daemon=True)
        return client

    async with ClientSession(transport=HTTPTransport(connector=connector)) as session:
        start = await clock()
        response = await session.post("http://test/", content=BODY, headers={"Expect": "100-continue"})
        assert response.status_code == 200
    assert arrived and arrived[0] - start == pytest.approx(1.0)
