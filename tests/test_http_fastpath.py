"""The HTTP client's fast path (``_fastpath``) against h11 itself.

The request writer must produce exactly h11's bytes whenever it produces
any, and step aside whenever h11 would refuse the request; the response
parser must give exactly h11's result whenever it gives one, and step
aside for everything else (h11 then decides, errors included).  Both are
checked on hand-picked cases and on generated ones; then whole exchanges
over an in-memory stream are run with and without the fast path and must
end the same way.
"""

import h11
import pytest
from http_testing import memory_stream_pair
from hypothesis import HealthCheck, given, settings, strategies as st

from curionet import sleep, spawn
from curionet.protocols.http import HTTPError, Request, Timeout, _connection
from curionet.protocols.http._connection import HTTP11Connection
from curionet.protocols.http._fastpath import parse_response_head, request_head

NGINX = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 09:46:45 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 5\r\nLast-Modified: Wed, 02 Dec 2026 09:46:40 GMT\r\n"
    b"Connection: keep-alive\r\nETag: \"6b0fe900-400\"\r\nAccept-Ranges: bytes\r\n\r\nhello"
)


# ---------------------------------------------------------------------------
# h11 as the reference
# ---------------------------------------------------------------------------


def h11_request_bytes(method, target, items, netloc, body):
    """What the h11 path sends (``HTTP11Connection._send_request``), or the
    h11 error."""
    raw = [(n.encode("latin-1"), v.encode("latin-1")) for _, n, v in items]
    if not any(lower == "host" for lower, _, _ in items):
        raw.insert(0, (b"Host", netloc.encode("ascii")))
    conn = h11.Connection(h11.CLIENT)
    try:
        out = conn.send(h11.Request(method=method.encode("ascii"), target=target.encode("ascii"), headers=raw))
        if body:
            out += conn.send(h11.Data(data=body))
        out += conn.send(h11.EndOfMessage())
    except (h11.LocalProtocolError, UnicodeEncodeError):
        return None
    return out


def h11_response(data, method=b"GET", max_size=65536):
    """h11's reading of *data* as the response to *method*: ``("error",)``,
    ``("incomplete",)``, ``("informational",)`` or ``("response", status,
    version, reason, items, body, state)`` where *state* is ``"done"``,
    ``"close"`` (done, but the connection may not be reused) or
    ``"more"`` (the body continues)."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_size)
    conn.send(h11.Request(method=method, target=b"/", headers=[(b"Host", b"x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    try:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            return ("incomplete",)
        if isinstance(event, h11.InformationalResponse):
            return ("informational",)
        assert isinstance(event, h11.Response)
        items = [(k.decode("latin-1"), r.decode("latin-1"), v.decode("latin-1"))
                 for r, k, v in event.headers._full_items]  # fmt: skip
        body = b""
        while True:
            ev = conn.next_event()
            if isinstance(ev, h11.Data):
                body += ev.data
                continue
            if isinstance(ev, h11.EndOfMessage):
                if conn.trailing_data[0]:
                    return ("error",)  # what the connection reports: more than Content-Length
                state = "close" if conn.their_state is h11.MUST_CLOSE else "done"
                break
            assert ev is h11.NEED_DATA
            state = "more"
            break
    except h11.RemoteProtocolError:
        return ("error",)
    version = "HTTP/" + event.http_version.decode("ascii")
    return ("response", event.status_code, version, event.reason.decode("latin-1"), items, body, state)


def fast_response(data, method=b"GET", max_size=65536):
    parsed = parse_response_head(data, method == b"HEAD", max_size)
    if parsed is None:
        return None
    status, version, reason, items, start, length, close = parsed
    body = data[start:]
    state = "more" if len(body) < length else "close" if close else "done"
    return ("response", status, version, reason, items, body, state)


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------

UA = ("user-agent", "User-Agent", "curionet")


@pytest.mark.parametrize(
    "method, target, items, body",
    [
        ("GET", "/1kb.bin", [UA, ("accept", "Accept", "*/*")], None),
        ("GET", "/", [UA, ("host", "HOST", "example.org:8080")], None),  # h11 writes Host first
        ("POST", "/p?q=1", [UA, ("content-length", "Content-Length", "5")], b"hello"),
        ("PUT", "/p", [("content-length", "content-length", "0")], b""),
        ("GET", "/", [("connection", "Connection", "keep-alive, close"), ("x-e", "X-E", "")], None),
        ("DELETE", "http://example.org/abs", [("x-obs", "X-Obs", "caf\xe9")], None),
    ],
)
def test_request_head_writes_what_h11_writes(method, target, items, body):
    out = request_head(method, target, items, "example.org", body)
    assert out is not None
    head, close = out
    assert head + (body or b"") == h11_request_bytes(method, target, items, "example.org", body)
    assert close == any(n == "connection" and "close" in v for n, _, v in items)


@pytest.mark.parametrize(
    "method, target, items, body",
    [
        ("CONNECT", "example.org:443", [], None),  # a tunnel: h11 tracks the switch
        ("G T", "/", [], None),
        ("GET", "/a b", [], None),
        ("GET", "/\xe9", [], None),
        ("GET", "/", [("host", "Host", "a"), ("host", "Host", "b")], None),
        ("GET", "/", [("bad name", "Bad Name", "x")], None),
        ("GET", "/", [("x-bad", "X-Bad", "a\r\nInjected: 1")], None),
        ("GET", "/", [("x-bad", "X-Bad", " padded")], None),
        ("GET", "/", [("x-bad", "X-Bad", "nul\x00")], None),
        ("POST", "/", [], b"body without a length"),
        ("POST", "/", [("content-length", "Content-Length", "3")], b"hello"),
        ("POST", "/", [("content-length", "Content-Length", "5, 5")], b"hello"),  # h11 rewrites it as 5
        ("POST", "/", [("content-length", "Content-Length", "5"), ("content-length", "Content-Length", "5")],
         b"hello"),
        ("GET", "/", [("content-length", "Content-Length", "2")], None),
        ("POST", "/", [("transfer-encoding", "Transfer-Encoding", "chunked")], b"hello"),
        ("GET", "/", [("upgrade", "Upgrade", "websocket"), ("connection", "Connection", "upgrade")], None),
        ("POST", "/", [("expect", "Expect", "100-continue"), ("content-length", "Content-Length", "1")], b"x"),
    ],
)
def test_request_head_leaves_everything_else_to_h11(method, target, items, body):
    assert request_head(method, target, items, "example.org", body) is None


def test_request_head_refuses_what_cannot_be_latin1_like_the_h11_path():
    with pytest.raises(UnicodeEncodeError):
        request_head("GET", "/", [("x-a", "X-A", "\u20ac")], "example.org", None)


_NAME = st.sampled_from(["Host", "host", "Content-Length", "Connection", "Transfer-Encoding", "Upgrade", "Expect",
                         "User-Agent", "Accept", "X-A", "X-A", "X-A", "Bad Name", "X:Y", "X\xe9", ""])
_VALUE = st.sampled_from(["0", "5", "05", "5, 5", "close", "keep-alive", "Close, te", "chunked", "example.org", "",
                          "*/*", "a b", "a  b", " a", "a ", "a\tb", "a\r\nb", "a\x00", "a\x0b", "\xe9", "a" * 30])


_PAIR = st.sampled_from([("User-Agent", "curionet"), ("Accept", "*/*"), ("Host", "example.org"), ("X-A", "a  b"),
                         ("Content-Length", "5"), ("Connection", "close"), ("X-A", "")]) | st.tuples(_NAME, _VALUE)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "GET", "POST", "HEAD", "CONNECT", "G:T", "PATCH", "g\xe9t"]),
    target=st.sampled_from(["/", "/a?b=c", "*", "/a b", "http://h/x", "/\x7f", "/\xe9"]),
    pairs=st.lists(_PAIR, max_size=4),
    body=st.sampled_from([None, None, b"", b"hello", b"x" * 70000]),
)  # fmt: skip
def test_request_head_matches_h11_on_generated_requests(method, target, pairs, body):
    items = [(n.lower(), n, v) for n, v in pairs]
    expected = h11_request_bytes(method, target, items, "example.org", body)
    out = request_head(method, target, items, "example.org", body)
    if out is not None:
        assert expected is not None, "the fast path accepted a request h11 refuses"
        assert out[0] + (body or b"") == expected


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, method",
    [
        (NGINX, b"GET"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"GET"),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", b"GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", b"HEAD"),
        (b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", b"GET"),  # no reason phrase
        (b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", b"GET"),
        (b"HTTP/1.1 299 Odd \t r\xe9ason\r\nContent-Length: 2\r\n\r\nok", b"GET"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"GET"),  # 1.0: no keep-alive
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 2\r\n\r\nok", b"GET"),
        (b"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 2\r\n\r\nok", b"GET"),  # not "close"
        (b"HTTP/1.1 200 OK\r\nContent-Length:   7  \r\nX-Empty:\r\nX-Sp:  a  b \r\n\r\npartial", b"GET"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 00000000000000000003\r\n\r\nabc", b"GET"),
    ],
)
def test_fast_parser_agrees_with_h11(data, method):
    fast = fast_response(data, method)
    assert fast is not None
    assert fast == h11_response(data, method)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",  # malformed status lines
        b"garbage garbage\r\n\r\n",
        b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/11 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n",  # invalid header names/values
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x0b\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty name\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello world",  # body longer than Content-Length
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n",  # a latin-1 digit is not a digit
        b"HTTP/1.1 200 OK\r\nContent-Length: 123456789012345678901\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",  # no upgrade was asked for
    ],
)
def test_fast_parser_leaves_errors_to_h11(data):
    assert parse_response_head(data, False, 65536) is None
    assert h11_response(data) == ("error",)


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5",  # incomplete head
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",  # h11 merges it
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",  # chunked wins
        b"HTTP/1.1 200 OK\r\nX: folded\r\n continued\r\nContent-Length: 0\r\n\r\n",  # obs-fold
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",  # bare LF
        b"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nread until the connection closes",
    ],
)
def test_fast_parser_leaves_the_unusual_to_h11(data):
    assert parse_response_head(data, False, 65536) is None
    assert h11_response(data)[0] != "error"


def test_fast_parser_leaves_big_heads_to_h11():
    data = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 2000 + b"\r\nContent-Length: 0\r\n\r\n"
    assert parse_response_head(data, False, 65536) is not None
    assert parse_response_head(data, False, 1024) is None


_STATUS = st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.0 204 No Content", b"HTTP/1.1 304",
                           b"HTTP/1.1 100 Continue", b"HTTP/2.0 200 OK", b"HTTP/1.1 404 ", b"HTTP/1.1 599 X\xe9"])
_HNAME = st.sampled_from([b"Content-Length", b"content-length", b"Transfer-Encoding", b"Connection", b"Server",
                          b"X-A", b"ETag", b"Set-Cookie"])
_HVALUE = st.sampled_from([b"0", b"3", b"5", b" 3 ", b"3, 3", b"3,4", b"close", b"Close ", b"keep-alive", b"chunked",
                           b"\xe9t\xe9", b"a\tb", b"", b"nginx/1.22", b'"x-1"', b"a=b; Path=/"])
_GOOD = st.sampled_from([(b"Content-Length", b"3"), (b"Content-Length", b"5"), (b"content-length", b"0"),
                     (b"Connection", b"close"), (b"Connection", b"keep-alive"), (b"Server", b"nginx/1.22"),
                     (b"ETag", b'"x-1"'), (b"X-A", b"a\tb  c"), (b"X-A", b""), (b"Set-Cookie", b"a=b; Path=/")])
_HEADER = _GOOD | _GOOD | st.tuples(_HNAME, _HVALUE)
# Single-byte damage: each one makes some heads invalid, or merely unusual.
_DAMAGE = st.just([]) | st.lists(
    st.tuples(st.floats(0, 1), st.sampled_from(["insert", "replace", "delete"]),
              st.sampled_from([b"\r", b"\n", b" ", b"\t", b":", b"\x00", b"\x0b", b"\x7f", b"\xe9", b",", b"a", b"9"])),
    max_size=2,
)  # fmt: skip


def damage(data, edits):
    for where, how, byte in edits:
        i = int(where * len(data))
        if how == "insert":
            data = data[:i] + byte + data[i:]
        elif how == "replace":
            data = data[:i] + byte + data[i + 1 :]
        else:
            data = data[:i] + data[i + 1 :]
    return data


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    status=_STATUS,
    headers=st.lists(st.tuples(_HEADER, st.sampled_from([b": ", b": ", b":", b":\t"])), max_size=5),
    body=st.sampled_from([b"", b"abc", b"abcde", b"abcdefgh"]),
    method=st.sampled_from([b"GET", b"GET", b"HEAD"]),
    edits=_DAMAGE,
)  # fmt: skip
def test_fast_parser_matches_h11_on_generated_heads(status, headers, body, method, edits):
    head = status + b"\r\n" + b"".join(n + sep + v + b"\r\n" for (n, v), sep in headers) + b"\r\n"
    data = damage(head, edits) + body
    fast = fast_response(data, method)
    if fast is not None:
        assert fast == h11_response(data, method)


# ---------------------------------------------------------------------------
# Whole exchanges, with and without the fast path
# ---------------------------------------------------------------------------


async def exchange(pieces, monkeypatch, *, fast, method="GET", headers=None, content=None, max_header_size=65536):
    """Send one request over an in-memory stream whose peer answers with
    *pieces* (then EOF); how it ends: the response and its body, or the
    error class, and whether the connection can be reused."""
    client, server = memory_stream_pair()

    async def connect():
        return client

    conn = HTTP11Connection(("http", "example.org", 80), connect, max_header_size=max_header_size)
    if fast:
        monkeypatch.undo()
    else:
        monkeypatch.setattr(_connection, "request_head", lambda *args: None)

    async def peer():
        for piece in pieces:
            await server.send_all(piece)
            await sleep(0.01)
        await server.send_eof()

    feeder = await spawn(peer)
    try:
        request = Request(method, "http://example.org/x", headers=headers, content=content)
        try:
            response = await conn.handle_request(request, Timeout(5))
            body = b"".join([bytes(chunk) async for chunk in response._stream])
        except HTTPError as exc:
            return ("error", type(exc).__name__)
        conn.response_closed(0.0)
        return ("ok", response.status_code, response.reason, response.http_version,
                response.headers.multi_items(), body, conn.must_close)  # fmt: skip
    finally:
        await feeder.cancel()
        await conn.aclose()


EXCHANGES = [
    [NGINX],
    [NGINX[:30], NGINX[30:]],  # head split: h11 finishes it
    [NGINX[:-3], NGINX[-3:]],  # body split: read directly
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"],
    [b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
    [b"HTTP/1.1 204 No Content\r\n\r\n"],
    [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello"],
    [b"HTTP/1.1 200 OK\r\nX: folded\r\n more\r\nContent-Length: 2\r\n\r\nok"],
    [b"HTTP/1.1 200 OK\r\n\r\nuntil close"],
    [b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello world"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"],
    [b"HTTP/1.1 200 OK\r\nX: a\x00\r\nContent-Length: 0\r\n\r\n"],
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"],
    [b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 2000 + b"\r\nContent-Length: 0\r\n\r\n"],
    [],  # the peer closes without answering
]


@pytest.mark.parametrize("pieces", EXCHANGES)
async def test_exchange_ends_the_same_with_and_without_the_fast_path(pieces, monkeypatch, autojump_clock):
    slow = await exchange(pieces, monkeypatch, fast=False, max_header_size=1024)
    fast = await exchange(pieces, monkeypatch, fast=True, max_header_size=1024)
    assert fast == slow


@pytest.mark.parametrize(
    "method, headers, content",
    [("HEAD", None, None), ("POST", None, b"payload"), ("GET", {"Connection": "close"}, None),
     ("POST", {"Transfer-Encoding": "chunked"}, b"payload"), ("OPTIONS", {"Host": "other.example"}, None)],
)  # fmt: skip
async def test_requests_end_the_same_with_and_without_the_fast_path(method, headers, content, monkeypatch,
                                                                   autojump_clock):  # fmt: skip
    pieces = [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + (b"" if method == "HEAD" else b"hello")]
    slow = await exchange(pieces, monkeypatch, fast=False, method=method, headers=headers, content=content)
    fast = await exchange(pieces, monkeypatch, fast=True, method=method, headers=headers, content=content)
    assert fast == slow
    assert fast[0] == "ok" and fast[-1] == (method == "GET")  # Connection: close is honoured


# ---------------------------------------------------------------------------
# Streams: readiness without a trap
# ---------------------------------------------------------------------------


def test_wait_readable_traps_only_when_nothing_is_there():
    import socket

    from curionet.kernel import traps
    from curionet.kernel.io import SocketStream

    a, b = socket.socketpair()
    stream = SocketStream(a)
    try:
        coro = stream.wait_readable(5)
        assert coro.send(None)[0] == traps.T_GET_CURRENT  # the timeout block, then the wait
        coro.close()
        assert not stream.is_readable()
        b.send(b"x")
        for timeout in (None, 5):
            coro = stream.wait_readable(timeout)
            with pytest.raises(StopIteration):
                coro.send(None)  # ready: returns without yielding to the kernel
        assert stream.is_readable()  # an idle connection with data on it is stale
        a.recv(1)
        assert not stream.is_readable()
        b.close()
        assert stream.is_readable()  # EOF
        coro = stream.wait_readable(None)
        with pytest.raises(StopIteration):
            coro.send(None)
    finally:
        a.close()
        b.close()


async def test_body_that_came_with_the_head_is_taken_whole():
    from http_testing import H11Server

    from curionet.protocols.http import ClientSession, ResponseTooLarge

    srv = H11Server(lambda c, r, req, body: (200, [("Content-Length", "20")], b"y" * 20)).start()
    try:
        async with ClientSession(max_body_size=10) as session:
            with pytest.raises(ResponseTooLarge) as info:
                await session.get(srv.url("/a"))
            assert srv.url("/a") in str(info.value)
            pool = session.transport.pool
            assert pool.active_connections == 0 and pool.idle_connections == 1  # read whole: reusable
            session.max_body_size = 20
            r = await session.get(srv.url("/b"))
            assert r.content == b"y" * 20 and r.num_bytes_downloaded == 20 and r.is_closed
            async with session.stream("GET", srv.url("/c")) as r:
                assert await r.aread() == b"y" * 20
                with pytest.raises(Exception, match="already read"):
                    _ = [c async for c in r.aiter_raw()]
            assert pool.idle_connections == 1
        assert srv.connections == 1
    finally:
        srv.stop()


async def test_body_received_in_place_keeps_every_guarantee(monkeypatch):
    from http_testing import H11Server

    from curionet.protocols.http import ClientSession, RemoteProtocolError, ResponseTooLarge

    size = 200_000
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)

    def app(conn_no, req_no, request, _):
        if request.target == b"/truncated":
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body[:1000]
        if request.target == b"/overlong":  # more than the first read takes, then bytes too many
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body + b"extra"
        return (200, [("Content-Length", str(size))], [body[:50_000], body[50_000:150_000], body[150_000:]])

    srv = H11Server(app).start()
    try:
        async with ClientSession() as session:
            pool = session.transport.pool
            for _ in range(2):
                r = await session.get(srv.url("/ok"))
                assert r.content == body and type(r.content) is bytes and r.num_bytes_downloaded == size
            assert srv.connections == 1 and pool.idle_connections == 1  # kept alive
            with pytest.raises(RemoteProtocolError, match="missing"):
                await session.get(srv.url("/truncated"))
            with pytest.raises(RemoteProtocolError, match="Content-Length"):
                await session.get(srv.url("/overlong"))
            assert pool.active_connections == 0
            session.max_body_size = size - 1
            with pytest.raises(ResponseTooLarge):
                await session.get(srv.url("/ok"))
            session.max_body_size = size
            # Too big for one buffer: collected piece by piece instead, same result.
            monkeypatch.setattr(_connection, "_MAX_IN_PLACE", size - 1)
            assert (await session.get(srv.url("/ok"))).content == body
            assert pool.active_connections == 0
    finally:
        srv.stop()


async def test_body_received_in_place_over_tls():
    import ssl

    import trustme
    from http_testing import H11Server

    from curionet.protocols.http import ClientSession

    size = 300_000
    body = bytes(range(256)) * (size // 256) + b"t" * (size % 256)
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    pieces = [body[:70_000], body[70_000:200_000], body[200_000:]]
    srv = H11Server(lambda c, r, req, _: (200, [("Content-Length", str(size))], pieces), ssl_context=server_ctx)
    srv.start()
    try:
        async with ClientSession(verify=client_ctx) as session:
            for _ in range(2):
                assert (await session.get(srv.url("/big", scheme="https"))).content == body
            assert srv.connections == 1
    finally:
        srv.stop()
