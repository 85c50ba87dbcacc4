"""``python -m curionet connect HOST PORT``: connect with Happy Eyeballs and
show why the connection took the path it took.

Prints one line per step of the RFC 8305 race (DNS answers, attempts,
failures, the winner, the losers closed) with its time since the start, then
the address connected to.  With ``--tls`` (implied by ``--cafile`` and
``-k``) the TLS handshake follows, shown as two more steps.  Exit status 0
on success, 1 if no connection (or TLS session) could be made within
``--timeout`` seconds, 2 for bad input.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
from typing import Any

from .. import TaskTimeout, clock, run, timeout_after
from ..protocols.happy_eyeballs import TraceEvent, open_tcp_stream
from ..ssl import CurioSSLContext
from ._usage import UsageError


def _tls_context(args: Any) -> ssl.SSLContext | None:
    if not (args.tls or args.cafile or args.insecure):
        return None
    ctx = ssl.create_default_context(cafile=args.cafile)
    if args.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _connect(args: Any, context: ssl.SSLContext | None) -> int:
    start = await clock()

    def show(event: TraceEvent) -> None:
        print(event, flush=True)

    async def step(kind: str, address: Any, detail: str = "") -> None:
        now = await clock()
        show(TraceEvent(kind, now, now - start, address=address, detail=detail))

    family = socket.AF_INET if args.ipv4 else socket.AF_INET6 if args.ipv6 else socket.AF_UNSPEC
    try:
        async with timeout_after(args.timeout):
            sock = await open_tcp_stream(
                args.host,
                args.port,
                happy_eyeballs_delay=args.delay,
                resolution_delay=args.resolution_delay,
                first_address_family_count=args.first_address_family_count,
                family=family,
                trace=show,
            )
            if context is not None:
                peer = sock.getpeername()
                await step("tls-handshake", peer, f"server_hostname={args.host}")
                try:
                    # wrap_socket closes the socket if the handshake fails.
                    sock = await CurioSSLContext(context).wrap_socket(sock, server_hostname=args.host)
                except ssl.SSLError as exc:
                    await step("tls-failed", peer, str(exc.reason or exc))
                    print(f"error: TLS handshake with {args.host}:{args.port} failed: {exc}", file=sys.stderr)
                    return 1
                except BaseException:
                    await step("tls-failed", peer)
                    raise
                await step("tls-done", peer, f"{sock.version()} {sock.cipher()[0]}")
    except TaskTimeout:
        print(f"error: connecting to {args.host}:{args.port} timed out after {args.timeout} s", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        cause = exc.__cause__
        if isinstance(cause, ExceptionGroup):
            for sub in cause.exceptions:
                print(f"  - {sub}", file=sys.stderr)
        return 1
    async with sock:
        peer = sock.getpeername()
        tls = f" ({sock.version()})" if context is not None else ""
        print(f"connected to {peer[0]} port {peer[1]}{tls}")
    return 0


def _main(args: Any) -> int:
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout}")
    return int(run(_connect, args, _tls_context(args)))


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
    parser.add_argument("--tls", action="store_true", help="then run a TLS handshake (system CA store)")
    parser.add_argument("--cafile", help="trust the CA certificates in this PEM file (implies --tls)")
    parser.add_argument("-k", "--insecure", action="store_true",
                        help="TLS without checking the certificate (implies --tls)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=10, help="give up after this many seconds (10)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-4", dest="ipv4", action="store_true", help="IPv4 only")
    group.add_argument("-6", dest="ipv6", action="store_true", help="IPv6 only")
    parser.set_defaults(func=_main)
