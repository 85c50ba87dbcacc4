"""The opening handshake as the application sees it: :class:`Request`,
:class:`Response` and :class:`Headers`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Headers:
    """HTTP headers: an ordered list of ``(name, value)`` string pairs with
    case-insensitive lookup."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[Any, Any]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(_text(k), _text(v)) for k, v in items]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header *name*, or *default*."""
        name = name.lower()
        for k, v in self._items:
            if k.lower() == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of header *name*, in order."""
        name = name.lower()
        return [v for k, v in self._items if k.lower() == name]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setitem__(self, name: str, value: str) -> None:
        """Replace every value of header *name* by *value* (appended if absent)."""
        _check(name, value)
        lower = name.lower()
        for i, (k, _) in enumerate(self._items):
            if k.lower() == lower:
                self._items[i] = (name, value)
                self._items[i + 1 :] = [(k2, v2) for k2, v2 in self._items[i + 1 :] if k2.lower() != lower]
                return
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        """Remove every value of header *name* (``KeyError`` if there is none)."""
        lower = name.lower()
        kept = [(k, v) for k, v in self._items if k.lower() != lower]
        if len(kept) == len(self._items):
            raise KeyError(name)
        self._items = kept

    def add(self, name: str, value: str) -> None:
        """Append a ``name: value`` pair, keeping the values already there."""
        _check(name, value)
        self._items.append((name, value))

    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers as ``(name, value)`` byte pairs (latin-1)."""
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._items]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _check(name: str, value: str) -> None:
    if not name or any(c in name for c in " \t\r\n:") or "\r" in value or "\n" in value:
        raise ValueError(f"invalid header {name!r}: {value!r}")


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


@dataclass
class Request:
    """The opening handshake request: ``path`` (with query) and ``headers``."""

    path: str
    headers: Headers = field(default_factory=Headers)


@dataclass
class Response:
    """An HTTP response of the opening handshake: the 101 that upgraded the
    connection (``ws.response``), or one that refused it.

    ``status_code``, ``reason_phrase``, ``headers`` (a :class:`Headers`) and
    ``body`` (bytes; empty for a 101)."""

    status_code: int
    reason_phrase: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""


def _parse_head(data: bytes) -> tuple[str, Headers]:
    """Split an HTTP head that h11 already accepted into its start line and
    headers (the client reads the raw 101 this way, because wsproto keeps the
    handshake headers to itself)."""
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    items = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        items.append((name.strip(), value.strip(b" \t")))
    return lines[0].decode("latin-1"), Headers(items)


def _parse_response_head(data: bytes) -> Response:
    start, headers = _parse_head(data)
    parts = start.split(" ", 2)
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


def _parse_request_head(data: bytes) -> Request:
    start, headers = _parse_head(data)
    return Request(start.split(" ")[1], headers)


def _response_head_bytes(response: Response) -> bytes:
    """The head of *response* as bytes (a 101 has no body)."""
    lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}".encode("latin-1")]
    lines += [k + b": " + v for k, v in response.headers.raw()]
    return b"\r\n".join(lines) + b"\r\n\r\n"
