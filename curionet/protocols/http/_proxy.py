"""Reaching an origin through an HTTP proxy, and choosing the proxy.

An ``http://`` request goes to the proxy over a plain connection, with the
full URL as its target (the connection's ``absolute_form``) and the proxy's
credentials in ``Proxy-Authorization``.  An ``https://`` request goes
through a ``CONNECT`` tunnel: once the proxy answers 2xx it relays bytes both
ways, so TLS runs end to end inside the tunnel and the proxy sees only
ciphertext.

Which proxy a URL takes, from the environment, is :func:`select_proxy`: a
pure function of an environment mapping and the URL.  A session parses the
environment once (:class:`EnvProxies`) and asks it per origin.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import h11

from ...kernel.stream import TLSStream
from ._auth import basic_auth_header
from ._config import create_ssl_context
from ._errors import ProxyError, _error
from ._url import URL

__all__ = ["open_via_proxy", "connect_tunnel", "proxy_headers", "EnvProxies", "select_proxy"]

_READ_SIZE = 65536
_PROXY_SCHEMES = ("http", "https")


def proxy_headers(proxy: URL) -> list[tuple[str, str, str]]:
    """The header fields every request to *proxy* carries, as
    :class:`Headers` items: ``Proxy-Authorization`` when the proxy URL has
    credentials."""
    if proxy.username is None:
        return []
    value = basic_auth_header(proxy.username, proxy.password or "").decode("ascii")
    return [("proxy-authorization", "Proxy-Authorization", value)]


def _redacted(proxy: URL) -> str:
    """*proxy* for an error message, without its credentials."""
    return f"{proxy.scheme}://{proxy.netloc}"


def check_proxy_url(proxy: URL) -> None:
    """:class:`ProxyError` unless *proxy* is an ``http://`` or ``https://``
    URL with a host (a ``socks5://`` proxy, say, is not supported)."""
    if proxy.scheme not in _PROXY_SCHEMES or not proxy.host:
        raise ProxyError(
            f"unsupported proxy {_redacted(proxy)!r}: only http:// and https:// proxies are supported"
            " (set trust_env=False to ignore the proxy environment variables)"
        )


# ---------------------------------------------------------------------------
# Proxies from the environment
# ---------------------------------------------------------------------------


def _env(env: Mapping[str, str], name: str, cgi: bool) -> str:
    """The value of the variable *name* (lower case) or its upper-case form.
    The lower-case one wins when both are set, even when empty (curl,
    requests).  In a CGI program (``REQUEST_METHOD`` set) ``HTTP_PROXY`` is
    ignored: a client's ``Proxy:`` request header becomes that variable
    ("httpoxy")."""
    value = env.get(name)
    if value is None and not (cgi and name == "http_proxy"):
        value = env.get(name.upper())
    return (value or "").strip()


def _proxy_url(value: str) -> str | None:
    if not value:
        return None
    return value if "://" in value else f"http://{value}"


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(text: str) -> _Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


class EnvProxies:
    """The proxy settings of an environment mapping, parsed once.

    ``http_proxy``/``HTTP_PROXY`` for ``http://`` URLs, ``https_proxy``/
    ``HTTPS_PROXY`` for ``https://`` URLs, ``all_proxy``/``ALL_PROXY`` for
    either when its own is not set; a value without a scheme means
    ``http://``.  ``no_proxy``/``NO_PROXY`` is a comma (or space) separated
    list of hosts that are reached directly: ``*`` (every host), a domain
    (itself and its subdomains; a leading ``.`` or ``*.`` changes nothing),
    an IP address, a CIDR range (``10.0.0.0/8``, ``fd00::/8``), any of these
    with ``:port`` (that port only; ``[::1]:8080`` for IPv6).  Host names are
    compared as written, never resolved.
    """

    __slots__ = ("http", "https", "bypass_all", "_domains", "_addresses", "_networks")

    def __init__(self, env: Mapping[str, str]) -> None:
        cgi = "REQUEST_METHOD" in env
        every = _proxy_url(_env(env, "all_proxy", cgi))
        self.http = _proxy_url(_env(env, "http_proxy", cgi)) or every
        self.https = _proxy_url(_env(env, "https_proxy", cgi)) or every
        self.bypass_all = False
        # (name, port or None) / (address, port or None) / (network, port or None)
        self._domains: list[tuple[str, int | None]] = []
        self._addresses: list[tuple[_Address, int | None]] = []
        self._networks: list[tuple[_Network, int | None]] = []
        for entry in re.split(r"[,\s]+", _env(env, "no_proxy", cgi)):
            self._add_no_proxy(entry.lower())

    def _add_no_proxy(self, entry: str) -> None:
        if not entry:
            return
        if entry == "*":
            self.bypass_all = True
            return
        host, port = entry, None
        if entry.startswith("["):  # [v6] or [v6]:port or [v6]/prefix
            close = entry.find("]")
            rest = entry[close + 1 :]
            if close < 0 or (rest and not rest.startswith((":", "/"))):
                return  # not something we can read: ignored, as curl does
            if rest.startswith(":"):
                host, rest = entry[: close + 1], ""
                port = _port(entry[close + 2 :])
                if port is None:
                    return
            else:
                host = entry[1:close] + rest
        elif entry.count(":") == 1:  # name:port or v4:port
            host, _, text = entry.partition(":")
            port = _port(text)
            if port is None:
                return
        if "/" in host:
            try:
                self._networks.append((ipaddress.ip_network(host.strip("[]"), strict=False), port))
            except ValueError:
                pass
            return
        address = _ip(host)
        if address is not None:
            self._addresses.append((address, port))
            return
        name = host.removeprefix("*").lstrip(".").rstrip(".")
        if name and not name.isascii():
            try:
                name = name.encode("idna").decode("ascii")  # as URL hosts are
            except UnicodeError:
                return
        if name:
            self._domains.append((name, port))

    def bypasses(self, host: str, port: int | None) -> bool:
        """Whether ``NO_PROXY`` sends *host*:*port* (a URL's host: lower
        case, no brackets) directly."""
        if self.bypass_all:
            return True
        name = host.rstrip(".")
        for domain, p in self._domains:
            if (p is None or p == port) and (name == domain or name.endswith("." + domain)):
                return True
        if self._addresses or self._networks:
            address = _ip(host)
            if address is not None:
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                    address = address.ipv4_mapped
                for a, p in self._addresses:
                    if a == address and (p is None or p == port):
                        return True
                for net, p in self._networks:
                    if address.version == net.version and address in net and (p is None or p == port):
                        return True
        return False

    def select(self, scheme: str, host: str, port: int | None) -> str | None:
        """The proxy URL for a request to *scheme*://*host*:*port*, or ``None``
        to connect directly."""
        proxy = self.http if scheme == "http" else self.https if scheme == "https" else None
        if proxy is None or self.bypasses(host, port):
            return None
        return proxy

    @property
    def any(self) -> bool:
        """Whether any URL can take a proxy."""
        return (self.http is not None or self.https is not None) and not self.bypass_all


def _port(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 65536 else None


def select_proxy(env: Mapping[str, str], url: str | URL) -> str | None:
    """The proxy URL a request to *url* goes through under the environment
    *env* (``os.environ``, or any mapping), or ``None`` for a direct
    connection.  The rules are :class:`EnvProxies`'; a session with
    ``trust_env=True`` (the default) applies them to ``os.environ``, read
    when the session is created."""
    u = URL(url)
    return EnvProxies(env).select(u.scheme, u.host, u.port)


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
    check_proxy_url(proxy)
    proxy_ctx = create_ssl_context() if proxy.scheme == "https" else None
    stream = await connector(proxy.host, proxy.port, ssl_context=proxy_ctx, server_hostname=proxy.host)
    if scheme == "http":
        return stream
    try:
        await connect_tunnel(stream, host, port, proxy)
        tls = TLSStream(stream, ssl_context, server_hostname=host)  # type: ignore[arg-type]  # https has a context
        await tls.do_handshake()
        return tls
    except BaseException:
        await stream.close()
        raise


async def connect_tunnel(stream: Any, host: str, port: int, proxy: URL) -> None:
    """Ask the proxy at the other end of *stream* for a tunnel to
    *host*:*port* (with *proxy*'s credentials, if it has any).  Returns once
    the proxy answered 2xx; :class:`ProxyError` for any other answer, a
    malformed one, or a proxy that closes first."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    headers = [(b"Host", target.encode("ascii"))]
    headers += [(name.encode("latin-1"), value.encode("latin-1")) for _, name, value in proxy_headers(proxy)]
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
