"""Reaching an origin through an HTTP proxy.

An ``http://`` request goes to the proxy over a plain connection, with the
full URL as its target (the connection's ``absolute_form``).  An ``https://``
request goes through a ``CONNECT`` tunnel: once the proxy answers 2xx it
relays bytes both ways, so TLS runs end to end inside the tunnel and the
proxy sees only ciphertext.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from ._auth import basic_auth_header
from ._config import create_ssl_context
from ._errors import ProxyError, _error
from ._streams import TLSStream
from ._url import URL

__all__ = ["open_via_proxy", "connect_tunnel"]

_READ_SIZE = 65536


async def open_via_proxy(
    connector: Callable[..., Awaitable[Any]],
    proxy: URL,
    scheme: str,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
) -> Any:
    """A stream to ``scheme://host:port`` through *proxy*, opened with
    *connector*: the connection to the proxy itself for ``http``, TLS with
    *ssl_context* inside a ``CONNECT`` tunnel for ``https``.  The proxy
    connection is closed if the tunnel or its handshake fails."""
    proxy_ctx = create_ssl_context() if proxy.scheme == "https" else None
    stream = await connector(proxy.host, proxy.port, ssl_context=proxy_ctx, server_hostname=proxy.host)
    if scheme == "http":
        return stream
    try:
        await connect_tunnel(stream, host, port, proxy)
        tls = TLSStream(stream, ssl_context, host)  # type: ignore[arg-type]  # https always has a context
        await tls.do_handshake()
        return tls
    except BaseException:
        await stream.aclose()
        raise


async def connect_tunnel(stream: Any, host: str, port: int, proxy: URL) -> None:
    """Ask the proxy at the other end of *stream* for a tunnel to
    *host*:*port* (with *proxy*'s credentials, if it has any).  Returns once
    the proxy answered 2xx; :class:`ProxyError` for any other answer, a
    malformed one, or a proxy that closes first."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = [(b"Host", target.encode("ascii"))]
    if proxy.username is not None:
        headers.append((b"Proxy-Authorization", basic_auth_header(proxy.username, proxy.password or "")))
    conn = h11.Connection(h11.CLIENT)
    await stream.send_all(conn.send(h11.Request(method=b"CONNECT", target=target.encode("ascii"), headers=headers)))
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise _error(ProxyError, f"invalid response from the proxy to CONNECT {target}", None, exc) from exc
        if event is h11.NEED_DATA:
            data = await stream.receive_some(_READ_SIZE)
            if not data:
                raise ProxyError(f"the proxy closed the connection during CONNECT {target}")
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            if not 200 <= event.status_code < 300:
                raise ProxyError(f"the proxy answered {event.status_code} to CONNECT {target}")
            return
        elif not isinstance(event, h11.InformationalResponse):  # pragma: no cover - h11 sends nothing else
            raise ProxyError(f"unexpected {type(event).__name__} from the proxy")
