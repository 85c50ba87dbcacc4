"""The common HTTP/1.1 exchange without h11's per-event machinery.

Two pure functions: :func:`request_head` writes the bytes h11 would write
for a plain request (no body, or a ``bytes`` body with its Content-Length),
and :func:`parse_response_head` reads a complete, ordinary response head.
Either returns ``None`` for anything it does not handle, and the connection
then does the whole exchange with h11 (see
:meth:`HTTP11Connection.handle_request <._connection.HTTP11Connection.handle_request>`).

Discussion: why, and why it is safe.  Most of the client's time on a small
request goes to h11: building and validating events, running its state
machine three times each way, splitting the head into lines and matching
each with its own regex.  For the common case none of that decides
anything, so:

* The response head is matched *as a whole* against h11's own grammar
  (``h11._abnf``: its status line, then its header field, each ended by
  CRLF), one C-level ``fullmatch``.  A head that matches is one h11 accepts
  line for line, with the same split into lines (no bare LF or CR can
  match) and the same end (the first empty line).  Everything h11 checks
  *after* the grammar is checked here the same way or sent back to h11:
  Content-Length must be one plain number of at most 20 digits (else h11
  decides: it merges ``5, 5``, rejects the rest), any Transfer-Encoding,
  any 1xx status, a body without Content-Length (read until close), a body
  longer than Content-Length already received, a head larger than
  ``max_header_size`` or not yet complete: all go to h11.  Keep-alive
  follows h11's rule (``Connection: close`` as a token, or HTTP < 1.1).
* The request head is only written when h11 would write it unchanged:
  every header pair has passed h11's own validation (cached per distinct
  pair), exactly one Host (h11 writes it first), no Transfer-Encoding,
  Upgrade or Expect, no CONNECT, a Content-Length equal to the body's
  length (or none and no body).  ``tests/test_http_fastpath.py`` checks the
  bytes against h11's, and the parser against h11's parser on generated
  heads.

When the response must go to h11 after all, the connection replays the
request into its (idle) h11 state machine and feeds it the bytes received,
so h11 sees exactly the exchange that happened.
"""

from __future__ import annotations

import re

import h11

try:
    from h11._abnf import header_field, method as method_grammar, request_target, status_line
except ImportError:  # pragma: no cover - an h11 that moved its grammar: h11 does everything
    _HEAD_RE = _METHOD_RE = _TARGET_RE = None
else:
    # One status line and any number of header lines, each ended by CRLF.
    _HEAD_RE = re.compile(f"(?:{status_line})\r\n(?:(?:{header_field})\r\n)*".encode("ascii"))
    _METHOD_RE = re.compile(method_grammar)
    _TARGET_RE = re.compile(request_target)

__all__ = ["request_head", "parse_response_head"]

# h11 accepts at most this many digits in a Content-Length.
_MAX_LENGTH_DIGITS = 20
# bytes.strip()'s whitespace, which h11 strips around comma-separated tokens.
_WS = " \t\n\r\x0b\x0c"

# Header pairs (name, value) that h11 has validated.  The same request
# headers (session defaults, Host) are sent again and again; bounded, so
# arbitrary header values cannot grow it forever.
_VALID_PAIRS: set[tuple[str, str]] = set()
_VALID_METHODS: set[str] = set()
# Request headers that make h11 do more than write the head.
_SPECIAL_REQUEST = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"})
_SPECIAL_RESPONSE = frozenset({"content-length", "transfer-encoding", "connection"})


def _valid_pair(name: str, value: str) -> bool:
    """Whether h11 accepts the header (name, value); remembered if so.
    A name or value that is not latin-1 raises ``UnicodeEncodeError``, as
    encoding the headers for h11 does."""
    raw = (name.encode("latin-1"), value.encode("latin-1"))
    host = [] if name.lower() == "host" else [(b"Host", b"x")]
    try:
        h11.Request(method=b"GET", target=b"/", headers=[*host, raw])
    except h11.LocalProtocolError:
        return False
    if len(_VALID_PAIRS) > 4096:
        _VALID_PAIRS.clear()
    _VALID_PAIRS.add((name, value))
    return True


def _has_close(value: str) -> bool:
    # h11's get_comma_header(headers, b"connection") contains b"close"
    return any(token.strip(_WS) == "close" for token in value.lower().split(","))


def request_head(
    method: str, target: str, items: list[tuple[str, str, str]], netloc: str, body: bytes | None
) -> tuple[bytes, bool] | None:
    """The request head h11 would write, and whether the request asks to
    close the connection afterwards; ``None`` when h11 must send it.

    *items* are :class:`Headers` items ``(lower name, name, value)``;
    *netloc* is the Host value used when there is no Host header."""
    if _HEAD_RE is None:  # pragma: no cover
        return None
    if method not in _VALID_METHODS:
        if method == "CONNECT" or not method.isascii() or not _METHOD_RE.fullmatch(method):  # type: ignore[union-attr]
            return None
        _VALID_METHODS.add(method)
    if not target.isascii() or not _TARGET_RE.fullmatch(target):  # type: ignore[union-attr]
        return None
    valid = _VALID_PAIRS
    host = None
    length = None
    close = False
    lines = []
    for lower, name, value in items:
        if (name, value) not in valid and not _valid_pair(name, value):
            return None
        if lower in _SPECIAL_REQUEST:
            if lower == "host":
                if host is not None:
                    return None  # h11: "Found multiple Host: headers"
                host = f"{name}: {value}\r\n"
                continue
            if lower == "content-length":
                if length is not None:
                    return None
                length = value
            elif lower == "connection":
                close = close or _has_close(value)
            else:
                return None
        lines.append(f"{name}: {value}\r\n")
    if host is None:
        if ("Host", netloc) not in valid and not _valid_pair("Host", netloc):
            return None
        host = f"Host: {netloc}\r\n"
    size = len(body) if body else 0
    if length is None:
        if size:
            return None  # h11: "Too much data for declared Content-Length"
    elif length != str(size):
        return None  # h11 normalises it, or refuses a body of another length
    return f"{method} {target} HTTP/1.1\r\n{host}{''.join(lines)}\r\n".encode("latin-1"), close


def parse_response_head(
    data: bytes, bodyless: bool, max_header_size: int
) -> tuple[int, str, str, list[tuple[str, str, str]], int, int, bool] | None:
    """Parse a response head at the start of *data*.

    Returns ``(status, "HTTP/x.y", reason, items, body_start, body_length,
    close)`` with *items* as in :class:`Headers`, or ``None`` when h11 must
    parse it (see the module's discussion).  *bodyless*: the request was
    HEAD (or the caller otherwise knows there is no body)."""
    if _HEAD_RE is None:  # pragma: no cover
        return None
    end = data.find(b"\r\n\r\n")
    if end < 0 or end + 4 > max_header_size or not _HEAD_RE.fullmatch(data, 0, end + 2):
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    first = lines[0]
    status = int(first[9:12])
    if status < 200:
        return None
    version = first[:8]
    close = version < "HTTP/1.1"
    length = None
    items = []
    special = _SPECIAL_RESPONSE
    for i in range(1, len(lines)):
        name, _, value = lines[i].partition(":")
        value = value.strip(" \t")
        lower = name.lower()
        if lower in special:
            if lower == "content-length":
                if length is not None or len(value) > _MAX_LENGTH_DIGITS or not value.isdigit() or not value.isascii():
                    return None
                length = value
            elif lower == "connection":
                close = close or _has_close(value)
            else:
                return None  # Transfer-Encoding
        items.append((lower, name, value))
    if bodyless or status == 204 or status == 304:
        size = 0
    elif length is None:
        return None  # delimited by the end of the connection
    else:
        size = int(length)
    start = end + 4
    if len(data) - start > size:
        return None  # h11 reports the overlong body
    return status, version, first[13:], items, start, size, close
