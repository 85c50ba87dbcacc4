"""``python -m curionet ws-echo --port N``: a WebSocket echo server.

Every message received is sent back unchanged.  Prints the URL it listens on
(useful with ``--port 0``) and runs until interrupted; open connections are
then closed with 1001 (going away).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import run
from ..protocols.websocket import WebSocket, WebSocketServer


async def _echo(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def _serve(args: Any) -> int:
    async with WebSocketServer(args.host, args.port, _echo, compression=not args.no_compression) as server:
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"Listening on ws://{host}:{server.port}/", flush=True)
        print("Press Ctrl-C to stop.", file=sys.stderr, flush=True)
        await server.serve_forever()
    return 0


def _main(args: Any) -> int:
    return int(run(_serve, args))


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "ws-echo", help="run a WebSocket echo server", description="Run a WebSocket server that echoes every message."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    parser.add_argument("--no-compression", action="store_true", help="refuse permessage-deflate")
    parser.set_defaults(func=_main)
