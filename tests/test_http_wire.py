"""What the client puts on the wire, checked on the raw bytes a local server
received: explicit Cookie headers and the jar, repeated header fields,
redirect method and body rules, and proxy credentials on absolute-form
requests.  Each of these once changed a request without an error."""

import io
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from http_testing import H11Server, header_lines, split_raw

from curionet.protocols.http import ClientSession, Headers, StreamConsumed


def app(conn_no, req_no, request, body):
    url = urlsplit(request.target.decode("ascii"))
    query = parse_qs(url.query)
    if url.path.startswith("/redirect/"):
        code = int(url.path.split("/")[2])
        return (code, [("Location", query["to"][0]), ("Content-Length", "0")], b"")
    if url.path == "/set-cookie":
        return (200, [("Set-Cookie", "jar=fromserver; Path=/"), ("Content-Length", "2")], b"ok")
    return (200, [("Content-Length", "2")], b"ok")


@pytest.fixture
def server():
    srv = H11Server(app).start()
    yield srv
    srv.stop()


@pytest.fixture
def other():
    """A second origin (another port on loopback)."""
    srv = H11Server(app).start()
    yield srv
    srv.stop()


# -- Cookie ---------------------------------------------------------------------


async def test_an_explicit_cookie_header_is_sent_when_the_jar_is_empty(server):
    async with ClientSession() as session:
        await session.get(server.url("/a"), headers={"Cookie": "token=abc"})
    async with ClientSession(headers={"Cookie": "token=session-wide"}) as session:
        await session.get(server.url("/b"))
    assert header_lines(server.raw[0], "cookie") == ["Cookie: token=abc"]
    assert header_lines(server.raw[1], "cookie") == ["Cookie: token=session-wide"]


async def test_jar_cookies_are_added_to_an_explicit_cookie_header(server):
    async with ClientSession(cookies={"jar": "1", "both": "from-jar"}) as session:
        await session.get(server.url("/a"), headers={"Cookie": "mine=2; both=explicit"})
        await session.get(server.url("/b"), headers={"Cookie": "mine=3"}, cookies={"extra": "4"})
        await session.get(server.url("/c"))
    # One Cookie field; the explicit pairs first and untouched; a jar cookie
    # whose name the explicit header already has is left out.
    assert header_lines(server.raw[0], "cookie") == ["Cookie: mine=2; both=explicit; jar=1"]
    first, rest = header_lines(server.raw[1], "cookie")[0].split("; ", 1)
    assert first == "Cookie: mine=3"
    assert sorted(rest.split("; ")) == ["both=from-jar", "extra=4", "jar=1"]
    assert sorted(header_lines(server.raw[2], "cookie")[0][8:].split("; ")) == ["both=from-jar", "jar=1"]


async def test_repeated_explicit_cookie_fields_become_one(server):
    async with ClientSession() as session:
        await session.get(server.url("/"), headers=[("Cookie", "a=1"), ("Cookie", "b=2")])
    assert header_lines(server.raw[0], "cookie") == ["Cookie: a=1; b=2"]


async def test_an_explicit_cookie_follows_same_origin_redirects_only(server, other):
    async with ClientSession() as session:
        await session.get(server.url("/set-cookie"))
        await session.get(server.url("/redirect/302?to=/next"), headers={"Cookie": "token=abc"})
        away = other.url("/away")
        await session.get(server.url(f"/redirect/302?to={away}"), headers={"Cookie": "token=abc"})
    _, first, same, before_away = server.raw
    assert header_lines(first, "cookie") == ["Cookie: token=abc; jar=fromserver"]
    assert header_lines(same, "cookie") == ["Cookie: token=abc; jar=fromserver"]
    assert header_lines(before_away, "cookie") == ["Cookie: token=abc; jar=fromserver"]
    # Another origin does not get the explicit header.  It gets the jar's
    # cookie: cookies are not bound to a port (RFC 6265), and the jar decides.
    assert header_lines(other.raw[0], "cookie") == ["Cookie: jar=fromserver"]


# -- repeated header fields -----------------------------------------------------


async def _gen():
    yield b"streamed"


@pytest.mark.parametrize("body", ["none", "bytes", "stream"])
async def test_repeated_request_headers_all_go_out_in_order(server, body):
    kwargs = {"none": {}, "bytes": {"content": b"x"}, "stream": {"content": _gen()}}[body]
    pairs = [("X-Tag", "one"), ("Accept", "text/html"), ("X-Tag", "two"), ("x-tag", "three")]
    async with ClientSession() as session:
        await session.post(server.url("/"), headers=pairs, **kwargs)
    assert header_lines(server.raw[0], "x-tag") == ["X-Tag: one", "X-Tag: two", "x-tag: three"]
    assert header_lines(server.raw[0], "accept") == ["Accept: text/html"]  # replaced the session's default


async def test_repeated_session_headers_and_headers_objects(server):
    session_headers = Headers([("X-Session", "a")])
    session_headers.add("X-Session", "b")
    request_headers = Headers({"X-Request": "1"})
    request_headers.add("X-Request", "2")
    async with ClientSession(headers=session_headers) as session:
        await session.get(server.url("/"), headers=request_headers)
        await session.get(server.url("/"), headers=[("X-Session", "c"), ("X-Session", "d")])
    assert header_lines(server.raw[0], "x-session") == ["X-Session: a", "X-Session: b"]
    assert header_lines(server.raw[0], "x-request") == ["X-Request: 1", "X-Request: 2"]
    # A request's fields replace every session field of that name.
    assert header_lines(server.raw[1], "x-session") == ["X-Session: c", "X-Session: d"]


def test_cli_sends_every_repeated_header(server):
    proc = subprocess.run(
        [sys.executable, "-m", "curionet", "get", server.url("/"), "-H", "X-Tag: one", "-H", "X-Tag: two",
         "-H", "Accept: text/plain", "--json"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert header_lines(server.raw[0], "x-tag") == ["X-Tag: one", "X-Tag: two"]
    assert header_lines(server.raw[0], "accept") == ["Accept: text/plain"]  # -H wins over --json's


# -- redirects ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, method, new_method",
    [
        (301, "PUT", "PUT"), (301, "PATCH", "PATCH"), (301, "DELETE", "DELETE"),
        (302, "PUT", "PUT"), (302, "PATCH", "PATCH"), (302, "DELETE", "DELETE"),
        (301, "POST", "GET"), (302, "POST", "GET"),
        (303, "POST", "GET"), (303, "PUT", "GET"), (303, "DELETE", "GET"),
        (307, "POST", "POST"), (307, "PUT", "PUT"), (308, "POST", "POST"), (308, "PATCH", "PATCH"),
    ],
)  # fmt: skip
async def test_redirect_method_and_body(server, code, method, new_method):
    async with ClientSession() as session:
        r = await session.request(method, server.url(f"/redirect/{code}?to=/target"), json={"k": "v"})
    assert r.status_code == 200 and [h.status_code for h in r.history] == [code]
    lines, body = split_raw(server.raw[1])
    assert lines[0] == f"{new_method} /target HTTP/1.1"
    if new_method == method:
        assert body == b'{"k":"v"}'
        assert header_lines(server.raw[1], "content-length") == ["Content-Length: 9"]
        assert header_lines(server.raw[1], "content-type") == ["Content-Type: application/json"]
    else:
        assert body == b""
        for name in ("content-length", "content-type", "transfer-encoding"):
            assert header_lines(server.raw[1], name) == []


async def test_303_keeps_head(server):
    async with ClientSession() as session:
        r = await session.head(server.url("/redirect/303?to=/target"))
    assert r.status_code == 200
    assert split_raw(server.raw[1])[0][0] == "HEAD /target HTTP/1.1"


@pytest.mark.parametrize("code, method", [(301, "PUT"), (302, "DELETE"), (307, "POST"), (308, "PUT")])
async def test_a_stream_that_cannot_be_replayed_is_an_error_not_an_empty_body(server, code, method):
    async def body():
        yield b"once"

    async with ClientSession() as session:
        with pytest.raises(StreamConsumed, match="cannot be replayed"):
            await session.request(method, server.url(f"/redirect/{code}?to=/target"), content=body())
        assert session.transport.pool.active_connections == 0
    assert len(server.raw) == 1  # nothing sent to the new location


async def test_a_stream_is_not_needed_when_the_redirect_becomes_get(server):
    async def body():
        yield b"once"

    async with ClientSession() as session:
        r = await session.post(server.url("/redirect/302?to=/target"), content=body())
    assert r.status_code == 200
    assert split_raw(server.raw[1])[0][0] == "GET /target HTTP/1.1"
    assert header_lines(server.raw[1], "transfer-encoding") == []


async def test_a_seekable_file_body_is_replayed(server):
    async with ClientSession() as session:
        r = await session.put(server.url("/redirect/301?to=/target"), content=io.BytesIO(b"file body"))
    assert r.status_code == 200
    assert split_raw(server.raw[0])[1] == split_raw(server.raw[1])[1] == b"file body"
    assert split_raw(server.raw[1])[0][0] == "PUT /target HTTP/1.1"


# -- proxy credentials on absolute-form requests --------------------------------


def proxy_app(conn_no, req_no, request, body):
    """A proxy that wants ``user@x:secret`` and answers for any origin itself."""
    creds = dict(request.headers).get(b"proxy-authorization")
    if creds != b"Basic dXNlckB4OnNlY3JldA==":  # base64("user@x:secret")
        return (407, [("Proxy-Authenticate", 'Basic realm="test"'), ("Content-Length", "0")], b"")
    return (200, [("Content-Length", "8")], b"proxied!")


@pytest.fixture
def proxy():
    srv = H11Server(proxy_app).start()
    yield srv
    srv.stop()


async def test_proxy_credentials_go_on_plain_http_requests(proxy):
    url = f"http://user%40x:secret@127.0.0.1:{proxy.port}"
    async with ClientSession(proxy=url) as session:
        r = await session.get("http://origin.test/path?q=1", headers={"X-Tag": "t"})
        assert r.status_code == 200 and r.content == b"proxied!"
        assert "proxy-authorization" not in r.request.headers  # the proxy's business, not the request's
        r = await session.post("http://origin.test/form", data={"a": "b"})
        assert r.status_code == 200
    lines, _ = split_raw(proxy.raw[0])
    assert lines[0] == "GET http://origin.test/path?q=1 HTTP/1.1"
    assert header_lines(proxy.raw[0], "proxy-authorization") == ["Proxy-Authorization: Basic dXNlckB4OnNlY3JldA=="]
    assert header_lines(proxy.raw[0], "host") == ["Host: origin.test"]
    assert split_raw(proxy.raw[1])[0][0] == "POST http://origin.test/form HTTP/1.1"
    assert len(header_lines(proxy.raw[1], "proxy-authorization")) == 1


async def test_an_explicit_proxy_authorization_header_wins(proxy):
    async with ClientSession(proxy=f"http://other:pw@127.0.0.1:{proxy.port}") as session:
        r = await session.get("http://origin.test/", headers={"Proxy-Authorization": "Basic dXNlckB4OnNlY3JldA=="})
        assert r.status_code == 200
    assert header_lines(proxy.raw[0], "proxy-authorization") == ["Proxy-Authorization: Basic dXNlckB4OnNlY3JldA=="]


async def test_percent_encoded_credentials_in_a_url_are_decoded_once(server):
    async with ClientSession() as session:
        await session.get(server.url("/").replace("http://", "http://us%40er:p%3Ass@"))
    # base64("us@er:p:ss"), not base64("us%40er:p%3Ass")
    assert header_lines(server.raw[0], "authorization") == ["Authorization: Basic dXNAZXI6cDpzcw=="]
