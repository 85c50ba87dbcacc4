"""One HTTP/1.1 connection: ``h11`` driven over a :class:`~curionet.kernel.stream.Stream`.

The loop is httpcore's: ask h11 for the next event; on ``NEED_DATA`` read
from the stream and feed h11; otherwise hand the event up.  Everything the
stream or h11 raises is translated here, once, into the HTTP error hierarchy,
and any failure or cancellation in the middle of a request closes the
connection: a half-used HTTP/1.1 connection can never be reused safely.

The common exchange (a request without a streamed body, an ordinary
Content-Length response) is written and parsed by :mod:`._fastpath`, which
is exactly as strict as h11 and hands h11 everything else.

State (``NEW`` -> ``ACTIVE`` -> ``IDLE`` -> ``ACTIVE`` ... -> ``CLOSED``) is
changed synchronously by the pool; this class does the I/O.
"""

from __future__ import annotations

import io
import ssl
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import h11

from ...errors import TaskTimeout
from ...kernel.kernel import current_kernel
from ...kernel.time import timeout_after
from ._config import Timeout
from ._errors import (
    ConnectError,
    ConnectTimeout,
    HTTPError,
    LocalProtocolError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    ServerDisconnected,
    WriteError,
    WriteTimeout,
    _error,
)
from ._fastpath import parse_response_head, request_head
from ._headers import Headers
from ._request import Request
from ._response import Response

__all__ = ["HTTP11Connection", "ServerDisconnected", "NEW", "ACTIVE", "IDLE", "CLOSED"]

NEW, ACTIVE, IDLE, CLOSED = "NEW", "ACTIVE", "IDLE", "CLOSED"

READ_SIZE = 65536
MAX_READ_SIZE = 1048576  # reads grow while they come back full (large bodies)
DIRECT_THRESHOLD = 262144  # Content-Length from which the body bypasses h11's buffer
_JOIN_LIMIT = 65536  # a request body up to this size goes out in one send with the head
_MAX_IN_PLACE = 64 * 1048576  # bodies up to this size are received into one buffer (see _read_direct_all)
_Data = h11.Data
_EndOfMessage = h11.EndOfMessage
_NEED_DATA = h11.NEED_DATA
_DONE = h11.DONE


def _body_missing(missing: int, request: Request) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"the server closed the connection with {missing} bytes of the body missing", request=request
    )


_UNANSWERED = "the server closed the kept-alive connection without sending a response"


@dataclass(slots=True)
class _DirectBody:
    """A Content-Length body read straight from the stream, past h11 (see
    :meth:`HTTP11Connection._maybe_go_direct`)."""

    remaining: int  # bytes still to read from the stream
    buffered: bytes | bytearray  # bytes received with the head, not yet handed over
    close: bool  # close the connection after the body
    fresh_h11: bool  # h11 parsed the head: the connection needs a fresh state machine afterwards
    streamed: bool = False  # bytes of the body were read from the stream (not only with the head)


def _io_failure(kind: type[HTTPError], what: str, request: Request, exc: BaseException, reused: bool) -> Any:
    """The error for an OS or TLS failure while exchanging *request*.  On a
    kept-alive connection, before any byte of the response, it means the
    server closed the connection: :class:`ServerDisconnected`, which the pool
    may retry."""
    if reused:
        return ServerDisconnected(f"the server closed the kept-alive connection: {exc}", request=request, reused=True)
    return _error(kind, what, request, exc)


def _read_failure(exc: OSError, request: Request, timeout: float | None, reused: bool = False) -> Any:
    """The error for a failed receive of *request*'s response: ReadTimeout
    after *timeout* seconds without data, else ReadError (or, with *reused*,
    what :func:`_io_failure` says)."""
    if isinstance(exc, TimeoutError):
        return _error(ReadTimeout, f"no data received for {timeout} s", request)
    return _io_failure(ReadError, "receiving the response failed", request, exc, reused)


class HTTP11Connection:
    """An HTTP/1.1 connection to one origin.

    *connect* is a coroutine function returning a connected stream; it runs
    when the first request is sent, under the connect timeout.  With
    *absolute_form* the request target is the full URL (a plain-HTTP proxy);
    *proxy_headers* (:class:`Headers` items, e.g. ``Proxy-Authorization``)
    then go on every request that does not set a field of the same name.
    """

    def __init__(
        self,
        origin: tuple[str, str, int],
        connect: Callable[[], Awaitable[Any]],
        *,
        keepalive_expiry: float | None = None,
        max_header_size: int = 65536,
        absolute_form: bool = False,
        proxy_headers: list[tuple[str, str, str]] | None = None,
        expect_continue_timeout: float | None = 1.0,
    ) -> None:
        self.origin = origin
        self._connect = connect
        self._stream: Any = None
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_header_size)
        self._max_header_size = max_header_size
        self._received = 0  # bytes received since the current request was sent
        self._read_size = READ_SIZE
        self._direct: _DirectBody | None = None  # see _maybe_go_direct
        self.state = NEW
        self.requests_handled = 0
        self.keepalive_expiry = keepalive_expiry
        self.expires_at: float | None = None
        self.absolute_form = absolute_form
        self._proxy_headers = proxy_headers or None
        self._must_close = False
        self.expect_continue_timeout = expect_continue_timeout

    def __repr__(self) -> str:
        return f"<HTTP11Connection {self.origin[0]}://{self.origin[1]}:{self.origin[2]} {self.state}>"

    # -- synchronous state, used by the pool -------------------------------
    @property
    def stream(self) -> Any:
        return self._stream

    def has_expired(self, now: float) -> bool:
        """Idle for longer than ``keepalive_expiry`` (no I/O: a clock check)."""
        return self.expires_at is not None and now >= self.expires_at

    def is_available(self, now: float) -> bool:
        """Idle, not expired, and the server has not closed it meanwhile."""
        if self.state is not IDLE:
            return False
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return not self._stream.is_readable()

    def response_closed(self, now: float) -> None:
        """The response was read to the end or abandoned: go idle if the
        message exchange completed cleanly, else mark for closing."""
        if self.state is CLOSED:
            return
        h = self._h11
        if h.our_state is h11.IDLE and h.their_state is h11.IDLE and self._stream is not None:
            # Assigned but never used (the request was cancelled first), or a
            # body read directly that left a fresh state machine behind.
            if self._must_close or self._direct is not None:
                self._must_close = True
            else:
                self.state = IDLE
                self.expires_at = None if self.keepalive_expiry is None else now + self.keepalive_expiry
            return
        if h.our_state is _DONE and h.their_state is _DONE and not self._must_close:
            h.start_next_cycle()
            self.state = IDLE
            self.expires_at = None if self.keepalive_expiry is None else now + self.keepalive_expiry
        else:
            self._must_close = True

    @property
    def must_close(self) -> bool:
        return self._must_close or self.state is CLOSED

    async def aclose(self) -> None:
        """Close the stream.  Never blocks, so it is safe on any path."""
        self.state = CLOSED
        self._must_close = True
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.close()

    # -- I/O ------------------------------------------------------------------
    async def handle_request(self, request: Request, timeout: Timeout) -> Response:
        """Send *request* and receive the response head.  The body is read
        later through the response's stream.

        The common exchange skips h11's event machinery (see
        :mod:`._fastpath`); anything else is h11's, from the first byte or,
        if only the response is unusual, by replaying the request into h11
        and feeding it what was received."""
        reused = self.requests_handled > 0
        self.requests_handled += 1
        self._received = 0
        self._direct = None
        try:
            if self._stream is None:
                await self._open(request, timeout.connect)
            body = request.stream
            fast = None
            if body is None or type(body) is bytes:
                items = request.headers._items if self._proxy_headers is None else self._head_items(request)
                fast = request_head(request.method, self._target(request), items, request.url.netloc, body)
            if fast is None:
                event = await self._send_request(request, timeout, reused)
                if event is None:
                    # After a 100 Continue, reused no longer holds, and h11 may
                    # hold the start of the final head already.
                    event = await self._receive_head(request, timeout.read, reused and not self._received,
                                                     read_first=not self._h11.trailing_data[0])  # fmt: skip
            else:
                head, close = fast
                content: bytes | None = body  # type: ignore[assignment]  # checked above
                if content and len(content) <= _JOIN_LIMIT:
                    await self._write(request, head + content, timeout.write, reused)
                else:
                    await self._write(request, head, timeout.write, reused)
                    if content:
                        await self._write(request, content, timeout.write, False)
                data = await self._receive_first(request, timeout.read, reused)
                parsed = parse_response_head(data, request.method == "HEAD", self._max_header_size)
                if parsed is not None:
                    status, version, reason, items, start, length, response_close = parsed
                    buffered = data[start:]
                    self._direct = _DirectBody(length - len(buffered), buffered, close or response_close, False)
                    return Response._from_wire(
                        status, Headers._from_items(items), _ResponseBody(self, request, timeout.read), request,
                        version, reason,
                    )  # fmt: skip
                self._replay(request, data)
                event = await self._receive_head(request, timeout.read, False, read_first=False)
        except BaseException:
            await self.aclose()
            raise
        headers = Headers._from_h11(event.headers)
        if h11.DONE is self._h11.our_state and self._h11.their_state is h11.SEND_BODY:
            self._maybe_go_direct(request, event, headers)
        return Response._from_wire(
            event.status_code, headers, _ResponseBody(self, request, timeout.read), request,
            "HTTP/" + event.http_version.decode("ascii"), event.reason.decode("latin-1"),
        )  # fmt: skip

    async def _receive_first(self, request: Request, timeout: float | None, reused: bool) -> bytes:
        """The first bytes of the response (``b""`` at EOF on a new connection)."""
        stream = self._stream
        try:
            # Right after a request the answer is rarely there yet: ask for
            # readiness first (no trap when it is) rather than fail a receive.
            await stream.wait_readable(timeout)
            data: bytes = await stream.receive_some(self._read_size, timeout)
        except OSError as exc:  # TimeoutError and ssl.SSLError too
            raise _read_failure(exc, request, timeout, reused) from exc
        if not data and reused:
            raise ServerDisconnected(_UNANSWERED, request=request, reused=True)
        self._received = len(data)
        return data

    def _replay(self, request: Request, data: bytes) -> None:
        """Put h11 where it would be had it sent *request* (already sent, as
        h11 would have written it) and received *data*."""
        h = self._h11
        body = request.stream
        try:
            h.send(self._h11_request(request))
            if body:
                h.send(_Data(data=body))  # type: ignore[arg-type]  # only bytes bodies take the fast path
            h.send(_EndOfMessage())
        except h11.LocalProtocolError as exc:  # pragma: no cover - request_head accepted it
            raise _error(LocalProtocolError, "invalid request", request, exc) from exc
        h.receive_data(data)

    async def _open(self, request: Request, connect_timeout: float | None) -> None:
        try:
            if connect_timeout is None:
                self._stream = await self._connect()
            else:
                async with timeout_after(connect_timeout):
                    self._stream = await self._connect()
        except TaskTimeout as exc:
            raise _error(ConnectTimeout, f"connecting took longer than {connect_timeout} s", request) from exc
        except ssl.SSLCertVerificationError as exc:
            raise _error(ConnectError, "TLS certificate verification failed", request, exc) from exc
        except (OSError, ssl.SSLError) as exc:
            raise _error(ConnectError, "could not connect", request, exc) from exc

    def _target(self, request: Request) -> str:
        url = request.url
        return f"{url.scheme}://{url.netloc}{url.raw_path}" if self.absolute_form else url.raw_path

    def _head_items(self, request: Request) -> list[tuple[str, str, str]]:
        """The header fields to send: the request's, plus the proxy's that
        the request does not override."""
        items = request.headers._items
        extra = self._proxy_headers
        if extra is None:
            return items
        names = {item[0] for item in items}
        return items + [item for item in extra if item[0] not in names]

    def _h11_request(self, request: Request) -> h11.Request:
        """*request*'s head as an h11 event.  h11 validates everything here:
        the slow path is the reference."""
        raw = [(n.encode("latin-1"), v.encode("latin-1")) for _, n, v in self._head_items(request)]
        if "host" not in request.headers:
            raw.insert(0, (b"Host", request.url.netloc.encode("ascii")))
        return h11.Request(method=request.method.encode("ascii"), target=self._target(request).encode("ascii"),
                           headers=raw)  # fmt: skip

    async def _send_request(self, request: Request, timeout: Timeout, reused: bool) -> Any:
        """Send *request* with h11.  Returns ``None``, or the final response
        head when the server answered an ``Expect: 100-continue`` request
        with one before the body was sent (the body is then never sent)."""
        h = self._h11
        body = request.stream
        write_timeout = timeout.write
        try:
            head = h.send(self._h11_request(request))
            if body and "100-continue" in request.headers.get("expect", "").lower():
                await self._write(request, head, write_timeout, reused)  # type: ignore[arg-type]
                event = await self._wait_for_continue(request, timeout.read, reused)
                if event is not None:
                    return event
                reused = False  # the server has seen the head: no retry from here on
                head = b""  # type: ignore[assignment]
            if body is None or isinstance(body, bytes):
                data = head
                if body:
                    data += h.send(_Data(data=body))  # type: ignore[operator]
                data += h.send(_EndOfMessage())  # type: ignore[operator]
                await self._write(request, data, write_timeout, reused)  # type: ignore[arg-type]
                return None
            if head:
                await self._write(request, head, write_timeout, reused)  # type: ignore[arg-type]
            async for chunk in body:
                if chunk:
                    await self._write(request, h.send(_Data(data=chunk)), write_timeout, False)  # type: ignore[arg-type]
            await self._write(request, h.send(_EndOfMessage()), write_timeout, False)  # type: ignore[arg-type]
        except h11.LocalProtocolError as exc:
            raise _error(LocalProtocolError, "invalid request", request, exc) from exc
        return None

    async def _wait_for_continue(self, request: Request, read_timeout: float | None, reused: bool) -> Any:
        """After the head of an ``Expect: 100-continue`` request: wait up to
        ``expect_continue_timeout`` seconds for the server's answer.
        ``None`` means send the body (``100 Continue`` came, or nothing came
        in time: RFC 9110 lets a client go ahead then); a final response
        head means the server decided without the body, which is not sent.

        Discussion: the connection after a final answer.  The server has the
        head of a request whose body it never got; h11 leaves the client in
        ``SEND_BODY``, so the connection can only be reused after sending
        the body, which the server may or may not read and discard.  The
        safe choice, and the one made here, is to close it: the response is
        read as usual, then :meth:`response_closed` finds the exchange
        unfinished and the pool closes the connection."""
        h = self._h11
        wait = self.expect_continue_timeout
        clock = None
        if wait is not None:
            clock = current_kernel().clock.current_time  # type: ignore[union-attr]
            deadline = clock() + wait
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise _error(RemoteProtocolError, "invalid response from the server", request, exc) from exc
            if event is _NEED_DATA:
                if clock is not None:
                    wait = max(0.0, deadline - clock())  # another 1xx does not restart the wait
                try:
                    await self._stream.wait_readable(wait)
                except TimeoutError:
                    return None  # no answer in time: the body goes anyway
                except OSError as exc:
                    raise _read_failure(exc, request, read_timeout, reused) from exc
                try:
                    data = await self._stream.receive_some(self._read_size, read_timeout)
                except OSError as exc:  # TimeoutError and ssl.SSLError too
                    raise _read_failure(exc, request, read_timeout, reused) from exc
                self._received += len(data)
                if not data and reused:
                    raise ServerDisconnected(_UNANSWERED, request=request, reused=True)
                h.receive_data(data)
                continue
            reused = False
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 100:
                    return None
                continue  # 102, 103 ...: still waiting
            if isinstance(event, h11.Response):
                self._check_head_size(event, request)
                return event
            if isinstance(event, h11.ConnectionClosed):
                raise RemoteProtocolError(
                    "the server closed the connection without sending a response", request=request
                )
            raise RemoteProtocolError(  # pragma: no cover - h11 sends nothing else here
                f"unexpected {type(event).__name__} from the server", request=request
            )

    async def _write(self, request: Request, data: bytes, timeout: float | None, reused: bool) -> None:
        try:
            await self._stream.send_all(data, timeout)
        except TimeoutError as exc:
            raise _error(WriteTimeout, f"sending blocked for longer than {timeout} s", request) from exc
        except (OSError, ssl.SSLError) as exc:
            raise _io_failure(WriteError, "sending the request failed", request, exc, reused) from exc

    def _adapt_read_size(self, n: int) -> None:
        """Reads grow while they come back full (a large body), up to
        ``MAX_READ_SIZE``."""
        if n == self._read_size and n < MAX_READ_SIZE:
            self._read_size = n * 4

    async def _receive_event(
        self, request: Request, timeout: float | None, reused: bool = False, read_first: bool = False
    ) -> Any:
        h = self._h11
        while True:
            if read_first:
                read_first = False
                try:
                    await self._stream.wait_readable(timeout)
                except OSError as exc:  # TimeoutError and ssl.SSLError too
                    raise _read_failure(exc, request, timeout) from exc
            else:
                try:
                    event = h.next_event()
                except h11.RemoteProtocolError as exc:
                    raise _error(RemoteProtocolError, "invalid response from the server", request, exc) from exc
                if event is not _NEED_DATA:
                    return event
            try:
                data = await self._stream.receive_some(self._read_size, timeout)
            except OSError as exc:  # TimeoutError and ssl.SSLError too
                raise _read_failure(exc, request, timeout, reused) from exc
            n = len(data)
            self._received += n
            self._adapt_read_size(n)
            if not data and reused:
                raise ServerDisconnected(_UNANSWERED, request=request, reused=True)
            h.receive_data(data)

    async def _receive_head(
        self, request: Request, timeout: float | None, reused: bool, read_first: bool = True
    ) -> Any:
        # h11's buffer is empty when a request starts (leftovers are errors),
        # so read before asking h11 for an event it cannot have yet.
        first = read_first
        while True:
            event = await self._receive_event(request, timeout, reused, first)
            first = False
            reused = False  # bytes have arrived: no retry from here on
            if isinstance(event, h11.Response):
                self._check_head_size(event, request)
                return event
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.ConnectionClosed):
                raise RemoteProtocolError(
                    "the server closed the connection without sending a response", request=request
                )
            raise RemoteProtocolError(f"unexpected {type(event).__name__} from the server", request=request)

    def _check_head_size(self, event: h11.Response, request: Request) -> None:
        """h11 only bounds a head still incomplete; one that arrived whole in
        a single read is measured here (when it can be big)."""
        if self._received > self._max_header_size and (
            sum(len(n) + len(v) + 4 for n, v in event.headers) > self._max_header_size
        ):
            raise RemoteProtocolError(f"response headers larger than {self._max_header_size} bytes", request=request)

    def _maybe_go_direct(self, request: Request, event: Any, headers: Headers) -> None:
        """Content-Length bodies that are large, or already fully received,
        bypass h11's buffer and its per-event state machine.

        Discussion: h11 copies every body byte twice (into its receive
        buffer, then out of it) before we copy it once more to join the body,
        and each event costs a pass through its state machine.  For a body
        with a known length the framing is trivial: h11 has parsed and
        validated the head (one Content-Length, no chunking), so
        we read exactly that many bytes straight from the stream, then give
        the connection a fresh h11 state machine for its next request.
        Keep-alive follows the same rules h11 applies (HTTP/1.1 and no
        ``Connection: close`` on either side)."""
        if request.method == "HEAD" or event.status_code in (204, 304):
            return  # no body, whatever Content-Length says
        length = None
        close = event.http_version != b"1.1"
        for name, _, value in headers._items:
            if name == "content-length":
                length = int(value)  # h11 has checked it is one plain number
            elif name == "transfer-encoding":
                return
            elif name == "connection" and "close" in value.lower():
                close = True
        if length is None:
            return
        buffered = self._h11.trailing_data[0]
        if len(buffered) > length:
            return  # let h11 report the overlong body
        if length < DIRECT_THRESHOLD and len(buffered) != length:
            return  # a small body still on its way: h11 is fine
        if "close" in request.headers.get("connection", "").lower():
            close = True
        self._direct = _DirectBody(length - len(buffered), buffered, close, True)

    def _end_direct(self, state: _DirectBody) -> None:
        """The body read directly is complete (synchronous: no I/O)."""
        self._direct = None
        if state.fresh_h11:
            self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=self._max_header_size)
        if state.close:
            self._must_close = True

    async def _finish_direct(self, request: Request, state: _DirectBody, timeout: float | None) -> None:
        """:meth:`_end_direct`, and refuse bytes beyond Content-Length that
        came with the end of the body (h11 would see them in its buffer; we
        have to look).  A server that closed after the body sent it whole,
        but the connection cannot be reused."""
        self._end_direct(state)
        stream = self._stream
        if state.streamed and stream.is_readable():
            self._must_close = True
            try:
                extra = await stream.receive_some(1, timeout)
            except OSError:
                return  # reset after the body: the body is whole
            if extra:
                raise RemoteProtocolError(
                    "the server sent more data than the response's Content-Length", request=request
                )

    async def _read_direct_all(self, request: Request, timeout: float | None) -> bytes | None:
        """The rest of a body read directly, received in place into its final
        buffer, or ``None`` if it is too big for one.

        Discussion: a ``bytes`` object is immutable, so collecting pieces and
        joining them costs a fresh allocation per piece plus a full copy.
        ``io.BytesIO(bytes(n))`` holds zeroed memory; ``recv_into`` its buffer
        fills it in place, and ``getvalue()`` returns that same object when
        nothing else holds it (CPython: no copy; elsewhere, one).  The zeroing
        is what is left to pay (calloc clears reused heap memory); pure
        Python has no uninitialised buffer that becomes a ``bytes`` without
        a copy, and a copy costs more than zeroing."""
        state = self._direct
        assert state is not None
        buffered = state.buffered
        size = state.remaining + len(buffered)
        if size > _MAX_IN_PLACE:
            return None
        receive_into = self._stream.receive_into
        try:
            out = io.BytesIO(bytes(size))
            view = out.getbuffer()
            try:
                pos = len(buffered)
                view[:pos] = buffered
                state.buffered = b""
                while pos < size:
                    try:
                        n = await receive_into(view[pos:], timeout)
                    except OSError as exc:  # TimeoutError and ssl.SSLError too
                        raise _read_failure(exc, request, timeout) from exc
                    if not n:
                        raise _body_missing(size - pos, request)
                    pos += n
                    state.remaining = size - pos
                    state.streamed = True
            finally:
                view.release()
            await self._finish_direct(request, state, timeout)
            return out.getvalue()
        except BaseException:
            await self.aclose()
            raise

    async def _next_direct_chunk(self, request: Request, timeout: float | None) -> bytes | None:
        state = self._direct
        assert state is not None
        chunk = state.buffered
        if chunk:
            state.buffered = b""
            return chunk  # type: ignore[return-value]  # a bytearray from h11's buffer: callers convert
        remaining = state.remaining
        if remaining == 0:
            await self._finish_direct(request, state, timeout)
            return None
        try:
            data = await self._stream.receive_some(min(self._read_size, remaining), timeout)
        except OSError as exc:  # TimeoutError and ssl.SSLError too
            raise _read_failure(exc, request, timeout) from exc
        if not data:
            raise _body_missing(remaining, request)
        n = len(data)
        state.remaining = remaining - n
        state.streamed = True
        self._adapt_read_size(n)
        return data

    async def _next_body_chunk(self, request: Request, timeout: float | None) -> bytes | None:
        """The next piece of the body (bytes or a bytearray: callers that keep
        it convert), or ``None`` at its end."""
        try:
            if self._direct is not None:
                return await self._next_direct_chunk(request, timeout)
            while True:
                event = await self._receive_event(request, timeout)
                if type(event) is _Data:
                    if event.data:
                        return event.data  # type: ignore[no-any-return]  # may be a bytearray: no copy here
                    continue
                if type(event) is _EndOfMessage:
                    if self._h11.trailing_data[0]:
                        self._must_close = True
                        raise RemoteProtocolError(
                            "the server sent more data than the response's Content-Length", request=request
                        )
                    return None
                if isinstance(event, h11.ConnectionClosed):
                    raise RemoteProtocolError("the server closed the connection mid-response", request=request)
                raise RemoteProtocolError(  # pragma: no cover - h11 sends nothing else
                    f"unexpected {type(event).__name__} in the response body", request=request
                )
        except BaseException:
            await self.aclose()
            raise


class _ResponseBody(AsyncIterable[bytes]):
    """The response body as an async iterator of bytes (a class, not an async
    generator, so an abandoned body needs no finalizer to run)."""

    __slots__ = ("_conn", "_request", "_timeout", "_done")

    def __init__(self, conn: HTTP11Connection, request: Request, timeout: float | None) -> None:
        self._conn = conn
        self._request = request
        self._timeout = timeout
        self._done = False

    def __aiter__(self) -> _ResponseBody:
        return self

    def _take_with_head(self, state: _DirectBody) -> Any:
        """The whole body came with the head: hand it over and end it now,
        so nothing more needs a trip into the connection."""
        body = state.buffered
        state.buffered = b""
        self._conn._end_direct(state)
        self._done = True
        return body

    async def read_all(self, limit: int | None) -> bytes | None:
        """The whole body in one piece, or ``None`` (nothing consumed) when
        it has to be iterated: its length is unknown, over *limit* (or too
        big for one buffer), or it is partly consumed already."""
        conn = self._conn
        state = conn._direct
        if self._done or state is None or (limit is not None and state.remaining + len(state.buffered) > limit):
            return None
        if not state.remaining and not state.streamed:
            body = self._take_with_head(state)
            return body if type(body) is bytes else bytes(body)
        body = await conn._read_direct_all(self._request, self._timeout)
        if body is not None:
            self._done = True
        return body

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        conn = self._conn
        state = conn._direct
        if state is not None and state.buffered and not state.remaining and not state.streamed:
            return self._take_with_head(state)
        chunk = await conn._next_body_chunk(self._request, self._timeout)
        if chunk is None:
            self._done = True
            raise StopAsyncIteration
        return chunk
