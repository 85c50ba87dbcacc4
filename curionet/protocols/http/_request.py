"""Requests, and the bodies the ``content``/``data``/``files``/``json``
arguments become: bytes with a Content-Length, or an async stream sent
chunked.  Plain data with no I/O of its own."""

from __future__ import annotations

import json as _json
import mimetypes
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from ._errors import StreamConsumed
from ._headers import Headers
from ._url import URL, QueryParams, _encode_params

__all__ = ["Request", "encode_request_body"]

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
        """Whether the body can be sent again (retries, redirects that keep
        the method): no body, bytes, or a seekable file."""
        return self.stream is None or isinstance(self.stream, bytes) or (
            isinstance(self.stream, _FileBody) and self.stream.start is not None
        )

    def __repr__(self) -> str:
        return f"<Request({self.method!r}, {str(self.url)!r})>"
