"""WebSocket connections over each kind of transport the package accepts:
the kernel's :class:`~curionet.kernel.stream.Stream` (an in-memory pair, a
``SocketStream``), a curionet ``Socket``, and an object with ``recv`` /
``sendall`` / ``close``; and ``as_stream`` refusing anything else."""

from __future__ import annotations

import pytest
from test_websocket_support import memory_stream_pair as object_stream_pair

from curionet import spawn
from curionet.network import open_connection, tcp_server_socket
from curionet.protocols.websocket import WebSocket, accept_websocket, websocket_connect
from curionet.protocols.websocket._transport import _ObjectStream, as_stream
from curionet.testing import memory_stream_pair

BIG = bytes(range(256)) * 1024  # 256 KiB: collected over several reads by the fast path


async def exchange(client: WebSocket, server: WebSocket) -> None:
    for message in ["text", b"bytes", BIG, "é" * 5000]:
        await client.send(message)
        got = await server.receive()
        assert got == message
        await server.send(got)
        assert await client.receive() == message
    await client.close()
    await server.wait_closed()
    assert client.close_code == server.close_code == 1000


async def pair_over(a, b, **opts) -> tuple[WebSocket, WebSocket]:
    server_task = await spawn(accept_websocket(b, ("peer", 1), ping_interval=None, **opts))
    client = await websocket_connect("ws://example.test/", stream=a, ping_interval=None, **opts)
    server = await server_task.join()
    assert isinstance(server, WebSocket)
    return client, server


@pytest.mark.parametrize("compression", [False, True])
async def test_over_the_kernel_memory_stream(compression):
    a, b = memory_stream_pair(max_chunk=1000)  # short reads
    assert as_stream(a) is a
    client, server = await pair_over(a, b, compression=compression)
    assert server._stream is b
    await exchange(client, server)


async def test_over_an_object_with_recv_and_sendall():
    a, b = object_stream_pair(1 << 20, 1000)  # no recv_into: the fallback fills the buffer
    client, server = await pair_over(a, b)
    assert isinstance(server._stream, _ObjectStream)
    await exchange(client, server)


async def test_over_sockets_and_socket_streams():
    listener = tcp_server_socket("127.0.0.1", 0)
    try:
        port = listener.getsockname()[1]
        accept = await spawn(listener.accept)
        sock = await open_connection("127.0.0.1", port)
        peer, addr = await accept.join()
        # The server side keeps the Socket (its owner closes it); the
        # client side is given a SocketStream.
        client, server = await pair_over(sock.as_stream(), peer)
        assert server.remote_address == ("peer", 1)
        assert isinstance(server._stream, _ObjectStream)
        assert client.remote_address == ("127.0.0.1", port)
        await exchange(client, server)
        assert peer.fileno() == -1  # closed by the WebSocket, through the Socket
        assert sock._socket.fileno() == -1  # the SocketStream closed its socket
    finally:
        await listener.close()


def test_as_stream_refuses_what_is_not_a_stream():
    with pytest.raises(TypeError, match="has no recv"):
        as_stream(object())


# -- a server's big frames: header and payload sent by one gathering call --


async def with_gathered_server(handler, client):
    """Run one WebSocket connection: *handler* on the server side, over a
    plain socket whose send buffer is small (so one gathering call cannot
    take a big frame whole), and *client* with the hand-made client's
    socket; return what *client* returns once both are done."""
    import socket

    from test_websocket_support import raw_client

    from curionet import TaskGroup

    listener = tcp_server_socket("127.0.0.1", 0)

    async def serve_one() -> None:
        conn, addr = await listener.accept()
        async with conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            ws = await accept_websocket(conn, addr, ping_interval=None, compression=False)
            assert isinstance(ws, WebSocket)
            await handler(ws)

    async with listener, TaskGroup() as group:
        await group.spawn(serve_one)
        async with await raw_client(listener.getsockname()[1]) as sock:
            result = await client(sock)
            await group.join()
    return result


async def no_client(sock):
    return None


async def test_big_frames_sent_gathered_arrive_whole():
    from test_websocket_support import read_frame

    messages = [bytes(range(256)) * 4096, b"x" * 20000, "é" * 30000]  # 1 MiB, 20 KB, 60 KB of text
    used = []

    partial = []

    async def handler(ws: WebSocket) -> None:
        used.append(ws._send_gather is not None)
        gather = ws._send_gather
        assert gather is not None

        async def counting(buffers):
            n = await gather(buffers)
            partial.append(n < sum(len(b) for b in buffers))
            return n

        ws._send_gather = counting
        for m in messages:
            await ws.send(m)

    async def client(sock):
        return [await read_frame(sock) for _ in messages]

    got = await with_gathered_server(handler, client)
    assert used == [True]
    assert len(partial) == 3 and any(partial)  # the rest of a frame went by the second path
    assert got == [(2, messages[0]), (2, messages[1]), (1, messages[2].encode())]


async def test_tls_and_object_streams_do_not_gather():
    class Plain:
        async def recv(self, n):
            return b""

        async def sendall(self, data):
            pass

        async def sendmsg(self, buffers):
            raise AssertionError("not a curionet socket: never gathered")

        async def close(self):
            pass

    assert _ObjectStream(Plain()).send_gather is None
    a, b = memory_stream_pair()
    assert getattr(as_stream(a), "send_gather", None) is None
    await a.close()
    await b.close()


async def test_cancelled_in_the_rest_of_a_gathered_frame_aborts_the_connection():
    # The peer does not read: the gathering call sends the frame's start, the
    # rest waits, and the wait is cancelled.  Half a frame is on the wire, so
    # the connection must end (the peer would read the next frame as the rest
    # of this one), not stay open.
    from curionet import ignore_after

    states = []

    async def handler(ws: WebSocket) -> None:
        async with ignore_after(0.3):
            await ws.send(b"z" * (8 << 20))
        states.append(ws.state.name)

    await with_gathered_server(handler, no_client)
    assert states == ["CLOSED"]


async def test_cancelled_before_any_of_the_rest_of_a_gathered_frame_aborts_the_connection():
    # The gathering call took only the header and 1000 payload bytes, and the
    # wait for the rest is cancelled before any of it went: half a frame is
    # out all the same.
    from curionet import ignore_after, sleep

    states = []

    async def handler(ws: WebSocket) -> None:
        gather = ws._send_gather
        assert gather is not None

        async def start_only(buffers):
            return await gather([buffers[0], buffers[1][:1000]])

        async def never(data, timeout=None):
            await sleep(3600)

        ws._send_gather = start_only
        ws._stream.send_all = never  # type: ignore[attr-defined]
        async with ignore_after(0.2):
            await ws.send(b"z" * 100_000)
        states.append(ws.state.name)

    await with_gathered_server(handler, no_client)
    assert states == ["CLOSED"]
