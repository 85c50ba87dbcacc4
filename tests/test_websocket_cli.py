"""The ``ws`` and ``ws-echo`` subcommands, run as real processes."""

from __future__ import annotations

import signal
import subprocess
import sys


def test_ws_client_against_ws_echo_server():
    server = subprocess.Popen([sys.executable, "-m", "curionet", "ws-echo", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = server.stdout.readline()
        assert line.startswith("Listening on ws://127.0.0.1:"), line
        url = line.split()[-1]
        client = subprocess.run([sys.executable, "-m", "curionet", "ws", url], input="hello\nwörld\n",
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert client.returncode == 0, client.stderr
        assert client.stdout.splitlines() == ["< hello", "< wörld"]
        assert "Connected to" in client.stderr and "Connection closed: 1000" in client.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        finally:
            server.stdout.close()
            server.stderr.close()
    assert server.returncode is not None


def test_ws_client_reports_refused_connection():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = subprocess.run([sys.executable, "-m", "curionet", "ws", f"ws://127.0.0.1:{port}/"], input="",
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert client.returncode == 1 and "Failed to connect" in client.stderr
