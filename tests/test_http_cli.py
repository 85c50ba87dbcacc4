"""``python -m curionet get`` and the HTTP example, run as real subprocesses
against local servers."""

import json
import pathlib
import subprocess
import sys

import pytest
from http_testing import StdServer


@pytest.fixture(scope="module")
def server():
    srv = StdServer().start()
    yield srv
    srv.stop()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "curionet", "get", *args], capture_output=True, timeout=60)


def test_get_prints_status_headers_and_body(server):
    proc = cli(server.url("/bytes/5"), "-H", "X-Test: yes")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("HTTP/1.1 200 OK\n")
    assert "content-length: 5\n" in out.lower()
    assert out.endswith("\n\nxxxxx")


def test_header_and_json(server):
    proc = cli(server.url("/echo"), "-H", "X-Test: yes", "--json")
    assert proc.returncode == 0, proc.stderr
    body = proc.stdout.decode().split("\n\n", 1)[1]
    data = json.loads(body)
    assert data["headers"]["x-test"] == "yes"
    assert data["headers"]["accept"] == "application/json"
    assert '\n  "method": "GET"' in body  # pretty-printed


def test_head(server):
    proc = cli(server.url("/bytes/100"), "--head")
    assert proc.returncode == 0
    assert proc.stdout.decode().endswith("\n\n")
    assert "x" * 10 not in proc.stdout.decode()


def test_output_file_with_progress_bar(server, tmp_path):
    target = tmp_path / "out.bin"
    size = 3 * 1024 * 1024
    proc = cli(server.url(f"/big?n={size}"), "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    assert target.stat().st_size == size
    assert "100.0%" in proc.stderr.decode()
    assert "HTTP/1.1 200 OK" in proc.stdout.decode()


def test_error_status_and_failures(server):
    proc = cli(server.url("/status/404"))
    assert proc.returncode == 1
    assert proc.stdout.decode().startswith("HTTP/1.1 404")
    proc = cli("http://127.0.0.1:1/refused")
    assert proc.returncode == 2
    assert "http://127.0.0.1:1/refused" in proc.stderr.decode()
    proc = cli(server.url("/"), "-H", "no-colon")
    assert proc.returncode == 2 and b"invalid header" in proc.stderr


def test_concurrent_fetch_example_runs_offline():
    example = pathlib.Path(__file__).resolve().parent.parent / "examples" / "http_concurrent_fetch.py"
    proc = subprocess.run([sys.executable, "-W", "error::ResourceWarning", str(example)], capture_output=True,
                          timeout=60, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("200 http://127.0.0.1:") for line in lines) == 12
    assert "'squared': 121" in proc.stdout
    assert lines[-1].startswith("12 requests over ")
