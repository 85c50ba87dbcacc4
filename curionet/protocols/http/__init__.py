"""An HTTP/1.1 client on ``h11``: :class:`ClientSession`.

::

    async with ClientSession() as session:
        response = await session.get(url)
        data = await response.json()

Layers, bottom up: the stream a connection runs over (a kernel
:class:`~curionet.kernel.stream.Stream`, opened by ``_streams``), one h11 connection
(``_connection``, with the common exchange parsed by ``_fastpath``), the
pool and transports (``_pool``; proxies and ``CONNECT`` tunnels in
``_proxy``), the session with redirects, cookies and auth (``_client``).
URLs (``_url``), headers (``_headers``), requests (``_request``) and
responses (``_response``) are plain data.
"""

from . import _errors
from ._auth import Auth as Auth, BasicAuth as BasicAuth, DigestAuth as DigestAuth
from ._client import (
    AsyncClient as AsyncClient,
    AsyncHTTPTransport as AsyncHTTPTransport,
    ClientSession as ClientSession,
)
from ._config import Limits as Limits, Timeout as Timeout, create_ssl_context as create_ssl_context
from ._connection import HTTP11Connection as HTTP11Connection
from ._cookies import Cookies as Cookies
from ._errors import *  # noqa: F403  (the exceptions: _errors.__all__)
from ._headers import Headers as Headers
from ._mounts import MountPattern as MountPattern
from ._pool import (
    AsyncBaseTransport as AsyncBaseTransport,
    ConnectionPool as ConnectionPool,
    HTTPTransport as HTTPTransport,
    MockTransport as MockTransport,
)
from ._proxy import EnvProxies as EnvProxies, select_proxy as select_proxy
from ._request import Request as Request
from ._response import Response as Response
from ._streams import open_stream as open_stream, open_unix_stream as open_unix_stream
from ._url import URL as URL

__all__ = [
    "AsyncClient", "AsyncHTTPTransport", "Auth", "BasicAuth", "DigestAuth", "ClientSession", "Limits",
    "Timeout", "create_ssl_context", "HTTP11Connection", "Cookies", "URL", "Headers", "Request", "Response",
    "AsyncBaseTransport", "ConnectionPool", "HTTPTransport", "MockTransport", "open_stream", "EnvProxies",
    "select_proxy", "MountPattern", "open_unix_stream",
    *_errors.__all__,
]  # fmt: skip
