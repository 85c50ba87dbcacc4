"""``ClientSession``: requests, redirects, cookies, auth and timeouts on top of
a transport (the pooled :class:`HTTPTransport`, or a mock)."""

from __future__ import annotations

import datetime
import os
import ssl
from collections.abc import Mapping
from typing import Any

from ...errors import TaskTimeout
from ...kernel.kernel import current_kernel
from ...kernel.time import timeout_after
from ._auth import Auth, BasicAuth, build_auth
from ._config import DEFAULT_LIMITS, DEFAULT_TIMEOUT, Limits, Timeout
from ._cookies import Cookies
from ._decoders import ACCEPT_ENCODING
from ._errors import RequestError, StreamConsumed, TooManyRedirects, TotalTimeout, _error
from ._headers import Headers
from ._mounts import Mounts
from ._pool import AsyncBaseTransport, HTTPTransport
from ._request import Request, encode_request_body
from ._resource import AsyncResource
from ._response import Response
from ._url import URL, QueryParams, _encode_params

__all__ = ["AsyncClient", "AsyncHTTPTransport", "ClientSession", "USE_SESSION_DEFAULT", "DEFAULT_MAX_BODY_SIZE"]

#: Marks an argument left to the session's setting.
USE_SESSION_DEFAULT: Any = type("UseSessionDefault", (), {"__repr__": lambda self: "USE_SESSION_DEFAULT"})()

#: The default bound on a body read into memory (``await session.get(...)``).
DEFAULT_MAX_BODY_SIZE = 256 * 1024 * 1024

_USER_AGENT = "curionet"
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = ("content-length", "content-type", "transfer-encoding", "content-encoding")
# request.extensions key: the jar's cookies were added to the Cookie header,
# whose explicit part (before the jar's) is the value.
_EXPLICIT_COOKIE = "explicit_cookie"


def _kernel_clock() -> Any:
    """The running kernel's clock function (read without a trap)."""
    kernel = current_kernel()
    if kernel is None:  # pragma: no cover - always inside a kernel
        raise RuntimeError("ClientSession must be used inside a running curionet kernel")
    return kernel.clock.current_time


def _same_origin(a: URL, b: URL) -> bool:
    return a.origin == b.origin


def _is_https_upgrade(old: URL, new: URL) -> bool:
    return (
        old.scheme == "http" and new.scheme == "https" and old.host == new.host
        and old.port in (80, None) and new.port in (443, None)
    )  # fmt: skip


def _join_cookie_fields(headers: Headers) -> None:
    """Several Cookie fields become one (``"; "``-joined, RFC 6265 5.4)."""
    fields = headers.get_list("cookie")
    if len(fields) > 1:
        headers["Cookie"] = "; ".join(fields)


async def _read_request_body(request: Request) -> None:
    """Read a streamed request body into memory (for an auth flow that
    needs ``request.content``); it is then sent with a Content-Length."""
    if request.stream is None or isinstance(request.stream, bytes):
        return
    parts = [bytes(chunk) async for chunk in request.stream]
    request.stream = b"".join(parts)
    if "transfer-encoding" in request.headers:
        del request.headers["transfer-encoding"]
    request.headers["Content-Length"] = str(len(request.stream))


class _StreamContext:
    """What :meth:`ClientSession.stream` returns.  A class rather than an
    ``@asynccontextmanager`` generator: one that is entered and then dropped
    must not need a finalizer that awaits (the session's close still closes
    its connection)."""

    __slots__ = ("_session", "_request", "_auth", "_follow", "_response")

    def __init__(self, session: ClientSession, request: Request, auth: Any, follow: Any) -> None:
        self._session = session
        self._request = request
        self._auth = auth
        self._follow = follow
        self._response: Response | None = None

    async def __aenter__(self) -> Response:
        self._response = await self._session.send(self._request, stream=True, auth=self._auth,
                                                  follow_redirects=self._follow)  # fmt: skip
        return self._response

    async def __aexit__(self, *exc: Any) -> None:
        if self._response is not None:
            await self._response.aclose()


class ClientSession(AsyncResource):
    """An HTTP/1.1 client session with a connection pool, cookies and defaults.

    Use it as an async context manager; every connection is closed on exit::

        async with ClientSession(base_url="https://example.org") as session:
            response = await session.get("/items", params={"page": 2})
            items = await response.json()

    ``timeout`` is a number (seconds for connect, read, write and pool) or a
    :class:`Timeout`; ``limits`` a :class:`Limits`; ``verify`` ``True`` (the
    system store), ``False``, a CA bundle path or an ``ssl.SSLContext``;
    ``cert`` a client certificate (path or ``(certfile, keyfile)``);
    ``proxy`` an ``http://`` proxy URL for every request (``CONNECT``
    tunnels for HTTPS; credentials in the URL go to the proxy);
    ``trust_env`` (default ``True``) reads, when the session is created,
    ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` (unless
    ``proxy`` is given; see :func:`select_proxy`) and
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``;
    ``event_hooks`` ``{"request": [...], "response": [...]}`` of callables
    (sync or async); ``transport`` replaces the network (see
    :class:`MockTransport`); ``max_body_size`` bounds bodies read into memory.

    ``mounts`` routes URL patterns to transports, as in httpx
    (``{"http://": t1, "all://*.internal": t2}``; the most specific match
    wins, see :class:`MountPattern`; a transport of ``None`` means the
    session's own).  ``uds`` sends every request over the Unix-domain
    socket at that path (Docker's API, for instance); the Host header
    still comes from the URL.  ``expect_continue_timeout`` (default 1 s) is
    how long a request with an ``Expect: 100-continue`` header waits for
    ``100 Continue`` before sending its body anyway;
    ``expect_continue_threshold`` (bytes), when set, adds that header to
    every request whose body is at least that large or of unknown length.
    """

    def __init__(
        self,
        base_url: str | URL | None = None,
        headers: Any = None,
        params: QueryParams = None,
        auth: Any = None,
        cookies: Any = None,
        timeout: float | None | Timeout = DEFAULT_TIMEOUT,
        limits: Limits = DEFAULT_LIMITS,
        follow_redirects: bool = True,
        max_redirects: int = 20,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        cert: Any = None,
        trust_env: bool = True,
        proxy: str | URL | None = None,
        event_hooks: dict[str, list[Any]] | None = None,
        *,
        transport: AsyncBaseTransport | None = None,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        max_header_size: int = 65536,
        mounts: Mapping[str, AsyncBaseTransport | None] | None = None,
        uds: str | os.PathLike[str] | None = None,
        expect_continue_timeout: float | None = 1.0,
        expect_continue_threshold: int | None = None,
    ) -> None:
        self.base_url = URL(base_url) if base_url is not None else None
        self.headers = Headers({"User-Agent": _USER_AGENT, "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING})
        if headers is not None:
            self.headers.update(headers)
            _join_cookie_fields(self.headers)
        self.params = params
        self.auth = build_auth(auth)
        self.cookies = Cookies(cookies)
        self.timeout = timeout if isinstance(timeout, Timeout) else Timeout(timeout)
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.max_body_size = max_body_size
        self.trust_env = trust_env
        hooks = event_hooks or {}
        self.event_hooks: dict[str, list[Any]] = {
            "request": list(hooks.get("request", [])),
            "response": list(hooks.get("response", [])),
        }
        if isinstance(verify, os.PathLike):
            verify = os.fspath(verify)
        # The environment is read here, once: requests pay nothing for it.
        # An explicit proxy= or transport= leaves the proxy variables unread.
        self._transport = transport or HTTPTransport(
            verify=verify, cert=cert, trust_env=trust_env, limits=limits, proxy=proxy,
            max_header_size=max_header_size,
            proxy_env=os.environ if trust_env and proxy is None and uds is None else None,
            uds=uds, expect_continue_timeout=expect_continue_timeout,
        )  # fmt: skip
        # None unless used: a request then pays one attribute test for each.
        self._mounts = Mounts(mounts) if mounts else None
        self.expect_continue_threshold = expect_continue_threshold
        self.is_closed = False

    @property
    def transport(self) -> AsyncBaseTransport:
        return self._transport

    def __repr__(self) -> str:
        return f"<ClientSession base_url={str(self.base_url) if self.base_url else None!r}>"

    # -- building requests ------------------------------------------------------
    def _merge_url(self, url: str | URL) -> URL:
        u = URL(url)
        if u.is_absolute or self.base_url is None:
            return u
        base = self.base_url
        # base_url="https://h/api" + "items" -> https://h/api/items
        base_path = base.path if base.path.endswith("/") else base.path + "/"
        rel = str(u)
        joined = base.copy_with(path=base_path, query="", fragment="").join(rel.lstrip("/"))
        return joined

    def build_request(
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
        cookies: Any = None,
        timeout: Any = USE_SESSION_DEFAULT,
    ) -> Request:
        """A :class:`Request` with the session's defaults merged in."""
        full = self._merge_url(url)
        query = _encode_params(self.params)
        if query:
            full = URL(full, params=query)
        if params:
            full = URL(full, params=params)
        merged = self.headers.copy()
        if headers is not None:
            merged.update(headers)
            _join_cookie_fields(merged)
        stream = None
        if content is not None or data is not None or files is not None or json is not None:
            body_headers, stream = encode_request_body(content, data, files, json)
            for name, value in body_headers.items():
                if name not in merged:
                    merged[name] = value
        threshold = self.expect_continue_threshold
        if threshold is not None and stream is not None and "expect" not in merged:
            length = merged.get("content-length")
            if length is None or not length.isdigit() or int(length) >= threshold:
                merged["Expect"] = "100-continue"
        if timeout is not USE_SESSION_DEFAULT:
            timeout = timeout if isinstance(timeout, Timeout) else Timeout(timeout)
        else:
            timeout = self.timeout
        # The URL and headers were built here: the request owns them.
        request = Request._owning(method.upper(), full, merged, stream, {"timeout": timeout})
        if cookies:
            extra = Cookies(self.cookies)
            for name, value in dict(cookies).items():
                extra.set(name, value)
            request.extensions[_EXPLICIT_COOKIE] = extra.set_cookie_header(request)
        return request

    # -- sending ----------------------------------------------------------------
    async def send(
        self,
        request: Request,
        *,
        stream: bool = False,
        auth: Any = USE_SESSION_DEFAULT,
        follow_redirects: Any = USE_SESSION_DEFAULT,
    ) -> Response:
        """Send a built request.  With ``stream=True`` the body is left
        unread (close the response, or use :meth:`stream`)."""
        if self.is_closed:
            raise RuntimeError("the session is closed")
        follow = self.follow_redirects if follow_redirects is USE_SESSION_DEFAULT else follow_redirects
        auth_obj = self.auth if auth is USE_SESSION_DEFAULT else build_auth(auth)
        timeout: Timeout = request.extensions.get("timeout") or self.timeout
        total = timeout.total
        if total is None:
            return await self._send_handling_auth(request, stream, auth_obj, follow)
        try:
            async with timeout_after(total):
                return await self._send_handling_auth(request, stream, auth_obj, follow)
        except TaskTimeout as exc:
            raise _error(TotalTimeout, f"the request took longer than {total} s", request) from exc

    async def _send_handling_auth(self, request: Request, stream: bool, auth: Auth | None, follow: bool) -> Response:
        # The auth flow wraps the redirect chain: credentials go on the first
        # request of each chain; a same-origin redirect keeps the header, a
        # cross-origin one loses it.  An explicit Authorization header wins.
        url = request.url
        if auth is None and url.username is not None:
            auth = BasicAuth(url.username, url.password or "")
        if auth is None or "authorization" in request.headers:
            return await self._send_handling_redirects(request, stream, follow)
        if auth.requires_request_body:
            await _read_request_body(request)
        flow = auth.auth_flow(request)
        history: list[Response] = []
        sent: list[Any] = []  # bodies already sent that cannot be replayed
        try:
            try:
                request = next(flow)
            except StopIteration:
                raise TypeError(f"{type(auth).__name__}.auth_flow() yielded no request") from None
            while True:
                if not request.replayable:
                    if any(body is request.stream for body in sent):
                        raise StreamConsumed(
                            "the auth flow sent the request again, but its body was a stream that cannot be"
                            " replayed (give bytes or a seekable file)",
                            request=request,
                        )
                    sent.append(request.stream)
                response = await self._send_handling_redirects(request, stream, follow)
                try:
                    if auth.requires_response_body:
                        await response.aread()
                    try:
                        next_request = flow.send(response)
                    except StopIteration:
                        if history:
                            response.history = history + response.history
                        return response
                    await response.aread()  # small; lets the connection be reused
                except BaseException:
                    await response.aclose()
                    raise
                history += response.history
                history.append(response)
                request = next_request
        finally:
            flow.close()

    async def _send_handling_redirects(self, request: Request, stream: bool, follow: bool) -> Response:
        history: list[Response] = []
        while True:
            response = await self._send_single(request)
            try:
                response.history = list(history)
                if not (follow and response.is_redirect):
                    if not stream:
                        await response.aread()
                    return response
                if len(history) >= self.max_redirects:
                    raise TooManyRedirects(f"exceeded max_redirects={self.max_redirects}", request=request)
                next_request = self._build_redirect_request(request, response)
                await response.aread()  # small; lets the connection be reused
            except BaseException:
                await response.aclose()
                raise
            history.append(response)
            request = next_request

    async def _send_single(self, request: Request) -> Response:
        # With an empty jar (the common case) the request is left as it is.
        if self.cookies._maybe_any() and _EXPLICIT_COOKIE not in request.extensions:
            request.extensions[_EXPLICIT_COOKIE] = self.cookies.set_cookie_header(request)
        for hook in self.event_hooks["request"]:
            result = hook(request)
            if hasattr(result, "__await__"):
                await result
        now = _kernel_clock()
        start = now()
        if self._mounts is None:
            response = await self._transport.handle_request(request)
        else:
            response = await self._mounts.transport_for(request.url, self._transport).handle_request(request)
        try:
            response.elapsed = datetime.timedelta(seconds=now() - start)
            response.request = request
            response.max_body_size = self.max_body_size
            if "set-cookie" in response.headers:
                self.cookies.extract_cookies(response)
                response._set_cookies_from_headers()
            for hook in self.event_hooks["response"]:
                result = hook(response)
                if hasattr(result, "__await__"):
                    await result
        except BaseException:
            await response.aclose()
            raise
        return response

    def _build_redirect_request(self, request: Request, response: Response) -> Request:
        status = response.status_code
        method = request.method
        # The Fetch standard's rule (browsers; RFC 9110 allows it): 303 asks
        # for a GET; 301 and 302 turn only POST into GET, for historical
        # reasons.  Every other redirect repeats the method and the body.
        to_get = (status == 303 and method != "HEAD") or (method == "POST" and (status == 301 or status == 302))
        try:
            url = request.url.join(response.headers["location"])
        except Exception as exc:  # noqa: BLE001 - any parse failure is the server's fault
            raise _error(RequestError, "invalid Location header in a redirect", request, exc) from exc
        if url.scheme not in ("http", "https"):
            raise RequestError(f"redirect to an unsupported URL {str(url)!r}", request=request)
        if not url.fragment and request.url.fragment:
            url.fragment = request.url.fragment
        headers = request.headers.copy()
        same_origin = _same_origin(request.url, url) or _is_https_upgrade(request.url, url)
        if not same_origin:
            for name in ("authorization", "proxy-authorization"):
                if name in headers:
                    del headers[name]
        if "host" in headers:
            headers["Host"] = url.netloc
        # The jar's cookies are chosen again for the new URL; an explicit
        # Cookie header goes along to the same origin only (like Authorization).
        if "cookie" in headers:
            explicit = request.extensions.get(_EXPLICIT_COOKIE)
            if explicit is None:  # the jar added nothing: all of it is explicit
                explicit = "; ".join(headers.get_list("cookie"))
            del headers["cookie"]
            if explicit and same_origin:
                headers["Cookie"] = explicit
        new = Request.__new__(Request)
        new.method = method
        new.url = url
        new.extensions = {k: v for k, v in request.extensions.items() if k != _EXPLICIT_COOKIE}
        if to_get:
            new.method = "GET"
            for name in _BODY_HEADERS:
                if name in headers:
                    del headers[name]
            new.stream = None
        elif request.replayable:
            new.stream = request.stream
        else:
            raise StreamConsumed(
                f"cannot follow a {status} redirect: the {method} request's body was a stream that cannot be"
                " replayed (give bytes or a seekable file, or follow_redirects=False)",
                request=request,
            )
        new.headers = headers
        return new

    async def request(
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
        cookies: Any = None,
        auth: Any = USE_SESSION_DEFAULT,
        timeout: Any = USE_SESSION_DEFAULT,
        follow_redirects: Any = USE_SESSION_DEFAULT,
    ) -> Response:
        """Send a request and read the whole response body (up to
        ``max_body_size``).  The connection goes back to the pool at once."""
        request = self.build_request(method, url, params=params, headers=headers, content=content, data=data,
                                     files=files, json=json, cookies=cookies, timeout=timeout)  # fmt: skip
        return await self.send(request, auth=auth, follow_redirects=follow_redirects)

    def stream(
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
        cookies: Any = None,
        auth: Any = USE_SESSION_DEFAULT,
        timeout: Any = USE_SESSION_DEFAULT,
        follow_redirects: Any = USE_SESSION_DEFAULT,
    ) -> _StreamContext:
        """``async with session.stream("GET", url) as response:`` gives the
        response with its body unread; iterate :meth:`Response.aiter_bytes`.
        The connection is released when the block ends."""
        request = self.build_request(method, url, params=params, headers=headers, content=content, data=data,
                                     files=files, json=json, cookies=cookies, timeout=timeout)  # fmt: skip
        return _StreamContext(self, request, auth, follow_redirects)

    async def get(self, url: str | URL, **kwargs: Any) -> Response:
        """``GET`` *url*; keyword arguments as for :meth:`request`."""
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str | URL, **kwargs: Any) -> Response:
        """``HEAD`` *url*."""
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str | URL, **kwargs: Any) -> Response:
        """``OPTIONS`` *url*."""
        return await self.request("OPTIONS", url, **kwargs)

    async def post(self, url: str | URL, **kwargs: Any) -> Response:
        """``POST`` *url* (``content=``, ``data=``, ``files=`` or ``json=``)."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | URL, **kwargs: Any) -> Response:
        """``PUT`` *url*."""
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str | URL, **kwargs: Any) -> Response:
        """``PATCH`` *url*."""
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str | URL, **kwargs: Any) -> Response:
        """``DELETE`` *url*."""
        return await self.request("DELETE", url, **kwargs)

    async def aclose(self) -> None:
        """Close every pooled connection (of the mounted transports too)."""
        if not self.is_closed:
            self.is_closed = True
            try:
                await self._transport.aclose()
            finally:
                if self._mounts is not None:
                    for transport in self._mounts.transports():
                        if transport is not self._transport:
                            await transport.aclose()


#: httpx's name for :class:`ClientSession`: code written for ``httpx.AsyncClient``
#: ports by changing the import (``docs/howto/http.md`` lists what differs).
AsyncClient = ClientSession
#: httpx's name for :class:`HTTPTransport`.
AsyncHTTPTransport = HTTPTransport
