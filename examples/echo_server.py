"""An echo server on ``tcp_server``: one task per client, closed for you.

    python examples/echo_server.py [PORT]      (default 25000)

Try it with ``nc 127.0.0.1 25000``.  Ctrl-C stops it (every open client
connection is closed first).  For one server per core, see
``python -m curionet echo --workers N``.
"""

import sys

from curionet import run, tcp_server


async def echo_client(client, addr):
    print("Connection from", addr, flush=True)
    while True:
        data = await client.recv(100000)
        if not data:
            break
        await client.sendall(data)
    print("Connection closed", addr, flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 25000
    print(f"Server listening at 127.0.0.1:{port}", flush=True)
    try:
        run(tcp_server, "127.0.0.1", port, echo_client)
    except KeyboardInterrupt:
        pass
