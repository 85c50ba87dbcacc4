"""Connection-level WebSocket features a ``websockets`` user relies on.

Streamed (fragmented) compressed messages flushed fragment by fragment,
why a connection ended (``sent`` / ``rcvd`` Close frames), close code 1014,
``receive_streaming``, the connection's attributes and ``broadcast`` from
synchronous code.  The ``websockets`` library (sync API, in a thread) is the
peer where one is needed.
"""

from __future__ import annotations

import queue
import threading

import pytest
from test_websocket_support import in_thread
from websockets.exceptions import ConnectionClosed as LibClosed
from websockets.sync.server import serve as lib_serve

from curionet.protocols.websocket import websocket_connect


class LibServer:
    """A ``websockets`` sync server in a thread running *handler(ws)*."""

    def __init__(self, handler, **kwargs):
        kwargs.setdefault("ping_interval", None)
        self.handler = handler
        self.server = lib_serve(self._run, "127.0.0.1", 0, **kwargs)
        self.port = self.server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _run(self, ws):
        try:
            self.handler(ws)
        except LibClosed:
            pass

    def close(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def lib_server():
    servers = []

    def make(handler, **kwargs):
        server = LibServer(handler, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


# ---------------------------------------------------------------------------
# 1. Compressed fragments leave as they are sent
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("first,last", [("first fragment ", "last"), (b"first fragment ", b"last")])
async def test_compressed_fragment_arrives_before_the_last_is_sent(lib_server, first, last):
    chunks: queue.Queue = queue.Queue()

    def handler(ws):
        for chunk in ws.recv_streaming():
            chunks.put(chunk)
        chunks.put(None)
        ws.recv()

    server = lib_server(handler)
    seen = []

    async def fragments():
        yield first
        # The peer must have the first fragment's data before we produce
        # the next one (a streamed message: tokens, log lines).
        seen.append(await in_thread(chunks.get, timeout=5))
        yield last

    async with websocket_connect(server.url) as ws:
        assert ws.extensions  # permessage-deflate is on
        await ws.send(fragments())
    assert seen == [first]
    rest = []
    while (chunk := chunks.get(timeout=5)) is not None:
        rest.append(chunk)
    assert type(last)().join(rest) == last
