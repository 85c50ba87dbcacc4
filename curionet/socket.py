"""Curio's ``socket`` module: the stdlib ``socket`` module with async sockets.

``from curionet.socket import *`` gives every name and constant of the
standard :mod:`socket` module, except that :func:`socket`,
:func:`socketpair`, :func:`fromfd` and :func:`create_connection` return
:class:`curionet.kernel.io.Socket` objects, and the name-service functions
(:func:`getaddrinfo`, :func:`getnameinfo`, :func:`gethostbyname` ...) are
coroutines that run the blocking lookup in a worker thread so the kernel
keeps running.
"""

from __future__ import annotations

import socket as _socket
from socket import *  # noqa: F403 - re-export every constant, as Curio does
from typing import Any

from .kernel.io import Socket
from .workers import run_in_thread

__all__ = list(_socket.__all__)

# The stdlib names we redefine below stay reachable as _socket.<name>.


def socket(  # type: ignore[no-redef]
    family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM, proto: int = 0, fileno: int | None = None
) -> Socket:
    """Create a non-blocking :class:`~curionet.kernel.io.Socket` (same
    arguments as :func:`socket.socket`)."""
    return Socket(_socket.socket(family, type, proto, fileno))


def socketpair(family: int = _socket.AF_UNIX, type: int = _socket.SOCK_STREAM, proto: int = 0) -> tuple[Socket, Socket]:  # type: ignore[no-redef]
    """A connected pair of :class:`~curionet.kernel.io.Socket` objects."""
    a, b = _socket.socketpair(family, type, proto)
    return Socket(a), Socket(b)


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> Socket:  # type: ignore[no-redef]
    """A :class:`~curionet.kernel.io.Socket` on a duplicate of the file descriptor *fd*."""
    return Socket(_socket.fromfd(fd, family, type, proto))


# -- blocking lookups in threads ------------------------------------------
def _discard(fut: Any) -> None:
    """A lookup whose caller was cancelled: its answer or error is of no use."""


async def _blocking(func: Any, *args: Any) -> Any:
    """Run ``func(*args)`` in the kernel's bounded worker-thread pool; the task
    waits without blocking the kernel.  If the task is cancelled, the lookup
    finishes in its thread (holding its pool slot until then) and its outcome
    is dropped."""
    return await run_in_thread(func, *args, call_on_cancel=_discard)


async def getaddrinfo(  # type: ignore[no-redef]
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    """:func:`socket.getaddrinfo` without blocking the kernel."""
    return await _blocking(_socket.getaddrinfo, host, port, family, type, proto, flags)  # type: ignore[no-any-return]


async def getfqdn(name: str = "") -> str:  # type: ignore[no-redef]
    """:func:`socket.getfqdn` without blocking the kernel."""
    return await _blocking(_socket.getfqdn, name)  # type: ignore[no-any-return]


async def gethostbyname(hostname: str) -> str:  # type: ignore[no-redef]
    """:func:`socket.gethostbyname` without blocking the kernel."""
    return await _blocking(_socket.gethostbyname, hostname)  # type: ignore[no-any-return]


async def gethostbyname_ex(hostname: str) -> tuple[str, list[str], list[str]]:  # type: ignore[no-redef]
    """:func:`socket.gethostbyname_ex` without blocking the kernel."""
    return await _blocking(_socket.gethostbyname_ex, hostname)  # type: ignore[no-any-return]


async def gethostname() -> str:  # type: ignore[no-redef]
    """:func:`socket.gethostname` (a coroutine, as in Curio)."""
    return await _blocking(_socket.gethostname)  # type: ignore[no-any-return]


async def gethostbyaddr(ip_address: str) -> tuple[str, list[str], list[str]]:  # type: ignore[no-redef]
    """:func:`socket.gethostbyaddr` without blocking the kernel."""
    return await _blocking(_socket.gethostbyaddr, ip_address)  # type: ignore[no-any-return]


async def getnameinfo(sockaddr: Any, flags: int) -> tuple[str, str]:  # type: ignore[no-redef]
    """:func:`socket.getnameinfo` without blocking the kernel."""
    return await _blocking(_socket.getnameinfo, sockaddr, flags)  # type: ignore[no-any-return]


async def create_connection(address: tuple[Any, Any], timeout: Any = None, source_address: Any = None) -> Socket:  # type: ignore[no-redef]
    """Connect to ``(host, port)`` and return the connected
    :class:`~curionet.kernel.io.Socket` (like :func:`socket.create_connection`).

    Every address the name resolves to is tried in order; if all fail, the
    last error is raised.  *timeout* is accepted for signature compatibility
    and ignored: use :func:`curionet.timeout_after`.  Nothing is leaked when
    a connection attempt fails or is cancelled."""
    host, port = address
    err: BaseException | None = None
    for family, type_, proto, _canon, sa in await _blocking(_socket.getaddrinfo, host, port, 0, _socket.SOCK_STREAM):
        sock = Socket(_socket.socket(family, type_, proto))
        try:
            if source_address:
                sock.bind(source_address)
            await sock.connect(sa)
        except OSError as e:
            err = e
            await sock.close()
            continue
        except BaseException:
            await sock.close()
            raise
        return sock
    if err is not None:
        raise err
    raise OSError(f"getaddrinfo returned no addresses for {host!r}")
