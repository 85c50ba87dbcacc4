"""``ClientSession(uds=path)``: HTTP over a Unix-domain socket, as Docker's
API is spoken; the Host header still comes from the URL."""

import json
import socket
import ssl

import pytest
import trustme
from http_testing import H11Server, RawServer, ok_app

from curionet.protocols.http import ClientSession, ConnectError, HTTPTransport


class UnixH11Server(H11Server):
    """:class:`H11Server` listening on a Unix-domain socket at *path*."""

    def __init__(self, app, path, ssl_context=None):
        super().__init__(app, ssl_context)
        self.listener.close()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(16)


def echo_app(conn_no, req_no, request, body):
    payload = json.dumps({
        "target": request.target.decode(),
        "host": dict(request.headers)[b"host"].decode(),
        "body": body.decode(),
    }).encode()  # fmt: skip
    return (200, [("Content-Length", str(len(payload)))], payload)


async def test_requests_go_over_the_socket_and_are_pooled(tmp_path):
    path = tmp_path / "api.sock"
    server = UnixH11Server(echo_app, path).start()
    try:
        async with ClientSession(uds=str(path)) as session:
            first = await (await session.get("http://docker/v1.43/containers/json?all=1")).json()
            second = await (await session.post("http://docker/build", content=b"ctx")).json()
            other = await (await session.get("http://localhost:2375/info")).json()
    finally:
        server.stop()
    assert first == {"target": "/v1.43/containers/json?all=1", "host": "docker", "body": ""}
    assert second == {"target": "/build", "host": "docker", "body": "ctx"}
    assert other["host"] == "localhost:2375"
    # One connection per origin, reused: the pool works as over TCP.
    assert server.connections == 2 and server.requests == 3


async def test_path_like_and_transport(tmp_path):
    path = tmp_path / "t.sock"
    server = UnixH11Server(ok_app, path).start()
    try:
        transport = HTTPTransport(uds=path)
        assert transport.uds == str(path)
        async with ClientSession(transport=transport) as session:
            assert (await session.get("http://x/")).content == b"ok"
    finally:
        server.stop()


async def test_tls_over_the_socket(tmp_path):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.internal").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    path = tmp_path / "tls.sock"
    server = UnixH11Server(ok_app, path, ssl_context=server_ctx).start()
    try:
        async with ClientSession(uds=str(path), verify=client_ctx) as session:
            assert (await session.get("https://api.internal/")).content == b"ok"
    finally:
        server.stop()


async def test_no_socket_is_a_connect_error(tmp_path):
    async with ClientSession(uds=str(tmp_path / "nothing.sock")) as session:
        with pytest.raises(ConnectError):
            await session.get("http://docker/")


async def test_raw_bytes_on_the_socket(tmp_path):
    def script(conn, n):
        conn.recv_until(b"\r\n\r\n")
        conn.send(b"HTTP/1.1 204 No Content\r\n\r\n")
        conn.wait_closed()

    path = str(tmp_path / "raw.sock")
    server = RawServer(script, path=path).start()
    try:
        async with ClientSession(uds=path, headers={"User-Agent": "t"}) as session:
            assert (await session.delete("http://docker/containers/abc")).status_code == 204
    finally:
        server.stop()
    assert server.conns[0].raw.startswith(b"DELETE /containers/abc HTTP/1.1\r\nHost: docker\r\n")


def test_uds_excludes_proxy_and_connector(tmp_path):
    async def connector(*args, **kwargs):  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ValueError):
        HTTPTransport(uds=str(tmp_path / "s"), proxy="http://127.0.0.1:3128")
    with pytest.raises(ValueError):
        HTTPTransport(uds=str(tmp_path / "s"), connector=connector)


async def test_environment_proxy_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    path = tmp_path / "env.sock"
    server = UnixH11Server(ok_app, path).start()
    try:
        async with ClientSession(uds=str(path)) as session:
            assert (await session.get("http://docker/")).content == b"ok"
    finally:
        server.stop()
