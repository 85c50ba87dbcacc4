"""``python -m curionet monitor``: connect to a running program's task monitor
(started by ``run(main, with_monitor=True)``)."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from ..monitor import MONITOR_HOST, MONITOR_PORT, PROMPT


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("monitor", help="connect to the task monitor of a running curionet program")
    p.add_argument("-H", "--host", default=MONITOR_HOST, help=f"monitor host (default {MONITOR_HOST})")
    p.add_argument("-p", "--port", type=int, default=MONITOR_PORT, help=f"monitor port (default {MONITOR_PORT})")
    p.add_argument("-c", "--command", action="append", default=[],
                   help="run this command and exit (repeatable), e.g. -c ps")  # fmt: skip
    p.set_defaults(func=_main)


def _read_reply(f: Any) -> str | None:
    """Read until the prompt (or EOF: ``None``)."""
    buf = b""
    end = PROMPT.encode()
    while not buf.endswith(end):
        chunk = f.recv(65536)
        if not chunk:
            return buf.decode("utf-8", "replace") if buf else None
        buf += chunk
    return buf[: -len(end)].decode("utf-8", "replace")


def _main(args: argparse.Namespace) -> int:
    try:
        sock = socket.create_connection((args.host, args.port), timeout=10)
    except OSError as e:
        print(f"cannot connect to the monitor at {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    with sock:
        banner = _read_reply(sock)
        if args.command:
            for cmd in args.command:
                sock.sendall(cmd.encode() + b"\n")
                reply = _read_reply(sock)
                if reply is None:
                    return 1
                sys.stdout.write(reply)
            return 0
        sys.stdout.write(banner or "")
        sock.settimeout(None)
        while True:
            try:
                line = input(PROMPT)
            except EOFError:
                return 0
            sock.sendall(line.encode() + b"\n")
            reply = _read_reply(sock)
            if reply is None:
                return 0
            sys.stdout.write(reply)
            if reply.endswith("bye\n"):  # the server ended the session
                return 0
