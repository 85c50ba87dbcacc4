"""``mounts=``: URL patterns that route requests to transports, httpx style.

A pattern is ``scheme://host:port``, host and port optional: the scheme
``all`` matches any scheme; a host of ``*`` or none matches any host, ``*.example.com`` its subdomains
only, ``*example.com`` the domain and its subdomains, anything else that one
host; a port matches that port only (the URL's explicit port or its scheme's
default).  The most specific matching pattern wins: one with a port before
one without, then the longer host, then a named scheme before ``all``.
Pure functions: the session asks :meth:`Mounts.transport_for` per request,
and only when it has mounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._url import URL

__all__ = ["MountPattern", "Mounts"]


class MountPattern:
    """One ``mounts=`` key, parsed (see the module docstring)."""

    __slots__ = ("pattern", "scheme", "host", "port", "_suffix", "_apex")

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or "://" not in pattern:
            raise ValueError(f"a mount pattern is a URL form such as 'http://' or 'all://example.com', not {pattern!r}")
        self.pattern = pattern
        scheme, _, rest = pattern.partition("://")
        scheme = scheme.lower()
        self.scheme: str | None = None if scheme in ("all", "") else scheme
        rest = rest.split("/", 1)[0]
        port: int | None = None
        if rest.startswith("["):  # [IPv6]:port
            host, _, tail = rest[1:].partition("]")
            if tail.startswith(":") and tail[1:]:
                port = self._port(tail[1:])
        else:
            host, sep, port_text = rest.rpartition(":")
            if not sep:
                host = rest
            elif port_text != "*":
                port = self._port(port_text)
        host = host.lower()
        if host and not host.isascii():
            host = host.encode("idna").decode("ascii")
        self.host = "" if host == "*" else host
        self.port = port
        self._suffix: str | None = None  # "*.x" / "*x" patterns: the host must end with ".x"
        self._apex: str | None = None  # "*x" patterns: x itself matches too
        if self.host.startswith("*."):
            self._suffix = self.host[1:]
        elif self.host.startswith("*"):
            self._suffix = "." + self.host[1:]
            self._apex = self.host[1:]

    def _port(self, text: str) -> int:
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError(f"invalid port in the mount pattern {self.pattern!r}")
        return int(text)

    def matches(self, url: URL) -> bool:
        """Whether *url* falls under this pattern."""
        if self.scheme is not None and url.scheme != self.scheme:
            return False
        if self.port is not None and url.port != self.port:
            return False
        if not self.host:
            return True
        host = url.host
        if self._suffix is None:
            return host == self.host
        return host == self._apex or (host.endswith(self._suffix) and len(host) > len(self._suffix))

    @property
    def priority(self) -> tuple[int, int, int]:
        """Larger is more specific: a port, then a longer host, then a scheme."""
        return (self.port is not None, len(self.host), self.scheme is not None)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"MountPattern({self.pattern!r})"


class Mounts:
    """The session's mounts, most specific first.  A transport of ``None``
    sends the matching requests through the session's own transport."""

    __slots__ = ("_routes",)

    def __init__(self, mounts: Mapping[str, Any]) -> None:
        routes = [(MountPattern(key), transport) for key, transport in mounts.items()]
        # sorted() is stable: patterns of equal rank keep their given order.
        routes.sort(key=lambda route: route[0].priority, reverse=True)
        self._routes = routes

    def transport_for(self, url: URL, default: Any) -> Any:
        """The transport for *url*: the first match's, else *default*."""
        for pattern, transport in self._routes:
            if pattern.matches(url):
                return default if transport is None else transport
        return default

    def transports(self) -> list[Any]:
        """Every mounted transport, once each (for closing)."""
        seen: list[Any] = []
        for _, transport in self._routes:
            if transport is not None and not any(transport is t for t in seen):
                seen.append(transport)
        return seen
