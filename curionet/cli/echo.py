"""``python -m curionet echo``: a TCP echo server, optionally TLS, optionally
one process per core.

The server runs under :func:`curionet.serve`: ``--workers N`` (default 1)
worker processes each run their own kernel and their own listening socket on
the same port (``SO_REUSEPORT``), the operating system spreads new
connections across them, and a worker that crashes is replaced.  ``--tls``
serves TLS with ``--certfile``/``--keyfile``, or with a throw-away
certificate made by ``trustme`` (when installed) whose CA is written to
``--ca-out`` so clients can trust it.  SIGINT or SIGTERM drains: no new
connections, the open ones get ``--grace`` seconds to finish, then every
process exits.
"""

from __future__ import annotations

import argparse
import socket
import ssl
from typing import Any

from ..kernel.io import Socket
from ..network import tcp_server
from ._serving import serve_on_port


async def echo_client(client: Socket, addr: Any) -> None:
    """Echo everything *client* sends until it closes."""
    recv = client.recv
    sendall = client.sendall
    while True:
        data = await recv(65536)
        if not data:
            break
        await sendall(data)


def _tls_context(args: Any) -> ssl.SSLContext | None:
    if not args.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if args.certfile:
        ctx.load_cert_chain(args.certfile, args.keyfile)
        return ctx
    try:
        import trustme
    except ImportError:
        raise SystemExit("--tls needs --certfile/--keyfile (or `pip install trustme` for a throw-away certificate)")
    ca = trustme.CA()
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(ctx)
    ca.cert_pem.write_to_path(args.ca_out)
    print(f"throw-away TLS certificate for localhost; CA written to {args.ca_out}", flush=True)
    return ctx


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def _serve(host: str, port: int, ctx: ssl.SSLContext | None, backlog: int) -> None:
    await tcp_server(host, port, echo_client, family=_family(host), backlog=backlog, ssl=ctx, reuse_port=True)


def _main(args: Any) -> int:
    ctx = _tls_context(args)
    workers = f" ({args.workers} workers)" if args.workers > 1 else ""

    def ready(port: int) -> None:
        print(f"echo server listening on {args.host}:{port}{workers}", flush=True)

    return serve_on_port(args, _serve, (ctx, args.backlog), ready)


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("echo", help="run a TCP echo server")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; '' for all)")
    parser.add_argument("--port", type=int, default=25000, help="port (default 25000; 0 picks a free one)")
    parser.add_argument("--tls", action="store_true", help="serve TLS")
    parser.add_argument("--certfile", help="TLS certificate chain (PEM)")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    parser.add_argument("--ca-out", default="echo-ca.pem", help="where to write the throw-away CA")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds open connections get to finish on SIGTERM/SIGINT (default 10)")  # fmt: skip
    parser.add_argument("--reuse-port", action="store_true", help="(always on: the workers share the port)")
    parser.add_argument("--backlog", type=int, default=1024)
    parser.set_defaults(func=_main)
