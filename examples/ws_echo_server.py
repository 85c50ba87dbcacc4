"""A WebSocket echo server.

    python examples/ws_echo_server.py [PORT]

Try it with ``python -m curionet ws ws://127.0.0.1:8765/`` or
``python examples/ws_stdin_client.py ws://127.0.0.1:8765/``.
"""

import sys

import curionet


async def echo(ws):
    print(f"{ws.remote_address} connected to {ws.path}")
    async for message in ws:
        await ws.send(message)
    print(f"{ws.remote_address} left ({ws.close_code})")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    print(f"echo server on ws://127.0.0.1:{port}/")
    try:
        curionet.run(curionet.websocket_server, "127.0.0.1", port, echo)
    except KeyboardInterrupt:  # Ctrl-C: open connections were closed with 1001
        pass
