"""``python -m curionet echo``: a TCP echo server, optionally TLS, optionally
one process per core.

``--workers N`` starts N worker processes that each run their own kernel and
their own listening socket on the same port (``SO_REUSEPORT``); the operating
system spreads new connections across them.  ``--tls`` serves TLS with
``--certfile``/``--keyfile``, or with a throw-away certificate made by
``trustme`` (when installed) whose CA is written to ``--ca-out`` so clients can
trust it.  SIGINT or SIGTERM stops the server (and every worker) cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
from typing import Any

from .. import run
from ..kernel.io import Socket
from ..network import run_server, tcp_server_socket


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


def _serve(args: Any, ctx: ssl.SSLContext | None, reuse_port: bool, ready_fd: int | None = None) -> int:
    sock = tcp_server_socket(args.host, args.port, family=_family(args.host), backlog=args.backlog,
                             reuse_port=reuse_port)  # fmt: skip
    if ready_fd is None:
        print(f"echo server listening on {args.host}:{sock.getsockname()[1]}", flush=True)
    else:
        # A worker: tell the parent this socket is listening, so it announces
        # the port only once every worker can take connections.
        os.write(ready_fd, b"!")
        os.close(ready_fd)

    # run() turns SIGINT/SIGTERM into a cancellation of the server task, which
    # closes the listening socket and every client before returning.
    try:
        run(run_server, sock, echo_client, ctx)
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


def _main(args: Any) -> int:
    ctx = _tls_context(args)
    if args.workers <= 1:
        return _serve(args, ctx, reuse_port=args.reuse_port)
    # Pick the port once (a bound, non-listening SO_REUSEPORT socket receives
    # no connections), then fork the workers that share it.
    holder = socket.socket(_family(args.host), socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((args.host, args.port))
    args.port = holder.getsockname()[1]
    ready_r, ready_w = os.pipe()
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            holder.close()
            os.close(ready_r)
            code = 1
            try:
                code = _serve(args, ctx, reuse_port=True, ready_fd=ready_w)
            finally:
                os._exit(code)
        children.append(pid)
    holder.close()
    os.close(ready_w)
    # Wait until every worker listens (or has died: then the pipe reaches EOF early).
    ready = 0
    while ready < args.workers:
        got = os.read(ready_r, args.workers - ready)
        if not got:
            break
        ready += len(got)
    os.close(ready_r)
    print(f"echo server listening on {args.host}:{args.port} ({args.workers} workers)", flush=True)

    def _forward(signo: int, frame: Any) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    status = 0
    for pid in children:
        while True:
            try:
                _, st = os.waitpid(pid, 0)
                break
            except InterruptedError:  # pragma: no cover
                continue
        status = status or os.waitstatus_to_exitcode(st)
    return 0 if status in (0, -signal.SIGTERM) else 1


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("echo", help="run a TCP echo server")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; '' for all)")
    parser.add_argument("--port", type=int, default=25000, help="port (default 25000; 0 picks a free one)")
    parser.add_argument("--tls", action="store_true", help="serve TLS")
    parser.add_argument("--certfile", help="TLS certificate chain (PEM)")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    parser.add_argument("--ca-out", default="echo-ca.pem", help="where to write the throw-away CA")
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--reuse-port", action="store_true", help="set SO_REUSEPORT with a single worker too")
    parser.add_argument("--backlog", type=int, default=1024)
    parser.set_defaults(func=_main)
