"""The task monitor, its CLI client, and the debug hooks."""

import logging
import socket
import sys
import time

import pytest

import curionet
from curionet import subprocess
from curionet.debug import logcrash, longblock, schedtrace, traptrace
from curionet.kernel.traps import _get_kernel
from curionet.monitor import PROMPT, Monitor


def _talk(address, commands):
    """A blocking monitor client: send each command, collect each reply."""
    replies = []
    with socket.create_connection(address, timeout=10) as s:
        f = s.makefile("rb")

        def read_reply():
            buf = b""
            while not buf.endswith(PROMPT.encode()):
                ch = f.read(1)
                if not ch:
                    return buf.decode()
                buf += ch
            return buf[: -len(PROMPT)].decode()

        replies.append(read_reply())
        for cmd in commands:
            s.sendall(cmd.encode() + b"\n")
            replies.append(read_reply())
        f.close()
    return replies


async def sleeper_task():
    await curionet.sleep(1000)


async def test_monitor_ps_where_cancel():
    kernel = await _get_kernel()
    mon = Monitor(kernel, port=0)
    try:
        t = await curionet.spawn(sleeper_task)
        await curionet.sleep(0.01)
        banner, ps, where, cancel, bogus = await curionet.run_in_thread(
            _talk, mon.address, ["ps", f"where {t.id}", f"cancel {t.id}", "frobnicate"]
        )
        assert "tasks running" in banner
        line = next(row for row in ps.splitlines() if "sleeper_task" in row)
        assert line.split()[0] == str(t.id) and "TIME_SLEEP" in line and "test_monitor.py:" in line
        assert "sleeper_task" in where and "await curionet.sleep(1000)" in where
        assert "cancelling" in cancel
        assert "unknown command" in bogus
        await t.wait()
        assert t.cancelled
    finally:
        mon.close()


def test_run_with_monitor_and_cli_client(monkeypatch):
    monkeypatch.setenv("CURIONET_MONITOR_PORT", "0")

    async def main():
        kernel = await _get_kernel()
        port = kernel.monitor.address[1]
        t = await curionet.spawn(sleeper_task)
        await curionet.sleep(0.01)
        out = await subprocess.check_output(
            [sys.executable, "-m", "curionet", "monitor", "-p", str(port), "-c", "ps", "-c", f"cancel {t.id}"]
        )
        await t.wait()
        return out.decode(), t.cancelled

    out, cancelled = curionet.run(main, with_monitor=True)
    assert "sleeper_task" in out and "TIME_SLEEP" in out and "cancelling" in out
    assert cancelled


def test_cli_reports_no_monitor():
    import subprocess as sp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = sp.run([sys.executable, "-m", "curionet", "monitor", "-p", str(port), "-c", "ps"],
               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_longblock_logs_the_task_and_where(caplog):
    async def hog():
        time.sleep(0.2)  # holds the kernel
        await curionet.sleep(0)

    with caplog.at_level(logging.WARNING, logger="curionet.debug"):
        curionet.run(hog, debug=longblock(max_time=0.05))
    msgs = [r.getMessage() for r in caplog.records]
    assert any("hog" in m and "without yielding" in m and "test_monitor.py:" in m for m in msgs), msgs


def test_longblock_quiet_for_short_steps(caplog):
    async def fine():
        for _ in range(10):
            await curionet.sleep(0)

    with caplog.at_level(logging.WARNING, logger="curionet.debug"):
        curionet.run(fine, debug=longblock(max_time=5))
    assert not caplog.records


def test_logcrash_and_schedtrace(caplog):
    async def crasher():
        raise ZeroDivisionError

    async def main():
        t = await curionet.spawn(crasher)
        await t.wait()
        t.exception  # noqa: B018 - mark retrieved

    with caplog.at_level(logging.DEBUG, logger="curionet.debug"):
        curionet.run(main, debug=[logcrash, schedtrace(filter={"crasher"}), traptrace(filter={"nothing"})])
    msgs = [r.getMessage() for r in caplog.records]
    assert any("crasher" in m and "crashed" in m for m in msgs)
    assert any(m.startswith("CREATE") and "crasher" in m for m in msgs)
    assert all("main" not in m for m in msgs)


def test_longblock_rejects_negative():
    with pytest.raises(ValueError):
        longblock(max_time=-1)
