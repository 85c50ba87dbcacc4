"""Interop with the ``websockets`` library, both directions.

Its (sync, threaded) server against our client, and its client against our
server: text, binary, empty, 4 MB and fragmented messages, compression on
and off (with window bits and no-context-takeover), ping/pong, close codes,
subprotocols, refused handshakes, and ``wss://`` with ``trustme``.
"""

from __future__ import annotations

import queue
import ssl
import threading

import pytest
import trustme
from test_websocket_support import in_thread
from websockets.exceptions import ConnectionClosed as LibClosed, InvalidStatus as LibInvalidStatus
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
)
from websockets.sync.client import connect as lib_connect
from websockets.sync.server import serve as lib_serve

from curionet import TaskGroup, sleep
from curionet.protocols.websocket import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    WebSocketServer,
    websocket_connect,
)

BIG = 4 * 1024 * 1024
MESSAGES = ["hello", b"\x00\x01binary\xff", "", b"", "héllo wörld ☃ 𝄞" * 50, bytes(range(256)) * 4]
CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]


# ---------------------------------------------------------------------------
# Their server
# ---------------------------------------------------------------------------


class LibServer:
    """A ``websockets`` sync server in a thread; behaviour chosen by path."""

    def __init__(self, **kwargs):
        self.events: queue.Queue = queue.Queue()
        kwargs.setdefault("max_size", None)
        kwargs.setdefault("ping_interval", None)
        self.secure = kwargs.get("ssl") is not None
        self.server = lib_serve(self.handler, "127.0.0.1", 0, select_subprotocol=self.select, **kwargs)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        host = "localhost" if self.secure else "127.0.0.1"
        return f"{'wss' if self.secure else 'ws'}://{host}:{self.port}{path}"

    @staticmethod
    def select(conn, offered):
        for candidate in ("superchat", "chat"):
            if candidate in offered:
                return candidate
        return None

    def handler(self, ws):
        path = ws.request.path
        try:
            if path == "/echo":
                for message in ws:
                    ws.send(message)
            elif path.startswith("/close/"):
                ws.close(int(path.rsplit("/", 1)[1]), "bye")
            elif path == "/subprotocol":
                ws.send(ws.subprotocol or "none")
            elif path == "/fragments":
                ws.send(["frag", "mented ", "text"])
                ws.send([b"frag", b"", b"mented"])
                for message in ws:
                    ws.send(message)
            elif path == "/ping":
                pong = ws.ping(b"their-ping")
                ws.send("ponged" if pong.wait(5) else "no pong")
                for message in ws:
                    ws.send(message)
            elif path == "/send-big":
                ws.send(b"x" * (2 * 1024 * 1024))
                ws.recv()
            elif path == "/extensions":
                ws.send(repr(ws.protocol.extensions))
                for message in ws:
                    ws.send(message)
            else:
                ws.recv()
        except LibClosed as exc:
            self.events.put(("closed", exc.rcvd.code if exc.rcvd else None))
        else:
            self.events.put(("done", None))

    def close(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def lib_server():
    servers = []

    def make(**kwargs):
        server = LibServer(**kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def tls_contexts(ca):
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


# ---------------------------------------------------------------------------
# Our client, their server
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_client_echo_all_message_kinds(lib_server, compression):
    server = lib_server(compression="deflate" if compression else None)
    async with websocket_connect(server.url("/echo"), compression=compression, max_message_size=None) as ws:
        assert bool(ws.extensions) is compression
        for message in [*MESSAGES, b"\x5a" * BIG, "x" * BIG]:
            await ws.send(message)
            echoed = await ws.receive()
            assert type(echoed) is type(message) and echoed == message
        # Fragmented sends: a list, a generator, an async generator.
        await ws.send(["a", "bc", "", "def"])
        assert await ws.receive() == "abcdef"
        await ws.send(bytes([i]) * 1000 for i in range(5))
        assert await ws.receive() == b"".join(bytes([i]) * 1000 for i in range(5))

        async def chunks():
            for part in ("async ", "frag", "ments"):
                await sleep(0)
                yield part

        await ws.send(chunks())
        assert await ws.receive() == "async fragments"
    assert ws.close_code == 1000


async def test_client_receives_fragmented_messages(lib_server):
    server = lib_server()
    async with websocket_connect(server.url("/fragments")) as ws:
        assert await ws.receive() == "fragmented text"
        assert await ws.receive() == b"fragmented"


async def test_client_ping_pong_both_ways(lib_server):
    server = lib_server()
    async with websocket_connect(server.url("/ping")) as ws:
        assert await ws.receive() == "ponged"  # we answered their ping
        rtt = await ws.ping()
        assert rtt >= 0
        await ws.ping(b"custom payload")
        await ws.send("still works")
        assert await ws.receive() == "still works"


@pytest.mark.parametrize("code", CLOSE_CODES)
async def test_client_sees_server_close_code(lib_server, code):
    server = lib_server()
    async with websocket_connect(server.url(f"/close/{code}")) as ws:
        expected = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
        with pytest.raises(expected) as info:
            await ws.receive()
        assert info.value.code == code and info.value.reason == "bye"
        assert ws.close_code == code and ws.close_reason == "bye"


@pytest.mark.parametrize("code", CLOSE_CODES)
async def test_client_close_code_reaches_server(lib_server, code):
    server = lib_server()
    ws = await websocket_connect(server.url("/wait"))
    await ws.close(code, "client bye")
    assert await in_thread(server.events.get, True, 5) == ("closed", code)
    assert ws.close_code == code  # the server echoed our code


async def test_client_rejects_too_big_message_with_1009(lib_server):
    server = lib_server()
    async with websocket_connect(server.url("/send-big")) as ws:  # default limit 1 MiB
        with pytest.raises(ConnectionClosedError):
            await ws.receive()
    assert await in_thread(server.events.get, True, 5) == ("closed", 1009)


async def test_client_message_too_big_for_server(lib_server):
    server = lib_server(max_size=1000)
    async with websocket_connect(server.url("/echo")) as ws:
        await ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.receive()
        assert info.value.code == 1009


async def test_client_subprotocol_negotiation(lib_server):
    server = lib_server()
    async with websocket_connect(server.url("/subprotocol"), subprotocols=["chat", "superchat"]) as ws:
        assert ws.subprotocol == "superchat"
        assert await ws.receive() == "superchat"
    async with websocket_connect(server.url("/subprotocol"), subprotocols=["other"]) as ws:
        assert ws.subprotocol is None
        assert await ws.receive() == "none"


@pytest.mark.parametrize(
    "params",
    [
        {"client_max_window_bits": 9, "server_max_window_bits": 10},
        {"client_no_context_takeover": True, "server_no_context_takeover": True},
        {"client_max_window_bits": 12, "server_max_window_bits": 9, "client_no_context_takeover": True},
    ],
)
async def test_client_deflate_parameters(lib_server, params):
    server = lib_server()
    async with websocket_connect(server.url("/extensions"), compression=params) as ws:
        description = await ws.receive()
        assert "PerMessageDeflate" in description
        # Their server's view: "local" is the server, "remote" is us.
        if "server_max_window_bits" in params:
            assert f"local_max_window_bits={params['server_max_window_bits']}" in description
            assert f"remote_max_window_bits={params['client_max_window_bits']}" in description
        takeover = params.get("client_no_context_takeover", False)
        assert f"remote_no_context_takeover={takeover}" in description
        for i in range(20):  # several messages: context takeover matters
            message = f"message {i} " * (i + 1) * 10
            await ws.send(message)
            assert await ws.receive() == message


async def test_client_wss_with_trustme(lib_server, ca):
    server_ctx, client_ctx = tls_contexts(ca)
    server = lib_server(ssl=server_ctx)
    async with websocket_connect(server.url("/echo"), ssl=client_ctx) as ws:
        for message in ("over TLS", b"\x00" * 100_000):
            await ws.send(message)
            assert await ws.receive() == message


async def test_client_refused_handshake_raises_invalid_status(lib_server):
    def refuse(conn, request):
        return conn.respond(403, "go away\n")

    server = lib_server(process_request=refuse)
    with pytest.raises(InvalidStatus) as info:
        await websocket_connect(server.url("/echo"))
    assert info.value.status_code == 403 and b"go away" in info.value.body


# ---------------------------------------------------------------------------
# Their client, our server
# ---------------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.closed: list[int] = []


async def _echo(ws):
    async for message in ws:
        await ws.send(message)


def _lib_client(url, body, **kwargs):
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("proxy", None)
    kwargs.setdefault("ping_interval", None)
    with lib_connect(url, **kwargs) as ws:
        return body(ws)


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
async def test_server_echo_all_message_kinds(compression):
    async with WebSocketServer("127.0.0.1", 0, _echo, compression=compression, max_message_size=None) as server:
        url = f"ws://127.0.0.1:{server.port}/echo"

        def body(ws):
            assert bool(ws.protocol.extensions) is compression
            out = []
            for message in [*MESSAGES, b"\x5a" * BIG, "x" * BIG]:
                ws.send(message)
                out.append(ws.recv() == message)
            ws.send(["frag", "mented"])
            out.append(ws.recv() == "fragmented")
            ws.send([b"\x00" * 70000, b"\x01" * 70000])
            out.append(ws.recv() == b"\x00" * 70000 + b"\x01" * 70000)
            return out

        results = await in_thread(_lib_client, url, body, compression="deflate" if compression else None)
        assert results and all(results)


async def test_server_sends_fragmented_and_sees_path_and_headers():
    seen = {}

    async def handler(ws):
        seen["path"] = ws.path
        seen["agent"] = ws.request.headers.get("user-agent")
        seen["custom"] = ws.request.headers.get("x-custom")
        seen["addr"] = ws.remote_address
        await ws.send(["one ", "two ", "three"])
        await ws.send(iter([b"\x01", b"\x02"]))

    async with WebSocketServer("127.0.0.1", 0, handler) as server:
        url = f"ws://127.0.0.1:{server.port}/room/1?x=y"
        got = await in_thread(_lib_client, url, lambda ws: [ws.recv(), ws.recv()],
                              additional_headers={"X-Custom": "42"})  # fmt: skip
    assert got == ["one two three", b"\x01\x02"]
    assert seen["path"] == "/room/1?x=y" and seen["custom"] == "42" and "websockets" in seen["agent"]
    assert seen["addr"][0] == "127.0.0.1"


async def test_server_ping_pong_both_ways():
    rtts = []

    async def handler(ws):
        rtts.append(await ws.ping())
        await _echo(ws)

    async with WebSocketServer("127.0.0.1", 0, handler) as server:
        url = f"ws://127.0.0.1:{server.port}/"

        def body(ws):
            ok = ws.ping(b"theirs").wait(5)
            ws.send("x")
            return ok, ws.recv()

        assert await in_thread(_lib_client, url, body) == (True, "x")
    assert len(rtts) == 1 and rtts[0] >= 0


@pytest.mark.parametrize("code", CLOSE_CODES)
async def test_server_close_code_reaches_client(code):
    async def handler(ws):
        await ws.close(code, "server bye")

    async with WebSocketServer("127.0.0.1", 0, handler) as server:
        url = f"ws://127.0.0.1:{server.port}/"

        def body(ws):
            try:
                ws.recv()
            except LibClosed as exc:
                return exc.rcvd.code, exc.rcvd.reason

        assert await in_thread(_lib_client, url, body) == (code, "server bye")


@pytest.mark.parametrize("code", CLOSE_CODES)
async def test_client_close_code_reaches_our_server(code):
    seen = []

    async def handler(ws):
        try:
            await ws.receive()
        except ConnectionClosed as exc:
            seen.append((type(exc), exc.code, exc.reason, ws.close_code))

    async with WebSocketServer("127.0.0.1", 0, handler) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        await in_thread(_lib_client, url, lambda ws: ws.close(code, "their bye"))
        for _ in range(100):
            if seen:
                break
            await sleep(0.01)
    expected = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
    assert seen == [(expected, code, "their bye", code)]


async def test_server_enforces_max_message_size_with_1009():
    async with WebSocketServer("127.0.0.1", 0, _echo, max_message_size=1000) as server:
        url = f"ws://127.0.0.1:{server.port}/"

        def body(ws):
            ws.send("y" * 1000)
            assert ws.recv() == "y" * 1000
            ws.send("y" * 1001)
            try:
                ws.recv()
            except LibClosed as exc:
                return exc.rcvd.code

        assert await in_thread(_lib_client, url, body) == 1009


async def test_server_subprotocol_negotiation():
    async def handler(ws):
        await ws.send(ws.subprotocol or "none")

    async with WebSocketServer("127.0.0.1", 0, handler, subprotocols=["chat", "json"]) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        got = await in_thread(_lib_client, url, lambda ws: (ws.subprotocol, ws.recv()), subprotocols=["json", "chat"])
        assert got == ("chat", "chat")
        got = await in_thread(_lib_client, url, lambda ws: (ws.subprotocol, ws.recv()), subprotocols=["xml"])
        assert got == (None, "none")


@pytest.mark.parametrize(
    "factory",
    [
        dict(server_max_window_bits=10, client_max_window_bits=9),
        dict(client_no_context_takeover=True, server_no_context_takeover=True),
        dict(server_max_window_bits=9, client_max_window_bits=True, server_no_context_takeover=True),
    ],
    ids=["window-bits", "no-context-takeover", "mixed"],
)
async def test_server_deflate_parameters(factory):
    async with WebSocketServer("127.0.0.1", 0, _echo) as server:
        url = f"ws://127.0.0.1:{server.port}/"

        def body(ws):
            ext = ws.protocol.extensions
            ok = []
            for i in range(20):
                message = f"message {i} " * (i + 1) * 10
                ws.send(message)
                ok.append(ws.recv() == message)
            return repr(ext), all(ok)

        description, ok = await in_thread(
            _lib_client, url, body, compression=None, extensions=[ClientPerMessageDeflateFactory(**factory)]
        )
    assert ok and "PerMessageDeflate" in description
    if factory.get("server_max_window_bits"):
        assert f"remote_max_window_bits={factory['server_max_window_bits']}" in description


async def test_server_compression_dict_is_negotiated():
    params = {"server_no_context_takeover": True, "client_no_context_takeover": True}
    async with WebSocketServer("127.0.0.1", 0, _echo, compression=params) as server:
        url = f"ws://127.0.0.1:{server.port}/"

        def body(ws):
            text = repr(ws.protocol.extensions)
            ws.send("abc" * 100)
            return text, ws.recv()

        text, echoed = await in_thread(_lib_client, url, body)
    assert "local_no_context_takeover=True" in text and "remote_no_context_takeover=True" in text
    assert echoed == "abc" * 100


async def test_server_wss_with_trustme(ca):
    server_ctx, client_ctx = tls_contexts(ca)
    async with WebSocketServer("127.0.0.1", 0, _echo, ssl=server_ctx) as server:
        url = f"wss://localhost:{server.port}/"

        def body(ws):
            ws.send("secure")
            ws.send(b"\x01" * 200_000)
            return ws.recv(), len(ws.recv())

        assert await in_thread(_lib_client, url, body, ssl=client_ctx) == ("secure", 200_000)


async def test_server_refusals_get_http_responses():
    def process_request(request):
        if request.path == "/forbidden":
            return 403, [("X-Why", "testing")], "nope\n"
        return None

    async with WebSocketServer("127.0.0.1", 0, _echo, process_request=process_request,
                               origins=["https://good.example", None]) as server:  # fmt: skip
        base = f"ws://127.0.0.1:{server.port}"

        def refused(path, **kwargs):
            try:
                _lib_client(base + path, lambda ws: None, **kwargs)
            except LibInvalidStatus as exc:
                return exc.response.status_code, exc.response.headers.get("X-Why"), exc.response.body
            return None

        assert await in_thread(refused, "/forbidden") == (403, "testing", b"nope\n")
        status, _, _ = await in_thread(refused, "/", origin="https://evil.example")
        assert status == 403
        assert await in_thread(refused, "/", origin="https://good.example") is None


async def test_server_shutdown_closes_connections_with_1001():
    ready = threading.Event()

    def body(ws):
        ws.send("hi")
        ws.recv()  # echo
        ready.set()
        try:
            ws.recv()
        except LibClosed as exc:
            return exc.rcvd.code

    async with TaskGroup() as g:
        server = WebSocketServer("127.0.0.1", 0, _echo)
        await server.start()
        url = f"ws://127.0.0.1:{server.port}/"
        client = await g.spawn(in_thread, _lib_client, url, body)
        while not ready.is_set():
            await sleep(0.005)
        await server.close()
        assert await client.join() == 1001


async def test_server_keepalive_with_their_client(autojump_clock=None):
    pings = []

    async def handler(ws):
        pings.append(await ws.ping())
        await _echo(ws)

    async with WebSocketServer("127.0.0.1", 0, handler, ping_interval=0.05, ping_timeout=5) as server:
        url = f"ws://127.0.0.1:{server.port}/"

        def body(ws):
            import time

            time.sleep(0.2)  # our keepalive pings run meanwhile; their pongs keep us open
            ws.send("alive")
            return ws.recv()

        assert await in_thread(_lib_client, url, body) == "alive"
    assert len(pings) == 1 and pings[0] >= 0  # the handler's own ping was answered too


async def test_upgrade_connections_from_run_server_with_websocket_handler():
    from curionet.network import run_server, tcp_server_socket
    from curionet.protocols.websocket import websocket_handler

    seen = []

    async def handler(ws):
        seen.append(ws.path)
        await _echo(ws)

    sock = tcp_server_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    async with TaskGroup() as g:
        server = await g.spawn(run_server, sock, websocket_handler(handler, subprotocols=["chat"]))
        url = f"ws://127.0.0.1:{port}/via-run-server"
        got = await in_thread(_lib_client, url, lambda ws: (ws.subprotocol, ws.send("x") or ws.recv()),
                              subprotocols=["chat"])  # fmt: skip
        await server.cancel()
    assert got == ("chat", "x") and seen == ["/via-run-server"]
