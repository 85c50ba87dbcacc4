"""Multi-core serving: worker processes that share a port, supervised.

Real processes on loopback: the scenarios are about signals, crashes and
process exit, which only a real process tree shows."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest


def _alive(pid: int) -> bool:
    """Whether *pid* is a live process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out.update(int(p) for p in f.read().split())
    return out


def _wait_until(predicate, what: str, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        # A listener closed with this connection still in its accept queue:
        # it is going away; ask again until nothing listens.
        return False


def _start_cli(*args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "curionet", "echo", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"listening on [^:]+:(\d+)", line)
    if not m:
        proc.kill()
        proc.wait()
        raise AssertionError(f"server did not start: {line!r}")
    return proc, int(m.group(1))


def _kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_echo_cli_workers_end_with_a_sigkilled_parent():
    proc, port = _start_cli("--workers", "2")
    workers = _children(proc.pid)
    try:
        assert len(workers) == 2
        proc.kill()
        proc.wait()
        _wait_until(lambda: not any(_alive(p) for p in workers), "workers outlived their SIGKILLed parent")
        assert _refused(port)
    finally:
        _kill_all(workers)
        proc.stdout.close()


# A server under curionet.serve(): each reply starts with the worker's pid.
APP = """
import os, sys
import curionet

async def handler(client, addr):
    while True:
        data = await client.recv(1000)
        if not data:
            break
        await client.sendall(b"%d " % os.getpid() + data)

async def main(port):
    await curionet.tcp_server("127.0.0.1", port, handler, reuse_port=True)

port, workers, grace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
if sys.argv[4:] == ["no-death-signal"]:  # as on systems without PR_SET_PDEATHSIG
    curionet.supervisor._set_parent_death_signal = lambda signo: False
curionet.serve(main, port, workers=workers, grace=grace, restart_delay=0.05,
               on_ready=lambda: print("ready", flush=True))
print("done", flush=True)
"""


@pytest.fixture
def port():
    # Bound with SO_REUSEPORT but not listening: keeps a free port for the
    # workers, and takes no connection itself.
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.fixture
def start_app(port):
    procs: list[subprocess.Popen] = []
    pids: set[int] = set()

    def start(workers: int = 2, grace: float = 30.0, *extra: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", APP, str(port), str(workers), str(grace), *extra],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        pids.update(_children(proc.pid))
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    _kill_all(pids)


def _worker_pid(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"hi")
        pid, _, rest = s.recv(100).partition(b" ")
        assert rest == b"hi"
        return int(pid)


def test_two_workers_share_the_port(start_app, port):
    proc = start_app(workers=2)
    workers = _children(proc.pid)
    assert len(workers) == 2
    # SO_REUSEPORT hashes each connection to one worker: 40 connections all
    # landing on the same one has a chance of 2 in 2**40.
    seen = {_worker_pid(port) for _ in range(40)}
    assert seen == workers


def test_a_crashed_worker_is_replaced(start_app, port):
    proc = start_app(workers=2)
    first = _children(proc.pid)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    _wait_until(lambda: len(_children(proc.pid) - first) == 1, "no new worker")
    (new,) = _children(proc.pid) - first
    assert not _alive(victim)
    _wait_until(lambda: _worker_pid(port) == new, "the new worker serves nothing")


@pytest.mark.parametrize("workers, how", [(1, "death signal"), (2, "death signal"), (2, "no-death-signal")])
def test_sigkilled_parent_takes_every_worker_with_it(start_app, port, workers, how):
    proc = start_app(workers, 30.0, *([how] if how == "no-death-signal" else []))
    pids = _children(proc.pid)
    assert len(pids) == workers
    proc.kill()
    proc.wait()
    _wait_until(lambda: not any(_alive(p) for p in pids), "workers outlived their SIGKILLed parent")
    assert _refused(port)


def _served_connection(port):
    """A connection to the app that has had one message ("one") echoed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"one")
        assert s.recv(100).endswith(b" one")
    except BaseException:
        s.close()
        raise
    return s


def test_sigterm_drains_open_connections_then_exits_0(start_app, port):
    proc = start_app(workers=2, grace=30)
    with _served_connection(port) as s:
        proc.send_signal(signal.SIGTERM)
        # Nobody accepts any more, but the open connection is served.
        _wait_until(lambda: _refused(port), "still accepting after SIGTERM")
        s.sendall(b"two")
        assert s.recv(100).endswith(b" two")
        assert proc.poll() is None
    # The last connection closed: everything exits, well before the grace.
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == "done\n"


def test_connections_still_open_after_the_grace_are_closed(start_app, port):
    proc = start_app(workers=1, grace=0.2)
    with _served_connection(port) as s:
        proc.send_signal(signal.SIGINT)
        assert s.recv(100) == b""
    assert proc.wait(timeout=10) == 0


def test_a_second_signal_ends_the_grace(start_app, port):
    proc = start_app(workers=2, grace=30)
    with _served_connection(port) as s:
        proc.send_signal(signal.SIGINT)
        _wait_until(lambda: _refused(port), "still accepting after SIGINT")
        assert proc.poll() is None  # draining: 30 s of grace left
        proc.send_signal(signal.SIGINT)
        assert s.recv(100) == b""
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(workers):
    import curionet

    async def main():  # pragma: no cover - never runs
        pass

    with pytest.raises(ValueError, match="workers"):
        curionet.serve(main, workers=workers)


def test_a_worker_failing_at_start_is_an_error(port):
    with socket.socket() as busy:  # no SO_REUSEPORT: the workers cannot bind
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = subprocess.run([sys.executable, "-c", APP, str(busy.getsockname()[1]), "2", "1"],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 1
    assert "before every worker was listening" in proc.stderr
    assert proc.stdout == ""


def test_ws_echo_cli_workers_drain_on_sigterm():
    from websockets.sync.client import connect

    proc = subprocess.Popen([sys.executable, "-m", "curionet", "ws-echo", "--port", "0", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    workers: set[int] = set()
    try:
        line = proc.stdout.readline()
        assert line.startswith("Listening on ws://127.0.0.1:"), line
        workers = _children(proc.pid)
        assert len(workers) == 2
        url = line.split()[-1]
        with connect(url) as ws:
            ws.send("before")
            assert ws.recv(timeout=10) == "before"
            proc.send_signal(signal.SIGTERM)
            _wait_until(lambda: _refused(int(url.rsplit(":", 1)[1].strip("/"))), "still accepting after SIGTERM")
            ws.send("during the drain")
            assert ws.recv(timeout=10) == "during the drain"
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        _kill_all(workers)


OTHER_CHILD_APP = """
import os, signal, subprocess, sys
import curionet

async def main(port):
    await curionet.tcp_server("127.0.0.1", port, None, reuse_port=True)

other = subprocess.Popen(["sh", "-c", "exit 7"])

def ready():
    print(other.wait(), flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

curionet.serve(main, int(sys.argv[1]), workers=1, grace=1, on_ready=ready)
"""


def test_serve_leaves_the_callers_own_children_alone(port):
    # The caller's subprocess ends while serve() supervises: its exit status
    # is the caller's to collect, not the supervisor's.
    proc = subprocess.run([sys.executable, "-c", OTHER_CHILD_APP, str(port)], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert proc.stdout == "7\n", proc.stderr
    assert proc.returncode == 0


def test_restart_delay_doubles_while_a_worker_keeps_crashing():
    from curionet.supervisor import _restart_delays

    delay, waits = 0.1, []
    for _ in range(6):
        wait, delay = _restart_delays(delay, 0.5, 0.1, 1.0)
        waits.append(wait)
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    # A worker that had been up for a while crashed once: start over.
    assert _restart_delays(1.0, 1.0, 0.1, 1.0) == (0.1, 0.2)
