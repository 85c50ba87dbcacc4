"""A session's cookie jar: the stdlib ``http.cookiejar`` policy (domain,
path, expiry and Secure rules) behind a small dict-like API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from http.cookiejar import Cookie, CookieJar
from typing import Any

from ._request import Request
from ._response import Response

__all__ = ["Cookies", "merge_cookie_header"]


class _RequestShim:
    """What ``CookieJar`` needs to know about a request (urllib's API)."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.type = request.url.scheme
        self.unverifiable = True
        self.origin_req_host = request.url.host

    def get_full_url(self) -> str:
        return str(self._request.url)

    def get_host(self) -> str:
        return self._request.url.netloc

    def get_type(self) -> str:
        return self._request.url.scheme

    @property
    def host(self) -> str:
        return self._request.url.netloc

    def is_unverifiable(self) -> bool:
        return True

    def get_origin_req_host(self) -> str:
        return self._request.url.host

    def has_header(self, name: str) -> bool:
        return name in self._request.headers

    def get_header(self, name: str, default: Any = None) -> Any:
        return self._request.headers.get(name, default)

    def header_items(self) -> list[tuple[str, str]]:
        return self._request.headers.multi_items()

    def add_unredirected_header(self, name: str, value: str) -> None:
        self._request.headers[name] = value


class _CaptureShim(_RequestShim):
    """A request as the jar sees it when asked for its cookies alone: no
    Cookie header yet, and the one the jar would add is kept here."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.value = ""

    def has_header(self, name: str) -> bool:
        return name.lower() != "cookie" and name in self._request.headers

    def add_unredirected_header(self, name: str, value: str) -> None:
        if name.lower() == "cookie":
            self.value = value


def merge_cookie_header(explicit: str, from_jar: str) -> str:
    """One Cookie value from an explicit header and the jar's cookies: the
    explicit pairs first and unchanged, then each jar cookie whose name the
    explicit header does not already have, joined with ``"; "``."""
    if not explicit:
        return from_jar
    if not from_jar:
        return explicit
    names = {pair.partition("=")[0].strip() for pair in explicit.split(";")}
    extra = [pair for pair in from_jar.split("; ") if pair.partition("=")[0] not in names]
    return "; ".join([explicit, *extra])


class _HeadersShim:
    def __init__(self, response: Response) -> None:
        self._headers = response.headers

    def get_all(self, name: str, default: Any = None) -> Any:
        values = self._headers.get_list(name)
        return values or default


class _ResponseShim:
    def __init__(self, response: Response) -> None:
        self._info = _HeadersShim(response)

    def info(self) -> _HeadersShim:
        return self._info


class Cookies(Mapping[str, str]):
    """The cookies a session has received and sends back.

    ``cookies["name"]`` reads a value (from any domain), :meth:`set` adds one,
    ``cookies.jar`` is the underlying ``http.cookiejar.CookieJar``."""

    def __init__(self, cookies: Any = None) -> None:
        self.jar = CookieJar()
        if isinstance(cookies, Cookies):
            for cookie in cookies.jar:
                self.jar.set_cookie(cookie)
        elif cookies:
            for name, value in dict(cookies).items():
                self.set(name, value)

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        """Set a cookie (for every domain when *domain* is empty)."""
        cookie = Cookie(
            version=0, name=name, value=value, port=None, port_specified=False, domain=domain,
            domain_specified=bool(domain), domain_initial_dot=domain.startswith("."), path=path,
            path_specified=True, secure=False, expires=None, discard=True, comment=None, comment_url=None,
            rest={}, rfc2109=False,
        )  # fmt: skip
        self.jar.set_cookie(cookie)

    def extract_cookies(self, response: Response) -> None:
        """Store the ``Set-Cookie`` fields of *response*."""
        if "set-cookie" in response.headers:
            self.jar.extract_cookies(_ResponseShim(response), _RequestShim(response.request))  # type: ignore[arg-type]

    def _maybe_any(self) -> bool:
        """``False`` only when the jar certainly holds no cookie: O(1), unlike
        ``len(jar)`` (which walks every domain and path)."""
        return bool(getattr(self.jar, "_cookies", True))

    def header_for(self, request: Request) -> str:
        """The ``name=value; ...`` of the cookies that match *request* (its
        URL's domain, path and scheme), ``""`` if none; *request* is not
        changed."""
        shim = _CaptureShim(request)
        self.jar.add_cookie_header(shim)  # type: ignore[arg-type]
        return shim.value

    def set_cookie_header(self, request: Request) -> str:
        """Add the cookies that match *request* to its ``Cookie`` header.

        An explicit ``Cookie`` header is kept as it is; the jar's cookies
        are appended to it, except those whose name it already has.  Several
        Cookie fields become one.  Returns the explicit part (``""`` if
        there was none)."""
        headers = request.headers
        fields = headers.get_list("cookie")
        explicit = fields[0] if len(fields) == 1 else "; ".join(fields)
        value = merge_cookie_header(explicit, self.header_for(request))
        if value and (value != explicit or len(fields) > 1):
            headers["Cookie"] = value
        return explicit

    def __getitem__(self, name: str) -> str:
        for cookie in self.jar:
            if cookie.name == name:
                return cookie.value or ""
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(c.name for c in self.jar))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def delete(self, name: str) -> None:
        for cookie in list(self.jar):
            if cookie.name == name:
                self.jar.clear(cookie.domain, cookie.path, cookie.name)

    def clear(self) -> None:
        self.jar.clear()

    def __repr__(self) -> str:
        return f"<Cookies {dict(self)!r}>"
