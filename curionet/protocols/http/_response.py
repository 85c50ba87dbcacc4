"""Responses.  One returned by the transport carries an async byte stream
for its body and a close callback that gives its connection back; one built
directly (tests, :class:`MockTransport` handlers) holds its body in memory."""

from __future__ import annotations

import codecs
import datetime
import json as _json
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from http.cookies import SimpleCookie
from typing import Any, overload

from ._decoders import DecodingError, make_decoder
from ._errors import (
    DecodingError as HTTPDecodingError,
    HTTPStatusError,
    ResponseNotRead,
    ResponseTooLarge,
    StreamClosed,
    StreamConsumed,
    _RequestAttribute,
)
from ._headers import Headers
from ._request import Request
from ._resource import AsyncResource
from ._url import URL

__all__ = ["Response"]

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
        except BaseException:  # the end (StopAsyncIteration) too
            await self._response.aclose()
            raise
        self._n += len(chunk)
        self._response.extensions["num_bytes_downloaded"] = self._n
        return chunk


class _StatusRange:
    """A read-only flag of :class:`Response`: ``low <= status_code < high``."""

    __slots__ = ("low", "high", "name")

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, response: None, owner: type) -> _StatusRange: ...
    @overload
    def __get__(self, response: Response, owner: type | None = None) -> bool: ...
    def __get__(self, response: Response | None, owner: type | None = None) -> bool | _StatusRange:
        if response is None:
            return self
        return self.low <= response.status_code < self.high

    def __set__(self, response: Response, value: Any) -> None:
        raise AttributeError(f"{self.name!r} of 'Response' object is read-only (it follows status_code)")


class Response(AsyncResource):
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
    request = _RequestAttribute("this response has no request")

    @property
    def url(self) -> URL:
        """The URL of the request this response answers (the final one after redirects)."""
        return self.request.url

    is_informational = _StatusRange(100, 200)
    is_success = _StatusRange(200, 300)
    is_client_error = _StatusRange(400, 500)
    is_server_error = _StatusRange(500, 600)
    is_error = _StatusRange(400, 600)

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

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
                        raise self._too_large(limit)
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
                    raise self._too_large(limit)
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

    def _too_large(self, limit: int) -> ResponseTooLarge:
        return ResponseTooLarge(f"response body larger than max_body_size={limit} bytes", request=self._request)

    def _consume_stream(self) -> None:
        """Claim the body stream, which can be iterated once."""
        if self._stream_consumed:
            raise StreamConsumed("the response body was already read", request=self._request)
        if self.is_closed:
            raise StreamClosed("the response was closed before its body was read", request=self._request)
        self._stream_consumed = True

    def _raw_chunks(self) -> AsyncIterator[bytes]:
        """The body pieces as the transport hands them over (possibly
        bytearrays), for :meth:`aread`, which joins them anyway."""
        self._consume_stream()
        return _Counting(self)

    async def aiter_raw(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body as received, without decompression."""
        self._consume_stream()
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

    def _set_cookies_from_headers(self) -> None:
        for value in self.headers.get_list("set-cookie"):
            try:
                jar = SimpleCookie()
                jar.load(value)
            except Exception:  # noqa: BLE001 - a bad cookie is ignored, as browsers do
                continue
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
