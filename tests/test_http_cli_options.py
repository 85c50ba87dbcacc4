"""``python -m curionet get``'s httpx-style options, and its answers to bad
input, run as real subprocesses against loopback servers."""

import json
import ssl
import subprocess
import sys

import pytest
import trustme
from http_testing import H11Server, Proxy, StdServer


@pytest.fixture(scope="module")
def server():
    srv = StdServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    srv = StdServer(ssl_context=ctx).start()
    cafile = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    yield srv, str(cafile)
    srv.stop()


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "curionet", "get", *args], capture_output=True, timeout=60,
                          **kwargs)  # fmt: skip


def echoed(proc):
    """The /echo payload a run printed (after the status line and headers)."""
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.decode().split("\n\n", 1)[1])


def test_method_and_raw_data(server, tmp_path):
    data = echoed(cli(server.url("/echo"), "-X", "put", "-d", "raw text"))
    assert data["method"] == "PUT" and data["body"] == "raw text"
    body = tmp_path / "body.bin"
    body.write_bytes(b"from a file")
    data = echoed(cli(server.url("/echo"), "-d", f"@{body}"))
    assert data["method"] == "POST" and data["body"] == "from a file"  # a body means POST
    data = echoed(cli(server.url("/echo"), "-d", "@-", input=b"from stdin"))
    assert data["body"] == "from stdin"


def test_json_body_and_pretty_printing_by_content_type(server):
    proc = cli(server.url("/echo"), "-j", '{"a": [1, 2]}')
    data = echoed(proc)
    assert data["headers"]["content-type"] == "application/json" and json.loads(data["body"]) == {"a": [1, 2]}
    assert '\n  "method": "POST",\n' in proc.stdout.decode()  # application/json: indented


def test_form_fields_and_files(server, tmp_path):
    data = echoed(cli(server.url("/echo"), "-f", "a=1", "-f", "b=x y", "-f", "a=2"))
    assert data["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert data["body"] == "a=1&a=2&b=x+y"
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"file content")
    data = echoed(cli(server.url("/echo"), "-f", "title=hi", "-f", f"doc=@{upload}"))
    assert data["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert 'name="title"\r\n\r\nhi\r\n' in data["body"]
    assert 'name="doc"; filename="notes.txt"' in data["body"] and "file content" in data["body"]


def test_params_and_basic_auth(server):
    data = echoed(cli(server.url("/echo?x=0"), "-p", "q=a b", "-p", "n=1", "--auth", "ada:pw:with:colons"))
    assert data["path"] == "/echo?x=0&q=a+b&n=1"
    assert data["headers"]["authorization"] == "Basic YWRhOnB3OndpdGg6Y29sb25z"


def test_digest_auth():
    def app(conn_no, req_no, request, body):
        auth = dict(request.headers).get(b"authorization", b"")
        if auth.startswith(b"Digest ") and b'username="ada"' in auth and b"nc=00000001" in auth:
            return (200, [("Content-Length", "2")], b"in")
        return (401, [("WWW-Authenticate", 'Digest realm="r", nonce="abc", qop="auth"'), ("Content-Length", "0")], b"")

    srv = H11Server(app).start()
    try:
        proc = cli(srv.url("/"), "--auth", "ada:pw", "--digest")
    finally:
        srv.stop()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()  # the challenge is shown, then the answer
    assert out.startswith("HTTP/1.1 401") and "\n\nHTTP/1.1 200" in out and out.endswith("\n\nin")


def test_proxy(server):
    proxy = Proxy().start()
    try:
        data = echoed(cli(server.url("/echo"), "--proxy", proxy.url))
    finally:
        proxy.stop()
    assert data["method"] == "GET"
    assert [target for _, target in proxy.seen] == [server.url("/echo")]


def test_cafile_and_verbose_steps(tls):
    srv, cafile = tls
    proc = cli(srv.url("/bytes/3", scheme="https"), "--cafile", cafile, "-v")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(b"\n\nxxx")
    err = proc.stderr.decode().splitlines()
    steps = [line.split()[1] for line in err if line.startswith("* ")]
    assert steps == ["connecting", "DNS:", "attempt", "connected", "TLS"]
    assert any(line.startswith("* TLS handshake done: TLSv1.") and line.endswith(" ms") for line in err)
    assert "> GET /bytes/3 HTTP/1.1" in err and f"> Host: 127.0.0.1:{srv.port}" in err
    assert any(line.startswith("< HTTP/1.1 200 OK (head received in ") for line in err)
    # Without the CA the certificate is refused, in one line.
    proc = cli(srv.url("/bytes/3", scheme="https"), "--timeout", "5")
    assert proc.returncode == 2 and proc.stderr.decode().count("\n") == 1 and b"Traceback" not in proc.stderr


def test_verbose_shows_dns_for_a_name(server):
    proc = cli(f"http://localhost:{server.port}/bytes/1", "-v")
    assert proc.returncode == 0, proc.stderr
    assert "* DNS answer (A): 127.0.0.1:" in proc.stderr.decode()


def test_redirects_are_shown_and_followed_only_when_asked(server):
    proc = cli(server.url("/redirect/302?to=/bytes/2"))
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert out.startswith("HTTP/1.1 302 Found\n") and out.endswith("\n\nmoved")
    proc = cli(server.url("/redirect/302?to=/bytes/2"), "--follow-redirects")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert out.startswith("HTTP/1.1 302 Found\n") and "location: /bytes/2\n" in out.lower()
    assert "\n\nHTTP/1.1 200 OK\n" in out and out.endswith("\n\nxx")


def test_output_dash_writes_the_body_alone_to_stdout(server):
    proc = cli(server.url("/echo"), "-o", "-")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["method"] == "GET"  # raw, not pretty-printed, no head
    assert proc.stderr.decode().startswith("HTTP/1.1 200 OK\n")


@pytest.mark.parametrize(("args", "message"), [
    (["http://127.0.0.1:99999/"], "Port out of range"),
    (["http://127.0.0.1:port/"], "invalid URL"),
    (["http://[::1"], "invalid URL"),
    (["ftp://127.0.0.1/"], "unsupported URL scheme"),
    (["{url}", "-o", "/nonexistent-dir/out.bin"], "No such file or directory"),
    (["{url}", "-d", "@/nonexistent-dir/body"], "No such file or directory"),
    (["{url}", "-j", "{not json"], "invalid JSON for -j"),
    (["{url}", "--digest"], "--digest needs --auth"),
    (["{url}", "--cafile", "/nonexistent-dir/ca.pem"], "--cafile"),
    (["{url}", "--proxy", "socks5://127.0.0.1:1"], "proxy"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_status_2(server, args, message):
    proc = cli(*[server.url("/bytes/3") if a == "{url}" else a for a in args])
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.stdout, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_closed_pipe_is_one_line_and_a_failure(server):
    proc = subprocess.Popen([sys.executable, "-m", "curionet", "get", server.url(f"/big?n={8 * 1024 * 1024}")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout.read(1) == b"H"
    proc.stdout.close()  # like `| head -c1`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 2
    assert err == "error: standard output was closed (broken pipe)\n"
