"""The opening handshake as websockets users rely on it.

The whole 101 response on both sides, plain HTTP answered by
``process_request``, ``process_response``, ``select_subprotocol``, regular
expressions in ``origins``, the default ``Server`` and ``User-Agent``
headers, handshake redirects, the reconnecting ``async for`` client and the
``serve``/``connect`` aliases.  The ``websockets`` library is the peer
where one is needed; everything runs on loopback.
"""

from __future__ import annotations

import itertools
import random
import re
import socket
import ssl
import sys
import threading

import pytest
import trustme
from test_websocket_support import in_thread
from websockets.sync.client import connect as lib_connect
from websockets.sync.server import serve as lib_serve

from curionet import MockClock, TaskGroup, clock, sleep
from curionet.protocols.websocket import (
    ConnectionClosedError,
    HandshakeError,
    Headers,
    InsecureRedirect,
    InvalidStatus,
    Response,
    TooManyRedirects,
    WebSocketServer,
    websocket_connect,
)
from curionet.protocols.websocket._client import _backoff
from curionet.protocols.websocket._handshake import default_agent

AGENT = re.compile(r"curionet/\S+ Python/\d+\.\d+")


class LibServer:
    """A ``websockets`` sync server in a thread that sends back what it saw."""

    def __init__(self, handler=None, **kwargs):
        self.custom = handler
        kwargs.setdefault("ping_interval", None)
        self.server = lib_serve(self.handler, "127.0.0.1", 0, **kwargs)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.user_agents: list[str | None] = []

    def handler(self, ws):
        if self.custom is not None:
            return self.custom(ws)
        self.user_agents.append(ws.request.headers.get("User-Agent"))
        for message in ws:
            ws.send(message)

    def close(self):
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def lib_server():
    servers = []

    def make(**kwargs):
        servers.append(LibServer(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


async def echo(ws):
    async for message in ws:
        await ws.send(message)


# ---------------------------------------------------------------------------
# 1. The whole handshake: ws.response, ws.request, response_headers
# ---------------------------------------------------------------------------


async def test_client_sees_the_whole_101_response(lib_server):
    server = lib_server(subprotocols=["chat"])
    url = f"ws://127.0.0.1:{server.port}/"
    async with websocket_connect(url, subprotocols=["chat"]) as ws:
        response = ws.response
        assert response is not None
        assert (response.status_code, response.reason_phrase) == (101, "Switching Protocols")
        # The handshake's own headers, which wsproto keeps to itself.
        for headers in (response.headers, ws.response_headers):
            assert headers["Upgrade"].lower() == "websocket"
            assert headers["Connection"].lower() == "upgrade"
            assert headers["Sec-WebSocket-Accept"]
            assert headers["Sec-WebSocket-Protocol"] == "chat"
            assert headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            assert "websockets" in headers["Server"]
        # The request as it went out.
        assert ws.request.path == "/"
        assert ws.request.headers["Sec-WebSocket-Key"]
        assert ws.request.headers["Sec-WebSocket-Version"] == "13"
        assert ws.request.headers["Host"] == f"127.0.0.1:{server.port}"
        await ws.send("ping")
        assert await ws.receive() == "ping"


async def test_server_side_response_and_request():
    seen = {}

    async def handler(ws):
        seen["response"] = ws.response
        seen["request"] = ws.request
        await ws.send("hi")

    async with WebSocketServer("127.0.0.1", 0, handler, subprotocols=["chat"]) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/x?y=1", subprotocols=["chat"]) as ws:
            assert await ws.receive() == "hi"
            assert ws.response.headers["Server"] == default_agent()
    response = seen["response"]
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Protocol"] == "chat"
    assert response.headers["Sec-WebSocket-Accept"] == ws.response.headers["Sec-WebSocket-Accept"]
    assert seen["request"].path == "/x?y=1"
    assert seen["request"].headers["Sec-WebSocket-Key"] == ws.request.headers["Sec-WebSocket-Key"]


# ---------------------------------------------------------------------------
# 2. Plain HTTP, process_response, select_subprotocol, origins, Server / User-Agent
# ---------------------------------------------------------------------------


async def raw_http(port: int, request: bytes) -> bytes:
    """Send *request* on a fresh socket and read the response until EOF."""

    def run() -> bytes:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)

    return await in_thread(run)


def health(request):
    if request.path == "/healthz":
        return 200, [("Content-Type", "text/plain")], b"ok\n"
    return None


async def test_process_request_answers_plain_http_on_the_websocket_port():
    async with WebSocketServer("127.0.0.1", 0, echo, process_request=health) as server:
        reply = await raw_http(server.port, b"GET /healthz HTTP/1.1\r\nHost: lb\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nContent-Length: 3" in head
        assert f"\r\nServer: {default_agent()}".encode() in head
        assert body == b"ok\n"
        # Other paths still get the WebSocket checks, and WebSockets still work.
        reply = await raw_http(server.port, b"GET /other HTTP/1.1\r\nHost: lb\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 426 ")
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("x")
            assert await ws.receive() == "x"


async def test_process_request_may_return_a_response():
    def refuse(request):
        return Response(418, "I'm a teapot", body=b"short and stout\n")

    async with WebSocketServer("127.0.0.1", 0, echo, process_request=refuse) as server:
        with pytest.raises(InvalidStatus) as info:
            await websocket_connect(f"ws://127.0.0.1:{server.port}/")
    assert info.value.status_code == 418
    assert info.value.body == b"short and stout\n"


@pytest.mark.parametrize("how", ["response", "tuple", "process_response"])
async def test_refusal_headers_keep_every_value(how):
    # Headers maps names to values; a refusal must still send every field.
    def headers():
        return Headers([("X-Why", "one"), ("x-why", "two"), ("X-Other", "3")])

    def refuse(request):
        if how == "tuple":
            return 403, headers(), b"no\n"
        return Response(403, "Forbidden", headers(), b"no\n")

    hooks = {"process_response": lambda request, response: refuse(request)} if how == "process_response" \
        else {"process_request": refuse}  # fmt: skip
    async with WebSocketServer("127.0.0.1", 0, echo, **hooks) as server:
        with pytest.raises(InvalidStatus) as info:
            await websocket_connect(f"ws://127.0.0.1:{server.port}/")
    assert info.value.status_code == 403 and info.value.body == b"no\n"
    assert info.value.headers.get_all("X-Why") == ["one", "two"] and info.value.headers["X-Other"] == "3"


async def test_process_response_changes_the_101(lib_server):
    async def add_header(request, response):
        response.headers["X-Served-By"] = request.path
        del response.headers["Server"]

    async with WebSocketServer("127.0.0.1", 0, echo, process_response=add_header) as server:
        url = f"ws://127.0.0.1:{server.port}/node-7"
        # The websockets client sees the change too.
        lib_headers = await in_thread(_lib_response_headers, url)
        async with websocket_connect(url) as ws:
            assert ws.response.headers["X-Served-By"] == "/node-7"
            assert "Server" not in ws.response.headers
    assert lib_headers["X-Served-By"] == "/node-7"


def _lib_response_headers(url):
    with lib_connect(url) as ws:
        return dict(ws.response.headers.raw_items())


async def test_process_response_may_refuse():
    def refuse(request, response):
        return Response(403, "Forbidden", body=b"not today\n")

    async with WebSocketServer("127.0.0.1", 0, echo, process_response=refuse) as server:
        with pytest.raises(InvalidStatus) as info:
            await websocket_connect(f"ws://127.0.0.1:{server.port}/")
    assert (info.value.status_code, info.value.body) == (403, b"not today\n")


async def test_select_subprotocol():
    calls = []

    def select(request, offered):
        calls.append((request.path, list(offered)))
        return offered[-1] if request.path == "/last" else None

    async def show(ws):
        await ws.send(str(ws.subprotocol))

    async with WebSocketServer("127.0.0.1", 0, show, select_subprotocol=select) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/last", subprotocols=["a", "b"]) as ws:
            assert ws.subprotocol == "b"
            assert await ws.receive() == "b"
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/none", subprotocols=["a"]) as ws:
            assert ws.subprotocol is None
            assert await ws.receive() == "None"
    assert calls == [("/last", ["a", "b"]), ("/none", ["a"])]


async def test_select_subprotocol_must_pick_an_offered_one():
    async with WebSocketServer("127.0.0.1", 0, echo, select_subprotocol=lambda r, o: "nope") as server:
        with pytest.raises(InvalidStatus) as info:
            await websocket_connect(f"ws://127.0.0.1:{server.port}/", subprotocols=["a"])
    assert info.value.status_code == 500


async def test_origins_accept_regular_expressions():
    origins = [re.compile(r"https://[a-z]+\.example\.com"), "https://exact.org", None]
    async with WebSocketServer("127.0.0.1", 0, echo, origins=origins) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        for origin in ("https://app.example.com", "https://exact.org", None):
            async with websocket_connect(url, origin=origin) as ws:
                await ws.send("ok")
                assert await ws.receive() == "ok"
        # fullmatch: a prefix or a suffix match is not enough.
        for origin in ("https://evil.com", "https://app.example.com.evil.com", "https://exact.org.evil"):
            with pytest.raises(InvalidStatus) as info:
                await websocket_connect(url, origin=origin)
            assert info.value.status_code == 403
    async with WebSocketServer("127.0.0.1", 0, echo, origins=[re.compile(r".*")]) as server:
        with pytest.raises(InvalidStatus):  # no None in origins: a missing Origin is refused
            await websocket_connect(f"ws://127.0.0.1:{server.port}/")


async def test_server_header_default_custom_and_none():
    assert AGENT.fullmatch(default_agent())
    assert default_agent().endswith(f"Python/{sys.version_info[0]}.{sys.version_info[1]}")
    for option, expected in (({}, default_agent()), ({"server_header": "edge/1"}, "edge/1"),
                             ({"server_header": None}, None)):  # fmt: skip
        async with WebSocketServer("127.0.0.1", 0, echo, **option) as server:
            async with websocket_connect(f"ws://127.0.0.1:{server.port}/") as ws:
                assert ws.response.headers.get("Server") == expected
            # Refusals carry it too.
            reply = await raw_http(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (b"\r\nServer: " in reply) == (expected is not None)


async def test_user_agent_default_custom_and_none(lib_server):
    server = lib_server()
    url = f"ws://127.0.0.1:{server.port}/"
    for option in ({}, {"user_agent_header": "bot/2"}, {"user_agent_header": None},
                   {"extra_headers": {"User-Agent": "mine/3"}}):  # fmt: skip
        async with websocket_connect(url, **option) as ws:
            await ws.send("x")
            assert await ws.receive() == "x"
    assert server.user_agents == [default_agent(), "bot/2", None, "mine/3"]


# ---------------------------------------------------------------------------
# 3. Handshake redirects
# ---------------------------------------------------------------------------


class RawRedirector:
    """A bare loopback HTTP server (not a WebSocket server) that answers every
    request with *status* and ``Location: <location>``."""

    def __init__(self, status: int, location: str) -> None:
        self.status = status
        self.location = location
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.paths: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head and (chunk := conn.recv(4096)):
                    head += chunk
                self.paths.append(head.split(b" ")[1].decode())
                conn.sendall(b"HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                             % (self.status, self.location.encode()))  # fmt: skip

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close() alone does not)
        self.thread.join()
        self.sock.close()


@pytest.fixture
def redirector():
    made = []

    def make(status, location):
        made.append(RawRedirector(status, location))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_client_follows_a_redirect_to_a_websockets_server(lib_server, redirector, status):
    target = lib_server()
    hop = redirector(status, f"ws://127.0.0.1:{target.port}/final?x=1")
    async with websocket_connect(f"ws://127.0.0.1:{hop.port}/start") as ws:
        assert ws.request.path == "/final?x=1"
        assert ws.request.headers["Host"] == f"127.0.0.1:{target.port}"
        await ws.send("through")
        assert await ws.receive() == "through"
    assert hop.paths == ["/start"]


def moved(request):
    if "/old/" in request.path:
        room = request.path.rsplit("/", 1)[1].split("?")[0]
        return 302, [("Location", f"../new/{room}")], b""
    return None


async def test_relative_location_is_resolved_against_the_url():
    async def show(ws):
        await ws.send(ws.path)

    async with WebSocketServer("127.0.0.1", 0, show, process_request=moved) as server:
        async with websocket_connect(f"ws://127.0.0.1:{server.port}/a/old/room?k=v") as ws:
            assert await ws.receive() == "/a/new/room"


async def test_a_redirect_loop_raises_too_many_redirects(redirector):
    loop = redirector(302, "/again")
    with pytest.raises(TooManyRedirects):
        await websocket_connect(f"ws://127.0.0.1:{loop.port}/", max_redirects=3)
    assert loop.paths == ["/", "/again", "/again", "/again"]
    default = redirector(307, "/again")
    with pytest.raises(TooManyRedirects) as info:
        await websocket_connect(f"ws://127.0.0.1:{default.port}/")
    assert len(default.paths) == 11
    assert isinstance(info.value, HandshakeError)


async def test_a_3xx_without_location_is_an_invalid_status():
    async with WebSocketServer("127.0.0.1", 0, echo, process_request=lambda r: 302) as server:
        with pytest.raises(InvalidStatus) as info:
            await websocket_connect(f"ws://127.0.0.1:{server.port}/")
    assert info.value.status_code == 302


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


async def test_ws_to_wss_redirect_is_followed(tls, redirector):
    server_ctx, client_ctx = tls
    async with WebSocketServer("127.0.0.1", 0, echo, ssl=server_ctx) as server:
        hop = redirector(301, f"wss://localhost:{server.port}/secure")
        async with websocket_connect(f"ws://127.0.0.1:{hop.port}/", ssl=client_ctx) as ws:
            await ws.send("sealed")
            assert await ws.receive() == "sealed"
            assert ws.request.path == "/secure"


async def test_wss_to_ws_redirect_is_refused(tls):
    server_ctx, client_ctx = tls
    async with WebSocketServer("127.0.0.1", 0, echo) as plain:
        def downgrade(request):
            return 302, [("Location", f"ws://127.0.0.1:{plain.port}/")], b""

        async with WebSocketServer("127.0.0.1", 0, echo, ssl=server_ctx, process_request=downgrade) as secure:
            with pytest.raises(InsecureRedirect):
                await websocket_connect(f"wss://localhost:{secure.port}/", ssl=client_ctx)
        assert not plain.connections


# ---------------------------------------------------------------------------
# 4. The reconnecting client: async for ws in websocket_connect(url)
# ---------------------------------------------------------------------------


@pytest.fixture
def autojump_clock():
    # Real loopback sockets: jump only after 50 ms of real idleness, so no
    # jump overtakes bytes in flight.
    return MockClock(autojump_threshold=0.05)


@pytest.fixture
def half_jitter(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.5)  # first delay: 0.5 * 5 s


async def test_reconnect_retries_5xx_with_backoff(autojump_clock, half_jitter):
    times = []

    async def flaky(request):
        times.append(await clock())
        return 503 if len(times) <= 2 else None

    async with WebSocketServer("127.0.0.1", 0, echo, process_request=flaky) as server:
        async for ws in websocket_connect(f"ws://127.0.0.1:{server.port}/"):
            async with ws:
                await ws.send("up")
                assert await ws.receive() == "up"
            break
    assert len(times) == 3
    assert times[1] - times[0] == pytest.approx(2.5)
    assert times[2] - times[1] == pytest.approx(3.1)


async def test_reconnect_after_connection_refused(autojump_clock, half_jitter):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    # Nothing listens on port until t = 4 s: the attempts at 0 and 2.5 s are
    # refused, the one at 2.5 + 3.1 s connects.
    start = await clock()
    async with TaskGroup() as group:

        async def late_server():
            await sleep(4)
            async with WebSocketServer("127.0.0.1", port, echo):
                await sleep(60)

        await group.spawn(late_server)
        async for ws in websocket_connect(f"ws://127.0.0.1:{port}/"):
            assert await clock() - start == pytest.approx(5.6)
            async with ws:
                await ws.send("late")
                assert await ws.receive() == "late"
            break
        await group.cancel_remaining()


async def test_reconnect_after_an_abnormal_close(lib_server):
    connections = []

    def handler(ws):
        connections.append(ws)
        if len(connections) == 1:
            ws.socket.shutdown(socket.SHUT_RDWR)  # no Close frame: 1006 for the client
            return
        ws.send(f"connection {len(connections)}")

    server = lib_server(handler=handler)
    got = []
    async for ws in websocket_connect(f"ws://127.0.0.1:{server.port}/"):
        try:
            got.append(await ws.receive())
        except ConnectionClosedError as exc:
            assert exc.code == 1006
            continue
        await ws.close()
        break
    assert got == ["connection 2"]


async def test_reconnect_gives_up_on_403():
    calls = []

    def forbid(request):
        calls.append(request.path)
        return 403

    async with WebSocketServer("127.0.0.1", 0, echo, process_request=forbid) as server:
        with pytest.raises(InvalidStatus) as info:
            async for _ws in websocket_connect(f"ws://127.0.0.1:{server.port}/"):
                pytest.fail("connected")
    assert info.value.status_code == 403
    assert calls == ["/"]


async def test_process_exception_decides(autojump_clock):
    seen = []

    def never_retry(exc):
        seen.append(exc)
        return RuntimeError("stop")

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(RuntimeError, match="stop"):
        async for _ws in websocket_connect(f"ws://127.0.0.1:{port}/", process_exception=never_retry):
            pytest.fail("connected")
    assert len(seen) == 1 and isinstance(seen[0], ConnectionRefusedError)


def test_backoff_delays_match_websockets(monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.999)
    delays = list(itertools.islice(_backoff(), 12))
    assert delays[0] == pytest.approx(4.995)
    assert delays[1:4] == pytest.approx([3.1, 3.1 * 1.618, 3.1 * 1.618**2])
    assert max(delays) == 90.0 and delays[-1] == 90.0
    assert all(a <= b for a, b in zip(delays[1:], delays[2:], strict=False))


# ---------------------------------------------------------------------------
# 5. serve / connect, websockets' names
# ---------------------------------------------------------------------------


async def test_serve_and_connect_aliases_port_websockets_code():
    from curionet.protocols.websocket import connect, serve

    async def handler(websocket):
        async for message in websocket:
            await websocket.send(message)

    async with serve(handler, "127.0.0.1", 0, max_size=2**10, compression=None) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        async with connect(url, additional_headers={"X-Token": "t"}, max_size=2**20,
                           compression="deflate", max_queue=(16, 4)) as websocket:  # fmt: skip
            assert websocket.request.headers["X-Token"] == "t"
            assert websocket.extensions == []  # the server turned compression off
            assert websocket.max_message_size == 2**20
            await websocket.send("hello")
            assert await websocket.recv() == "hello"
            await websocket.send("x" * 2000)  # over the server's max_size
            with pytest.raises(ConnectionClosedError) as info:
                await websocket.recv()
            assert info.value.code == 1009


async def test_await_serve_starts_the_server():
    from curionet.protocols.websocket import connect, serve

    server = await serve(echo, "127.0.0.1", 0)
    try:
        websocket = await connect(f"ws://127.0.0.1:{server.port}/")
        await websocket.send("up")
        assert await websocket.recv() == "up"
        await websocket.close()
    finally:
        await server.close()
