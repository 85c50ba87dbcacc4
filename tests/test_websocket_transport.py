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
