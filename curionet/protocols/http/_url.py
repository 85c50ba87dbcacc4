"""URLs: split, normalised and IDNA-encoded once, with query parameters
encoded the way forms and httpx encode them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit

from ._errors import InvalidURL

__all__ = ["URL", "QueryParams"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = "/?%:@!$&'()*+,;=-._~"

# Parsing a URL string is pure, and programs fetch the same URLs again and
# again: remember the last thousand results.
_PARSED: dict[str, tuple[Any, ...]] = {}

QueryParams = Mapping[str, Any] | Iterable[tuple[str, Any]] | str | None


def _encode_params(params: QueryParams) -> str:
    if params is None:
        return ""
    if isinstance(params, str):
        return params.lstrip("?")
    items = params.items() if isinstance(params, Mapping) else params
    flat: list[tuple[str, str]] = []
    for key, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is None:
                v = ""
            elif v is True:
                v = "true"
            elif v is False:
                v = "false"
            flat.append((str(key), str(v)))
    return urlencode(flat)


def _parse(url: str) -> tuple[Any, ...]:
    """*url* split and normalised: ``(scheme, host, explicit port, port, path,
    query, fragment, username, password)``, as :class:`URL` stores them."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        hostname = parts.hostname
    except ValueError as exc:
        raise InvalidURL(f"invalid URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    host = hostname or ""
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise InvalidURL(f"invalid host in URL {url!r}: {exc}") from exc
    path = parts.path
    if host and not path:
        path = "/"
    return (
        scheme, host, port, port if port is not None else _DEFAULT_PORTS.get(scheme),
        quote(path, safe=_SAFE_PATH), quote(parts.query, safe=_SAFE_QUERY), parts.fragment,
        None if parts.username is None else unquote(parts.username),
        None if parts.password is None else unquote(parts.password),
    )  # fmt: skip


class URL:
    """An absolute or relative URL, split and normalised once.

    ``scheme``, ``host`` (lower case, IDNA-encoded, no brackets), ``port``
    (explicit or the scheme's default), ``path``, ``query`` (without ``?``)
    and ``fragment``; ``raw_path`` is the request target (path and query).
    ``username`` and ``password`` are percent-decoded (``str()`` encodes
    them again).
    """

    __slots__ = ("scheme", "host", "port", "path", "query", "fragment", "username", "password", "_explicit_port")

    def __init__(self, url: str | URL = "", *, params: QueryParams = None) -> None:
        if isinstance(url, URL):
            for name in self.__slots__:
                setattr(self, name, getattr(url, name))
        else:
            if not isinstance(url, str):
                raise InvalidURL(f"a URL must be a str, not {type(url).__name__}: {url!r}")
            parsed = _PARSED.get(url)
            if parsed is None:
                parsed = _parse(url)
                if len(_PARSED) >= 1024:
                    _PARSED.clear()
                _PARSED[url] = parsed
            (self.scheme, self.host, self._explicit_port, self.port, self.path, self.query, self.fragment,
             self.username, self.password) = parsed  # fmt: skip
        if params:
            extra = _encode_params(params)
            if extra:
                self.query = f"{self.query}&{extra}" if self.query else extra

    @property
    def is_absolute(self) -> bool:
        return bool(self.scheme and self.host)

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)``: the key connections are pooled by."""
        return (self.scheme, self.host, self.port or 0)

    @property
    def netloc(self) -> str:
        """``host[:port]`` as it appears in a URL or a ``Host`` header (the
        port only when it is not the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self._explicit_port is not None and self._explicit_port != _DEFAULT_PORTS.get(self.scheme):
            return f"{host}:{self._explicit_port}"
        return host

    @property
    def raw_path(self) -> str:
        """The request target: path plus ``?query``."""
        return f"{self.path or '/'}?{self.query}" if self.query else (self.path or "/")

    def join(self, url: str | URL) -> URL:
        """Resolve *url* relative to this one (RFC 3986)."""
        return URL(urljoin(str(self), str(url)))

    def copy_with(self, **changes: Any) -> URL:
        new = URL(self)
        for key, value in changes.items():
            setattr(new, key, value)
        if "port" in changes:
            new._explicit_port = changes["port"]
        return new

    def __str__(self) -> str:
        out = f"{self.scheme}://" if self.scheme else ""
        if self.host:
            if self.username is not None:
                out += quote(self.username, safe="") + (
                    f":{quote(self.password, safe='')}" if self.password is not None else ""
                ) + "@"
            out += self.netloc
        out += self.raw_path if self.host else (self.path + (f"?{self.query}" if self.query else ""))
        if self.fragment:
            out += f"#{self.fragment}"
        return out

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = URL(other)
        return isinstance(other, URL) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))
