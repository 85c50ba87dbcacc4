"""The ``ws`` and ``ws-echo`` subcommands and the WebSocket examples, run as
real processes."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

from test_websocket_support import free_loopback_port
from websockets.exceptions import ConnectionClosed as LibClosed
from websockets.sync.client import connect as lib_connect

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
ENV = {**os.environ, "PYTHONWARNINGS": "always::ResourceWarning"}


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


def _start_example(name: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    deadline = time.monotonic() + 30
    while True:  # wait until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return proc
        except ConnectionRefusedError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.05)


def _stop(proc: subprocess.Popen, interrupt: bool = True) -> tuple[str, str]:
    if interrupt:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "ResourceWarning" not in err, err
    return out, err


def test_echo_server_and_stdin_client_examples():
    port = free_loopback_port()
    server = _start_example("ws_echo_server.py", port)
    try:
        client = subprocess.run([sys.executable, str(EXAMPLES / "ws_stdin_client.py"), f"ws://127.0.0.1:{port}/"],
                                input="hello\nwörld\n", capture_output=True, text=True, timeout=60,
                                env=ENV)  # fmt: skip
        assert client.returncode == 0, client.stderr
        assert client.stdout.splitlines() == ["< hello", "< wörld"]
        assert "ResourceWarning" not in client.stderr, client.stderr
    finally:
        out, _ = _stop(server)
    assert "connected to /" in out and "left (1000)" in out


def test_chat_room_example_broadcasts_and_closes_with_1001():
    port = free_loopback_port()
    server = _start_example("ws_chat_room.py", port)
    interrupted = False
    try:
        with lib_connect(f"ws://127.0.0.1:{port}/?name=ann", proxy=None) as ann:
            assert ann.recv(timeout=10) == "* ann joined (1 here)"
            with lib_connect(f"ws://127.0.0.1:{port}/?name=bob", proxy=None) as bob:
                assert ann.recv(timeout=10) == "* bob joined (2 here)"
                assert bob.recv(timeout=10) == "* bob joined (2 here)"
                bob.send("hi")
                assert ann.recv(timeout=10) == bob.recv(timeout=10) == "bob: hi"
                ann.send(b"binary is ignored")
                ann.send("yo")
                assert ann.recv(timeout=10) == bob.recv(timeout=10) == "ann: yo"
            assert ann.recv(timeout=10) == "* bob left"
            # Ctrl-C: the server closes the connections still open with 1001.
            server.send_signal(signal.SIGINT)
            interrupted = True
            try:
                ann.recv(timeout=10)
                raise AssertionError("the connection stayed open")
            except LibClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 1001
    finally:
        _stop(server, interrupt=not interrupted)
