"""Bad input or a busy resource makes a ``python -m curionet`` command print
one ``error:`` line on stderr and exit non-zero (2 for bad input, 1 for a
failure at run time), never a traceback."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading

import pytest
import trustme


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "curionet", *args], input=stdin, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def assert_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert proc.returncode == code, (proc.returncode, err)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def busy_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["echo", "ws-echo"])
def test_server_on_a_port_in_use(command, busy_port):
    proc = cli(command, "--host", "127.0.0.1", "--port", str(busy_port))
    assert_error(proc, 1, f"127.0.0.1:{busy_port}", "in use")


def test_server_on_an_unknown_host():
    proc = cli("echo", "--host", "nonexistent.invalid", "--port", "0")
    assert_error(proc, 1, "nonexistent.invalid")


@pytest.mark.parametrize("command", ["echo", "ws-echo"])
def test_server_on_a_port_out_of_range(command):
    assert_error(cli(command, "--port", "70000"), 2, "70000")


def test_missing_certificate_file(tmp_path):
    missing = str(tmp_path / "missing.pem")
    proc = cli("echo", "--tls", "--port", "0", "--certfile", missing)
    assert_error(proc, 2, "--certfile", missing)


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://127.0.0.1:1/", ["ws://", "http://127.0.0.1:1/"]),
        ("ws://127.0.0.1:99999/", ["99999", "out of range"]),
        ("ws://[::1/", ["ws://[::1/"]),
        ("ws:///path", ["host"]),
    ],
)
def test_ws_with_a_bad_url(url, words):
    assert_error(cli("ws", url), 2, *words)


def test_ws_refused(busy_port):
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, not listening: refused
        port = bound.getsockname()[1]
        proc = cli("ws", f"ws://127.0.0.1:{port}/")
    assert_error(proc, 1, f"127.0.0.1:{port}", "refused")


def test_ws_missing_cafile(tmp_path):
    proc = cli("ws", "wss://127.0.0.1:1/", "--cafile", str(tmp_path / "ca.pem"))
    assert_error(proc, 2, "--cafile")


@pytest.mark.parametrize("args", [["--workers", "0"], ["--workers", "-2"], ["--jobs", "-1"]])
def test_demo_with_bad_counts(args):
    assert_error(cli("demo", *args), 2, args[0])


def test_connect_port_out_of_range():
    assert_error(cli("connect", "127.0.0.1", "99999"), 2, "99999")


@pytest.fixture
def tls_port(tmp_path):
    """A loopback TLS server (stdlib, in a thread) with a throw-away CA
    written to ``tmp_path / 'ca.pem'``; each connection is handshaken then
    closed."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(30)
                try:
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(30)


def test_connect_tls_untrusted_certificate(tls_port):
    proc = cli("connect", "--tls", "127.0.0.1", str(tls_port))
    assert_error(proc, 1, "certificate verify failed")
    kinds = [line.split()[2] for line in proc.stdout.splitlines()]
    assert kinds[-2:] == ["tls-handshake", "tls-failed"], proc.stdout


def test_connect_tls_with_cafile_and_insecure(tls_port, tmp_path):
    proc = cli("connect", "--cafile", str(tmp_path / "ca.pem"), "127.0.0.1", str(tls_port))
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    kinds = [line.split()[2] for line in lines[:-1]]
    assert kinds == ["attempt", "connected", "done", "tls-handshake", "tls-done"], proc.stdout
    assert lines[-1].startswith(f"connected to 127.0.0.1 port {tls_port} (TLSv1."), lines[-1]
    proc = cli("connect", "-k", "127.0.0.1", str(tls_port))
    assert proc.returncode == 0 and "tls-done" in proc.stdout, proc.stderr


def test_connect_tls_to_a_silent_server_times_out(busy_port):
    proc = cli("connect", "--tls", "--timeout", "0.3", "127.0.0.1", str(busy_port))
    assert_error(proc, 1, "timed out")


def test_help_lists_commands_and_exit_status():
    proc = cli("--help")
    assert proc.returncode == 0
    for name in ["demo", "connect", "monitor", "get", "ws", "ws-echo", "echo"]:
        assert f"    {name}" in proc.stdout
    assert "Exit status" in proc.stdout
