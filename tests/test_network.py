"""Server and connection helpers on real loopback sockets."""

from __future__ import annotations

import errno
import logging
import os
import socket as stdsocket

import pytest
from test_io import FAMILIES

import curionet
from curionet import network, socket
from curionet.kernel.io import Socket


async def echo_handler(client, addr):
    async with client:
        while True:
            data = await client.recv(100000)
            if not data:
                break
            await client.sendall(data)


async def start_server(handler, family=stdsocket.AF_INET, host="127.0.0.1", ssl=None):
    sock = network.tcp_server_socket(host, 0, family=family)
    port = sock.getsockname()[1]
    task = await curionet.spawn(network.run_server, sock, handler, ssl)
    return task, port


@pytest.mark.parametrize("family,host", FAMILIES)
async def test_tcp_server_echo_with_open_connection(family, host):
    task, port = await start_server(echo_handler, family, host)
    c = await curionet.open_connection(host, port)
    async with c:
        assert isinstance(c, Socket)
        for i in range(10):
            msg = b"message %d" % i
            await c.sendall(msg)
            assert await c.recv(100) == msg
    await task.cancel()


async def test_seed_program_low_level_echo_server():
    # The seed program, with only the import changed.
    from curionet.socket import AF_INET, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET

    async def echo_server(address, ready):
        sock = socket.socket(AF_INET, SOCK_STREAM)
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(5)
        ready.append(sock.getsockname())
        async with sock:
            while True:
                client, addr = await sock.accept()
                await curionet.spawn(echo_client, client, addr, daemon=True)

    async def echo_client(client, addr):
        async with client:
            while True:
                data = await client.recv(100000)
                if not data:
                    break
                await client.sendall(data)

    ready: list = []
    srv = await curionet.spawn(echo_server, ("127.0.0.1", 0), ready)
    while not ready:
        await curionet.sleep(0)
    c = await socket.create_connection(ready[0])
    async with c:
        await c.sendall(b"seed")
        assert await c.recv(10) == b"seed"
    await srv.cancel()


async def test_tcp_server_with_port_from_tcp_server_call():
    # tcp_server() itself, as in run(tcp_server, '', 25000, echo_client).
    probe = stdsocket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    srv = await curionet.spawn(curionet.tcp_server, "127.0.0.1", port, echo_handler)
    for _ in range(100):
        try:
            c = await curionet.open_connection("127.0.0.1", port)
            break
        except ConnectionRefusedError:
            await curionet.sleep(0.01)
    async with c:
        await c.sendall(b"x")
        assert await c.recv(1) == b"x"
    await srv.cancel()


async def test_handler_error_is_logged_and_server_keeps_accepting(caplog):
    calls = []

    async def handler(client, addr):
        calls.append(addr)
        if len(calls) == 1:
            raise ValueError("handler bug")
        await echo_handler(client, addr)

    task, port = await start_server(handler)
    with caplog.at_level(logging.ERROR, logger="curionet"):
        c1 = await curionet.open_connection("127.0.0.1", port)
        async with c1:
            assert await c1.recv(10) == b""  # the server closed it after the error
        c2 = await curionet.open_connection("127.0.0.1", port)
        async with c2:
            await c2.sendall(b"still up")
            assert await c2.recv(100) == b"still up"
    assert any("handler bug" in (r.exc_text or "") or "ValueError" in (r.exc_text or "") for r in caplog.records)
    await task.cancel()


async def test_client_reset_is_ordinary(caplog):
    got_error = []

    async def handler(client, addr):
        try:
            await echo_handler(client, addr)
        except ConnectionResetError as e:
            got_error.append(e)
            raise

    task, port = await start_server(handler)
    with caplog.at_level(logging.INFO, logger="curionet"):
        raw = stdsocket.create_connection(("127.0.0.1", port))
        raw.sendall(b"data")
        # RST instead of FIN.
        raw.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()
        c = await curionet.open_connection("127.0.0.1", port)
        async with c:
            await c.sendall(b"ok")
            assert await c.recv(10) == b"ok"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    await task.cancel()


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def test_cancelling_server_closes_listener_and_every_client():
    before = _open_fds()
    task, port = await start_server(echo_handler)
    clients = []
    for _ in range(20):
        c = await curionet.open_connection("127.0.0.1", port)
        await c.sendall(b"x")
        assert await c.recv(1) == b"x"
        clients.append(c)
    await task.cancel()
    # Every server-side connection is closed: each client sees EOF.
    for c in clients:
        assert await c.recv(10) == b""
        await c.close()
    after = _open_fds()
    # The kernel's own notify pair may appear (name lookups use a thread).
    assert len(after - before) <= 2
    with pytest.raises(ConnectionRefusedError):
        await socket.create_connection(("127.0.0.1", port))


async def test_emfile_on_accept_pauses_instead_of_dying(autojump_clock, monkeypatch, caplog):
    lsock = network.tcp_server_socket("127.0.0.1", 0)
    port = lsock.getsockname()[1]
    real_accept = lsock._socket.accept
    failures = [3]
    calls: list[float] = []  # virtual time of each accept() attempt

    class FakeRaw:
        def __getattr__(self, name):
            return getattr(real_sock, name)

        def accept(self):
            calls.append(autojump_clock.current_time())
            if failures[0]:
                failures[0] -= 1
                raise OSError(errno.EMFILE, "Too many open files")
            return real_accept()

    real_sock = lsock._socket
    lsock._socket = FakeRaw()
    served = []

    async def handler(client, addr):
        served.append(addr)

    with caplog.at_level(logging.WARNING, logger="curionet"):
        task = await curionet.spawn(network.run_server, lsock, handler)
        raw = stdsocket.create_connection(("127.0.0.1", port))
        while not served:
            await curionet.sleep(0.05)
        raw.close()
    assert failures[0] == 0 and served
    assert sum("pausing" in r.getMessage() for r in caplog.records) == 3
    # Each failure is followed by a pause before the next attempt (no spinning).
    assert len(calls) >= 4
    assert all(later - earlier >= network.EMFILE_PAUSE for earlier, later in zip(calls[:3], calls[1:4], strict=True))
    await task.cancel()
    lsock._socket = real_sock
    assert real_sock.fileno() == -1


async def test_unix_server_and_connection(tmp_path):
    path = str(tmp_path / "echo.sock")
    sock = network.unix_server_socket(path)
    task = await curionet.spawn(network.run_server, sock, echo_handler)
    c = await curionet.open_unix_connection(path)
    async with c:
        await c.sendall(b"unix")
        assert await c.recv(10) == b"unix"
    await task.cancel()
    path2 = str(tmp_path / "echo2.sock")
    task = await curionet.spawn(curionet.unix_server, path2, echo_handler)
    while not os.path.exists(path2):
        await curionet.sleep(0.001)
    c = await curionet.open_unix_connection(path2)
    async with c:
        await c.sendall(b"unix2")
        assert await c.recv(10) == b"unix2"
    await task.cancel()


async def test_open_connection_with_source_addr_and_bad_arguments():
    task, port = await start_server(echo_handler)
    c = await curionet.open_connection("127.0.0.1", port, source_addr=("127.0.0.1", 0))
    async with c:
        assert c.getsockname()[0] == "127.0.0.1"
        await c.sendall(b"s")
        assert await c.recv(1) == b"s"
    with pytest.raises(ValueError):
        await curionet.open_connection("127.0.0.1", port, server_hostname="x")
    await task.cancel()


async def test_reuse_port_lets_two_listeners_share_a_port():
    a = network.tcp_server_socket("127.0.0.1", 0, reuse_port=True)
    port = a.getsockname()[1]
    b = network.tcp_server_socket("127.0.0.1", port, reuse_port=True)
    await a.close()
    await b.close()
    with pytest.raises(OSError):
        c = network.tcp_server_socket("127.0.0.1", 0)
        try:
            network.tcp_server_socket("127.0.0.1", c.getsockname()[1])
        finally:
            await c.close()
