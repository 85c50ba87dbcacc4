"""The HTTP client against real local servers (stdlib http.server threads,
a scripted h11 server, a TLS server with trustme certificates, a proxy)."""

import codecs
import gzip
import json
import ssl
import tracemalloc
import zlib

import pytest
import trustme
from http_testing import H11Server, Proxy, StdServer

from curionet import BoundedSemaphore, spawn
from curionet.protocols.http import (
    BasicAuth,
    ClientSession,
    ConnectError,
    HTTPStatusError,
    Limits,
    ResponseNotRead,
    ResponseTooLarge,
    StreamConsumed,
    Timeout,
    TooManyRedirects,
    TransportError,
    UnsupportedProtocol,
)


@pytest.fixture(scope="module")
def server():
    srv = StdServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(ctx)
    srv = StdServer(ssl_context=ctx).start()
    yield ca, srv
    srv.stop()


def client_ctx(ca):
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


# -- basics ---------------------------------------------------------------------


async def test_get_json_text_read_content(server):
    async with ClientSession() as session:
        response = await session.get(server.url("/echo"), params={"q": "a b", "n": [1, 2]})
        assert response.status_code == 200
        assert response.reason == "OK"
        assert response.http_version == "HTTP/1.1"
        assert response.is_success and not response.is_redirect
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["content-type"] == "application/json"
        body = await response.json()
        assert body["method"] == "GET"
        assert body["path"] == "/echo?q=a+b&n=1&n=2"
        assert body["headers"]["host"] == f"127.0.0.1:{server.port}"
        assert json.loads(response.content) == body
        assert await response.read() == response.content
        assert str(response.url) == server.url("/echo?q=a+b&n=1&n=2")
        assert response.elapsed.total_seconds() >= 0
        text = await (await session.get(server.url("/text"))).text()
        assert text == "héllo wörld"


async def test_every_method_helper_and_encoding_fallback(server):
    async with ClientSession() as session:
        for name in ("get", "options", "delete"):
            body = await (await getattr(session, name)(server.url("/echo"))).json()
            assert body["method"] == name.upper() and body["body"] == ""
        for name in ("post", "put", "patch"):
            body = await (await getattr(session, name)(server.url("/echo"), content=b"sent")).json()
            assert (body["method"], body["body"], body["framing"]) == (name.upper(), "sent", "length")
        head = await session.head(server.url("/echo"))
        assert head.status_code == 200 and head.content == b""
        r = await session.request("PATCH", server.url("/echo"), json={"k": 1})
        assert (await r.json())["method"] == "PATCH"
        # No charset in Content-Type: UTF-8; a charset is honoured; settable.
        assert r.encoding == "utf-8"
        latin = await session.get(server.url("/text"))
        assert codecs.lookup(latin.encoding).name == "iso8859-1" and await latin.text() == "héllo wörld"
        latin.encoding = "utf-8"
        assert await latin.text() != "héllo wörld"


async def test_keep_alive_reuse_is_counted_on_the_server():
    srv = StdServer().start()
    try:
        async with ClientSession() as session:
            for _ in range(5):
                response = await session.get(srv.url("/bytes/10"))
                assert response.content == b"x" * 10
            assert session.transport.pool.idle_connections == 1
        assert srv.requests == 5
        assert srv.connections == 1
    finally:
        srv.stop()


async def test_concurrent_fetch_with_semaphore_and_pool_limits():
    srv = StdServer().start()
    try:
        limit = BoundedSemaphore(3)
        async with ClientSession(limits=Limits(max_connections=3, max_keepalive_connections=3)) as session:

            async def fetch(n):
                async with limit:
                    response = await session.get(srv.url(f"/bytes/{n}"))
                    return len(response.content)

            tasks = [await spawn(fetch, n) for n in range(1, 21)]
            sizes = [await t.join() for t in tasks]
            assert sizes == list(range(1, 21))
            assert session.transport.pool.active_connections == 0
        assert srv.requests == 20
        assert srv.connections <= 3
    finally:
        srv.stop()


async def test_base_url_default_headers_and_params(server):
    async with ClientSession(base_url=server.url("/"), headers={"X-Token": "t"}, params={"k": "v"}) as session:
        body = await (await session.get("echo", headers={"X-Extra": "1"})).json()
        assert body["path"] == "/echo?k=v"
        assert body["headers"]["x-token"] == "t"
        assert body["headers"]["x-extra"] == "1"


# -- bodies -------------------------------------------------------------------------


async def test_request_bodies_content_length_and_chunked(server, tmp_path):
    async with ClientSession() as session:
        body = await (await session.post(server.url("/echo"), content=b"raw bytes")).json()
        assert (body["body"], body["framing"], body["headers"]["content-length"]) == ("raw bytes", "length", "9")

        body = await (await session.post(server.url("/echo"), data={"a": "1", "b": "x y"})).json()
        assert body["body"] == "a=1&b=x+y"
        assert body["headers"]["content-type"] == "application/x-www-form-urlencoded"

        body = await (await session.put(server.url("/echo"), json={"k": [1, 2]})).json()
        assert json.loads(body["body"]) == {"k": [1, 2]}
        assert body["method"] == "PUT"

        async def gen():
            for part in (b"one ", b"two ", b"three"):
                yield part

        body = await (await session.post(server.url("/echo"), content=gen())).json()
        assert (body["body"], body["framing"]) == ("one two three", "chunked")
        assert body["headers"]["transfer-encoding"] == "chunked"

        path = tmp_path / "upload.bin"
        path.write_bytes(b"f" * 200_000)
        with open(path, "rb") as f:
            body = await (await session.post(server.url("/echo"), content=f)).json()
        assert body["framing"] == "length" and len(body["body"]) == 200_000

        body = await (await session.post(server.url("/echo"), files={"up": ("a.txt", b"data!")},
                                         data={"field": "v"})).json()  # fmt: skip
        assert body["headers"]["content-type"].startswith("multipart/form-data; boundary=")
        assert 'name="up"; filename="a.txt"' in body["body"] and "data!" in body["body"]
        assert 'name="field"' in body["body"]


async def test_response_bodies_chunked_gzip_deflate_lines():
    def app(conn_no, req_no, request, body):
        if request.target == b"/deflate":
            data = zlib.compress(b"deflated " * 100)
            return (200, [("Content-Encoding", "deflate"), ("Content-Length", str(len(data)))], data)
        if request.target == b"/rawdeflate":
            c = zlib.compressobj(wbits=-15)
            data = c.compress(b"raw " * 50) + c.flush()
            return (200, [("Content-Encoding", "deflate"), ("Content-Length", str(len(data)))], data)
        if request.target == b"/gzip-chunked":
            return (200, [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], gzip.compress(b"z" * 5000))
        return (404, [("Content-Length", "0")], b"")

    srv = H11Server(app).start()
    try:
        async with ClientSession() as session:
            assert (await session.get(srv.url("/deflate"))).content == b"deflated " * 100
            assert (await session.get(srv.url("/rawdeflate"))).content == b"raw " * 50
            r = await session.get(srv.url("/gzip-chunked"))
            assert r.content == b"z" * 5000
            assert r.headers["transfer-encoding"] == "chunked"
    finally:
        srv.stop()


async def test_gzip_and_chunked_from_http_server(server):
    async with ClientSession() as session:
        r = await session.get(server.url("/gzip"))
        assert r.headers["content-encoding"] == "gzip"
        assert r.content == b"compressible " * 1000
        r = await session.get(server.url("/chunked"))
        assert r.content == b"hello chunked world"
        async with session.stream("GET", server.url("/lines")) as r:
            lines = [line async for line in r.aiter_lines()]
        assert lines == ["one", "two", "three", "", "five"]


async def test_head_204_304(server):
    async with ClientSession() as session:
        r = await session.head(server.url("/bytes/1000"))
        assert r.status_code == 200 and r.headers["content-length"] == "1000" and r.content == b""
        assert (await session.get(server.url("/status/204"))).content == b""
        r = await session.get(server.url("/status/304"))
        assert r.status_code == 304 and r.content == b""
        # The connection survived all three.
        assert (await session.get(server.url("/bytes/3"))).content == b"xxx"
        assert session.transport.pool.idle_connections == 1


async def test_streaming_50mb_with_flat_memory(server):
    size = 50 * 1024 * 1024
    async with ClientSession() as session:
        tracemalloc.start()
        try:
            total = 0
            async with session.stream("GET", server.url(f"/big?n={size}")) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == size
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while streaming {size}"


async def test_stream_errors_and_body_limit(server):
    async with ClientSession(max_body_size=1000) as session:
        async with session.stream("GET", server.url("/bytes/100")) as r:
            with pytest.raises(ResponseNotRead):
                _ = r.content
            assert await r.aread() == b"x" * 100
        async with session.stream("GET", server.url("/bytes/100")) as r:
            _ = [c async for c in r.aiter_raw()]
            with pytest.raises(StreamConsumed):
                _ = [c async for c in r.aiter_raw()]
        with pytest.raises(ResponseTooLarge) as info:
            await session.get(server.url("/bytes/5000"))
        assert server.url("/bytes/5000") in str(info.value)
        assert session.transport.pool.active_connections == 0


async def test_raise_for_status(server):
    async with ClientSession() as session:
        r = await session.get(server.url("/status/404"))
        assert r.is_client_error
        with pytest.raises(HTTPStatusError) as info:
            r.raise_for_status()
        assert info.value.response is r
        assert "404" in str(info.value) and server.url("/status/404") in str(info.value)
        assert (await session.get(server.url("/bytes/1"))).raise_for_status().status_code == 200


# -- redirects, cookies, auth ------------------------------------------------------


async def test_redirect_303_post_becomes_get(server):
    async with ClientSession() as session:
        r = await session.post(server.url("/redirect/303?to=/echo"), content=b"payload")
        body = await r.json()
        assert body["method"] == "GET" and body["body"] == ""
        assert "content-length" not in body["headers"]
        assert [h.status_code for h in r.history] == [303]
        assert str(r.url) == server.url("/echo")


@pytest.mark.parametrize("code", [307, 308])
async def test_redirect_307_308_keep_method_and_body(server, code):
    async with ClientSession() as session:
        r = await session.post(server.url(f"/redirect/{code}?to=/echo"), content=b"keep me")
        body = await r.json()
        assert (body["method"], body["body"]) == ("POST", "keep me")


@pytest.mark.parametrize("code", [301, 302])
async def test_redirect_301_302_post_to_get(server, code):
    async with ClientSession() as session:
        body = await (await session.post(server.url(f"/redirect/{code}?to=/echo"), content=b"x")).json()
        assert body["method"] == "GET"
        body = await (await session.put(server.url(f"/redirect/{code}?to=/echo"), content=b"x")).json()
        assert (body["method"], body["body"]) == ("PUT", "x")  # only POST becomes GET


async def test_redirect_limits_and_opt_out(server):
    async with ClientSession(max_redirects=3) as session:
        with pytest.raises(TooManyRedirects) as info:
            await session.get(server.url("/loop"))
        assert "/loop" in str(info.value)
        r = await session.get(server.url("/redirect/302?to=/echo"), follow_redirects=False)
        assert r.status_code == 302 and r.is_redirect and r.headers["location"] == "/echo"
        assert session.transport.pool.active_connections == 0


async def test_authorization_dropped_on_cross_origin_redirect():
    other = StdServer().start()
    first = StdServer().start()
    try:
        async with ClientSession(auth=("user", "pw")) as session:
            same = await session.get(first.url("/redirect/302?to=/echo"))
            assert (await same.json())["headers"]["authorization"] == "Basic dXNlcjpwdw=="
            cross = await session.get(first.url(f"/redirect/302?to={other.url('/echo')}"))
            body = await cross.json()
            assert "authorization" not in body["headers"]
            assert str(cross.url) == other.url("/echo")
            # Explicit headers are stripped too.
            cross = await session.get(first.url(f"/redirect/307?to={other.url('/echo')}"), auth=None,
                                      headers={"Authorization": "Bearer secret"})  # fmt: skip
            assert "authorization" not in (await cross.json())["headers"]
    finally:
        other.stop()
        first.stop()


async def test_basic_auth_forms(server):
    async with ClientSession() as session:
        h = (await (await session.get(server.url("/echo"), auth=BasicAuth("a", "b"))).json())["headers"]
        assert h["authorization"] == "Basic YTpi"
        url = server.url("/echo").replace("http://", "http://u:p@")
        h = (await (await session.get(url)).json())["headers"]
        assert h["authorization"] == "Basic dTpw"

        def bearer(request):
            request.headers["Authorization"] = "Bearer tok"

        h = (await (await session.get(server.url("/echo"), auth=bearer)).json())["headers"]
        assert h["authorization"] == "Bearer tok"


async def test_cookie_jar_per_session(server):
    async with ClientSession() as session:
        r = await session.get(server.url("/set-cookie"))
        assert r.cookies == {"session": "abc123", "theme": "dark"}
        assert session.cookies["session"] == "abc123"
        h = (await (await session.get(server.url("/echo"))).json())["headers"]
        assert h["cookie"] == "session=abc123; theme=dark"
    async with ClientSession(cookies={"a": "1"}) as fresh:
        h = (await (await fresh.get(server.url("/echo"), cookies={"b": "2"})).json())["headers"]
        assert sorted(h["cookie"].split("; ")) == ["a=1", "b=2"]


async def test_event_hooks(server):
    seen = []

    async def on_response(response):
        seen.append(("response", response.status_code))

    hooks = {"request": [lambda r: seen.append(("request", r.method))], "response": [on_response]}
    async with ClientSession(event_hooks=hooks) as session:
        await session.get(server.url("/redirect/302?to=/echo"))
    assert seen == [("request", "GET"), ("response", 302), ("request", "GET"), ("response", 200)]


async def test_unsupported_scheme():
    async with ClientSession() as session:
        with pytest.raises(UnsupportedProtocol) as info:
            await session.get("ftp://127.0.0.1/x")
        assert "ftp://127.0.0.1/x" in str(info.value)


# -- TLS ----------------------------------------------------------------------------


async def test_tls_with_ssl_context_and_ca_path(tls, tmp_path):
    ca, srv = tls
    async with ClientSession(verify=client_ctx(ca)) as session:
        r = await session.get(srv.url("/echo", scheme="https"))
        assert (await r.json())["method"] == "GET"
        r = await session.get(srv.url("/bytes/5", scheme="https"))
        assert r.content == b"xxxxx"
        assert session.transport.pool.idle_connections == 1
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    async with ClientSession(verify=str(path)) as session:
        assert (await session.get(srv.url("/bytes/2", scheme="https"))).content == b"xx"


async def test_tls_bad_certificate_is_connect_error(tls):
    _, srv = tls
    url = srv.url("/echo", scheme="https")
    async with ClientSession() as session:  # the system store does not trust trustme's CA
        with pytest.raises(ConnectError) as info:
            await session.get(url)
        assert url in str(info.value) and "certificate" in str(info.value).lower()
        assert session.transport.pool.active_connections == 0
    wrong_ca = trustme.CA()
    async with ClientSession(verify=client_ctx(wrong_ca)) as session:
        with pytest.raises(ConnectError):
            await session.get(url)
    async with ClientSession(verify=False) as session:
        assert (await session.get(srv.url("/bytes/1", scheme="https"))).content == b"x"


async def test_tls_client_certificate(tmp_path):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_ctx)
    seen = []

    def app(conn_no, req_no, request, body):
        return (200, [("Content-Length", "2")], b"ok")

    srv = H11Server(app, ssl_context=server_ctx).start()
    try:
        client_cert = ca.issue_cert("client@example.org")
        pem = tmp_path / "client.pem"
        client_cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
        ca_path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        async with ClientSession(verify=str(ca_path), cert=str(pem)) as session:
            r = await session.get(srv.url("/", scheme="https"))
            seen.append(r.content)
        assert seen == [b"ok"]
        async with ClientSession(verify=str(ca_path)) as session:
            with pytest.raises(TransportError) as info:
                await session.get(srv.url("/", scheme="https"))
            assert srv.url("/", scheme="https") in str(info.value)
    finally:
        srv.stop()


def test_default_ssl_context_is_built_once():
    from curionet.protocols.http import create_ssl_context

    assert create_ssl_context() is create_ssl_context()
    assert create_ssl_context(False) is create_ssl_context(False)
    assert create_ssl_context() is not create_ssl_context(False)


# -- proxies ------------------------------------------------------------------------


async def test_http_proxy_absolute_form(server):
    proxy = Proxy().start()
    try:
        async with ClientSession(proxy=proxy.url) as session:
            body = await (await session.get(server.url("/echo"))).json()
            assert body["path"] == "/echo"
        assert proxy.seen == [("GET", server.url("/echo"))]
    finally:
        proxy.stop()


async def test_https_through_connect_tunnel(tls):
    ca, srv = tls
    proxy = Proxy().start()
    try:
        async with ClientSession(proxy=proxy.url, verify=client_ctx(ca)) as session:
            r = await session.get(srv.url("/echo", scheme="https"))
            assert (await r.json())["method"] == "GET"
            r = await session.get(srv.url("/bytes/4", scheme="https"))
            assert r.content == b"xxxx"
        assert proxy.seen == [("CONNECT", f"127.0.0.1:{srv.port}")]  # one tunnel, reused
    finally:
        proxy.stop()


async def test_timeout_argument_forms(server):
    async with ClientSession(timeout=2.5) as session:
        assert session.timeout == Timeout(2.5)
        r = await session.get(server.url("/bytes/1"), timeout=Timeout(1.0, read=None))
        assert r.request.extensions["timeout"].read is None


async def test_breaking_out_of_a_body_loop_and_abandoning_responses(server):
    import gc
    import sys
    import warnings

    from curionet.protocols.http import HTTPTransport
    from curionet.protocols.http._streams import open_stream

    opened = []

    async def connector(host, port, **kwargs):
        opened.append(await open_stream(host, port, **kwargs))
        return opened[-1]

    unraisable = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async with ClientSession(transport=HTTPTransport(connector=connector)) as session:
                async with session.stream("GET", server.url("/bytes/100000")) as r:
                    async for _ in r.aiter_bytes(100):
                        break  # the iterator is finalised right here, response still open
                gc.collect()
                pool = session.transport.pool
                assert pool.active_connections == 0 and opened[0].closed
                # Entered and dropped without exiting: the session still closes it.
                cm = session.stream("GET", server.url("/bytes/100000"))
                r = await cm.__aenter__()
                del cm, r
                gc.collect()
                assert pool.active_connections == 1
            assert all(s.closed for s in opened)
            gc.collect()
    finally:
        sys.unraisablehook = old_hook
    assert unraisable == []
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
