"""Requests, responses, URLs and headers: plain data with no I/O of their own.

A :class:`Response` returned by the transport carries an async byte stream
for its body and a close callback; everything else is computed from data.
"""

from __future__ import annotations

import codecs
import datetime
import json as _json
import mimetypes
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from ._decoders import DecodingError, make_decoder
from ._errors import (
    DecodingError as HTTPDecodingError,
    HTTPStatusError,
    InvalidURL,
    ResponseNotRead,
    ResponseTooLarge,
    StreamClosed,
    StreamConsumed,
)

__all__ = ["URL", "Headers", "Request", "Response", "encode_request_body", "QueryParams"]

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


class URL:
    """An absolute or relative URL, split and normalised once.

    ``scheme``, ``host`` (lower case, IDNA-encoded, no brackets), ``port``
    (explicit or the scheme's default), ``path``, ``query`` (without ``?``)
    and ``fragment``; ``raw_path`` is the request target (path and query).
    """

    __slots__ = ("scheme", "host", "port", "path", "query", "fragment", "username", "password", "_explicit_port")

    def __init__(self, url: str | URL = "", *, params: QueryParams = None) -> None:
        if isinstance(url, URL):
            for name in self.__slots__:
                setattr(self, name, getattr(url, name))
        else:
            if not isinstance(url, str):
                raise InvalidURL(f"a URL must be a str, not {type(url).__name__}: {url!r}")
            cached = _PARSED.get(url)
            if cached is not None:
                (self.scheme, self.host, self._explicit_port, self.port, self.path, self.query, self.fragment,
                 self.username, self.password) = cached  # fmt: skip
                if params:
                    extra = _encode_params(params)
                    if extra:
                        self.query = f"{self.query}&{extra}" if self.query else extra
                return
            try:
                parts = urlsplit(url.strip())
                port = parts.port
                hostname = parts.hostname
            except ValueError as exc:
                raise InvalidURL(f"invalid URL {url!r}: {exc}") from exc
            self.scheme = parts.scheme.lower()
            host = hostname or ""
            if host and not host.isascii():
                try:
                    host = host.encode("idna").decode("ascii")
                except UnicodeError as exc:
                    raise InvalidURL(f"invalid host in URL {url!r}: {exc}") from exc
            self.host = host
            self._explicit_port = port
            self.port = port if port is not None else _DEFAULT_PORTS.get(self.scheme)
            path = parts.path
            if self.host and not path:
                path = "/"
            self.path = quote(path, safe=_SAFE_PATH)
            self.query = quote(parts.query, safe=_SAFE_QUERY)
            self.fragment = parts.fragment
            self.username = parts.username
            self.password = parts.password
            if len(_PARSED) >= 1024:
                _PARSED.clear()
            _PARSED[url] = (self.scheme, self.host, self._explicit_port, self.port, self.path, self.query,
                            self.fragment, self.username, self.password)  # fmt: skip
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


class Headers(MutableMapping[str, str]):
    """Case-insensitive, multi-valued HTTP headers that keep their order.

    ``headers["name"]`` joins repeated fields with ``", "``;
    :meth:`get_list` returns them separately (use it for ``Set-Cookie``);
    :meth:`multi_items` lists every ``(name, value)`` pair.
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
        key = name.lower()
        items = self._items
        for i, (k, _, _) in enumerate(items):
            if k == key:
                items[i] = (key, name, str(value))
                self._items = items[: i + 1] + [item for item in items[i + 1 :] if item[0] != key]
                return
        items.append((key, name, str(value)))

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

    def add(self, name: str, value: str) -> None:
        """Append a field without replacing existing ones."""
        self._items.append((name.lower(), name, str(value)))

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


# ---------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------

_CHUNK = 65536


class _FileBody:
    """A (synchronous) file object streamed in chunks; replayable if seekable."""

    def __init__(self, file: Any) -> None:
        self.file = file
        try:
            self.start = file.tell()
        except (AttributeError, OSError):
            self.start = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        if self.start is not None:
            self.file.seek(self.start)
        while True:
            chunk = self.file.read(_CHUNK)
            if not chunk:
                return
            yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk


def _file_length(file: Any) -> int | None:
    try:
        fd = file.fileno()
        size = os.fstat(fd).st_size
        return int(size - file.tell())
    except (AttributeError, OSError, ValueError):
        pass
    try:
        pos = file.tell()
        end = file.seek(0, 2)
        file.seek(pos)
        return int(end - pos)
    except (AttributeError, OSError, ValueError):
        return None


def _multipart(data: Mapping[str, Any] | None, files: Any) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in (data or {}).items():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += v if isinstance(v, bytes) else str(v).encode()
            out += b"\r\n"
    items = files.items() if isinstance(files, Mapping) else files
    for name, spec in items:
        filename: str | None
        content_type = None
        if isinstance(spec, tuple):
            filename, content = spec[0], spec[1]
            if len(spec) > 2:
                content_type = spec[2]
        else:
            content = spec
            filename = os.path.basename(getattr(spec, "name", name) or name)
        if hasattr(content, "read"):
            content = content.read()
        if isinstance(content, str):
            content = content.encode()
        if content_type is None:
            content_type = (filename and mimetypes.guess_type(filename)[0]) or "application/octet-stream"
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def encode_request_body(
    content: Any = None, data: Any = None, files: Any = None, json: Any = None
) -> tuple[dict[str, str], bytes | AsyncIterable[bytes] | None]:
    """Headers to add and the body for the ``content``/``data``/``files``/``json``
    arguments: bytes get a Content-Length, async iterators and files of
    unknown size are sent chunked."""
    if files is not None:
        body, ctype = _multipart(data, files)
        return {"Content-Type": ctype, "Content-Length": str(len(body))}, body
    if json is not None:
        body = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return {"Content-Type": "application/json", "Content-Length": str(len(body))}, body
    if data is not None:
        if isinstance(data, (bytes, str)) or hasattr(data, "read") or hasattr(data, "__aiter__"):
            content = data  # httpx compatibility: raw data
        else:
            body = _encode_params(data).encode("ascii")
            return {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body))}, body
    if content is None:
        return {}, None
    if isinstance(content, str):
        content = content.encode("utf-8")
    if isinstance(content, (bytes, bytearray, memoryview)):
        content = bytes(content)
        return {"Content-Length": str(len(content))}, content
    if hasattr(content, "read"):
        length = _file_length(content)
        headers = {"Content-Length": str(length)} if length is not None else {"Transfer-Encoding": "chunked"}
        return headers, _FileBody(content)
    if hasattr(content, "__aiter__"):
        return {"Transfer-Encoding": "chunked"}, content
    if isinstance(content, Iterable):
        chunks = [c.encode() if isinstance(c, str) else bytes(c) for c in content]
        body = b"".join(chunks)
        return {"Content-Length": str(len(body))}, body
    raise TypeError(f"unsupported request content type: {type(content).__name__}")


class Request:
    """An HTTP request: ``method``, ``url``, ``headers`` and a body
    (``content`` when it is bytes, else an async stream)."""

    __slots__ = ("method", "url", "headers", "stream", "extensions")

    def __init__(
        self,
        method: str,
        url: str | URL,
        *,
        params: QueryParams = None,
        headers: Any = None,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.method = method.upper()
        self.url = URL(url, params=params)
        self.headers = Headers(headers)
        body_headers, self.stream = encode_request_body(content, data, files, json)
        for name, value in body_headers.items():
            if name not in self.headers:
                self.headers[name] = value
        self.extensions: dict[str, Any] = extensions or {}

    @classmethod
    def _owning(
        cls, method: str, url: URL, headers: Headers, stream: bytes | AsyncIterable[bytes] | None,
        extensions: dict[str, Any],
    ) -> Request:
        """A request that takes over *url* and *headers* (built by the
        session for it) instead of copying them."""
        self = cls.__new__(cls)
        self.method = method
        self.url = url
        self.headers = headers
        self.stream = stream
        self.extensions = extensions
        return self

    @property
    def content(self) -> bytes:
        """The body, when it is in memory."""
        if self.stream is None:
            return b""
        if isinstance(self.stream, bytes):
            return self.stream
        raise StreamConsumed("the request body is a stream", request=self)

    @property
    def replayable(self) -> bool:
        """Whether the body can be sent again (retries, 307/308 redirects)."""
        return self.stream is None or isinstance(self.stream, bytes) or (
            isinstance(self.stream, _FileBody) and self.stream.start is not None
        )

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {str(self.url)!r})>"


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------

_NO_TIME = datetime.timedelta(0)
_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.I)
_REASONS: dict[int, str] = {}


def _reason_for(code: int) -> str:
    if not _REASONS:
        from http import HTTPStatus

        _REASONS.update({s.value: s.phrase for s in HTTPStatus})
    return _REASONS.get(code, "")


class _BytesStream:
    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        if self._data:
            yield self._data


class _Counting:
    """Iterate a response's raw stream, counting bytes; close at the end or on error."""

    __slots__ = ("_response", "_it", "_n")

    def __init__(self, response: Response) -> None:
        self._response = response
        self._it = response._stream.__aiter__()
        self._n = 0

    def __aiter__(self) -> _Counting:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._it.__anext__()
        except StopAsyncIteration:
            await self._response.aclose()
            raise
        except BaseException:
            await self._response.aclose()
            raise
        self._n += len(chunk)
        self._response.extensions["num_bytes_downloaded"] = self._n
        return chunk


class Response:
    """An HTTP response.

    ``await session.get(url)`` returns one whose body is already read, so
    ``response.content`` works and ``await response.text()`` /
    ``await response.json()`` do not wait.  From ``session.stream(...)`` the
    body is read on demand with :meth:`aiter_bytes`, :meth:`aiter_text`,
    :meth:`aiter_lines` or :meth:`aread`.

    A test (or a :class:`MockTransport` handler) builds one directly:
    ``Response(200, json={"ok": True})``.
    """

    def __init__(
        self,
        status_code: int,
        *,
        headers: Any = None,
        content: bytes | str | None = None,
        text: str | None = None,
        json: Any = None,
        stream: AsyncIterable[bytes] | None = None,
        request: Request | None = None,
        http_version: str = "HTTP/1.1",
        reason: str | None = None,
        on_close: Callable[[], Any] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self._set_state(status_code, Headers(headers), http_version,
                        reason if reason is not None else _reason_for(status_code), request, on_close,
                        extensions or {})  # fmt: skip
        body: bytes | None = None
        if json is not None:
            body = _json.dumps(json).encode()
            self.headers.setdefault("Content-Type", "application/json")
        elif text is not None:
            body = text.encode()
            self.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else bytes(content)
        if body is not None:
            self.headers.setdefault("Content-Length", str(len(body)))
            self._stream: AsyncIterable[bytes] = _BytesStream(body)
        else:
            self._stream = stream if stream is not None else _BytesStream(b"")

    def _set_state(
        self, status_code: int, headers: Headers, http_version: str, reason: str, request: Request | None,
        on_close: Callable[[], Any] | None, extensions: dict[str, Any],
    ) -> None:
        """Every attribute but the body stream (shared by ``__init__`` and
        :meth:`_from_wire`)."""
        self.status_code = status_code
        self.headers = headers
        self.http_version = http_version
        self.reason = reason
        self._request = request
        self.history: list[Response] = []
        self.elapsed = _NO_TIME
        self.extensions: dict[str, Any] = extensions
        self.max_body_size: int | None = None
        self._on_close = on_close
        self._content: bytes | None = None
        self._stream_consumed = False
        self.is_closed = False
        self._encoding: str | None = None
        self.cookies: dict[str, str] = {}

    @classmethod
    def _from_wire(
        cls, status_code: int, headers: Headers, stream: AsyncIterable[bytes], request: Request,
        http_version: str, reason: str,
    ) -> Response:
        """A response as a transport receives it: *headers* are taken over,
        not copied, and there is no body to encode."""
        self = cls.__new__(cls)
        self._set_state(status_code, headers, http_version, reason, request, None, {})
        self._stream = stream
        return self

    def __repr__(self) -> str:
        return f"<Response [{self.status_code} {self.reason}]>"

    # -- metadata -----------------------------------------------------------
    @property
    def request(self) -> Request:
        if self._request is None:
            raise RuntimeError("this response has no request")
        return self._request

    @request.setter
    def request(self, value: Request) -> None:
        self._request = value

    @property
    def url(self) -> URL:
        """The URL of the request this response answers (the final one after redirects)."""
        return self.request.url

    @property
    def is_informational(self) -> bool:
        return 100 <= self.status_code < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def is_client_error(self) -> bool:
        return 400 <= self.status_code < 500

    @property
    def is_server_error(self) -> bool:
        return 500 <= self.status_code < 600

    @property
    def is_error(self) -> bool:
        return 400 <= self.status_code < 600

    @property
    def charset_encoding(self) -> str | None:
        ctype = self.headers.get("content-type")
        if not ctype:
            return None
        m = _CHARSET_RE.search(ctype)
        if not m:
            return None
        try:
            return codecs.lookup(m.group(1)).name
        except LookupError:
            return None

    @property
    def encoding(self) -> str:
        """The text encoding: the Content-Type charset, else UTF-8 (JSON and
        most of the web), settable."""
        if self._encoding is None:
            self._encoding = self.charset_encoding or "utf-8"
        return self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        self._encoding = value

    def raise_for_status(self) -> Response:
        """Raise :class:`HTTPStatusError` for a 4xx/5xx response; return the
        response otherwise (so calls chain)."""
        if self.is_success or self.is_informational or (300 <= self.status_code < 400):
            return self
        kind = "client error" if self.is_client_error else "server error" if self.is_server_error else "error"
        raise HTTPStatusError(
            f"{kind} '{self.status_code} {self.reason}' for url '{self.url}'", request=self.request, response=self
        )

    # -- body ---------------------------------------------------------------
    @property
    def content(self) -> bytes:
        """The (decoded) body; the response must have been read."""
        if self._content is None:
            raise ResponseNotRead(
                "the response body was not read: use 'await response.aread()' after session.stream()",
                request=self._request,
            )
        return self._content

    @property
    def num_bytes_downloaded(self) -> int:
        return int(self.extensions.get("num_bytes_downloaded", 0))

    async def aread(self) -> bytes:
        """Read (and decode) the whole body, bounded by ``max_body_size``."""
        if self._content is None:
            limit = self.max_body_size
            encoded = "content-encoding" in self.headers
            if not encoded and not self._stream_consumed and not self.is_closed:
                # A transport stream that knows the body's length hands it
                # over in one piece (see _ResponseBody.read_all).
                read_all = getattr(self._stream, "read_all", None)
                body = None
                if read_all is not None:
                    try:
                        body = await read_all(limit)
                    except BaseException:
                        await self.aclose()
                        raise
                if body is not None:
                    self._stream_consumed = True
                    self.extensions["num_bytes_downloaded"] = len(body)
                    await self.aclose()
                    if limit is not None and len(body) > limit:
                        raise ResponseTooLarge(
                            f"response body larger than max_body_size={limit} bytes", request=self._request
                        )
                    self._content = body
                    return body
            parts = []
            size = 0
            if encoded:
                chunks: Any = self.aiter_bytes()
            else:
                chunks = self._raw_chunks()
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    await self.aclose()
                    raise ResponseTooLarge(
                        f"response body larger than max_body_size={limit} bytes", request=self._request
                    )
                parts.append(chunk)
            self._content = parts[0] if len(parts) == 1 and type(parts[0]) is bytes else b"".join(parts)
        return self._content

    read = aread

    async def text(self) -> str:
        """The body decoded with :attr:`encoding`."""
        content = await self.aread()
        return content.decode(self.encoding, errors="replace")

    async def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON."""
        return _json.loads(await self.aread(), **kwargs)

    def _raw_chunks(self) -> AsyncIterator[bytes]:
        """The body pieces as the transport hands them over (possibly
        bytearrays), for :meth:`aread`, which joins them anyway."""
        if self._stream_consumed:
            raise StreamConsumed("the response body was already read", request=self._request)
        if self.is_closed:
            raise StreamClosed("the response was closed before its body was read", request=self._request)
        self._stream_consumed = True
        return _Counting(self)

    async def aiter_raw(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body as received, without decompression."""
        if self._stream_consumed:
            raise StreamConsumed("the response body was already read", request=self._request)
        if self.is_closed:
            raise StreamClosed("the response was closed before its body was read", request=self._request)
        self._stream_consumed = True
        downloaded = 0
        try:
            async for chunk in self._stream:
                downloaded += len(chunk)
                self.extensions["num_bytes_downloaded"] = downloaded
                if type(chunk) is not bytes:
                    chunk = bytes(chunk)
                if chunk_size is None or len(chunk) <= chunk_size:
                    yield chunk
                else:
                    for i in range(0, len(chunk), chunk_size):
                        yield chunk[i : i + chunk_size]
        except GeneratorExit:
            # The iteration was abandoned (a ``break``, then garbage
            # collection): no await is allowed here.  The response stays open
            # for its owner to close (``async with session.stream()`` does;
            # closing the session closes every connection anyway).
            raise
        except BaseException:
            await self.aclose()
            raise
        await self.aclose()

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body, decompressed, in chunks (of at most *chunk_size*)."""
        if self._content is not None:
            data = self._content
            step = chunk_size or max(len(data), 1)
            for i in range(0, len(data), step):
                yield data[i : i + step]
            return
        decoder = make_decoder(self.headers.get("content-encoding"))
        try:
            async for chunk in self.aiter_raw(chunk_size):
                if decoder is not None:
                    chunk = decoder.decode(chunk)
                if chunk:
                    yield chunk
            if decoder is not None:
                tail = decoder.flush()
                if tail:
                    yield tail
        except DecodingError as exc:
            raise HTTPDecodingError(str(exc), request=self._request) from exc

    async def aiter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        """The body decoded to text, incrementally."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        async for chunk in self.aiter_bytes(chunk_size):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body as text lines, without their line endings."""
        pending = ""
        async for text in self.aiter_text():
            pending += text
            lines = pending.splitlines(keepends=True)
            pending = ""
            if lines and not lines[-1].endswith(("\n", "\r")):
                pending = lines.pop()
            elif lines and lines[-1].endswith("\r"):
                pending = lines.pop()  # may be half of \r\n
            for line in lines:
                yield line.rstrip("\r\n")
        if pending:
            for line in pending.splitlines():
                yield line

    async def aclose(self) -> None:
        """Release the connection (an unread body makes it unusable: it is
        closed rather than returned to the pool)."""
        if not self.is_closed:
            self.is_closed = True
            if self._on_close is not None:
                cb, self._on_close = self._on_close, None
                result = cb()
                if hasattr(result, "__await__"):
                    await result

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def _set_cookies_from_headers(self) -> None:
        for value in self.headers.get_list("set-cookie"):
            try:
                jar = SimpleCookie()
                jar.load(value)
            except Exception:  # noqa: BLE001 - a bad cookie is ignored, as browsers do
                continue
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
