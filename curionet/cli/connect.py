"""``python -m curionet connect HOST PORT``: connect with Happy Eyeballs and
show why the connection took the path it took.

Prints one line per step of the RFC 8305 race (DNS answers, attempts,
failures, the winner, the losers closed) with its time since the start, then
the address connected to.  Exit status 0 on success, 1 if no connection
could be made.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from .. import run
from ..protocols.happy_eyeballs import TraceEvent, open_tcp_stream


async def _connect(args: Any) -> int:
    def show(event: TraceEvent) -> None:
        print(event, flush=True)

    family = socket.AF_INET if args.ipv4 else socket.AF_INET6 if args.ipv6 else socket.AF_UNSPEC
    try:
        sock = await open_tcp_stream(
            args.host,
            args.port,
            ssl=True if args.tls else None,
            happy_eyeballs_delay=args.delay,
            resolution_delay=args.resolution_delay,
            first_address_family_count=args.first_address_family_count,
            family=family,
            trace=show,
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        cause = exc.__cause__
        if isinstance(cause, ExceptionGroup):
            for sub in cause.exceptions:
                print(f"  - {sub}", file=sys.stderr)
        return 1
    async with sock:
        peer = sock.getpeername()
        tls = f" ({sock.version()})" if args.tls else ""
        print(f"connected to {peer[0]} port {peer[1]}{tls}")
    return 0


def _main(args: Any) -> int:
    return int(run(_connect, args))


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "connect",
        help="connect to HOST PORT with Happy Eyeballs and print the trace",
        description="Connect to HOST PORT with the RFC 8305 connector and print every step with its time.",
    )
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", type=float, default=0.25, help="Connection Attempt Delay in seconds (0.25)")
    parser.add_argument("--resolution-delay", type=float, default=0.05, help="Resolution Delay in seconds (0.05)")
    parser.add_argument("--first-address-family-count", type=int, default=1, metavar="N", help="(1)")
    parser.add_argument("--tls", action="store_true", help="wrap the connection in TLS (default context)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-4", dest="ipv4", action="store_true", help="IPv4 only")
    group.add_argument("-6", dest="ipv6", action="store_true", help="IPv6 only")
    parser.set_defaults(func=_main)
