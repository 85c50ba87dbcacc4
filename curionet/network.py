"""High-level networking: connections and servers (Curio's ``curio.network``).

* :func:`open_connection` / :func:`open_unix_connection` make a connected
  (optionally TLS) :class:`~curionet.kernel.io.Socket`.
* :func:`tcp_server` / :func:`unix_server` run a server that spawns one task
  per client, calling ``client_connected_task(client, addr)``;
  :func:`tcp_server_socket` / :func:`unix_server_socket` make the listening
  socket and :func:`run_server` serves on a socket you configured yourself.

Discussion: servers that stay up.  Each client runs in its own task, which
closes the client socket when the handler returns or fails.  A handler that
raises is logged (a connection reset by the peer only at debug level: it is
an ordinary event) and the server keeps accepting.  Running out of file
descriptors (``EMFILE``/``ENFILE``) on ``accept`` pauses accepting for a
moment instead of spinning or dying.  Cancelling the server task closes the
listening socket, cancels every client task it spawned and waits for them,
so nothing is left open.  A TLS handshake runs in the client's task, so a
plain-text or misbehaving client fails alone.
"""

from __future__ import annotations

import errno
import logging
import socket as _stdsocket
import ssl as _ssl
from collections.abc import Callable
from typing import Any

from .errors import CancelledError
from .kernel.io import Socket
from .kernel.lowlevel import get_current, get_kernel
from .kernel.task import Task, spawn
from .kernel.time import sleep
from .ssl import _stdlib_context, _wrap

__all__ = [
    "open_connection",
    "open_unix_connection",
    "tcp_server",
    "tcp_server_socket",
    "unix_server",
    "unix_server_socket",
    "run_server",
]

log = logging.getLogger("curionet")

#: How long the accept loop pauses when the process is out of descriptors.
EMFILE_PAUSE = 0.1

_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_ACCEPT_TRANSIENT = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR}


def _client_context(ssl: Any, alpn_protocols: Any) -> _ssl.SSLContext:
    if ssl is True:
        ctx = _ssl.create_default_context()
    else:
        ctx = _stdlib_context(ssl)
    if alpn_protocols:
        ctx.set_alpn_protocols(alpn_protocols)
    return ctx




async def open_connection(host: str, port: int, *, ssl: Any = None, source_addr: Any = None,
                          server_hostname: str | None = None, alpn_protocols: Any = None) -> Socket:  # fmt: skip
    """Connect to *host*:*port* and return the connected
    :class:`~curionet.kernel.io.Socket`.

    *ssl* is ``True`` (a default, verifying client context) or an
    ``SSLContext`` (curionet's or the stdlib's); the TLS handshake is done
    before this returns.  *server_hostname* defaults to *host* (Curio
    required it whenever the context checks host names).  *source_addr* is
    a ``(host, port)`` to bind the local end to.  *alpn_protocols* sets the
    ALPN protocols offered.  On any failure nothing is left open.
    """
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    ctx = _client_context(ssl, alpn_protocols) if ssl else None  # bad arguments fail before connecting
    sock = await _open_tcp(host, port, source_addr)
    if ctx is not None:
        # _wrap closes the socket if the handshake fails or is cancelled.
        sock = await _wrap(ctx, sock, server_hostname=server_hostname or host)
    return sock


async def _open_tcp(host: str, port: int, source_addr: Any) -> Socket:
    # Every TCP client connection goes through the RFC 8305 connector (also
    # with a source address), so dual-stack names connect quickly.
    from .protocols.happy_eyeballs import open_tcp_stream

    return await open_tcp_stream(host, port, local_address=source_addr)  # type: ignore[no-any-return]


async def open_unix_connection(path: str, *, ssl: Any = None, server_hostname: str | None = None,
                               alpn_protocols: Any = None) -> Socket:  # fmt: skip
    """Connect to the Unix-domain socket at *path* (optionally with TLS)."""
    ctx = _client_context(ssl, alpn_protocols) if ssl else None
    sock = Socket(_stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM))
    try:
        await sock.connect(path)
    except BaseException:
        await sock.close()
        raise
    if ctx is not None:
        sock = await _wrap(ctx, sock, server_hostname=server_hostname)
    return sock


def tcp_server_socket(host: str, port: int, family: int = _stdsocket.AF_INET, backlog: int = 100,
                      reuse_address: bool = True, reuse_port: bool = False) -> Socket:  # fmt: skip
    """A listening TCP :class:`~curionet.kernel.io.Socket` bound to
    *host*:*port* (``port=0`` picks a free port: read it with
    ``sock.getsockname()``)."""
    raw = _stdsocket.socket(family, _stdsocket.SOCK_STREAM)
    try:
        if reuse_address:
            raw.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
        if reuse_port:
            raw.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEPORT, 1)
        raw.bind((host, port))
        raw.listen(backlog)
        return Socket(raw)
    except BaseException:
        raw.close()
        raise


def unix_server_socket(path: str, backlog: int = 100) -> Socket:
    """A listening Unix-domain :class:`~curionet.kernel.io.Socket` at *path*."""
    raw = _stdsocket.socket(_stdsocket.AF_UNIX, _stdsocket.SOCK_STREAM)
    try:
        raw.bind(path)
        raw.listen(backlog)
        return Socket(raw)
    except BaseException:
        raw.close()
        raise


async def _serve_client(client: Socket, addr: Any, handler: Any, ctx: _ssl.SSLContext | None,
                        clients: set[Task]) -> None:  # fmt: skip
    try:
        if ctx is not None:
            try:
                client = await _wrap(ctx, client, server_side=True, do_handshake_on_connect=False)
                await client.do_handshake()
            except (OSError, EOFError) as e:  # ssl.SSLError is an OSError
                log.info("TLS handshake with %r failed: %s", addr, e)
                return
        await handler(client, addr)
    except CancelledError:
        raise
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as e:
        log.debug("client %r: %s", addr, e)
    except Exception:
        log.exception("Unexpected error in client handler %r for %r", handler, addr)
    finally:
        await client.close()
        clients.discard(await get_current())


class _Serving:
    """One :func:`run_server` in progress, as :func:`_stop_accepting` sees it."""

    __slots__ = ("sock", "kernel", "task", "draining")

    def __init__(self, sock: Socket, kernel: Any, task: Task) -> None:
        self.sock = sock
        self.kernel = kernel
        self.task = task
        self.draining = False


# Every run_server() running in this process, and a hook called with the
# listening socket when one starts accepting: curionet.supervisor uses both
# to report a worker ready and to drain it (stop accepting, let the open
# connections finish).
_serving: set[_Serving] = set()
_on_listen: Callable[[Socket], None] | None = None


async def _stop_accepting() -> list[Task]:
    """Close the listening socket of every :func:`run_server` running on
    this kernel; each then waits for its open connections to end and
    returns.  Returns their server tasks."""
    kernel = await get_kernel()
    tasks = []
    for serving in [s for s in _serving if s.kernel is kernel and not s.draining]:
        serving.draining = True
        tasks.append(serving.task)
        await serving.sock.close()  # the accept() blocked on it raises ClosedResourceError
    return tasks


async def run_server(sock: Socket, client_connected_task: Any, ssl: Any = None) -> None:
    """Serve on the listening socket *sock*: accept connections and run
    ``client_connected_task(client, addr)`` for each in its own task.

    *ssl* is an ``SSLContext`` (curionet's or the stdlib's) for a TLS
    server.  Runs until cancelled; then the listening socket and every
    client connection are closed before it returns.  In a worker of
    :func:`curionet.serve` that is shutting down, it stops accepting, waits
    for its connections to end, and returns."""
    if not isinstance(sock, Socket):
        sock = Socket(sock)
    ctx = _stdlib_context(ssl) if ssl else None
    clients: set[Task] = set()
    serving = _Serving(sock, await get_kernel(), await get_current())
    _serving.add(serving)
    try:
        if _on_listen is not None:
            _on_listen(sock)
        while not serving.draining:
            try:
                client, addr = await sock.accept()
            except OSError as e:
                if serving.draining:
                    break
                if e.errno in _OUT_OF_RESOURCES:
                    log.warning("accept() failed (%s); pausing %.2f s", e, EMFILE_PAUSE)
                    await sleep(EMFILE_PAUSE)
                    continue
                if e.errno in _ACCEPT_TRANSIENT:
                    continue
                raise
            try:
                task = await spawn(_serve_client, client, addr, client_connected_task, ctx, clients, daemon=True)
            except BaseException:
                await client.close()
                raise
            clients.add(task)
        # Draining: no new connections; the open ones end on their own (or
        # the server is cancelled, below).
        while clients:
            first = next(iter(clients))
            await first.wait()
            clients.discard(first)
    finally:
        _serving.discard(serving)
        await sock.close()
        while clients:
            pending = list(clients)
            for task in pending:
                await task.cancel(blocking=False)
            for task in pending:
                await task.wait()
                clients.discard(task)


async def tcp_server(host: str, port: int, client_connected_task: Any, *, family: int = _stdsocket.AF_INET,
                     backlog: int = 100, ssl: Any = None, reuse_address: bool = True,
                     reuse_port: bool = False) -> None:  # fmt: skip
    """Run a TCP server on *host*:*port*, calling
    ``client_connected_task(client, addr)`` for each connection (see
    :func:`run_server`).  ``reuse_port=True`` lets several processes share
    the port (one server per core)."""
    sock = tcp_server_socket(host, port, family, backlog, reuse_address, reuse_port)
    await run_server(sock, client_connected_task, ssl)


async def unix_server(path: str, client_connected_task: Any, *, backlog: int = 100, ssl: Any = None) -> None:
    """Run a Unix-domain server at *path* (see :func:`run_server`)."""
    sock = unix_server_socket(path, backlog)
    await run_server(sock, client_connected_task, ssl)
