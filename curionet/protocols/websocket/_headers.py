"""The opening handshake as the application sees it: :class:`Request` and
:class:`Response`, whose headers are HTTP's :class:`Headers`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..http._headers import Headers as Headers


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
