"""``python -m curionet ws-echo --port N``: a WebSocket echo server.

Every message received is sent back unchanged.  Prints the URL it listens on
(useful with ``--port 0``) and runs until interrupted.  It runs under
:func:`curionet.serve`: ``--workers N`` processes share the port.  SIGINT or
SIGTERM drains: no new connections, the open ones get ``--grace`` seconds to
finish, then those left are closed with 1001 (going away).
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from ..network import tcp_server
from ..protocols.websocket import WebSocket, websocket_handler
from ._serving import serve_on_port


async def _echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def _serve(host: str, port: int, compression: bool) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    await tcp_server(host, port, websocket_handler(_echo, compression=compression), family=family, reuse_port=True)


def _main(args: Any) -> int:
    def ready(port: int) -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"Listening on ws://{host}:{port}/", flush=True)
        print("Press Ctrl-C to stop.", file=sys.stderr, flush=True)

    return serve_on_port(args, _serve, (not args.no_compression,), ready)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "ws-echo", help="run a WebSocket echo server", description="Run a WebSocket server that echoes every message."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    parser.add_argument("--no-compression", action="store_true", help="refuse permessage-deflate")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds open connections get to finish on SIGTERM/SIGINT (default 10)")  # fmt: skip
    parser.set_defaults(func=_main)
