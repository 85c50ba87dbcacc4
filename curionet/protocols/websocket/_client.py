"""The client side: :class:`websocket_connect`."""

from __future__ import annotations

import logging
import random
import ssl as _ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from ...errors import TaskTimeout
from ...kernel.time import sleep, timeout_after
from ..happy_eyeballs import open_tcp_stream
from ._connection import MiB, WebSocket
from ._errors import HandshakeError, InvalidStatus
from ._handshake import _DEFAULT, _client_handshake
from ._transport import _close_quietly, as_stream

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = [
    "websocket_connect", "connect", "default_process_exception", "RedirectError", "TooManyRedirects",
    "InsecureRedirect",
]

_log = logging.getLogger("curionet")

# Reconnection delays, as in the websockets library.
BACKOFF_INITIAL_DELAY = 5.0  # the first delay is random in [0, this)
BACKOFF_MIN_DELAY = 3.1
BACKOFF_MAX_DELAY = 90.0
BACKOFF_FACTOR = 1.618


class websocket_connect:  # noqa: N801 - used like a function
    """Open a WebSocket connection to *url* (``ws://`` or ``wss://``).

    ``ws = await websocket_connect(url)`` returns an open :class:`WebSocket`;
    ``async with websocket_connect(url) as ws:`` also closes it.  ``ssl`` is
    an ``SSLContext`` (default for ``wss://``: the system's default
    context).  ``extra_headers`` are added to the request; ``compression``
    is ``True``, ``False`` or a dict of ``permessage-deflate`` parameters.
    The connection and handshake must finish within ``open_timeout``
    seconds, else :class:`HandshakeError` is raised.  A refused upgrade
    raises :class:`InvalidStatus`, a failed TCP connection the socket's
    ``OSError`` (``ConnectionRefusedError`` ...).  If the ``async with`` block is
    cancelled, the closing handshake takes at most
    ``shutdown_close_timeout`` seconds (not ``close_timeout``).
    ``user_agent_header`` is the ``User-Agent`` header (default
    ``curionet/<version> Python/<x.y>``; ``None``: no header).
    A 301, 302, 303, 307 or 308 answer to the handshake is followed (a
    relative ``Location`` is resolved against the URL) up to
    ``max_redirects`` times, then :class:`TooManyRedirects` is raised; a
    redirect from ``wss://`` to ``ws://`` raises :class:`InsecureRedirect`.

    ``async for ws in websocket_connect(url):`` connects again each time
    the loop comes round (closing the previous connection), and retries a
    failed attempt after a delay that grows from a random one in [0, 5) s
    through 3.1 s by a factor of 1.618 up to 90 s.  Which failures are
    retried is ``process_exception(exc)``'s decision: it returns ``None`` to
    retry or the exception to raise (default: :func:`default_process_exception`).
    """

    def __init__(self, url: str, *, ssl: Any = None, subprotocols: Sequence[str] = (),
                 extra_headers: Iterable[tuple[str, str]] | dict[str, str] | None = None,
                 compression: Any = True, max_message_size: int | None = MiB, max_queue: int = 16,
                 ping_interval: float | None = 20, ping_timeout: float | None = 20,
                 open_timeout: float | None = 10, close_timeout: float | None = 10,
                 origin: str | None = None, server_hostname: str | None = None,
                 stream: Any = None, shutdown_close_timeout: float | None = 1,
                 user_agent_header: Any = _DEFAULT, max_redirects: int = 10,
                 process_exception: Callable[[Exception], Exception | None] | None = None) -> None:  # fmt: skip
        self.url = url
        self._process_exception = process_exception or default_process_exception
        self._kw = dict(
            ssl=ssl, subprotocols=subprotocols, extra_headers=extra_headers, compression=compression,
            max_message_size=max_message_size, max_queue=max_queue, ping_interval=ping_interval,
            ping_timeout=ping_timeout, open_timeout=open_timeout, close_timeout=close_timeout,
            origin=origin, server_hostname=server_hostname, stream=stream,
            shutdown_close_timeout=shutdown_close_timeout, user_agent_header=user_agent_header,
            max_redirects=max_redirects,
        )  # fmt: skip
        self._ws: WebSocket | None = None

    def __await__(self) -> Generator[Any, None, WebSocket]:
        return _connect(self.url, **self._kw).__await__()

    def __aiter__(self) -> _Reconnecting:
        """``async for ws in websocket_connect(url)``: a connection per
        iteration, reconnecting with backoff (see :class:`_Reconnecting`)."""
        return _Reconnecting(self.url, self._kw, self._process_exception)

    async def __aenter__(self) -> WebSocket:
        self._ws = await _connect(self.url, **self._kw)
        return self._ws

    async def __aexit__(self, ty: Any, val: Any, tb: Any) -> None:
        assert self._ws is not None
        await self._ws.__aexit__(ty, val, tb)


def connect(uri: str, **options: Any) -> websocket_connect:
    """``websocket_connect`` under the websockets library's name, taking its
    option names too: ``additional_headers`` (``extra_headers``),
    ``max_size`` (``max_message_size``), ``compression="deflate"`` or
    ``None``, ``max_queue`` as a ``(high, low)`` pair.  Awaitable, an async
    context manager and an async iterator, like ``websocket_connect``."""
    return websocket_connect(uri, **_translate(options))


def _translate(options: dict[str, Any]) -> dict[str, Any]:
    """websockets' option names and values as curionet's."""
    options = dict(options)
    if "additional_headers" in options:
        options["extra_headers"] = options.pop("additional_headers")
    if "max_size" in options:
        options["max_message_size"] = options.pop("max_size")
    if "compression" in options:
        compression = options["compression"]
        if compression == "deflate":
            options["compression"] = True
        elif compression is None:
            options["compression"] = False
    if isinstance(options.get("max_queue"), tuple):
        options["max_queue"] = options["max_queue"][0]
    return options


def _backoff() -> Iterator[float]:
    """Reconnection delays: random (jitter, so clients that lost the same
    server do not return all at once), then growing geometrically to a cap."""
    yield random.random() * BACKOFF_INITIAL_DELAY
    delay = BACKOFF_MIN_DELAY
    while delay < BACKOFF_MAX_DELAY:
        yield delay
        delay *= BACKOFF_FACTOR
    while True:
        yield BACKOFF_MAX_DELAY


def default_process_exception(exc: Exception) -> Exception | None:
    """Which connection failures the reconnecting client retries: ``None``
    (retry) for a network error (``OSError``, TLS errors included), a
    handshake that timed out or was cut off, and an HTTP 500, 502, 503 or
    504 answer; *exc* itself (give up) for anything else, such as a 403 or
    a redirect that cannot be followed."""
    if isinstance(exc, InvalidStatus):
        return None if exc.status_code in (500, 502, 503, 504) else exc
    if isinstance(exc, RedirectError):
        return exc
    if isinstance(exc, (OSError, EOFError, HandshakeError)):
        return None
    return exc


class _Reconnecting:
    """The iterator ``async for ws in websocket_connect(url)`` runs.

    Each step closes the previous connection (if the loop body did not) and
    opens a new one.  A failed attempt is retried after the next delay of
    :func:`_backoff` when ``process_exception`` returns ``None``; the delays
    start over once a connection has been made (as in websockets).  Leaving
    the loop with ``break`` leaves the last connection open: close it, or use
    ``async with ws:`` inside the loop.
    """

    def __init__(self, url: str, kw: dict[str, Any], process_exception: Callable[[Exception], Any]) -> None:
        self._url = url
        self._kw = kw
        self._process_exception = process_exception
        self._ws: WebSocket | None = None

    def __aiter__(self) -> _Reconnecting:
        return self

    async def __anext__(self) -> WebSocket:
        previous, self._ws = self._ws, None
        if previous is not None:
            await previous.close()
        delays: Iterator[float] | None = None
        while True:
            try:
                self._ws = await _connect(self._url, **self._kw)
                return self._ws
            except Exception as exc:
                verdict = self._process_exception(exc)
                if verdict is not None:
                    if verdict is exc:
                        raise
                    raise verdict from exc
                if delays is None:
                    delays = _backoff()
                delay = next(delays)
                _log.info("connecting to %s failed (%s); retrying in %.1f s", self._url, exc, delay)
                await sleep(delay)


def _parse_url(url: str) -> tuple[bool, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URL: {url!r}")
    secure = parts.scheme == "wss"
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    port = parts.port or (443 if secure else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return secure, parts.hostname, port, path


class RedirectError(HandshakeError):
    """The server redirected the handshake somewhere the client will not follow."""


class TooManyRedirects(RedirectError):
    """More than ``max_redirects`` redirects in a row."""


class InsecureRedirect(RedirectError):
    """A ``wss://`` handshake was redirected to a ``ws://`` (unencrypted) URL."""


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTTP_SCHEMES = {"http": "ws", "https": "wss"}


def _redirect_target(url: str, location: str) -> str:
    """The URL a redirect from *url* to *location* leads to (a relative
    Location is resolved against *url*; ``http``/``https`` read as ``ws``/``wss``)."""
    target = urljoin(url, location)
    parts = urlsplit(target)
    if parts.scheme in _HTTP_SCHEMES:
        target = parts._replace(scheme=_HTTP_SCHEMES[parts.scheme]).geturl()
    if urlsplit(url).scheme == "wss" and urlsplit(target).scheme == "ws":
        raise InsecureRedirect(f"refusing to follow a redirect from {url} to the unencrypted {target}")
    try:
        _parse_url(target)
    except ValueError as exc:
        raise RedirectError(f"cannot follow the redirect from {url} to {location!r}: {exc}") from exc
    return target


async def _connect(url: str, *, ssl: Any, subprotocols: Sequence[str], extra_headers: Any, compression: Any,
                   max_message_size: int | None, max_queue: int, ping_interval: float | None,
                   ping_timeout: float | None, open_timeout: float | None, close_timeout: float | None,
                   origin: str | None, server_hostname: str | None, stream: Any,
                   shutdown_close_timeout: float | None, user_agent_header: Any,
                   max_redirects: int) -> WebSocket:  # fmt: skip
    _parse_url(url)
    first_url = url
    redirects = 0
    ws: WebSocket | None = None
    opened: Any = None
    try:
        async with timeout_after(open_timeout):
            while True:
                secure, host, port, path = _parse_url(url)
                context = None
                if secure:
                    context = _ssl.create_default_context() if ssl is None or ssl is True else ssl
                if stream is None:
                    hostname = server_hostname if server_hostname and url == first_url else host
                    opened = await _open_stream(host, port, context, hostname)
                    stream_ = as_stream(opened)
                else:
                    stream_ = as_stream(stream)
                try:
                    ws = await _client_handshake(
                        stream_, host, port, secure, path, subprotocols, extra_headers, compression,
                        max_message_size, origin, user_agent_header,
                    )  # fmt: skip
                    break
                except InvalidStatus as exc:
                    location = exc.headers.get("location")
                    if exc.status_code not in _REDIRECTS or location is None or stream is not None:
                        raise
                    redirects += 1
                    if redirects > max_redirects:
                        raise TooManyRedirects(f"more than {max_redirects} redirects from {first_url}") from exc
                    target = _redirect_target(url, location)
                    old, opened = opened, None
                    await _close_quietly(old)
                    url = target
    except TaskTimeout as exc:
        if opened is not None:
            await _close_quietly(opened)
        raise HandshakeError(f"opening handshake with {url} timed out after {open_timeout} s") from exc
    except BaseException:
        if opened is not None:
            await _close_quietly(opened)
        raise
    ws.max_queue = max(1, max_queue)
    ws.ping_interval = ping_interval
    ws.ping_timeout = ping_timeout
    ws.close_timeout = close_timeout
    ws.shutdown_close_timeout = shutdown_close_timeout
    await ws._start()
    return ws


async def _open_stream(host: str, port: int, ssl_context: Any, server_hostname: str) -> Any:
    """Connect through the Happy Eyeballs connector (TLS-wrapped for wss)."""
    try:
        if ssl_context is not None:
            return await open_tcp_stream(host, port, ssl=ssl_context, server_hostname=server_hostname)
        return await open_tcp_stream(host, port)
    except _ssl.SSLError as exc:
        raise HandshakeError(f"TLS handshake with {host}:{port} failed: {exc}") from exc
