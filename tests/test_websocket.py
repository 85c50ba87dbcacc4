"""WebSocket behaviour over in-memory stream pairs: the API contract
(receive/send/iterate/close/ping/broadcast), and a hypothesis property test
that random messages with random fragmentation arrive intact and in order.
"""

from __future__ import annotations

import zlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from test_websocket_support import memory_stream_pair
from wsproto.events import CloseConnection
from wsproto.frame_protocol import CloseReason

from curionet import Kernel, TaskGroup, sleep, spawn
from curionet.protocols.websocket import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    Headers,
    WebSocket,
    accept_websocket,
    broadcast,
    websocket_connect,
)


async def ws_pair(*, limit: int = 1 << 20, chunk: int = 1 << 20, server_opts=None, **client_opts):
    """A connected (client, server) pair over an in-memory stream pair."""
    a, b = memory_stream_pair(limit, chunk)
    server_opts = dict(server_opts or {})
    server_opts.setdefault("ping_interval", None)
    client_opts.setdefault("ping_interval", None)
    server_task = await spawn(accept_websocket(b, ("memory", 1), **server_opts))
    client = await websocket_connect("ws://example.test/chat?room=1", stream=a, **client_opts)
    server = await server_task.join()
    assert isinstance(server, WebSocket)
    return client, server


async def test_round_trip_and_request_details():
    client, server = await ws_pair(extra_headers={"X-Token": "abc"}, subprotocols=["v2", "v1"],
                                   server_opts={"subprotocols": ["v1", "v2"]})  # fmt: skip
    assert server.path == "/chat?room=1"
    assert server.request.headers["x-token"] == "abc"
    assert server.request.headers.get("host") == "example.test"
    assert server.remote_address == ("memory", 1)
    assert client.subprotocol == server.subprotocol == "v1"
    for message in ["text", b"bytes", "", b"", "ünïcödé"]:
        await client.send(message)
        got = await server.receive()
        assert got == message and type(got) is type(message)
        await server.send(got)
        assert await client.receive() == message
    await client.close()
    await server.wait_closed()
    assert client.close_code == server.close_code == 1000


async def test_messages_before_close_are_delivered_then_iteration_stops():
    client, server = await ws_pair()
    for i in range(3):
        await server.send(f"m{i}")
    await server.close(1001, "going away")
    assert [m async for m in client] == ["m0", "m1", "m2"]
    with pytest.raises(ConnectionClosedOK) as info:
        await client.receive()
    assert (info.value.code, info.value.reason) == (1001, "going away")
    assert client.closed and server.closed


async def test_error_close_raises_from_iteration_and_send():
    client, server = await ws_pair()
    await server.close(4000, "custom")
    with pytest.raises(ConnectionClosedError) as info:
        async for _ in client:
            pass
    assert info.value.code == 4000 and client.close_reason == "custom"
    with pytest.raises(ConnectionClosed):
        await client.send("too late")
    with pytest.raises(ConnectionClosed):
        await client.ping()
    await client.close()  # closing twice is harmless
    await client.close()


async def test_transport_lost_gives_1006():
    client, server = await ws_pair()
    await server._stream.close()  # no closing handshake at all
    with pytest.raises(ConnectionClosedError) as info:
        await client.receive()
    assert info.value.code == 1006
    await server.close()


async def test_close_code_1005_when_peer_sends_empty_close():
    client, server = await ws_pair()
    # An empty Close frame (no status code): the close code is 1005.
    await server._send_event(CloseConnection(code=CloseReason.NO_STATUS_RCVD))
    with pytest.raises(ConnectionClosedError) as info:
        await client.receive()
    assert info.value.code == 1005
    await server.close()


async def test_ping_waits_for_pong_and_pong_acknowledges_earlier_pings():
    client, server = await ws_pair()
    assert await client.ping(b"one") >= 0
    assert await server.ping("two") >= 0
    # Two pings in flight; the pong for the second answers both.
    async with TaskGroup() as g:
        first = await g.spawn(client.ping, b"a")
        second = await g.spawn(client.ping, b"b")
    assert first.result >= 0 and second.result >= 0
    with pytest.raises(ValueError):
        client._pings[b"dup"] = object()  # type: ignore[assignment]
        await client.ping(b"dup")
    client._pings.clear()
    await client.close()


async def test_ping_in_flight_fails_when_connection_closes():
    client, server = await ws_pair()
    server._reader_task and await server._reader_task.cancel()  # server stops answering
    async with TaskGroup() as g:
        pinger = await g.spawn(client.ping)
        await sleep(0)
        await client._abort()
    assert isinstance(pinger.exception, ConnectionClosed)
    await server._abort()


async def test_fragmented_send_rejects_mixed_types():
    client, server = await ws_pair()
    with pytest.raises(TypeError):
        await client.send(["text", b"bytes"])
    with pytest.raises(TypeError):
        await client.send(42)  # type: ignore[arg-type]
    with pytest.raises(ConnectionClosedError):
        await server.receive()  # the half-sent message ended the connection (1011)
    await client.close()


async def test_control_frames_interleave_with_a_slow_fragmented_send():
    client, server = await ws_pair()

    async def slow_parts():
        for part in ("a", "b", "c"):
            yield part
            await sleep(0.001)

    async with TaskGroup() as g:
        await g.spawn(client.send, slow_parts())
        await g.spawn(server.ping)  # answered while the message is half sent
    assert await server.receive() == "abc"
    await client.close()


async def test_receive_side_is_bounded_by_max_queue():
    client, server = await ws_pair(limit=4096, compression=False, server_opts={"max_queue": 2})
    sent = 0
    async with TaskGroup(wait=any) as g:

        async def flood():
            nonlocal sent
            while True:
                await client.send(b"\x00" * 1000)
                sent += 1

        await g.spawn(flood)
        await g.spawn(sleep, 0.2)
    assert len(server._inbox) == 2
    assert sent < 20  # 2 queued + what the 4 KiB stream buffer and one frame in hand hold
    client.close_timeout = server.close_timeout = 0.2
    await server.close()
    await client.close()


async def test_broadcast_skips_closed_and_slow_peers():
    pairs = [await ws_pair(limit=2048, compression=False) for _ in range(3)]
    (c0, s0), (c1, s1), (c2, s2) = pairs
    await c2.close()
    # Peer 1 never reads: its stream fills and broadcasts to it pile up.
    counts = []
    for i in range(100):
        counts.append(await broadcast([s0, s1, s2], f"{i:04d}" + "x" * 500))
        await sleep(0)
        got = await c0.receive()
        assert got.startswith(f"{i:04d}")
    assert counts[0] == 2  # the closed peer is skipped at once
    assert counts[-1] == 1  # the slow one is skipped once its backlog is full
    assert len(s1._inbox) + len(c1._inbox) < 100
    for ws in (c0, c1, s0, s1):
        ws.close_timeout = 0.2
        await ws.close()
    assert await broadcast([s0], "after close") == 0


async def test_max_message_size_counts_utf8_bytes():
    client, server = await ws_pair(server_opts={"max_message_size": 10})
    await client.send("é" * 5)  # 10 bytes: allowed
    assert await server.receive() == "é" * 5
    await client.send("é" * 6)  # 6 characters but 12 bytes
    with pytest.raises(ConnectionClosedError) as info:
        await client.receive()
    assert info.value.code == 1009


def test_headers_lookup():
    h = Headers([(b"Content-Type", b"text/plain"), ("Set-Cookie", "a"), ("set-cookie", "b")])
    assert h["content-type"] == "text/plain" and "CONTENT-TYPE" in h and "x" not in h
    assert h.get_all("SET-COOKIE") == ["a", "b"] == h.get_list("set-cookie")
    # HTTP's semantics: a mapping over distinct names, repeated values joined.
    assert len(h) == 2 and list(h) == ["content-type", "set-cookie"] and h.get("Set-Cookie") == "a, b"
    assert h.multi_items() == [("Content-Type", "text/plain"), ("Set-Cookie", "a"), ("set-cookie", "b")]
    with pytest.raises(KeyError):
        h["missing"]


def test_headers_are_the_http_headers():
    from curionet.protocols.http import Headers as HTTPHeaders

    assert Headers is HTTPHeaders


@pytest.mark.parametrize("name, value", [("X-A", "v\r\nInjected: 1"), ("X-A", "v\n"), ("Bad Name", "v"),
                                         ("X:Y", "v"), ("", "v")])  # fmt: skip
def test_headers_reject_what_would_break_the_head(name, value):
    h = Headers()
    with pytest.raises(ValueError):
        h[name] = value
    with pytest.raises(ValueError):
        h.add(name, value)
    assert h.multi_items() == []


async def test_bad_urls_are_rejected():
    for url in ("http://example.com/", "ws:///nohost", "example.com"):
        with pytest.raises(ValueError):
            await websocket_connect(url)


# ---------------------------------------------------------------------------
# Property: random messages, random fragmentation, random read sizes
# ---------------------------------------------------------------------------

text_parts = st.lists(st.text(max_size=300), min_size=1, max_size=5)
bytes_parts = st.lists(st.binary(max_size=3000), min_size=1, max_size=5)
messages = st.lists(st.tuples(st.one_of(text_parts, bytes_parts), st.booleans()), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=messages, compression=st.booleans(), chunk=st.integers(1, 5000),
       fast=st.tuples(st.booleans(), st.booleans()))  # fmt: skip
def test_property_messages_arrive_intact_and_in_order(messages, compression, chunk, fast):
    async def main():
        client, server = await ws_pair(chunk=chunk, compression=compression,
                                       server_opts={"compression": compression, "max_message_size": None})  # fmt: skip
        # Each side either uses the fast path where it can, or wsproto only.
        client._fast = client._fast and fast[0]
        server._fast = server._fast and fast[1]
        received = []

        async def echo():
            async for m in server:
                await server.send(m)

        async with TaskGroup() as g:
            await g.spawn(echo)
            for parts, fragmented in messages:
                expected = parts[0][:0].join(parts)
                await client.send(parts if fragmented else expected)
            for _ in messages:
                received.append(await client.receive())
            await client.close()
        return received

    with Kernel() as kernel:
        received = kernel.run(main)
    assert received == [parts[0][:0].join(parts) for parts, _ in messages]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), key=st.binary(min_size=4, max_size=4))
def test_property_unmask_matches_wsproto(data, key):
    from wsproto.frame_protocol import XorMaskerSimple

    from curionet.protocols.websocket._frames import _unmask

    assert _unmask(data, key) == bytes(XorMaskerSimple(key).process(bytearray(data)))


def test_unmask_large_payload_matches_wsproto():
    import os

    from wsproto.frame_protocol import XorMaskerSimple

    from curionet.protocols.websocket._frames import _unmask

    for n in (513, 4097, 65536, 100_003):
        data, key = os.urandom(n), os.urandom(4)
        assert _unmask(data, key) == bytes(XorMaskerSimple(key).process(bytearray(data)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=8),
       compression=st.booleans(), fast=st.booleans())  # fmt: skip
def test_property_garbage_never_breaks_the_server(garbage, compression, fast):
    """Arbitrary bytes after the handshake: the server either keeps the
    connection or closes it with a protocol close code; its reader never
    dies with an unexpected exception and it never hangs."""
    from test_websocket_support import frame

    async def main():
        client, server = await ws_pair(compression=compression, server_opts={"compression": compression,
                                                                             "close_timeout": 0.5})  # fmt: skip
        server._fast = server._fast and fast
        client._reader_task and await client._reader_task.cancel()  # we speak raw bytes now
        stream = client._stream
        for piece in garbage:
            try:
                await stream.send_all(frame(0x2, b"ok") + piece)
            except OSError:
                break
            await sleep(0)
        await stream.close()
        await server.wait_closed()
        return server

    with Kernel() as kernel:
        server = kernel.run(main)
    assert server.closed
    legal = {int(code) for code in CloseReason} - {1015}
    assert server.close_code in legal or 3000 <= server.close_code < 5000
    reader = server._reader_task
    assert reader is not None and reader.terminated and reader.exception is None


@pytest.mark.parametrize(
    "compression, level, window_bits, mem_level",
    [(True, 3, 12, 5), ({"level": 6}, 6, 12, 5), ({"level": 1, "window_bits": 15, "mem_level": 8}, 1, 15, 8)],
    ids=["default-level-3", "level-6", "level-1-big-window"],
)
def test_deflate_compresses_with_the_configured_zlib_settings(compression, level, window_bits, mem_level):
    from curionet.protocols.websocket._deflate import _deflate_extension

    (ext,) = _deflate_extension(compression, None)
    message = b" ".join(b'{"id":%d,"user":"u%d","msg":"hello %d"}' % (i * 7919 % 10007, i % 97, i % 13)
                        for i in range(3000))  # fmt: skip
    reference = zlib.compressobj(level, zlib.DEFLATED, -window_bits, mem_level)
    for _ in range(2):  # the second message uses the context of the first (takeover)
        expected = (reference.compress(message) + reference.flush(zlib.Z_SYNC_FLUSH))[:-4]
        assert ext.deflate_message(False, message) == expected


@pytest.mark.parametrize("bad", [{"level": 10}, {"level": -2}, {"window_bits": 8}, {"mem_level": 0}])
def test_deflate_settings_out_of_range_are_refused(bad):
    from curionet.protocols.websocket._deflate import _deflate_extension

    with pytest.raises(ValueError):
        _deflate_extension(bad, None)
