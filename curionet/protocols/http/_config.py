"""Configuration values: :class:`Timeout`, :class:`Limits` and TLS contexts.

Discussion: one default SSL context per process.  Building an
``SSLContext`` loads the system trust store, which costs milliseconds and
memory; a program that opens many sessions must not pay it each time.  The
verifying default (and the non-verifying one for ``verify=False``) are built
once, lazily, and shared; a CA bundle path or a client certificate needs a
context of its own, cached per argument tuple.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

__all__ = ["Timeout", "Limits", "create_ssl_context", "env_ca_bundle", "DEFAULT_TIMEOUT", "DEFAULT_LIMITS"]

_UNSET: Any = object()


class Timeout:
    """Per-phase timeouts, in seconds (``None`` disables one).

    ``Timeout(5.0)`` sets connect, read, write and pool to 5 s;
    ``Timeout(5.0, connect=1.0)`` overrides one phase; ``total`` limits the
    whole request (sending it and reading the body for non-streaming calls).
    Each phase raises its own exception: :class:`ConnectTimeout`,
    :class:`ReadTimeout`, :class:`WriteTimeout`, :class:`PoolTimeout`,
    :class:`TotalTimeout`.
    """

    __slots__ = ("connect", "read", "write", "pool", "total")

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None
    total: float | None

    def __init__(
        self,
        timeout: float | None | Timeout | tuple[Any, ...] = _UNSET,
        *,
        connect: float | None = _UNSET,
        read: float | None = _UNSET,
        write: float | None = _UNSET,
        pool: float | None = _UNSET,
        total: float | None = _UNSET,
    ) -> None:
        if isinstance(timeout, Timeout):
            base = (timeout.connect, timeout.read, timeout.write, timeout.pool, timeout.total)
        elif isinstance(timeout, tuple):
            base = tuple(timeout) + (None,) * (5 - len(timeout))  # type: ignore[assignment]
        elif timeout is _UNSET:
            base = (5.0, 5.0, 5.0, 5.0, None)
        else:
            base = (timeout, timeout, timeout, timeout, None)
        self.connect = base[0] if connect is _UNSET else connect
        self.read = base[1] if read is _UNSET else read
        self.write = base[2] if write is _UNSET else write
        self.pool = base[3] if pool is _UNSET else pool
        self.total = base[4] if total is _UNSET else total

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeout) and self.as_tuple() == other.as_tuple()

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def as_tuple(self) -> tuple[float | None, ...]:
        return (self.connect, self.read, self.write, self.pool, self.total)

    def __repr__(self) -> str:
        return (
            f"Timeout(connect={self.connect}, read={self.read}, write={self.write}, "
            f"pool={self.pool}, total={self.total})"
        )


class Limits:
    """Connection-pool limits.

    ``max_connections``: connections open at once, over all origins (``None``:
    unlimited).  ``max_keepalive_connections``: idle connections kept for
    reuse.  ``keepalive_expiry``: seconds an idle connection is kept.
    """

    __slots__ = ("max_connections", "max_keepalive_connections", "keepalive_expiry")

    def __init__(
        self,
        *,
        max_connections: int | None = 100,
        max_keepalive_connections: int | None = 20,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        self.max_connections = max_connections
        self.max_keepalive_connections = max_keepalive_connections
        self.keepalive_expiry = keepalive_expiry

    def __repr__(self) -> str:
        return (
            f"Limits(max_connections={self.max_connections}, "
            f"max_keepalive_connections={self.max_keepalive_connections}, "
            f"keepalive_expiry={self.keepalive_expiry})"
        )


DEFAULT_TIMEOUT = Timeout()
DEFAULT_LIMITS = Limits()


def _new_context(verify: bool, cafile: str | None, cert: Any) -> ssl.SSLContext:
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cafile is not None:
        if os.path.isdir(cafile):
            ctx = ssl.create_default_context(capath=cafile)
        else:
            ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])
    if cert is not None:
        if isinstance(cert, str):
            ctx.load_cert_chain(cert)
        else:
            ctx.load_cert_chain(*cert)
    return ctx


@functools.lru_cache(maxsize=32)
def _cached_context(verify: bool, cafile: str | None, cert: Any) -> ssl.SSLContext:
    return _new_context(verify, cafile, cert)


def env_ca_bundle() -> str | None:
    """``SSL_CERT_FILE`` if it names a file, else ``SSL_CERT_DIR`` if it
    names a directory, else ``None`` (httpx's rule: a variable that names
    nothing usable is ignored)."""
    path = os.environ.get("SSL_CERT_FILE")
    if path and os.path.isfile(path):
        return path
    path = os.environ.get("SSL_CERT_DIR")
    if path and os.path.isdir(path):
        return path
    return None


def create_ssl_context(verify: bool | str | os.PathLike[str] | ssl.SSLContext = True, cert: Any = None,
                       trust_env: bool = False) -> ssl.SSLContext:
    """The ``SSLContext`` for ``verify`` (``True``: the system store, ``False``:
    no verification, a path: a CA bundle file or directory, or an
    ``SSLContext`` used as is) and ``cert`` (a client certificate: a path to a
    PEM file, or ``(certfile, keyfile[, password])``).  With ``trust_env``
    and ``verify=True``, ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` (see
    :func:`env_ca_bundle`) replaces the system store.  Contexts are cached,
    so the default one is built once per process."""
    if isinstance(verify, ssl.SSLContext):
        if cert is not None:
            verify.load_cert_chain(*((cert,) if isinstance(cert, str) else cert))
        return verify
    cafile: str | None = None
    if not isinstance(verify, bool):
        cafile = os.fspath(verify)
        verify = True
    elif verify and trust_env:
        cafile = env_ca_bundle()
    if isinstance(cert, list):
        cert = tuple(cert)
    return _cached_context(bool(verify), cafile, cert)
