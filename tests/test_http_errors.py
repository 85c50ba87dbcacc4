"""Bad peers give typed errors naming the URL: never a hang, a leaked
connection or a silently truncated body."""

import socket
import struct

import pytest
from http_testing import H11Server, ThreadedServer, loopback_listener

from curionet.protocols.http import (
    ClientSession,
    ConnectError,
    HTTPError,
    RemoteProtocolError,
    TransportError,
)


def raw_server(payload):
    return H11Server(lambda c, r, req, body: payload).start()


async def expect_remote_error(payload, path="/x", **session_kwargs):
    srv = raw_server(payload)
    try:
        async with ClientSession(**session_kwargs) as session:
            with pytest.raises(RemoteProtocolError) as info:
                await session.get(srv.url(path))
            assert srv.url(path) in str(info.value)
            assert info.value.request.url == srv.url(path)
            assert session.transport.pool.active_connections == 0
            assert session.transport.pool.idle_connections == 0
        return info.value
    finally:
        srv.stop()


async def test_malformed_status_line():
    await expect_remote_error(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n")
    await expect_remote_error(b"garbage garbage\r\n\r\n")


async def test_oversized_headers():
    huge = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n"
    await expect_remote_error(huge)
    small = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 2000 + b"\r\nContent-Length: 0\r\n\r\n"
    await expect_remote_error(small, max_header_size=1024)


async def test_body_longer_than_content_length():
    err = await expect_remote_error(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello world")
    assert "Content-Length" in str(err)


async def test_peer_closes_mid_body():
    await expect_remote_error(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
    await expect_remote_error(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")


async def test_peer_closes_before_any_response_on_a_new_connection():
    await expect_remote_error("close")


async def test_invalid_chunked_encoding():
    await expect_remote_error(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")


async def test_closed_kept_alive_connection_retried_for_idempotent_only():
    def app(conn_no, req_no, request, body):
        if req_no >= 2 and request.target in (b"/b", b"/c", b"/e"):
            return "close"  # the server gave up on the kept-alive connection
        return (200, [("Content-Length", "2")], b"ok")

    srv = H11Server(app).start()
    try:
        async with ClientSession() as session:
            assert (await session.get(srv.url("/a"))).content == b"ok"
            # Second request on the same connection: the server closes it;
            # GET is retried once on a new connection.
            assert (await session.get(srv.url("/b"))).content == b"ok"
            assert srv.connections == 2
            # PUT is idempotent too (retried on connection 3) ...
            assert (await session.put(srv.url("/c"), content=b"idempotent")).content == b"ok"
            assert srv.connections == 3
            assert (await session.get(srv.url("/d"))).content == b"ok"  # connection 3 again
            # ... but a POST must not be replayed.
            with pytest.raises(RemoteProtocolError) as info:
                await session.post(srv.url("/e"), content=b"once")
            assert srv.url("/e") in str(info.value)
            assert "without sending a response" in str(info.value)
            assert session.transport.pool.active_connections == 0
        assert srv.connections == 3
        assert srv.requests == 7  # a, b, b, c, c, d, e: the POST was sent once
    finally:
        srv.stop()


async def test_stale_idle_connection_is_not_reused():
    def app(conn_no, req_no, request, body):
        return (200, [("Content-Length", "2"), ("Connection", "close")], b"ok")

    srv = H11Server(app).start()
    try:
        async with ClientSession() as session:
            for _ in range(3):
                assert (await session.get(srv.url("/"))).content == b"ok"
            assert session.transport.pool.idle_connections == 0
        assert srv.connections == 3
    finally:
        srv.stop()


async def test_connection_refused_names_the_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"http://127.0.0.1:{port}/nothing"
    async with ClientSession() as session:
        with pytest.raises(ConnectError) as info:
            await session.get(url)
        assert url in str(info.value)
        assert isinstance(info.value, TransportError) and isinstance(info.value, HTTPError)
        assert session.transport.pool.active_connections == 0


async def test_invalid_request_headers_are_refused_locally():
    from curionet.protocols.http import LocalProtocolError

    srv = raw_server((200, [("Content-Length", "0")], b""))
    try:
        async with ClientSession() as session:
            for headers in ({"X-Bad": "a\r\nInjected: 1"}, {"Bad Name": "x"}, {"X-Ok": "1", "Host": "a\nb"}):
                with pytest.raises(LocalProtocolError) as info:
                    await session.get(srv.url("/"), headers=headers)
                assert srv.url("/") in str(info.value)
            # Valid headers seen once are cached; they still work next time.
            assert (await session.get(srv.url("/"), headers={"X-Ok": "1"})).status_code == 200
            assert (await session.get(srv.url("/"), headers={"X-Ok": "1"})).status_code == 200
            assert session.transport.pool.active_connections == 0
        assert srv.requests == 2
    finally:
        srv.stop()


async def test_large_bodies_read_past_h11_keep_the_same_guarantees():
    big = 300_000  # above the size from which bodies bypass h11's buffer

    def app(conn_no, req_no, request, body):
        if request.target == b"/truncated":
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % big + b"t" * 1000
        if request.target == b"/overlong":
            return (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % big) + b"o" * (big + 10)
        return (200, [("Content-Length", str(big))], [b"k" * 100_000] * 3)

    srv = H11Server(app).start()
    try:
        async with ClientSession() as session:
            for _ in range(3):
                assert (await session.get(srv.url("/ok"))).content == b"k" * big
            assert srv.connections == 1  # kept alive across direct reads
            head = await session.head(srv.url("/ok"))  # Content-Length describes a body never sent
            assert head.headers["content-length"] == str(big) and head.content == b""
            assert (await session.get(srv.url("/ok"))).content == b"k" * big
            assert srv.connections == 1
            with pytest.raises(RemoteProtocolError) as info:
                await session.get(srv.url("/truncated"))
            assert srv.url("/truncated") in str(info.value) and "missing" in str(info.value)
            with pytest.raises(RemoteProtocolError):
                await session.get(srv.url("/overlong"))
            assert session.transport.pool.active_connections == 0
            assert (await session.get(srv.url("/ok"))).content == b"k" * big
    finally:
        srv.stop()


class ResettingServer(ThreadedServer):
    """Reads each connection's request head, writes *prefix* and then
    resets the connection (RST, not FIN)."""

    def __init__(self, prefix=b""):
        super().__init__(loopback_listener(8))
        self.prefix = prefix
        self.port = self.listener.getsockname()[1]
        self.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accepted(self, sock):
        return self._reset, (sock,)

    def _reset(self, sock):
        with sock:
            sock.settimeout(5)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                sock.sendall(self.prefix)
            except OSError:
                pass
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def test_connection_reset_gives_read_error_and_write_error():
    from curionet.protocols.http import ReadError, WriteError

    srv = ResettingServer(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
    try:
        async with ClientSession() as session:
            with pytest.raises(ReadError) as info:
                await session.get(srv.url("/reset"))
            assert srv.url("/reset") in str(info.value)
            assert isinstance(info.value, TransportError)
            assert session.transport.pool.active_connections == 0
            # A large upload: the reset arrives while the body is being sent.
            with pytest.raises(WriteError) as info:
                await session.post(srv.url("/upload"), content=b"u" * (32 << 20))
            assert srv.url("/upload") in str(info.value)
            assert session.transport.pool.active_connections == 0
            assert session.transport.pool.idle_connections == 0
    finally:
        srv.stop()


def test_server_disconnected_lives_with_the_other_errors():
    from curionet.protocols.http import _connection, _errors

    assert _connection.ServerDisconnected is _errors.ServerDisconnected
    exc = _errors.ServerDisconnected("gone", reused=True)
    assert isinstance(exc, RemoteProtocolError) and exc.reused
