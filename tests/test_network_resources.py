"""Resource test: thousands of concurrent clients, nothing lost, nothing left open."""

from __future__ import annotations

import gc
import os
import resource

import curionet
from curionet import network, socket

CLIENTS = 2000
MESSAGES = 100


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def echo_client(client, addr):
    async with client:
        while True:
            data = await client.recv(100000)
            if not data:
                break
            await client.sendall(data)


def test_2000_concurrent_clients_exchange_100_messages_and_nothing_stays_open():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * CLIENTS + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need, "not enough file descriptors for the test"

    # Earlier tests' garbage may still hold descriptors: collect it now so
    # that it cannot close them in the middle of this count.
    gc.collect()
    before = _open_fds()
    results: dict[int, bytes] = {}

    async def client(n: int, port: int, connected: curionet.Event, counter: list[int]) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        async with sock:
            await sock.connect(("127.0.0.1", port))
            counter[0] += 1
            if counter[0] == CLIENTS:
                await connected.set()
            await connected.wait()  # every client is connected at once
            received = []
            for i in range(MESSAGES):
                msg = b"%d:%d;" % (n, i)
                await sock.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    chunk = await sock.recv(100)
                    assert chunk, "server closed early"
                    got += chunk
                received.append(got)
            results[n] = b"".join(received)

    async def main() -> int:
        lsock = network.tcp_server_socket("127.0.0.1", 0, backlog=CLIENTS)
        port = lsock.getsockname()[1]
        server = await curionet.spawn(network.run_server, lsock, echo_client)
        connected = curionet.Event()
        counter = [0]
        async with curionet.TaskGroup() as g:
            for n in range(CLIENTS):
                await g.spawn(client, n, port, connected, counter)
        await server.cancel()
        return port

    curionet.run(main)
    assert len(results) == CLIENTS
    for n, data in results.items():
        assert data == b"".join(b"%d:%d;" % (n, i) for i in range(MESSAGES))
    after = _open_fds()
    assert after == before, f"descriptors left open: {sorted(after - before)}"
