"""Curio's ``ssl`` module: TLS for curionet sockets.

``from curionet import ssl`` gives every name of the standard :mod:`ssl`
module, plus async replacements: :class:`CurioSSLContext` (a stdlib context
whose :meth:`~CurioSSLContext.wrap_socket` is a coroutine returning a
:class:`curionet.kernel.io.Socket`), :class:`SSLContext` (one built from the
stdlib's arguments), :func:`create_default_context`, :func:`wrap_socket` and
:func:`get_server_certificate`.

The handshake is non-blocking: ``SSLWantRead``/``SSLWantWrite`` are handled
inside the socket, which waits for the right readiness and retries.
Certificate errors come out as the stdlib's own exceptions
(``ssl.SSLCertVerificationError`` ...), and the socket is closed when a
handshake started by :func:`wrap_socket` fails.

Differences from Curio 1.6 (deliberate):

* The module-level :func:`wrap_socket` verifies the server certificate by
  default for client sockets (the stdlib's removed ``ssl.wrap_socket`` did
  not); pass ``cert_reqs=ssl.CERT_NONE`` to opt out.
* Everywhere an ``ssl`` context is accepted (``open_connection``,
  ``tcp_server`` ...), a plain :class:`ssl.SSLContext` works as well as a
  :class:`curionet.ssl.SSLContext`.
"""

from __future__ import annotations

import ssl as _ssl
from ssl import *  # noqa: F403 - re-export the stdlib names, as Curio does
from typing import Any

from .errors import TaskTimeout
from .kernel.io import Socket
from .kernel.time import timeout_after

__all__ = [n for n in dir(_ssl) if not n.startswith("_") and n not in ("socket", "os", "sys", "warnings")] + [
    "SSLContext",
    "CurioSSLContext",
    "create_default_context",
    "wrap_socket",
    "get_server_certificate",
]


def _stdlib_context(context: Any) -> _ssl.SSLContext:
    """The stdlib context behind *context* (ours or the stdlib's)."""
    if isinstance(context, CurioSSLContext):
        return context._context
    if isinstance(context, _ssl.SSLContext):
        return context
    raise TypeError(f"expected an ssl.SSLContext or curionet.ssl.SSLContext, got {type(context).__name__}")


async def _wrap(context: _ssl.SSLContext, sock: Any, *, server_side: bool = False,
                do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                server_hostname: str | None = None, session: Any = None) -> Socket:  # fmt: skip
    if isinstance(sock, Socket):
        raw = sock._socket
        # The stdlib detaches the descriptor into the new SSLSocket: the old
        # wrapper must not release or close it any more.
        sock._fileno = -1
    else:
        raw = sock
    try:
        sslsock = context.wrap_socket(
            raw,
            server_side=server_side,
            do_handshake_on_connect=False,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            session=session,
        )
    except BaseException:
        raw.close()
        raise
    wrapped = Socket(sslsock)
    if do_handshake_on_connect:
        try:
            connected = sslsock.getpeername() is not None
        except OSError:
            connected = False
        if connected:
            try:
                await wrapped.do_handshake()
            except BaseException:
                await wrapped.close()
                raise
    return wrapped


class CurioSSLContext:
    """A stdlib :class:`ssl.SSLContext` whose :meth:`wrap_socket` is a
    coroutine returning a curionet :class:`~curionet.kernel.io.Socket`
    (Curio's name): ``CurioSSLContext(ssl.create_default_context())``.

    Every other attribute (``load_cert_chain``, ``verify_mode``,
    ``set_alpn_protocols`` ...) is the stdlib context's.  :class:`SSLContext`
    builds one from the stdlib's constructor arguments."""

    def __init__(self, context: _ssl.SSLContext) -> None:
        if not isinstance(context, _ssl.SSLContext):
            raise TypeError(f"expected an ssl.SSLContext, got {type(context).__name__}")
        self._context = context

    @classmethod
    def wrap(cls, context: _ssl.SSLContext) -> CurioSSLContext:
        """A curionet context sharing the stdlib *context*."""
        return CurioSSLContext(context)

    def __getattr__(self, name: str) -> Any:
        if name == "_context":
            raise AttributeError(name)
        return getattr(self._context, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_context":
            object.__setattr__(self, name, value)
        else:
            setattr(self._context, name, value)

    def __repr__(self) -> str:
        return f"<curionet.ssl.{type(self).__name__} {self._context!r}>"

    async def wrap_socket(self, sock: Any, server_side: bool = False, do_handshake_on_connect: bool = True,
                          suppress_ragged_eofs: bool = True, server_hostname: str | None = None,
                          session: Any = None) -> Socket:  # fmt: skip
        """Wrap *sock* (a curionet or stdlib socket) for TLS.

        With ``do_handshake_on_connect`` (the default) a connected socket is
        handshaken before this returns; on failure it is closed and the
        ``ssl`` error raised."""
        return await _wrap(self._context, sock, server_side=server_side,
                           do_handshake_on_connect=do_handshake_on_connect,
                           suppress_ragged_eofs=suppress_ragged_eofs,
                           server_hostname=server_hostname, session=session)  # fmt: skip


class SSLContext(CurioSSLContext):  # type: ignore[no-redef]
    """A :class:`CurioSSLContext` around a new stdlib context built from the
    arguments of :class:`ssl.SSLContext` (default: a client context)."""

    def __init__(self, protocol: int = _ssl.PROTOCOL_TLS_CLIENT, *args: Any, **kwargs: Any) -> None:
        super().__init__(_ssl.SSLContext(protocol, *args, **kwargs))


def create_default_context(  # type: ignore[no-redef]
    purpose: Any = _ssl.Purpose.SERVER_AUTH, *, cafile: str | None = None, capath: str | None = None,
    cadata: Any = None,
) -> CurioSSLContext:
    """Like :func:`ssl.create_default_context`, returning a :class:`CurioSSLContext`."""
    return CurioSSLContext(_ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata))


async def wrap_socket(  # type: ignore[no-redef]
    sock: Any, keyfile: str | None = None, certfile: str | None = None, server_side: bool = False,
    cert_reqs: Any = None, ssl_version: Any = None, ca_certs: str | None = None,
    do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
    ciphers: str | None = None, server_hostname: str | None = None,
) -> Socket:
    """Wrap *sock* for TLS (the old ``ssl.wrap_socket`` signature).

    Client sockets verify the server's certificate by default (against
    *ca_certs*, or the system store) and check *server_hostname* when it is
    given; ``cert_reqs=ssl.CERT_NONE`` turns verification off."""
    if server_side:
        ctx = _ssl.SSLContext(ssl_version if ssl_version is not None else _ssl.PROTOCOL_TLS_SERVER)
        if cert_reqs is not None:
            ctx.verify_mode = cert_reqs
    else:
        ctx = _ssl.SSLContext(ssl_version if ssl_version is not None else _ssl.PROTOCOL_TLS_CLIENT)
        if cert_reqs is None:
            cert_reqs = _ssl.CERT_REQUIRED
        ctx.check_hostname = cert_reqs != _ssl.CERT_NONE and server_hostname is not None
        ctx.verify_mode = cert_reqs
    if ca_certs:
        ctx.load_verify_locations(ca_certs)
    elif not server_side and cert_reqs != _ssl.CERT_NONE:
        ctx.load_default_certs()
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    if ciphers:
        ctx.set_ciphers(ciphers)
    return await _wrap(ctx, sock, server_side=server_side, do_handshake_on_connect=do_handshake_on_connect,
                       suppress_ragged_eofs=suppress_ragged_eofs, server_hostname=server_hostname)  # fmt: skip


async def get_server_certificate(  # type: ignore[no-redef]
    addr: tuple[str, int], ssl_version: Any = None, ca_certs: str | None = None, timeout: float | None = None
) -> str:
    """The PEM certificate of the TLS server at *addr* (not verified unless
    *ca_certs* is given).

    With *timeout* (seconds, on the kernel's clock), connecting and the
    handshake together may take that long, then ``TimeoutError`` is raised,
    as the standard library's function does."""
    from .socket import create_connection as _create_connection

    ctx = _ssl.SSLContext(ssl_version if ssl_version is not None else _ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca_certs:
        ctx.load_verify_locations(ca_certs)
        ctx.verify_mode = _ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = _ssl.CERT_NONE

    async def fetch() -> Any:
        sock = await _create_connection(addr)  # type: ignore[misc]
        async with await _wrap(ctx, sock, server_hostname=addr[0]) as tls:
            return tls.getpeercert(True)

    if timeout is None:
        der = await fetch()
    else:
        try:
            async with timeout_after(timeout):
                der = await fetch()
        except TaskTimeout as e:
            raise TimeoutError(f"no certificate from {addr[0]}:{addr[1]} within {timeout} s") from e
    return _ssl.DER_cert_to_PEM_cert(der)
