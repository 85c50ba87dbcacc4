"""Proxies and CA bundles from the environment (``trust_env=True``, the
default): the selection rules as a table over the pure function, then one
trip through local recording proxies with the variables set."""

import ssl

import pytest
import trustme
from http_testing import H11Server, header_lines, split_raw

from curionet.protocols.http import URL, ClientSession, ProxyError, create_ssl_context, select_proxy

P = "http://proxy.test:3128"
Q = "http://other-proxy.test:8080"
S = "http://secure-proxy.test:3129"

# (environment, URL, the proxy it takes or None)
RULES = [
    ({}, "http://a.test/", None),
    ({"HTTP_PROXY": P}, "http://a.test/", P),
    ({"HTTP_PROXY": P}, "https://a.test/", None),  # HTTP_PROXY is for http:// only
    ({"HTTPS_PROXY": S}, "http://a.test/", None),  # and HTTPS_PROXY for https:// only
    ({"HTTP_PROXY": P, "HTTPS_PROXY": S}, "http://a.test/", P),
    ({"HTTP_PROXY": P, "HTTPS_PROXY": S}, "https://a.test/", S),
    ({"http_proxy": Q, "HTTP_PROXY": P}, "http://a.test/", Q),  # lower case wins
    ({"https_proxy": "", "HTTPS_PROXY": S}, "https://a.test/", None),  # even when empty
    ({"ALL_PROXY": P}, "http://a.test/", P),
    ({"all_proxy": P}, "https://a.test/", P),
    ({"ALL_PROXY": P, "HTTPS_PROXY": S}, "https://a.test/", S),  # the scheme's own first
    ({"HTTP_PROXY": "proxy.test:3128"}, "http://a.test/", P),  # no scheme: http://
    ({"HTTP_PROXY": P, "REQUEST_METHOD": "GET"}, "http://a.test/", None),  # CGI: httpoxy
    ({"http_proxy": P, "REQUEST_METHOD": "GET"}, "http://a.test/", P),
    ({"HTTP_PROXY": P}, "ftp://a.test/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "*"}, "http://a.test/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com"}, "http://example.com/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com"}, "http://www.example.com/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com"}, "http://notexample.com/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com"}, "http://example.com.evil.test/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": ".example.com"}, "http://example.com/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "*.example.com"}, "http://a.b.example.com/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "Example.COM"}, "http://EXAMPLE.com/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "a.test, b.test"}, "http://b.test/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "a.test", "no_proxy": "b.test"}, "http://a.test/", P),  # lower case wins
    ({"HTTP_PROXY": P, "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:8000/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "127.0.0.1"}, "http://127.0.0.2/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://11.0.0.1/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://[::ffff:10.0.0.1]/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://10.example/", P),  # names are not resolved
    ({"HTTP_PROXY": P, "NO_PROXY": "fd00::/8"}, "http://[fd12::1]/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "fd00::/8"}, "http://[fe80::1]/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": "::1"}, "http://[::1]:8080/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com:8080"}, "http://example.com:8080/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com:8080"}, "http://example.com/", P),
    ({"HTTPS_PROXY": S, "NO_PROXY": "example.com:443"}, "https://example.com/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "[::1]:8080"}, "http://[::1]:8080/", None),
    ({"HTTP_PROXY": P, "NO_PROXY": "[::1]:8080"}, "http://[::1]:9090/", P),
    ({"HTTP_PROXY": P, "NO_PROXY": "example.com:http, [::1, a.test:\u00b2"}, "http://example.com/", P),  # unreadable
    ({"HTTP_PROXY": P, "NO_PROXY": "bücher.example"}, "http://www.bücher.example/", None),  # IDNA, as URL hosts
]


@pytest.mark.parametrize("env, url, expected", RULES, ids=[f"{i}" for i in range(len(RULES))])
def test_select_proxy(env, url, expected):
    assert select_proxy(env, url) == expected
    assert select_proxy(env, URL(url)) == expected


_PROXY_VARS = [
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "request_method")
    for name in (base, base.upper())
]


@pytest.fixture
def clean_env(monkeypatch):
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def recording_proxy(body):
    """A proxy that answers every absolute-form request itself with *body*
    and refuses every CONNECT with 403 (so no byte leaves the machine)."""

    def app(conn_no, req_no, request, _):
        if request.method == b"CONNECT":
            return (403, [("Content-Length", "0"), ("Connection", "close")], b"")
        return (200, [("Content-Length", str(len(body)))], body)

    return H11Server(app).start()


async def test_the_environment_chooses_the_proxy_per_scheme(clean_env):
    http_proxy = recording_proxy(b"via-http-proxy")
    https_proxy = recording_proxy(b"via-https-proxy")
    origin = recording_proxy(b"direct")
    try:
        clean_env.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{http_proxy.port}")
        clean_env.setenv("HTTPS_PROXY", f"127.0.0.1:{https_proxy.port}")
        clean_env.setenv("NO_PROXY", "localhost, 127.0.0.1")
        async with ClientSession() as session:  # trust_env=True is the default
            assert session.trust_env is True
            r = await session.get("http://origin.test/a")
            assert r.content == b"via-http-proxy"
            with pytest.raises(ProxyError, match="403"):
                await session.get("https://secure.test/b")
            r = await session.get(origin.url("/c"))
            assert r.content == b"direct"
        assert split_raw(http_proxy.raw[0])[0][0] == "GET http://origin.test/a HTTP/1.1"
        assert header_lines(http_proxy.raw[0], "proxy-authorization") == ["Proxy-Authorization: Basic dXNlcjpwdw=="]
        assert split_raw(https_proxy.raw[0])[0][0] == "CONNECT secure.test:443 HTTP/1.1"
        assert split_raw(origin.raw[0])[0][0] == "GET /c HTTP/1.1"
        assert len(http_proxy.raw) == len(https_proxy.raw) == len(origin.raw) == 1

        # Read once, when the session is made; trust_env=False and proxy= ignore it.
        async with ClientSession(trust_env=False) as session:
            r = await session.get(origin.url("/d"))
            assert r.content == b"direct"
        clean_env.setenv("NO_PROXY", "")
        async with ClientSession(proxy=f"http://127.0.0.1:{https_proxy.port}") as session:
            r = await session.get("http://origin.test/e")
            assert r.content == b"via-https-proxy"
        assert split_raw(origin.raw[1])[0][0] == "GET /d HTTP/1.1"
        assert split_raw(https_proxy.raw[1])[0][0] == "GET http://origin.test/e HTTP/1.1"
        assert len(http_proxy.raw) == 1
    finally:
        for srv in (http_proxy, https_proxy, origin):
            srv.stop()


async def test_an_unsupported_proxy_scheme_is_a_proxy_error(clean_env):
    clean_env.setenv("ALL_PROXY", "socks5://user:secret@127.0.0.1:1080")
    async with ClientSession() as session:
        with pytest.raises(ProxyError, match="socks5://127.0.0.1:1080") as info:
            await session.get("http://origin.test/")
        assert "secret" not in str(info.value)
        assert session.transport.pool.active_connections == 0
    with pytest.raises(ProxyError, match="only http:// and https://"):
        ClientSession(proxy="socks5://127.0.0.1:1080")


async def test_ssl_cert_file_from_the_environment(clean_env, tmp_path):
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    # The shared default context, built before the variable is set: OpenSSL's
    # default store reads SSL_CERT_FILE too, and it must not keep this one.
    default = create_ssl_context()
    clean_env.setenv("SSL_CERT_FILE", str(bundle))
    clean_env.delenv("SSL_CERT_DIR", raising=False)
    srv = H11Server(lambda *args: (200, [("Content-Length", "2")], b"ok"), ssl_context=server_ctx).start()
    try:
        async with ClientSession() as session:
            # The bundle is the trust store: it alone, not the system's.
            assert session.transport.ssl_context.get_ca_certs() == _certs_in(bundle)
            r = await session.get(srv.url("/", scheme="https"))
            assert r.content == b"ok"
        clean_env.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))  # names nothing: ignored
        async with ClientSession() as session:
            assert session.transport.ssl_context is default
    finally:
        srv.stop()


def _certs_in(bundle):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(bundle))
    return ctx.get_ca_certs()
