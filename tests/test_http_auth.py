"""Auth flows against a local h11 server: Digest (RFC 7616) checked by the
server with its own computation, and a user-written token-refresh flow."""

import hashlib
import json
import re

import pytest
from http_testing import H11Server

from curionet.protocols.http import Auth, BasicAuth, ClientSession, DigestAuth, Request, StreamConsumed

USER, PASSWORD, REALM = "ada", "lovelace", "test@curionet"
_HASH = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def parse_digest(value):
    assert value.startswith("Digest ")
    return {k.lower(): (q if q else t) for k, q, t in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', value[7:])}


def expected_response(p, method, password=PASSWORD):
    algorithm = p["algorithm"].upper()
    h = _HASH[algorithm.removesuffix("-SESS")]

    def hx(s):
        return h(s.encode()).hexdigest()

    ha1 = hx(f"{p['username']}:{p['realm']}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = hx(f"{ha1}:{p['nonce']}:{p['cnonce']}")
    ha2 = hx(f"{method}:{p['uri']}")
    return hx(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")


class DigestServer:
    """Answers 200 to a correct Digest answer for the current nonce; a
    correct answer for an older nonce gets ``stale=true`` and a new nonce."""

    def __init__(self, algorithm="MD5", stale_after=None, always_stale=False):
        self.algorithm = algorithm
        self.nonce_no = 1
        self.stale_after = stale_after  # go stale after this many good answers
        self.always_stale = always_stale
        self.good = 0
        self.seen = []  # parsed Authorization params, or None
        self.srv = H11Server(self.app).start()

    @property
    def nonce(self):
        return f"nonce-{self.nonce_no}"

    def challenge(self, stale=False):
        value = (f'Digest realm="{REALM}", qop="auth, auth-int", algorithm={self.algorithm}, '
                 f'nonce="{self.nonce}", opaque="opaque-value"')  # fmt: skip
        if stale:
            value += ", stale=true"
        return (401, [("WWW-Authenticate", value), ("Content-Length", "6")], b"denied")

    def app(self, conn_no, req_no, request, body):
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        auth = headers.get("authorization")
        p = parse_digest(auth) if auth else None
        self.seen.append(p)
        if p is None:
            return self.challenge()
        assert p["opaque"] == "opaque-value" and p["qop"] == "auth"
        assert p["uri"] == request.target.decode()
        if p["response"] != expected_response(p, request.method.decode()):
            return self.challenge()
        if self.always_stale:
            self.nonce_no += 1
        if p["nonce"] != self.nonce:
            return self.challenge(stale=True)
        self.good += 1
        if self.good == self.stale_after:
            self.nonce_no += 1  # the next answer with this nonce is stale
        return (200, [("Content-Length", "2")], b"ok")

    def stop(self):
        self.srv.stop()


@pytest.fixture
def digest_server(request):
    srv = DigestServer(**getattr(request, "param", {}))
    yield srv
    srv.stop()


@pytest.mark.parametrize("digest_server", [{"algorithm": a} for a in ("MD5", "SHA-256", "MD5-sess", "SHA-256-sess")],
                         indirect=True, ids=lambda p: p["algorithm"])  # fmt: skip
async def test_digest_answers_the_challenge_and_counts_nonce_uses(digest_server):
    auth = DigestAuth(USER, PASSWORD)
    async with ClientSession(auth=auth) as session:
        response = await session.get(digest_server.srv.url("/private?x=1"))
        assert response.status_code == 200 and response.content == b"ok"
        assert [r.status_code for r in response.history] == [401]
        first = digest_server.seen[1]
        assert digest_server.seen[0] is None
        assert first["algorithm"] == digest_server.algorithm and first["nc"] == "00000001"
        assert first["uri"] == "/private?x=1" and len(first["cnonce"]) >= 16
        # The remembered challenge is answered at once, with the count incremented.
        response = await session.post(digest_server.srv.url("/other"), content=b"body")
        assert response.status_code == 200 and response.history == []
        second = digest_server.seen[2]
        assert second["nc"] == "00000002" and second["nonce"] == first["nonce"]
        assert second["cnonce"] != first["cnonce"]
    assert len(digest_server.seen) == 3


async def test_digest_wrong_password_returns_the_401(digest_server):
    async with ClientSession(auth=DigestAuth(USER, "wrong")) as session:
        response = await session.get(digest_server.srv.url("/"))
    assert response.status_code == 401 and response.content == b"denied"
    assert len(digest_server.seen) == 2


@pytest.mark.parametrize("digest_server", [{"stale_after": 1}], indirect=True)
async def test_stale_nonce_is_retried_once_with_the_new_nonce(digest_server):
    async with ClientSession(auth=DigestAuth(USER, PASSWORD)) as session:
        assert (await session.get(digest_server.srv.url("/a"))).status_code == 200
        # The server now considers nonce-1 stale: the remembered answer gets
        # 401 stale=true, and the retry uses nonce-2 with nc back at 1.
        response = await session.get(digest_server.srv.url("/b"))
    assert response.status_code == 200
    assert [p["nonce"] for p in digest_server.seen[2:]] == ["nonce-1", "nonce-2"]
    assert digest_server.seen[3]["nc"] == "00000001"


@pytest.mark.parametrize("digest_server", [{"always_stale": True}], indirect=True)
async def test_stale_retry_happens_only_once(digest_server):
    async with ClientSession(auth=DigestAuth(USER, PASSWORD)) as session:
        response = await session.get(digest_server.srv.url("/"))
    # no credentials, nonce-1 (stale), nonce-2 (stale again): then the 401 is returned.
    assert response.status_code == 401 and len(digest_server.seen) == 3
    assert [p and p["nonce"] for p in digest_server.seen] == [None, "nonce-1", "nonce-2"]


@pytest.mark.parametrize("challenge", [
    "Bearer realm=\"api\"",
    'Digest realm="r", nonce="n", qop="auth-int"',
    'Digest realm="r", nonce="n", algorithm=UNKNOWN-ALG',
    'Digest nonce="n"',
])  # fmt: skip
async def test_401_without_a_usable_challenge_is_returned_as_is(challenge):
    calls = []

    def app(conn_no, req_no, request, body):
        calls.append(request)
        return (401, [("WWW-Authenticate", challenge), ("Content-Length", "4")], b"nope")

    srv = H11Server(app).start()
    try:
        async with ClientSession(auth=DigestAuth(USER, PASSWORD)) as session:
            response = await session.get(srv.url("/"))
    finally:
        srv.stop()
    assert response.status_code == 401 and response.content == b"nope" and len(calls) == 1


async def test_digest_with_a_stream_body_that_cannot_be_replayed(digest_server):
    async def body():
        yield b"streamed"

    async with ClientSession(auth=DigestAuth(USER, PASSWORD)) as session:
        with pytest.raises(StreamConsumed):
            await session.post(digest_server.srv.url("/"), content=body())


class TokenRefresh(Auth):
    """A token flow as a user would write it (httpx's documented pattern)."""

    requires_response_body = True

    def __init__(self, token, refresh_url):
        self.token = token
        self.refresh_url = refresh_url
        self.refreshes = 0

    def auth_flow(self, request):
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            refresh = yield Request("POST", self.refresh_url, json={"old": self.token})
            self.token = json.loads(refresh.content)["token"]
            self.refreshes += 1
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


async def test_token_refresh_flow():
    seen = []

    def app(conn_no, req_no, request, body):
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        seen.append((request.method.decode(), request.target.decode(), headers.get("authorization"), body))
        if request.target == b"/refresh":
            payload = json.dumps({"token": "new"}).encode()
            return (200, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))], payload)
        if headers.get("authorization") != "Bearer new":
            return (401, [("Content-Length", "0")], b"")
        return (200, [("Content-Length", "6")], b"secret")

    srv = H11Server(app).start()
    try:
        auth = TokenRefresh("old", srv.url("/refresh"))
        async with ClientSession(auth=auth) as session:
            response = await session.post(srv.url("/data"), content=b"payload")
            assert response.status_code == 200 and response.content == b"secret"
            assert [r.status_code for r in response.history] == [401, 200]
            again = await session.get(srv.url("/data"))  # the new token is kept
            assert again.status_code == 200
    finally:
        srv.stop()
    assert seen == [
        ("POST", "/data", "Bearer old", b"payload"),
        ("POST", "/refresh", None, b'{"old":"old"}'),
        ("POST", "/data", "Bearer new", b"payload"),
        ("GET", "/data", "Bearer new", b""),
    ]
    assert auth.refreshes == 1


class NeedsBody(Auth):
    requires_request_body = True

    def auth_flow(self, request):
        request.headers["X-Body-Digest"] = hashlib.sha256(request.content).hexdigest()
        yield request


async def test_requires_request_body_reads_a_streamed_body():
    seen = []

    def app(conn_no, req_no, request, body):
        seen.append(({k.decode().lower(): v.decode() for k, v in request.headers}, body))
        return (200, [("Content-Length", "0")], b"")

    async def chunks():
        yield b"ab"
        yield b"cd"

    srv = H11Server(app).start()
    try:
        async with ClientSession(auth=NeedsBody()) as session:
            assert (await session.post(srv.url("/"), content=chunks())).status_code == 200
    finally:
        srv.stop()
    headers, body = seen[0]
    assert body == b"abcd" and headers["content-length"] == "4" and "transfer-encoding" not in headers
    assert headers["x-body-digest"] == hashlib.sha256(b"abcd").hexdigest()


def test_basic_auth_is_an_auth_flow():
    auth = BasicAuth("u", "p")
    request = Request("GET", "http://127.0.0.1/")
    flow = auth.auth_flow(request)
    sent = next(flow)
    assert sent.headers["authorization"] == "Basic dTpw"
    with pytest.raises(StopIteration):
        flow.send(None)
