"""``ClientSession(mounts=...)``: URL patterns route requests to transports;
the most specific matching pattern wins (port, then host, then scheme)."""

import pytest
from http_testing import H11Server, ok_app

from curionet.protocols.http import URL, ClientSession, HTTPTransport, MockTransport, MountPattern, Response


def tagged(tag, log=None):
    def handler(request):
        if log is not None:
            log.append((tag, str(request.url)))
        return Response(200, text=tag)

    return MockTransport(handler)


class Closing(MockTransport):
    closed = 0

    async def aclose(self):
        self.closed += 1


@pytest.mark.parametrize(
    ("pattern", "url", "expected"),
    [
        ("all://", "https://a.example/", True),
        ("http://", "http://a.example/", True),
        ("http://", "https://a.example/", False),
        ("all://example.com", "http://example.com/x", True),
        ("all://example.com", "http://www.example.com/", False),
        ("all://*.example.com", "https://www.example.com/", True),
        ("all://*.example.com", "https://a.b.example.com/", True),
        ("all://*.example.com", "https://example.com/", False),
        ("all://*.example.com", "https://badexample.com/", False),
        ("all://*example.com", "https://example.com/", True),
        ("all://*example.com", "https://www.example.com/", True),
        ("all://*example.com", "https://badexample.com/", False),
        ("https://*.internal", "https://db.internal/", True),
        ("https://*.internal", "http://db.internal/", False),
        ("all://*", "http://anything/", True),
        ("all://*:8080", "http://anything:8080/", True),
        ("all://*:8080", "http://anything/", False),
        ("http://example.com:8080", "http://example.com:8080/", True),
        ("http://example.com:8080", "http://example.com/", False),
        ("http://example.com:80", "http://example.com/", True),  # the scheme's default port
        ("all://[::1]:8000", "http://[::1]:8000/", True),
        ("all://[::1]", "http://[::1]:8000/", True),
        ("all://EXAMPLE.com", "http://example.COM/", True),
    ],
)
def test_pattern_matching(pattern, url, expected):
    assert MountPattern(pattern).matches(URL(url)) is expected


@pytest.mark.parametrize("bad", ["http", "example.com", "all://h:port", "all://h:0", "all://h:70000"])
def test_bad_patterns(bad):
    with pytest.raises(ValueError):
        MountPattern(bad)


async def test_most_specific_wins_and_default_is_kept():
    mounts = {
        "all://": tagged("all"),
        "http://": tagged("http"),
        "all://example.com": tagged("example"),
        "https://*.internal": tagged("internal"),
        "all://*.internal:8443": tagged("internal-port"),
        "all://api.internal": tagged("api"),
        "all://skip.example": None,  # the session's own transport
    }
    async with ClientSession(mounts=mounts, transport=tagged("default")) as session:
        got = {url: await (await session.get(url)).text() for url in [
            "https://other.test/", "http://other.test/", "https://example.com/", "http://example.com/",
            "https://db.internal/", "http://db.internal/", "https://db.internal:8443/",
            "https://api.internal/", "https://skip.example/",
        ]}  # fmt: skip
    assert got == {
        "https://other.test/": "all",
        "http://other.test/": "http",
        "https://example.com/": "example",
        "http://example.com/": "example",  # a host beats a scheme
        "https://db.internal/": "internal",
        "http://db.internal/": "http",  # *.internal is for https only
        "https://db.internal:8443/": "internal-port",  # a port beats everything
        "https://api.internal/": "api",  # the longer host
        "https://skip.example/": "default",
    }


async def test_unmatched_go_to_the_default_transport():
    log = []
    async with ClientSession(mounts={"https://": tagged("tls", log)}, transport=tagged("plain", log)) as session:
        await session.get("http://a.test/")
        await session.get("https://a.test/")
    assert log == [("plain", "http://a.test/"), ("tls", "https://a.test/")]


async def test_redirects_are_routed_hop_by_hop():
    log = []

    def first(request):
        log.append(("first", request.url.host))
        return Response(302, headers={"Location": "https://two.test/end"})

    mounts = {"all://one.test": MockTransport(first), "all://two.test": tagged("second", log)}
    async with ClientSession(mounts=mounts, transport=tagged("default", log)) as session:
        response = await session.get("https://one.test/start")
    assert await response.text() == "second"
    assert log == [("first", "one.test"), ("second", "https://two.test/end")]


async def test_a_real_transport_for_one_origin():
    server = H11Server(ok_app).start()
    try:
        mounts = {f"http://127.0.0.1:{server.port}": HTTPTransport()}
        async with ClientSession(mounts=mounts, transport=tagged("mock")) as session:
            real = await session.get(server.url("/"))
            mocked = await session.get("http://127.0.0.1:1/")
            assert real.content == b"ok" and await mocked.text() == "mock"
            real = await session.get(server.url("/"))
    finally:
        server.stop()
    assert server.requests == 2 and server.connections == 1


async def test_closing_the_session_closes_every_transport():
    a, b, default = Closing(lambda r: Response(200)), Closing(lambda r: Response(200)), Closing(lambda r: Response(200))
    session = ClientSession(mounts={"http://": a, "https://": b, "all://x.test": a}, transport=default)
    async with session:
        pass
    assert (a.closed, b.closed, default.closed) == (1, 1, 1)


async def test_empty_mounts_cost_nothing():
    session = ClientSession(mounts={}, transport=tagged("d"))
    assert session._mounts is None
    async with session:
        assert await (await session.get("http://a/")).text() == "d"
