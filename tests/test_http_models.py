"""Plain-data parts of the HTTP client (URLs, headers, decoders, request
bodies) and the swappable transport, without a network."""

import gzip
import json
import zlib

import pytest

from curionet.protocols.http import (
    URL,
    ClientSession,
    DecodingError,
    Headers,
    InvalidURL,
    MockTransport,
    Request,
    Response,
    TooManyRedirects,
)
from curionet.protocols.http._decoders import make_decoder


def test_url_parts_and_normalisation():
    u = URL("HTTPS://Example.ORG:443/a b/?q=1 2#frag")
    assert (u.scheme, u.host, u.port, u.path, u.query, u.fragment) == ("https", "example.org", 443, "/a%20b/",
                                                                      "q=1%202", "frag")  # fmt: skip
    assert u.netloc == "example.org" and u.raw_path == "/a%20b/?q=1%202"
    assert str(URL("http://h:8080")) == "http://h:8080/"
    assert URL("http://[::1]:81/x").netloc == "[::1]:81"
    assert URL("http://bücher.example/").host == "xn--bcher-kva.example"
    assert URL("http://h/p", params={"a": [1, 2], "b": None}).query == "a=1&a=2&b="
    assert URL("http://h/a/b").join("../c?x=1") == "http://h/c?x=1"
    assert URL("http://u:p@h/").username == "u"
    assert URL("http://h/") == URL("http://h/")
    with pytest.raises(InvalidURL):
        URL("http://h:notaport/")


def test_headers_case_insensitive_and_multi_valued():
    h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("X-One", "1")])
    assert h["SET-COOKIE"] == "a=1, b=2"
    assert h.get_list("set-cookie") == ["a=1", "b=2"]
    assert "x-one" in h and "nope" not in h
    h["x-one"] = "uno"
    assert h.multi_items()[-1] == ("x-one", "uno")
    h.add("X-One", "dos")
    assert h.get_list("X-ONE") == ["uno", "dos"]
    del h["x-one"]
    assert "X-One" not in h and len(h) == 1
    assert Headers({"A": "1"}) == {"a": "1"}
    with pytest.raises(KeyError):
        h["missing"]  # noqa: B018


def test_decoders():
    data = b"hello " * 1000
    d = make_decoder("gzip")
    packed = gzip.compress(data)
    assert d.decode(packed[:10]) + d.decode(packed[10:]) + d.flush() == data
    assert make_decoder("deflate").decode(zlib.compress(data)) == data
    c = zlib.compressobj(wbits=-15)
    assert make_decoder("deflate").decode(c.compress(data) + c.flush()) == data
    both = make_decoder("deflate, gzip")  # gzip applied last: undone first
    assert both.decode(gzip.compress(zlib.compress(data))) + both.flush() == data
    assert make_decoder("identity") is None and make_decoder(None) is None
    with pytest.raises(ValueError):
        make_decoder("gzip").decode(b"not gzip at all")


def test_request_body_encodings():
    r = Request("post", "http://h/", json={"a": 1})
    assert r.method == "POST" and r.content == b'{"a":1}' and r.headers["content-type"] == "application/json"
    r = Request("POST", "http://h/", data={"a": "x y"})
    assert r.content == b"a=x+y" and r.headers["content-length"] == "5"

    async def gen():
        yield b"x"

    r = Request("POST", "http://h/", content=gen())
    assert r.headers["transfer-encoding"] == "chunked" and not r.replayable


async def test_mock_transport_redirects_cookies_and_decoding():
    seen = []

    def handler(request):
        seen.append((request.method, str(request.url), request.headers.get("cookie"), request.content))
        if request.url.path == "/start":
            return Response(303, headers={"Location": "/gz", "Set-Cookie": "s=1"})
        if request.url.path == "/gz":
            return Response(200, headers={"Content-Encoding": "gzip"}, content=gzip.compress(b'{"ok": true}'))
        if request.url.path == "/bad-gzip":
            return Response(200, headers={"Content-Encoding": "gzip"}, content=b"garbage")
        return Response(302, headers={"Location": "/loop"})

    async with ClientSession(transport=MockTransport(handler), max_redirects=3) as session:
        r = await session.post("http://api.test/start", content=b"body")
        assert await r.json() == {"ok": True}
        assert [h.status_code for h in r.history] == [303]
        assert seen == [("POST", "http://api.test/start", None, b"body"), ("GET", "http://api.test/gz", "s=1", b"")]
        with pytest.raises(DecodingError) as info:
            await session.get("http://api.test/bad-gzip")
        assert "http://api.test/bad-gzip" in str(info.value)
        with pytest.raises(TooManyRedirects):
            await session.get("http://api.test/loop")


async def test_async_mock_handler_and_response_helpers(autojump_clock):
    async def handler(request):
        return Response(200, text="ünïcode\nline two", headers={"Content-Type": "text/plain; charset=utf-8"})

    async with ClientSession(transport=MockTransport(handler)) as session:
        r = await session.get("http://t/")
        assert r.encoding == "utf-8" and await r.text() == "ünïcode\nline two"
        assert r.is_success and not r.is_error and r.elapsed.total_seconds() == 0
        async with session.stream("GET", "http://t/") as s:
            assert [line async for line in s.aiter_lines()] == ["ünïcode", "line two"]


async def test_trust_env_proxy_and_no_proxy(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "internal.test")
    async with ClientSession(trust_env=True) as session:
        pool = session.transport.pool
        assert pool._key(URL("http://example.test/"))[3] == "http://proxy.test:3128"
        assert pool._key(URL("http://a.internal.test/"))[3] is None
    async with ClientSession(trust_env=False) as session:  # ignores the environment
        assert session.transport.pool._key(URL("http://example.test/"))[3] is None


def test_response_built_directly():
    r = Response(201, json={"a": [1]})
    assert r.reason == "Created" and r.headers["content-type"] == "application/json"
    assert r.headers["content-length"] == str(len(json.dumps({"a": [1]})))
