"""The connection pool and the HTTP transport built on it.

Discussion: bookkeeping apart from I/O.  Every change to the pool's state
(which request owns which connection, which connections are idle, expired or
to be closed) happens in :meth:`ConnectionPool._assign`, a plain synchronous
function that returns the connections to close.  The coroutines around it
only wait and do I/O, and they call ``_assign`` again in ``finally``/
``except BaseException`` blocks, which cannot be interrupted (closing never
blocks; the kernel delivers a cancellation only at a blocking trap).  So a
request cancelled at any ``await`` (waiting for a slot, connecting, sending,
receiving the head, reading the body) gives back its slot, and its
connection is closed unless it finished a clean exchange.  This is
httpcore's design, minus its thread/async duality.

Two shortcuts skip ``_assign`` in the common cases: :meth:`_fast_acquire`
(a lone request takes the most recently used idle connection to its
origin) and :meth:`_fast_release` (a connection goes idle).  Each applies
only when ``_assign`` would make exactly that change and no other: no other
request waits, no idle connection has expired, the idle limit holds.  So
the policy lives in ``_assign`` alone; ``tests/test_http_pool.py`` runs
random sequences of operations through a pool with the shortcuts and one
without, and requires the same bookkeeping after every step.
"""

from __future__ import annotations

import functools
import math
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...errors import TaskTimeout
from ...kernel.kernel import current_kernel
from ...kernel.sched import SchedBarrier
from ...kernel.time import timeout_after
from ._config import DEFAULT_LIMITS, DEFAULT_TIMEOUT, Limits, Timeout, create_ssl_context, env_ca_bundle
from ._connection import ACTIVE, CLOSED, IDLE, NEW, HTTP11Connection
from ._errors import PoolTimeout, RemoteProtocolError, ServerDisconnected, UnsupportedProtocol, _error
from ._proxy import EnvProxies, check_proxy_url, open_via_proxy, proxy_headers
from ._request import Request
from ._resource import AsyncResource
from ._response import Response
from ._streams import open_stream, open_unix_stream
from ._url import URL

__all__ = ["ConnectionPool", "AsyncBaseTransport", "HTTPTransport", "MockTransport", "Connector"]

#: ``async connector(host, port, *, ssl_context, server_hostname) -> stream``
Connector = Callable[..., Awaitable[Any]]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


def _now() -> float:
    kernel = current_kernel()
    return kernel.clock.current_time() if kernel is not None else 0.0  # type: ignore[no-any-return]


class _PoolRequest:
    """A request waiting for, or holding, a connection."""

    __slots__ = ("request", "key", "connection", "force_new", "_waiting")

    def __init__(self, request: Request, key: tuple[Any, ...]) -> None:
        self.request = request
        self.key = key
        self.connection: HTTP11Connection | None = None
        self.force_new = False
        self._waiting: SchedBarrier | None = None  # created only if the request has to wait

    def assign(self, connection: HTTP11Connection) -> None:
        self.connection = connection
        connection.state = ACTIVE
        waiting = self._waiting
        if waiting:
            waiting._wake(len(waiting))

    async def wait_for_connection(self, timeout: float | None) -> HTTP11Connection:
        if self.connection is None:
            if self._waiting is None:
                self._waiting = SchedBarrier()
            try:
                async with timeout_after(timeout):
                    while self.connection is None:
                        await self._waiting.suspend("HTTP_POOL_WAIT")
            except TaskTimeout as exc:
                raise _error(PoolTimeout, f"no connection available within {timeout} s", self.request) from exc
        return self.connection


class ConnectionPool(AsyncResource):
    """Keep-alive connections keyed by origin (and proxy), within
    :class:`Limits`.  Use through :class:`HTTPTransport`.

    *proxy* is used for every request; without it, *proxy_env* (an
    environment mapping: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``, see :class:`EnvProxies`) is read once, here, and chooses
    per origin."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        proxy: str | URL | None = None,
        connector: Connector | None = None,
        max_header_size: int = 65536,
        proxy_env: Mapping[str, str] | None = None,
        expect_continue_timeout: float | None = 1.0,
    ) -> None:
        self._ssl_context = ssl_context
        self._expect_continue_timeout = expect_continue_timeout
        self._ssl_verify: bool | str = True  # what the default context verifies with (a CA path from the env)
        self._limits = limits
        # The proxy part of a pool key is the proxy URL as a string (its
        # credentials included: two proxies may differ only in those).
        self._proxy: str | None = None
        self._env_proxies: EnvProxies | None = None
        self._proxy_cache: dict[tuple[str, str, int | None], str | None] = {}
        if proxy is not None:
            self._proxy = str(proxy)
            check_proxy_url(URL(self._proxy))
        elif proxy_env is not None:
            env = EnvProxies(proxy_env)
            if env.any:
                self._env_proxies = env
        self._connector: Connector = connector or open_stream
        self._max_header_size = max_header_size
        self._connections: list[HTTP11Connection] = []
        self._requests: list[_PoolRequest] = []
        # No idle connection expires before this time (it may be earlier than
        # the true first expiry, never later): the shortcuts leave expiring
        # connections to _assign.
        self._next_expiry = math.inf
        self._closed = False

    # -- introspection (tests, monitors) --------------------------------------
    @property
    def connections(self) -> list[HTTP11Connection]:
        """Every connection, in least-recently-used order."""
        return list(self._connections)

    @property
    def active_connections(self) -> int:
        return sum(1 for c in self._connections if c.state in (ACTIVE, NEW))

    @property
    def idle_connections(self) -> int:
        return sum(1 for c in self._connections if c.state is IDLE)

    @property
    def pending_requests(self) -> int:
        return sum(1 for r in self._requests if r.connection is None)

    def __repr__(self) -> str:
        return (
            f"<ConnectionPool active={self.active_connections} idle={self.idle_connections} "
            f"waiting={self.pending_requests}>"
        )

    # -- synchronous bookkeeping ----------------------------------------------
    def _key(self, url: URL) -> tuple[Any, ...]:
        """``(scheme, host, port, proxy URL or None)``: connections are
        shared by requests with the same key."""
        if self._env_proxies is not None:
            return (url.scheme, url.host, url.port, self._env_proxy(url.scheme, url.host, url.port))
        return (url.scheme, url.host, url.port, self._proxy)

    def _env_proxy(self, scheme: str, host: str, port: int | None) -> str | None:
        """The environment's proxy for an origin, remembered (the rules are
        walked once per origin, not per request)."""
        origin = (scheme, host, port)
        cache = self._proxy_cache
        try:
            return cache[origin]
        except KeyError:
            pass
        if len(cache) >= 1024:
            cache.clear()
        via = cache[origin] = self._env_proxies.select(scheme, host, port)  # type: ignore[union-attr]
        return via

    def _new_connection(self, key: tuple[Any, ...]) -> HTTP11Connection:
        scheme, host, port, via = key
        absolute = via is not None and scheme == "http"
        conn = HTTP11Connection(
            (scheme, host, port),
            lambda: self._open(scheme, host, port, via),
            keepalive_expiry=self._limits.keepalive_expiry,
            max_header_size=self._max_header_size,
            absolute_form=absolute,
            proxy_headers=proxy_headers(URL(via)) if absolute else None,
            expect_continue_timeout=self._expect_continue_timeout,
        )
        conn.key = key  # type: ignore[attr-defined]
        return conn

    def _assign(self, now: float) -> list[HTTP11Connection]:
        """The pool's policy: match waiting requests to connections (the
        most recently used idle one to the origin, else a new one, closing
        the least recently used idle one if the pool is full); close
        connections that are closed, expired, or idle beyond the limit.
        Returns the connections to close.  Synchronous: no await may split
        this."""
        limits = self._limits
        closing: list[HTTP11Connection] = []
        live: list[HTTP11Connection] = []
        for conn in self._connections:
            if conn.state is CLOSED or (conn.state is IDLE and conn.has_expired(now)):
                closing.append(conn)
            else:
                live.append(conn)
        max_conns = limits.max_connections
        for preq in self._requests:
            if preq.connection is not None:
                continue
            key = preq.key
            chosen = None
            if not preq.force_new:
                for conn in reversed(live):  # most recently used first
                    if conn.state is IDLE and conn.key == key:  # type: ignore[attr-defined]
                        # Only a candidate costs the liveness check (a syscall).
                        if conn.is_available(now):
                            chosen = conn
                            break
                        conn.state = CLOSED
                        closing.append(conn)
                if closing:
                    live[:] = [c for c in live if c.state is not CLOSED]
            if chosen is None:
                if max_conns is None or len(live) < max_conns:
                    chosen = self._new_connection(key)
                    live.append(chosen)
                else:
                    victim = next((c for c in live if c.state is IDLE), None)
                    if victim is None:
                        continue  # wait for a connection to be released
                    live.remove(victim)
                    victim.state = CLOSED
                    closing.append(victim)
                    chosen = self._new_connection(key)
                    live.append(chosen)
            else:
                # Most recently used last: reuse keeps warm connections warm.
                live.remove(chosen)
                live.append(chosen)
            preq.assign(chosen)
        max_idle = limits.max_keepalive_connections
        idle = [c for c in live if c.state is IDLE]
        if max_idle is not None and len(idle) > max_idle:
            for conn in idle[: len(idle) - max_idle]:
                live.remove(conn)
                conn.state = CLOSED
                closing.append(conn)
            idle = idle[len(idle) - max_idle :]
        self._next_expiry = min((c.expires_at for c in idle if c.expires_at is not None), default=math.inf)
        self._connections = live
        return closing

    def _acquire(self, preq: _PoolRequest, now: float) -> list[HTTP11Connection]:
        """Give *preq* (already in ``_requests``) a connection if the policy
        has one for it now; return the connections to close."""
        if self._fast_acquire(preq, now):
            return []
        return self._assign(now)

    def _fast_acquire(self, preq: _PoolRequest, now: float) -> bool:
        """Make :meth:`_assign`'s choice for *preq* without running it, when
        that choice is all it would change: no other request waits and the
        most recently used idle connection to the origin is usable, and no
        idle connection has expired.  False (and nothing changed) otherwise."""
        if preq.force_new or now >= self._next_expiry:
            return False
        for other in self._requests:
            if other.connection is None and other is not preq:
                return False
        conns = self._connections
        key = preq.key
        for i in range(len(conns) - 1, -1, -1):
            conn = conns[i]
            if conn.state is IDLE and conn.key == key:  # type: ignore[attr-defined]
                if not conn.is_available(now):
                    return False  # let _assign close it and find another
                del conns[i]
                conns.append(conn)
                preq.assign(conn)
                return True
        return False

    def _release(self, preq: _PoolRequest, now: float) -> list[HTTP11Connection]:
        """*preq* is done (response closed, failed or cancelled): its
        connection goes idle or is closed.  Returns the connections to close."""
        try:
            self._requests.remove(preq)
        except ValueError:
            pass
        conn = preq.connection
        preq.connection = None
        if conn is not None:
            if conn.state is NEW:
                conn.state = CLOSED  # never connected: nothing to keep
            elif conn.state is ACTIVE:
                conn.response_closed(now)
                if conn.must_close:
                    conn.state = CLOSED
            if conn.state is IDLE and self._fast_release(conn, now):
                return []
        return self._assign(now)

    def _fast_release(self, conn: HTTP11Connection, now: float) -> bool:
        """Whether :meth:`_assign` has nothing to do after *conn* went idle:
        nobody waits, no idle connection has expired (*conn* included) and
        the idle limit holds."""
        expires = conn.expires_at
        if expires is not None and expires < self._next_expiry:
            self._next_expiry = expires
        if now >= self._next_expiry:
            return False
        for r in self._requests:
            if r.connection is None:
                return False  # someone waits
        max_idle = self._limits.max_keepalive_connections
        if max_idle is None:
            return True
        idle = 0
        for c in self._connections:
            if c.state is IDLE:
                idle += 1
        return idle <= max_idle

    @staticmethod
    async def _close_all(connections: list[HTTP11Connection]) -> None:
        for conn in connections:
            await conn.aclose()

    # -- I/O --------------------------------------------------------------------
    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The context for ``https://`` origins (the shared default one is
        built on first use, so a program that never uses TLS never loads a
        trust store)."""
        ctx = self._ssl_context
        return ctx if ctx is not None else create_ssl_context(self._ssl_verify)

    async def _open(self, scheme: str, host: str, port: int, via: str | None) -> Any:
        ctx = None
        if scheme == "https":
            ctx = self.ssl_context
        if via is None:
            return await self._connector(host, port, ssl_context=ctx, server_hostname=host)
        return await open_via_proxy(self._connector, URL(via), scheme, host, port, ctx)

    async def handle_request(self, request: Request) -> Response:
        """Send *request* on a pooled connection; return the response with
        its body unread.  Closing the response gives the connection back."""
        url = request.url
        if url.scheme not in ("http", "https"):
            raise UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        if not url.host:
            raise UnsupportedProtocol("the URL has no host", request=request)
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        timeout: Timeout = request.extensions.get("timeout") or DEFAULT_TIMEOUT
        preq = _PoolRequest(request, self._key(url))
        self._requests.append(preq)
        retried = False
        try:
            while True:
                closing = self._acquire(preq, _now())
                if closing:
                    await self._close_all(closing)
                conn = preq.connection
                if conn is None:
                    conn = await preq.wait_for_connection(timeout.pool)
                try:
                    response = await conn.handle_request(request, timeout)
                except ServerDisconnected as exc:
                    if retried or not exc.reused or request.method not in _IDEMPOTENT or not request.replayable:
                        raise RemoteProtocolError(str(exc), request=request) from exc
                    retried = True
                    preq.connection = None
                    preq.force_new = True
                    continue
                break
        except BaseException:
            await self._close_all(self._release(preq, _now()))
            raise
        response._on_close = lambda: self._response_closed(preq)
        return response

    async def _response_closed(self, preq: _PoolRequest) -> None:
        closing = self._release(preq, _now())
        if closing:
            await self._close_all(closing)

    async def aclose(self) -> None:
        """Close every connection.  Responses still being read fail."""
        self._closed = True
        conns, self._connections = self._connections, []
        for preq in self._requests:
            preq.connection = None
        await self._close_all(conns)


class AsyncBaseTransport:
    """What :class:`ClientSession` sends requests through.  Subclass it to
    intercept requests (see :class:`MockTransport`)."""

    async def handle_request(self, request: Request) -> Response:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


class HTTPTransport(AsyncBaseTransport):
    """The real transport: a :class:`ConnectionPool` with TLS settings.

    ``connector`` replaces how streams are opened (tests use it to count or
    break connections); by default the Happy Eyeballs connector.  ``uds``
    (a path) sends every request over that Unix-domain socket instead (the
    URL still gives the ``Host`` header, the TLS server name and the pool
    key); it cannot be combined with ``connector`` or ``proxy``.
    ``expect_continue_timeout`` is how long a request sent with
    ``Expect: 100-continue`` waits for ``100 Continue`` before sending its
    body anyway (``None``: no limit)."""

    def __init__(
        self,
        *,
        verify: bool | str | ssl.SSLContext = True,
        cert: Any = None,
        trust_env: bool = True,
        limits: Limits = DEFAULT_LIMITS,
        proxy: str | URL | None = None,
        connector: Connector | None = None,
        max_header_size: int = 65536,
        proxy_env: Mapping[str, str] | None = None,
        uds: str | os.PathLike[str] | None = None,
        expect_continue_timeout: float | None = 1.0,
    ) -> None:
        self.uds = None if uds is None else os.fspath(uds)
        if self.uds is not None:
            if connector is not None:
                raise ValueError("give uds= or connector=, not both")
            if proxy is not None:
                raise ValueError("a proxy cannot be used with uds=")
            connector = functools.partial(open_unix_stream, self.uds)
            proxy_env = None
        self._verify = verify
        self._cert = cert
        self._trust_env = trust_env
        self._ctx: ssl.SSLContext | None = None
        if not isinstance(verify, bool) or cert is not None or not verify:
            self._ctx = create_ssl_context(verify, cert)
        self.pool = ConnectionPool(
            ssl_context=self._ctx, limits=limits, proxy=proxy, connector=connector,
            max_header_size=max_header_size, proxy_env=proxy_env, expect_continue_timeout=expect_continue_timeout,
        )  # fmt: skip
        if self._ctx is None and trust_env:
            # Read now; the context itself is built on the first https request.
            self.pool._ssl_verify = env_ca_bundle() or True
        # One coroutine frame fewer on every request.
        self.handle_request = self.pool.handle_request  # type: ignore[method-assign]

    async def handle_request(self, request: Request) -> Response:
        return await self.pool.handle_request(request)

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The ``SSLContext`` used for ``https://`` URLs."""
        return self.pool.ssl_context

    async def aclose(self) -> None:
        await self.pool.aclose()


class MockTransport(AsyncBaseTransport):
    """A transport that calls ``handler(request)`` (sync or async) instead of
    the network; the handler returns a :class:`Response`."""

    def __init__(self, handler: Callable[[Request], Any]) -> None:
        self.handler = handler

    async def handle_request(self, request: Request) -> Response:
        if request.stream is not None and not isinstance(request.stream, bytes):
            chunks = [chunk async for chunk in request.stream]
            request.stream = b"".join(chunks)
        response = self.handler(request)
        if hasattr(response, "__await__"):
            response = await response
        if not isinstance(response, Response):
            raise TypeError(f"the MockTransport handler returned {response!r}, not a Response")
        response.request = request
        return response
