"""HTTP headers: an ordered, case-insensitive, multi-valued mapping."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

__all__ = ["Headers"]


class Headers(MutableMapping[str, str]):
    """Case-insensitive, multi-valued HTTP headers that keep their order.

    ``headers["name"]`` joins repeated fields with ``", "``;
    :meth:`get_list` (or its alias :meth:`get_all`) returns them separately
    (use it for ``Set-Cookie``); :meth:`multi_items` lists every
    ``(name, value)`` pair.  Setting or adding a field whose name is empty or
    holds whitespace or ``:``, or whose value holds CR or LF, raises
    ``ValueError``: such a field would break the message head.  The same
    class serves the WebSocket handshake's request and response.
    """

    __slots__ = ("_items",)

    def __init__(self, headers: Any = None) -> None:
        # (lower-case name, name as given, value)
        self._items: list[tuple[str, str, str]] = []
        if headers is None:
            return
        if isinstance(headers, Headers):
            self._items = list(headers._items)
            return
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            if isinstance(name, bytes):
                name = name.decode("latin-1")
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            self._items.append((name.lower(), name, str(value)))

    @classmethod
    def _from_items(cls, items: list[tuple[str, str, str]]) -> Headers:
        """Headers owning *items*, ``(lower name, name, value)`` triples (no copy)."""
        h = cls.__new__(cls)
        h._items = items
        return h

    @classmethod
    def _from_h11(cls, raw: Any) -> Headers:
        # h11 hands us lower-case names already.
        h = cls.__new__(cls)
        full = getattr(raw, "_full_items", None)  # h11's (raw name, lower name, value) list
        if full is not None:
            h._items = [(k.decode("latin-1"), r.decode("latin-1"), v.decode("latin-1")) for r, k, v in full]
        else:  # pragma: no cover - an h11 without it
            h._items = [(n := k.decode("latin-1"), n, v.decode("latin-1")) for k, v in raw]
        return h

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        values = [v for k, _, v in self._items if k == key]
        if not values:
            raise KeyError(name)
        return values[0] if len(values) == 1 else ", ".join(values)

    def __setitem__(self, name: str, value: str) -> None:
        value = _checked(name, value)
        key = name.lower()
        items = self._items
        for i, (k, _, _) in enumerate(items):
            if k == key:
                items[i] = (key, name, value)
                self._items = items[: i + 1] + [item for item in items[i + 1 :] if item[0] != key]
                return
        items.append((key, name, value))

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        before = len(self._items)
        self._items = [item for item in self._items if item[0] != key]
        if len(self._items) == before:
            raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        for item in self._items:
            if item[0] == key:
                return True
        return False

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for k, _, _ in self._items:
            seen.setdefault(k, None)
        return iter(seen)

    def __len__(self) -> int:
        return len({k for k, _, _ in self._items})

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        key = name.lower()
        values = [item[2] for item in self._items if item[0] == key]
        if not values:
            return default
        return values[0] if len(values) == 1 else ", ".join(values)

    def get_list(self, name: str) -> list[str]:
        """Every value of the field *name*, in order."""
        key = name.lower()
        return [v for k, _, v in self._items if k == key]

    get_all = get_list

    def add(self, name: str, value: str) -> None:
        """Append a field without replacing existing ones."""
        self._items.append((name.lower(), name, _checked(name, value)))

    def update(self, headers: Any = (), /, **kwargs: str) -> None:  # type: ignore[override]
        """Replace the fields named in *headers* (a mapping, ``(name,
        value)`` pairs or :class:`Headers`) by *all* of their values there,
        in order.  A replaced name keeps the place of its first field;
        new names go at the end."""
        new = headers._items if isinstance(headers, Headers) else Headers(headers)._items
        if kwargs:
            new = new + Headers(kwargs)._items
        if not new:
            return
        by_name: dict[str, list[tuple[str, str, str]]] = {}
        for item in new:
            by_name.setdefault(item[0], []).append(item)
        replaced = set(by_name)
        out: list[tuple[str, str, str]] = []
        for item in self._items:
            key = item[0]
            if key not in replaced:
                out.append(item)
            elif key in by_name:  # the first old field of that name: the new ones go here
                out.extend(by_name.pop(key))
        for items in by_name.values():
            out.extend(items)
        self._items = out

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` pair, with repeated names kept."""
        return [(n, v) for _, n, v in self._items]

    def raw(self) -> list[tuple[bytes, bytes]]:
        return [(n.encode("latin-1"), v.encode("latin-1")) for _, n, v in self._items]

    def copy(self) -> Headers:
        return Headers(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            other = Headers(other)
        if not isinstance(other, Headers):
            return False
        return sorted((k, v) for k, _, v in self._items) == sorted((k, v) for k, _, v in other._items)

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


def _checked(name: str, value: Any) -> str:
    """*value* as a string, or ``ValueError`` if the field cannot be written
    into a message head as it is."""
    text = str(value)
    if not name or any(c in name for c in " \t\r\n:") or "\r" in text or "\n" in text:
        raise ValueError(f"invalid header {name!r}: {text!r}")
    return text
