"""The opening handshake request as the application sees it: :class:`Request` and :class:`Headers`."""

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

    def raw(self) -> list[tuple[bytes, bytes]]:
        """The headers as ``(name, value)`` byte pairs (latin-1)."""
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._items]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


@dataclass
class Request:
    """The opening handshake request: ``path`` (with query) and ``headers``."""

    path: str
    headers: Headers = field(default_factory=Headers)
