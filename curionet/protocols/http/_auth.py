"""Authentication: HTTP Basic, and any callable that edits a request."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from ._request import Request

__all__ = ["Auth", "BasicAuth", "basic_auth_header", "build_auth"]


def basic_auth_header(username: str, password: str) -> bytes:
    """The value of an ``Authorization: Basic`` header."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}".encode("ascii")


class Auth:
    """Base class: :meth:`apply` adds credentials to a request (called on
    every request, including each redirect hop)."""

    def apply(self, request: Request) -> Request:
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


def build_auth(auth: Any) -> Auth | None:
    """``(user, password)``, an :class:`Auth` or a callable -> an :class:`Auth`."""
    if auth is None or isinstance(auth, Auth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return BasicAuth(str(auth[0]), str(auth[1]))
    if callable(auth):
        return _FunctionAuth(auth)
    raise TypeError(f"invalid auth {auth!r}: use (username, password), an Auth or a callable")
