# ruff: noqa: F403, F405  (the seed program star-imports curio.socket; kept as is)
"""The seed echo server: Curio's low-level socket API, only the import changed.

    python examples/echo_server_low_level.py [PORT]      (default 25000)

Try it with ``nc 127.0.0.1 25000``.  Ctrl-C stops it.
"""

import sys

from curionet import run, spawn
from curionet.socket import *


async def echo_server(address):
    sock = socket(AF_INET, SOCK_STREAM)
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(5)
    print("Server listening at", sock.getsockname(), flush=True)
    async with sock:
        while True:
            client, addr = await sock.accept()
            await spawn(echo_client, client, addr, daemon=True)


async def echo_client(client, addr):
    print("Connection from", addr, flush=True)
    async with client:
        while True:
            data = await client.recv(100000)
            if not data:
                break
            await client.sendall(data)
    print("Connection closed", flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 25000
    try:
        run(echo_server, ("127.0.0.1", port))
    except KeyboardInterrupt:
        pass
