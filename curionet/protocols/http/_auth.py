"""Authentication: the :class:`Auth` flow protocol (a generator that yields
requests and receives their responses, as in httpx), HTTP Basic, HTTP
Digest (RFC 7616), and any callable that edits a request."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable, Generator
from typing import Any

from ._request import Request
from ._response import Response

__all__ = ["Auth", "BasicAuth", "DigestAuth", "basic_auth_header", "build_auth"]


def basic_auth_header(username: str, password: str) -> bytes:
    """The value of an ``Authorization: Basic`` header."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}".encode("ascii")


class Auth:
    """Base class of every authentication scheme.

    Override :meth:`auth_flow`, a generator that yields each request to send
    and receives its response (``response = yield request``); the response
    to the last request yielded is what the caller gets.  A simple scheme
    may override :meth:`apply` instead (edit the request; the default flow
    sends it once).  The flow runs once per :meth:`ClientSession.send`,
    around the redirect chain: a redirect hop does not run it again.

    Set ``requires_request_body = True`` when the flow reads
    ``request.content`` (a streamed body is read into memory first), and
    ``requires_response_body = True`` when it reads ``response.content``
    (a streamed response is read before the flow sees it; a response the
    flow answers with another request is always read, then closed).
    """

    requires_request_body = False
    requires_response_body = False

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        """Yield the requests to send; each ``yield`` evaluates to its response."""
        yield self.apply(request)

    def apply(self, request: Request) -> Request:
        """Add credentials to *request* (used by the default :meth:`auth_flow`)."""
        return request


class BasicAuth(Auth):
    """HTTP Basic authentication (RFC 7617)."""

    def __init__(self, username: str, password: str = "") -> None:
        self._header = basic_auth_header(username, password).decode("ascii")

    def apply(self, request: Request) -> Request:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "BasicAuth(<hidden>)"


class _FunctionAuth(Auth):
    def __init__(self, func: Callable[[Request], Any]) -> None:
        self._func = func

    def apply(self, request: Request) -> Request:
        result = self._func(request)
        return request if result is None else result  # type: ignore[no-any-return]


# -- Digest -----------------------------------------------------------------------

_HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-512": hashlib.sha512,
}
# Preference among several Digest challenges: the strongest supported one.
_PREFERENCE = ["SHA-512", "SHA-256", "SHA", "MD5"]
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')
_SCHEME = re.compile(rf"[\s,]*({_TOKEN})(?=[\s,]|$)\s*")


def _parse_challenges(values: list[str]) -> list[tuple[str, dict[str, str]]]:
    """``WWW-Authenticate`` fields -> ``[(scheme lower-cased, {param: value})]``
    (RFC 9110 11.6.1: several challenges may share one field)."""
    out: list[tuple[str, dict[str, str]]] = []
    for value in values:
        pos = 0
        while pos < len(value):
            m = _SCHEME.match(value, pos)
            if m is None:
                break
            scheme = m.group(1).lower()
            pos = m.end()
            params: dict[str, str] = {}
            while pos < len(value):
                p = _PARAM.match(value, pos)
                if p is None:
                    break
                raw = p.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                params[p.group(1).lower()] = raw
                pos = p.end()
            out.append((scheme, params))
            if pos < len(value) and not _SCHEME.match(value, pos):
                break  # unparsable rest
    return out


class _Challenge:
    __slots__ = ("realm", "nonce", "algorithm", "hash", "sess", "qop", "opaque", "stale")

    def __init__(self, params: dict[str, str]) -> None:
        self.realm = params["realm"]
        self.nonce = params["nonce"]
        self.algorithm = params.get("algorithm", "MD5")
        name = self.algorithm.upper()
        self.sess = name.endswith("-SESS")
        self.hash = _HASHES[name[:-5] if self.sess else name]
        self.opaque = params.get("opaque")
        self.stale = params.get("stale", "").lower() == "true"
        qops = [q.strip().lower() for q in params["qop"].split(",")] if "qop" in params else None
        if qops is not None and "auth" not in qops:
            raise ValueError("only qop=auth is supported")
        self.qop = "auth" if qops is not None else None


def _digest_challenge(response: Response) -> _Challenge | None:
    """The best Digest challenge of a 401 this client can answer, or ``None``."""
    best: _Challenge | None = None
    for scheme, params in _parse_challenges(response.headers.get_list("www-authenticate")):
        if scheme != "digest":
            continue
        try:
            challenge = _Challenge(params)
        except (KeyError, ValueError):
            continue  # no realm/nonce, an unknown algorithm, or qop=auth-int only
        base = challenge.algorithm.upper().removesuffix("-SESS")
        if best is None or _PREFERENCE.index(base) < _PREFERENCE.index(best.algorithm.upper().removesuffix("-SESS")):
            best = challenge
    return best


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DigestAuth(Auth):
    """HTTP Digest authentication (RFC 7616; RFC 2069 servers without ``qop``
    too): algorithms ``MD5``, ``SHA-256``, ``SHA-512`` (and ``SHA``), each with
    its ``-sess`` variant; ``qop=auth``.

    The first request goes out without credentials; the 401's challenge is
    answered and remembered, so later requests through the same object send
    credentials at once, with the nonce count (``nc``) incremented.  A 401
    whose challenge says ``stale=true`` is retried once with the new nonce.
    A 401 without a Digest challenge this client can answer (another
    scheme, an unknown algorithm, ``qop=auth-int`` only) is returned as is.
    """

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._challenge: _Challenge | None = None
        self._nonce_count = 0

    def __repr__(self) -> str:
        return "DigestAuth(<hidden>)"

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        if self._challenge is not None:
            request.headers["Authorization"] = self._authorization(request, self._challenge)
        response = yield request
        if response.status_code != 401:
            return
        challenge = _digest_challenge(response)
        if challenge is None:
            return
        self._use(challenge)
        request.headers["Authorization"] = self._authorization(request, challenge)
        response = yield request
        if response.status_code != 401:
            return
        used = challenge
        challenge = _digest_challenge(response)
        if challenge is None or not challenge.stale or challenge.nonce == used.nonce:
            return
        self._use(challenge)
        request.headers["Authorization"] = self._authorization(request, challenge)
        yield request

    def _use(self, challenge: _Challenge) -> None:
        if self._challenge is None or self._challenge.nonce != challenge.nonce:
            self._nonce_count = 0
        self._challenge = challenge

    def _authorization(self, request: Request, c: _Challenge) -> str:
        def h(text: str) -> str:
            return str(c.hash(text.encode("utf-8")).hexdigest())

        self._nonce_count += 1
        nc = f"{self._nonce_count:08x}"
        cnonce = secrets.token_hex(16)
        uri = request.url.raw_path
        ha1 = h(f"{self._username}:{c.realm}:{self._password}")
        if c.sess:
            ha1 = h(f"{ha1}:{c.nonce}:{cnonce}")
        ha2 = h(f"{request.method}:{uri}")
        if c.qop is None:
            digest = h(f"{ha1}:{c.nonce}:{ha2}")
        else:
            digest = h(f"{ha1}:{c.nonce}:{nc}:{cnonce}:{c.qop}:{ha2}")
        parts = [
            f"username={_quote(self._username)}", f"realm={_quote(c.realm)}", f"nonce={_quote(c.nonce)}",
            f"uri={_quote(uri)}", f"response={_quote(digest)}", f"algorithm={c.algorithm}",
        ]  # fmt: skip
        if c.opaque is not None:
            parts.append(f"opaque={_quote(c.opaque)}")
        if c.qop is not None:
            parts += [f"qop={c.qop}", f"nc={nc}", f"cnonce={_quote(cnonce)}"]
        return "Digest " + ", ".join(parts)


def build_auth(auth: Any) -> Auth | None:
    """``(user, password)``, an :class:`Auth` or a callable -> an :class:`Auth`."""
    if auth is None or isinstance(auth, Auth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(str(auth[0]), str(auth[1]))
    if callable(auth):
        return _FunctionAuth(auth)
    raise TypeError(f"invalid auth {auth!r}: use (username, password), an Auth or a callable")
