"""examples/http_concurrent_fetch.py reports a URL that fails on one line
and carries on with the others."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "http_concurrent_fetch.py"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        found = self.path == "/ok"
        body = b"hello" if found else b"no such page"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)


def test_refused_and_404_are_one_line_each(server_port):
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, not listening: refused
        refused = f"http://127.0.0.1:{bound.getsockname()[1]}/refused"
        missing = f"http://127.0.0.1:{server_port}/missing"
        ok = f"http://127.0.0.1:{server_port}/ok"
        proc = subprocess.run([sys.executable, "-W", "error::ResourceWarning", str(EXAMPLE), refused, missing, ok],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4, proc.stdout
    assert lines[0].startswith(f"failed {refused}: ") and "refused" in lines[0].lower()
    assert lines[1].startswith(f"failed {missing}: ") and "404" in lines[1]
    assert lines[2] == f"200 {ok} 5"
    assert lines[3].startswith("3 requests over ") and lines[3].endswith(", 2 failed")
