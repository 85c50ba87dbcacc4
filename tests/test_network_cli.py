"""``python -m curionet echo``: plain, TLS and multi-worker runs as real processes,
and their graceful drain on SIGINT."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest


def _start(*args: str, cwd=None) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "curionet", "echo", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONWARNINGS": "always::ResourceWarning"})  # fmt: skip
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            proc.kill()
            raise AssertionError(f"server did not start: {proc.communicate()}")
        m = re.search(r"listening on [^:]+:(\d+)", line)
        if m:
            return proc, int(m.group(1))


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "ResourceWarning" not in err, err


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.parametrize("workers", ["1", "2"])
def test_echo_cli_serves_and_drains_on_sigint(workers):
    proc, port = _start("--workers", workers, "--grace", "30")
    try:
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    try:
        with idle:
            for i in range(6):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"hello %d" % i)
                    assert s.recv(100) == b"hello %d" % i
            proc.send_signal(signal.SIGINT)
            # Draining: no new connection is accepted, the open one is served.
            deadline = time.monotonic() + 10
            while not _refused(port):
                assert time.monotonic() < deadline, "still accepting after SIGINT"
                time.sleep(0.02)
            idle.sendall(b"still here")
            assert idle.recv(100) == b"still here"
            assert proc.poll() is None
        # Its last connection closed, the server exits at once (not after the grace).
        _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_echo_cli_closes_connections_left_after_the_grace():
    proc, port = _start("--workers", "2", "--grace", "0.2")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        idle.sendall(b"ping")
        assert idle.recv(100) == b"ping"
        _stop(proc)
        assert idle.recv(100) == b""


def test_echo_cli_tls_with_throwaway_certificate(tmp_path):
    ca = tmp_path / "ca.pem"
    proc, port = _start("--tls", "--ca-out", str(ca))
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"secret")
                assert s.recv(100) == b"secret"
    finally:
        _stop(proc)
