"""Socket and stream tests on real loopback sockets (IPv4 and ::1)."""

from __future__ import annotations

import errno
import os
import random
import socket as stdsocket

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import curionet
from curionet import socket
from curionet.errors import ClosedResourceError, ReadResourceBusy, TaskCancelled, WriteResourceBusy
from curionet.kernel.io import FileStream, Socket, SocketStream


def _has_ipv6() -> bool:
    try:
        s = stdsocket.socket(stdsocket.AF_INET6, stdsocket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


FAMILIES = [(stdsocket.AF_INET, "127.0.0.1")]
if _has_ipv6():
    FAMILIES.append((stdsocket.AF_INET6, "::1"))


async def _listener(family: int = stdsocket.AF_INET, host: str = "127.0.0.1") -> tuple[Socket, tuple]:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(10)
    return sock, sock.getsockname()


async def _connected_pair(family: int = stdsocket.AF_INET, host: str = "127.0.0.1") -> tuple[Socket, Socket]:
    lsock, addr = await _listener(family, host)
    async with lsock:
        client = socket.socket(family, socket.SOCK_STREAM)
        await client.connect(addr)
        server, _ = await lsock.accept()
    return client, server


KINDS = ["unix", *(host for _, host in FAMILIES)]  # socketpair, 127.0.0.1 and ::1 (when available)


async def _pair(kind: str) -> tuple[Socket, Socket]:
    """A connected pair: a Unix socketpair, or TCP over loopback (IPv4 or ::1)."""
    if kind == "unix":
        return socket.socketpair()
    family = stdsocket.AF_INET6 if ":" in kind else stdsocket.AF_INET
    return await _connected_pair(family, kind)


def test_module_exports_every_stdlib_constant():
    import socket as std

    for name in std.__all__:
        assert hasattr(socket, name), name
    assert socket.AF_INET == std.AF_INET
    s = socket.socket()
    assert isinstance(s, Socket)
    s._socket.close()


@pytest.mark.parametrize("family,host", FAMILIES)
async def test_connect_accept_recv_send_eof(family, host):
    client, server = await _connected_pair(family, host)
    async with client, server:
        assert server.getpeername()[:2] == client.getsockname()[:2]
        assert await client.send(b"ping") == 4
        assert await server.recv(100) == b"ping"
        await server.sendall(b"pong" * 1000)
        got = b""
        while len(got) < 4000:
            got += await client.recv(100000)
        assert got == b"pong" * 1000
        await client.shutdown(socket.SHUT_WR)
        assert await server.recv(10) == b""
        assert await server.recv(10) == b""  # EOF stays EOF


async def test_recv_into_and_buffers():
    a, b = socket.socketpair()
    async with a, b:
        await a.sendall(bytearray(b"hello"))
        buf = bytearray(10)
        n = await b.recv_into(buf)
        assert bytes(buf[:n]) == b"hello"
        await a.sendall(memoryview(b"xyz"))
        buf2 = bytearray(10)
        n = await b.recv_into(buf2, 2)
        assert bytes(buf2[:n]) == b"xy"
        assert await b.recv(10) == b"z"


async def test_sendmsg_recvmsg_with_fd_passing():
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        async with a, b:
            import array

            fds = array.array("i", [w])
            await a.sendmsg([b"x", b"y"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            data, anc, flags, addr = await b.recvmsg(10, socket.CMSG_LEN(fds.itemsize))
            assert data == b"xy"
            level, kind, raw = anc[0]
            assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
            passed = array.array("i")
            passed.frombytes(raw[: fds.itemsize])
            os.write(passed[0], b"!")
            os.close(passed[0])
            assert os.read(r, 1) == b"!"
            await a.sendall(b"abc")
            bufs = [bytearray(2), bytearray(2)]
            n, anc, flags, addr = await b.recvmsg_into(bufs)
            assert n == 3 and bytes(bufs[0] + bufs[1][:1]) == b"abc"
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("family,host", FAMILIES)
async def test_udp_sendto_recvfrom(family, host):
    a = socket.socket(family, socket.SOCK_DGRAM)
    b = socket.socket(family, socket.SOCK_DGRAM)
    async with a, b:
        a.bind((host, 0))
        b.bind((host, 0))
        await a.sendto(b"one", b.getsockname())
        await a.sendto(b"two", 0, b.getsockname())
        data, addr = await b.recvfrom(100)
        assert data == b"one" and addr[:2] == a.getsockname()[:2]
        buf = bytearray(10)
        n, addr = await b.recvfrom_into(buf)
        assert bytes(buf[:n]) == b"two"


async def test_connect_refused_raises_and_connect_ex_returns_errno():
    lsock, addr = await _listener()
    await lsock.close()  # nobody listens on addr now
    s = socket.socket()
    async with s:
        with pytest.raises(ConnectionRefusedError):
            await s.connect(addr)
    s = socket.socket()
    async with s:
        assert await s.connect_ex(addr) == errno.ECONNREFUSED
    lsock, addr = await _listener()
    async with lsock:
        s = socket.socket()
        async with s:
            assert await s.connect_ex(addr) == 0


async def test_two_readers_is_read_resource_busy():
    a, b = socket.socketpair()
    async with a, b:
        t = await curionet.spawn(b.recv, 10)
        await curionet.sleep(0)
        with pytest.raises(ReadResourceBusy):
            await b.recv(10)
        await a.sendall(b"x")
        assert await t.join() == b"x"


async def test_two_writers_is_write_resource_busy():
    a, b = socket.socketpair()
    async with a, b:
        # Fill the send buffer so the first writer blocks.
        t = await curionet.spawn(a.sendall, b"x" * 10_000_000)
        await curionet.sleep(0)
        with pytest.raises(WriteResourceBusy):
            await a.sendall(b"y" * 10_000_000)
        await t.cancel()


async def test_close_wakes_blocked_reader_with_closed_resource_error():
    a, b = socket.socketpair()
    async with a:
        t = await curionet.spawn(b.recv, 10)
        await curionet.sleep(0)
        await b.close()
        with pytest.raises(curionet.TaskError) as info:
            await t.join()
        assert isinstance(info.value.__cause__, ClosedResourceError)
        assert b.fileno() == -1
        await b.close()  # twice is harmless


@pytest.mark.parametrize("family,host", FAMILIES)
async def test_cancel_blocked_accept_leaves_listener_usable(family, host):
    lsock, addr = await _listener(family, host)
    async with lsock:
        t = await curionet.spawn(lsock.accept)
        await curionet.sleep(0)
        await t.cancel()
        assert t.cancelled
        # Still usable by another task.
        c = socket.socket(family, socket.SOCK_STREAM)
        async with c:
            await c.connect(addr)
            s, _ = await lsock.accept()
            await s.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_blocked_recv_leaves_socket_usable(kind):
    a, b = await _pair(kind)
    async with a, b:
        t = await curionet.spawn(b.recv, 10)
        await curionet.sleep(0)
        await t.cancel()
        assert t.cancelled
        await a.sendall(b"after")
        assert await b.recv(10) == b"after"
        # Receives that had to wait switch the socket to "wait for
        # readability first"; a cancellation there leaves it usable too,
        # by another task.
        for i in range(3):
            r = await curionet.spawn(b.recv, 10)
            await curionet.sleep(0)
            await a.sendall(b"%d" % i)
            assert await r.join() == b"%d" % i
        t = await curionet.spawn(b.recv, 10)
        await curionet.sleep(0)
        await t.cancel()
        assert t.cancelled
        await a.sendall(b"again")
        assert await b.recv(10) == b"again"
        await a.shutdown(socket.SHUT_WR)
        assert await b.recv(10) == b""


@pytest.mark.parametrize("kind", KINDS)
async def test_cancel_blocked_sendall_reports_bytes_sent_and_nothing_is_lost(kind):
    a, b = await _pair(kind)
    async with a, b:
        payload = bytes(range(256)) * 40_000  # ~10 MB, far beyond the buffer
        result = {}

        async def sender():
            try:
                await a.sendall(payload)
            except TaskCancelled as e:
                result["sent"] = e.bytes_sent
                raise

        t = await curionet.spawn(sender)
        await curionet.sleep(0.01)
        await t.cancel()
        sent = result["sent"]
        assert 0 < sent < len(payload)
        # Exactly the first `sent` bytes arrive; the socket still works.
        async def reader():
            received = bytearray()
            while chunk := await b.recv(1 << 20):
                received += chunk
            return bytes(received)

        r = await curionet.spawn(reader)
        await a.sendall(b"END")
        await a.shutdown(socket.SHUT_WR)
        received = await r.join()
        assert received == payload[:sent] + b"END"


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(KINDS), big=st.integers(min_value=200_000, max_value=1_000_000),
       chunks=st.lists(st.integers(min_value=1, max_value=300_000), max_size=5),
       reads=st.lists(st.one_of(st.integers(min_value=1, max_value=64), st.integers(min_value=1000, max_value=70_000)),
                      min_size=1, max_size=8),
       use_send=st.booleans(), position=st.integers(min_value=0, max_value=5))  # fmt: skip
def test_partial_sends_under_slow_reader_lose_and_reorder_nothing(kind, big, chunks, reads, use_send, position):
    """A large buffer (and smaller ones around it) goes out through tiny
    socket buffers in many partial sends, to a reader taking random-sized
    pieces and yielding often: every byte arrives, in order."""
    sizes = list(chunks)
    sizes.insert(min(position, len(sizes)), big)
    reads = [*reads, 65536]  # keeps tiny reads from making the example slow
    data = random.Random(sum(sizes)).randbytes(sum(sizes))  # every position distinct
    payloads, offset = [], 0
    for n in sizes:
        payloads.append(data[offset : offset + n])
        offset += n

    async def main():
        a, b = await _pair(kind)
        # Small buffers; not tiny over TCP, where a window of a few KiB meets
        # delayed ACKs and crawls (40 ms per window).
        size = 4096 if kind == "unix" else 32768
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        partial = 0
        async with a, b:

            async def writer():
                nonlocal partial
                for p in payloads:
                    if not use_send:
                        await a.sendall(p)
                        continue
                    view = memoryview(p)
                    while view:
                        n = await a.send(view)
                        assert 0 < n <= len(view)
                        partial += n < len(view)
                        view = view[n:]
                await a.shutdown(socket.SHUT_WR)

            t = await curionet.spawn(writer)
            got = bytearray()
            i = 0
            while True:
                chunk = await b.recv(reads[i % len(reads)])
                assert len(chunk) <= reads[i % len(reads)]
                i += 1
                if not chunk:
                    break
                got += chunk
                if i % 3 == 0:
                    await curionet.sleep(0)  # a slow reader
            await t.join()
            assert await b.recv(100) == b""  # EOF stays EOF
        assert bytes(got) == data
        if use_send:
            assert partial > 0  # the big buffer did not fit in one send

    curionet.run(main)


async def test_blocking_context_and_getattr_delegation():
    a, b = socket.socketpair()
    async with a, b:
        with a.blocking() as raw:
            assert raw.getblocking()
            raw.sendall(b"sync")
        assert not a._socket.getblocking()
        assert await b.recv(10) == b"sync"
        assert a.family == socket.AF_UNIX
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        assert "curionet.Socket" in repr(a)


async def test_async_with_closes_and_fromfd_dup():
    a, b = socket.socketpair()
    c = socket.fromfd(a.fileno(), socket.AF_UNIX, socket.SOCK_STREAM)
    d = b.dup()
    async with a, b, c, d:
        await c.sendall(b"via dup")
        assert await d.recv(100) == b"via dup"
    assert a.fileno() == -1 and c.fileno() == -1


async def test_socket_stream_read_helpers():
    a, b = socket.socketpair()
    async with a:
        s = b.as_stream()
        assert isinstance(s, SocketStream)
        async with s:
            await a.sendall(b"line one\nline two\nxyz" + b"0123456789")
            assert await s.readline() == b"line one\n"
            assert await s.read(4) == b"line"
            assert await s.readline() == b" two\n"
            assert await s.read_exactly(5) == b"xyz01"
            assert await s.read() == b"23456789"
            await a.sendall(b"a\nb\nc")
            await a.shutdown(socket.SHUT_WR)
            assert await s.readlines() == [b"a\n", b"b\n", b"c"]
            assert await s.read() == b""
            assert await s.readline() == b""


async def test_socket_stream_read_exactly_eof_and_readall():
    a, b = socket.socketpair()
    async with a:
        async with b.as_stream() as s:
            await a.sendall(b"abc")
            await a.shutdown(socket.SHUT_WR)
            with pytest.raises(EOFError) as info:
                await s.read_exactly(10)
            assert info.value.bytes_read == b"abc"
    a, b = socket.socketpair()
    async with a:
        async with SocketStream(b) as s:
            await a.sendall(b"x" * 100_000)
            await a.shutdown(socket.SHUT_WR)
            assert await s.readall() == b"x" * 100_000


async def test_socket_stream_write_writelines_and_async_for():
    a, b = socket.socketpair()
    async with a.as_stream() as wa, b.as_stream() as rb:
        async def writer():
            await wa.write(b"first\n")
            await wa.writelines([b"second\n", bytearray(b"third\n"), memoryview(b"x" * 300_000 + b"\n")])
            await wa.flush()
            await wa.send_eof()

        t = await curionet.spawn(writer)
        lines = []
        async for line in rb:
            lines.append(line)
        assert lines[:3] == [b"first\n", b"second\n", b"third\n"]
        assert lines[3] == b"x" * 300_000 + b"\n"
        await t.join()


async def test_socket_stream_write_returns_the_count_and_reports_bytes_written():
    a, b = socket.socketpair()
    async with a.as_stream() as wa, b.as_stream() as rb:
        assert await wa.write(b"abc") == 3
        assert await wa.write(memoryview(b"de")) == 2
        assert await rb.read(5) == b"abcde"
        payload = b"y" * 10_000_000  # far beyond the socket buffers: it blocks
        result = {}

        async def writer():
            try:
                await wa.write(payload)
            except TaskCancelled as e:
                result["written"], result["sent"] = e.bytes_written, e.bytes_sent
                raise

        t = await curionet.spawn(writer)
        await curionet.sleep(0.01)
        await t.cancel()
        assert 0 < result["written"] == result["sent"] < len(payload)


async def test_file_stream_on_a_pipe_and_makefile():
    r, w = os.pipe()
    async with FileStream(open(r, "rb", buffering=0)) as rs, FileStream(open(w, "wb", buffering=0)) as ws:
        # More than the pipe buffer: the writer blocks until the reader drains.
        t = await curionet.spawn(ws.write, b"hello\nworld\n" * 10_000)
        assert await rs.readline() == b"hello\n"
        assert await t.join() == 12 * 10_000
        await ws.close()
        rest = await rs.readall()
        assert rest.startswith(b"world\n") and len(rest) == 12 * 10_000 - 6
    a, b = socket.socketpair()
    async with a, b:
        f = b.makefile("rb")
        async with f:
            await a.sendall(b"via makefile\n")
            assert await f.readline() == b"via makefile\n"
        with pytest.raises(RuntimeError):
            a.makefile("r")


async def test_name_service_functions_run_without_blocking():
    infos = await socket.getaddrinfo("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM)
    assert infos[0][4] == ("127.0.0.1", 80)
    assert await socket.gethostbyname("127.0.0.1") == "127.0.0.1"
    assert isinstance(await socket.gethostname(), str)
    host, port = await socket.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
    assert (host, port) == ("127.0.0.1", "80")
    name, aliases, addrs = await socket.gethostbyname_ex("127.0.0.1")
    assert "127.0.0.1" in addrs
    assert isinstance(await socket.getfqdn("127.0.0.1"), str)
    with pytest.raises(OSError):
        await socket.gethostbyaddr("256.0.0.1")


@pytest.mark.parametrize("family,host", FAMILIES)
async def test_create_connection(family, host):
    lsock, addr = await _listener(family, host)
    async with lsock:
        c = await socket.create_connection((host, addr[1]))
        async with c:
            s, _ = await lsock.accept()
            async with s:
                assert c.family == family
                await c.sendall(b"hi")
                assert await s.recv(2) == b"hi"
    with pytest.raises(ConnectionRefusedError):
        await socket.create_connection((host, addr[1]))
