"""``python -m curionet connect HOST PORT`` prints the Happy Eyeballs trace."""

import socket
import subprocess
import sys

from curionet.cli import main


def test_connect_prints_the_trace_and_the_peer(capsys):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert main(["connect", "127.0.0.1", str(port)]) == 0
    out = capsys.readouterr().out.splitlines()
    kinds = [line.split()[2] for line in out[:-1]]
    assert kinds == ["attempt", "connected", "done"]
    assert all(line.split()[1] == "ms" for line in out[:-1])
    assert out[-1] == f"connected to 127.0.0.1 port {port}"


def test_connect_failure_exits_1_with_every_error(capsys):
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, not listening: refused
        port = bound.getsockname()[1]
        assert main(["connect", "-4", "127.0.0.1", str(port)]) == 1
    captured = capsys.readouterr()
    assert "gave-up" in captured.out
    assert captured.err.startswith("error: ") and f"127.0.0.1:{port}" in captured.err
    assert "  - " in captured.err and "Connection refused" in captured.err


def test_connect_is_a_listed_subcommand():
    proc = subprocess.run([sys.executable, "-m", "curionet", "connect", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--resolution-delay" in proc.stdout
