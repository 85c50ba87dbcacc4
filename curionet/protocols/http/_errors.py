"""The HTTP client's exception hierarchy.

Every exception names the URL it concerns (``str(exc)`` ends with it and
``exc.request`` holds the request).  Foreign exceptions (h11, ssl, OSError,
kernel timeouts) are translated once, where the connection layer meets the
stream, with ``raise ... from``::

    HTTPError
     ├── RequestError
     │    ├── TransportError
     │    │    ├── TimeoutException
     │    │    │    ├── ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout
     │    │    │    └── TotalTimeout        (the overall per-request limit)
     │    │    ├── NetworkError
     │    │    │    └── ConnectError, ReadError, WriteError, CloseError
     │    │    ├── ProtocolError
     │    │    │    ├── RemoteProtocolError (ServerDisconnected: the pool's retry signal)
     │    │    │    └── LocalProtocolError
     │    │    ├── ProxyError
     │    │    └── UnsupportedProtocol
     │    ├── TooManyRedirects
     │    ├── ResponseTooLarge, DecodingError
     │    └── StreamError (StreamConsumed, ResponseNotRead, StreamClosed)
     └── HTTPStatusError                  (raise_for_status)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

from ...errors import CurionetError

if TYPE_CHECKING:
    from ._request import Request
    from ._response import Response

__all__ = [
    "HTTPError",
    "RequestError",
    "TransportError",
    "TimeoutException",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "TotalTimeout",
    "NetworkError",
    "ConnectError",
    "ReadError",
    "WriteError",
    "CloseError",
    "ProtocolError",
    "RemoteProtocolError",
    "ServerDisconnected",
    "LocalProtocolError",
    "ProxyError",
    "UnsupportedProtocol",
    "TooManyRedirects",
    "ResponseTooLarge",
    "DecodingError",
    "StreamError",
    "StreamConsumed",
    "ResponseNotRead",
    "StreamClosed",
    "HTTPStatusError",
    "InvalidURL",
]


class _RequestAttribute:
    """The ``request`` of an error or a response, kept in its ``_request``:
    it may be set at any time; reading it while unset raises
    ``RuntimeError(missing)``."""

    __slots__ = ("missing",)

    def __init__(self, missing: str) -> None:
        self.missing = missing

    @overload
    def __get__(self, obj: None, owner: type) -> _RequestAttribute: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Request: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Request | _RequestAttribute:
        if obj is None:
            return self
        request: Request | None = obj._request
        if request is None:
            raise RuntimeError(self.missing)
        return request

    def __set__(self, obj: Any, request: Request) -> None:
        obj._request = request


class HTTPError(CurionetError):
    """Base class of every HTTP client error."""

    def __init__(self, message: str, *, request: Request | None = None) -> None:
        self._request = request
        if request is not None and str(request.url) not in message:
            message = f"{message} ({request.method} {request.url})"
        super().__init__(message)

    #: The request that failed.
    request = _RequestAttribute("no request is associated with this error")


class InvalidURL(CurionetError, ValueError):
    """A URL could not be parsed or has no usable scheme/host."""


class RequestError(HTTPError):
    """Sending the request or receiving the response failed."""


class TransportError(RequestError):
    """The connection failed: timeouts, network and protocol errors."""


class TimeoutException(TransportError):
    """A timeout expired."""


class ConnectTimeout(TimeoutException):
    """Connecting (TCP and TLS handshake) took longer than ``timeout.connect``."""


class ReadTimeout(TimeoutException):
    """No byte of the response arrived within ``timeout.read``."""


class WriteTimeout(TimeoutException):
    """Sending (part of) the request blocked for longer than ``timeout.write``."""


class PoolTimeout(TimeoutException):
    """No connection became available within ``timeout.pool``."""


class TotalTimeout(TimeoutException):
    """The whole request took longer than ``timeout.total``."""


class NetworkError(TransportError):
    """An OS-level error on the connection."""


class ConnectError(NetworkError):
    """The connection (or its TLS handshake, e.g. a bad certificate) failed."""


class ReadError(NetworkError):
    """Receiving data failed (connection reset, TLS error...)."""


class WriteError(NetworkError):
    """Sending data failed (broken pipe, connection reset...)."""


class CloseError(NetworkError):
    """Closing the connection failed."""


class ProtocolError(TransportError):
    """The HTTP/1.1 protocol was violated."""


class RemoteProtocolError(ProtocolError):
    """The server violated HTTP/1.1: a malformed status line, oversized
    headers, a body longer than its Content-Length, a connection closed
    mid-response..."""


class ServerDisconnected(RemoteProtocolError):
    """The server closed a kept-alive connection before sending any byte of
    the response.  The pool retries idempotent requests once on a new
    connection; otherwise the caller sees a :class:`RemoteProtocolError`.
    *reused*: the connection had served a request before."""

    def __init__(self, message: str, *, request: Request | None = None, reused: bool = False) -> None:
        super().__init__(message, request=request)
        self.reused = reused


class LocalProtocolError(ProtocolError):
    """The request we were asked to send is not valid HTTP/1.1."""


class ProxyError(TransportError):
    """The proxy refused or failed the request (e.g. CONNECT not answered 2xx)."""


class UnsupportedProtocol(TransportError):
    """The URL scheme is not ``http`` or ``https``."""


class TooManyRedirects(RequestError):
    """More than ``max_redirects`` redirects were followed."""


class ResponseTooLarge(RequestError):
    """The response body exceeded the session's ``max_body_size``."""


class DecodingError(RequestError):
    """The body could not be decompressed as its Content-Encoding says."""


class StreamError(RequestError):
    """A response body was used the wrong way."""


class StreamConsumed(StreamError):
    """The body was already iterated and cannot be read again."""


class ResponseNotRead(StreamError):
    """``response.content`` was used before the body was read."""


class StreamClosed(StreamError):
    """The response was closed before its body was read."""


class HTTPStatusError(HTTPError):
    """Raised by :meth:`Response.raise_for_status` for 4xx and 5xx responses."""

    def __init__(self, message: str, *, request: Request, response: Response) -> None:
        super().__init__(message, request=request)
        self.response = response


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error(cls: type[HTTPError], what: str, request: Request | None, exc: BaseException | None = None) -> Any:
    """Build ``cls`` with a message naming the cause; used with ``raise ... from exc``."""
    message = what if exc is None else f"{what}: {_describe(exc)}"
    return cls(message, request=request)
