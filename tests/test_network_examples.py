"""The socket/server examples run and do what they say."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
ENV = {**os.environ, "PYTHONWARNINGS": "always::ResourceWarning"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connect(port: int) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _recv_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(1000)
        assert chunk, data
        data += chunk
    return data


@pytest.mark.parametrize("name", ["echo_server_low_level.py", "echo_server.py"])
def test_echo_server_examples(name):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    try:
        with _connect(port) as a, _connect(port) as b:
            a.sendall(b"from a")
            b.sendall(b"from b")
            assert a.recv(100) == b"from a"
            assert b.recv(100) == b"from b"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Connection from" in out
    assert "Traceback" not in err and "ResourceWarning" not in err, err


def test_chat_server_example():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(EXAMPLES / "chat_server.py"), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    try:
        with _connect(port) as a:
            with _connect(port) as b:
                assert b"joined" in _recv_until(a, b"joined\n")
                b.sendall(b"hello everyone\n")
                assert b"hello everyone" in _recv_until(a, b"hello everyone\n")
                a.sendall(b"hi b\n")
                assert b"hi b" in _recv_until(b, b"hi b\n")
            assert b"left" in _recv_until(a, b"left\n")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "ResourceWarning" not in err, err


@pytest.mark.parametrize(
    "name,expect",
    [("tls_echo.py", "a client without the CA is refused"), ("udp_echo.py", "echoed: datagram 2"),
     ("unix_echo.py", "echoed: UNIX SOCKETS")],
)  # fmt: skip
def test_self_contained_examples(name, expect):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert expect in proc.stdout
    assert "ResourceWarning" not in proc.stderr, proc.stderr
