"""Kernel shutdown with a task that refuses to finish (checked in child processes).

At exit ``run()`` cancels every task left.  A task that swallows the
cancellation is named in a warning, cancelled again (with a back-off), and
abandoned after ``shutdown_timeout``; a SIGINT or SIGTERM during that wait
ends the process at once.
"""

import logging
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import curionet
from curionet import CancelledError, Kernel, MockClock, clock, sleep, spawn

PROGRAM = textwrap.dedent(
    """
    import sys
    import curionet
    from curionet import CancelledError, sleep, spawn

    GIVE_IN = int(sys.argv[1])  # the task ends at this cancellation (0: never)
    MAIN = sys.argv[2]  # "return": main returns at once; "wait": main waits for a signal;
    # "refuse": main waits, and ignores its cancellations too

    async def stubborn():
        n = 0
        while True:
            try:
                await sleep(1000)  # STUBBORN WAITS HERE
            except CancelledError:
                n += 1
                print("cancel", n, flush=True)
                if n == GIVE_IN:
                    raise

    async def main():
        await spawn(stubborn)
        await sleep(0)
        print("ready", flush=True)
        if MAIN == "wait":
            await sleep(1000)
        while MAIN == "refuse":
            try:
                await sleep(1000)
            except CancelledError:
                print("main cancelled", flush=True)

    curionet.run(main)
    print("run returned", flush=True)
    """
)
WAIT_LINE = next(i for i, line in enumerate(PROGRAM.splitlines(), 1) if "STUBBORN WAITS HERE" in line)
LIMIT = 30.0  # seconds: a child still alive then is hung (the old kernel hung forever)


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "stubborn_prog.py"
    path.write_text(PROGRAM)
    return str(path)


class Child:
    """The program in a child process; its output collected by threads."""

    def __init__(self, program, give_in, main, shutdown_timeout):
        env = dict(os.environ)
        env["CURIONET_SHUTDOWN_TIMEOUT"] = str(shutdown_timeout)
        # The child imports the curionet this test imported.
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.dirname(os.path.dirname(curionet.__file__)), env.get("PYTHONPATH", "")]
        )
        self.p = subprocess.Popen(
            [sys.executable, program, str(give_in), main],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self.threads = [
            threading.Thread(target=self._collect, args=(self.p.stdout, self.lines), daemon=True),
            threading.Thread(target=self._collect, args=(self.p.stderr, None), daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _collect(self, f, q):
        for line in f:
            (self.out if q is not None else self.err).append(line)
            if q is not None:
                q.put(line.rstrip("\n"))
        if q is not None:
            q.put(None)

    def read_until(self, marker):
        """Wait until the child prints the line *marker*."""
        deadline = time.monotonic() + LIMIT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"child never printed {marker!r}: {self.out}")
            if line is None:
                pytest.fail(f"child exited before printing {marker!r}: {self.out}, {self.err}")
            if line == marker:
                return

    def finish(self):
        """Wait for the child to exit; return (returncode, stdout, stderr)."""
        try:
            self.p.wait(timeout=LIMIT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"child hung at exit: stdout {''.join(self.out)!r}, stderr {''.join(self.err)!r}")
        for t in self.threads:
            t.join()
        self.p.stdout.close()
        self.p.stderr.close()
        return self.p.returncode, "".join(self.out), "".join(self.err)

    def kill(self):
        self.p.kill()
        self.p.wait()
        for t in self.threads:
            t.join()
        self.p.stdout.close()
        self.p.stderr.close()


def test_refusing_task_is_named_cancelled_again_and_abandoned(program):
    code, out, err = Child(program, 0, "return", 1.0).finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "ready" and lines[-1] == "run returned", out
    # The first cancellation was swallowed, and more were delivered.
    assert "cancel 1" in lines and "cancel 2" in lines, out
    # The warning names the task and where it waits.
    assert "stubborn" in err and f"{program}:{WAIT_LINE}" in err, err
    assert "abandon" in err, err


def test_repeated_cancellations_end_a_task_that_gives_in(program):
    code, out, err = Child(program, 3, "return", 60.0).finish()
    assert code == 0, err
    assert out.splitlines() == ["ready", "cancel 1", "cancel 2", "cancel 3", "run returned"], err
    assert "stubborn" in err and f"{program}:{WAIT_LINE}" in err, err
    assert "abandon" not in err, err


@pytest.mark.parametrize(
    "signo, returncode, exc",
    [(signal.SIGINT, -signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, 128 + signal.SIGTERM, None)],
)
def test_a_signal_during_the_shutdown_wait_ends_the_process(program, signo, returncode, exc):
    child = Child(program, 0, "return", 60.0)
    child.read_until("cancel 1")  # main has returned; the shutdown waits for the stubborn task
    child.p.send_signal(signo)
    code, out, err = child.finish()
    assert code == returncode, err
    assert "run returned" not in out, out
    if exc:
        assert exc in err, err


def test_ctrl_c_twice_when_the_first_started_the_shutdown(program):
    # The first SIGINT cancels the main task; the shutdown then waits for
    # the stubborn task, and a second SIGINT ends the process.
    child = Child(program, 0, "wait", 60.0)
    child.read_until("ready")
    child.p.send_signal(signal.SIGINT)
    child.read_until("cancel 1")
    child.p.send_signal(signal.SIGINT)
    code, out, err = child.finish()
    assert code == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err and "run returned" not in out, (out, err)


def test_ctrl_c_twice_while_the_main_task_refuses(program):
    # The second SIGINT comes while the main task (which ignores its
    # cancellation) runs: run() ends at once, abandoning every task.
    child = Child(program, 0, "refuse", 60.0)
    child.read_until("ready")
    child.p.send_signal(signal.SIGINT)
    child.read_until("main cancelled")
    child.p.send_signal(signal.SIGINT)
    code, out, err = child.finish()
    assert code == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err and "run returned" not in out and "cancel 1" not in out, (out, err)
    assert "abandoning" in err and "main" in err and "stubborn" in err, err


# -- the same in virtual time, in process ------------------------------------


def _stubborn(log, give_in=0):
    async def stubborn():
        n = 0
        try:
            while True:
                try:
                    await sleep(1000)
                except CancelledError:
                    n += 1
                    log.append((n, await clock()))
                    if n == give_in:
                        raise
        finally:
            log.append("finally")

    return stubborn


@pytest.mark.timeout(20)
def test_refusing_task_in_virtual_time(caplog, monkeypatch):
    seen = []

    async def main():
        await spawn(_stubborn(seen))
        await sleep(0)

    monkeypatch.setenv("CURIONET_SHUTDOWN_TIMEOUT", "10")
    with Kernel(clock=MockClock(autojump_threshold=0)) as k:
        k.run(main)
    # Cancelled at the start, again after 0.5 s, then 1, 2, 2, 2 s later;
    # abandoned at 10 s (its coroutine closed: the finally block ran).
    assert seen == [(1, 0.0), (2, 0.5), (3, 1.5), (4, 3.5), (5, 5.5), (6, 7.5), (7, 9.5), "finally"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "curionet" and r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "stubborn" in warnings[0] and "cancelling it again" in warnings[0]
    assert "abandoning" in warnings[1] and "7 cancellations" in warnings[1]
    assert __file__ in warnings[0]


def test_shutdown_timeout_argument():
    assert Kernel(shutdown_timeout=0.25)._shutdown_timeout == 0.25
    with pytest.raises(ValueError):
        Kernel(shutdown_timeout=-1)


@pytest.mark.timeout(20)
def test_cleanup_that_finishes_is_not_reported(caplog):
    async def tidy():
        try:
            await sleep(1000)
        finally:
            await sleep(0.2)  # blocking cleanup, shorter than the first re-cancel delay

    async def main():
        await spawn(tidy)
        await sleep(0)

    with Kernel(clock=MockClock(autojump_threshold=0)) as k:
        k.run(main)
    assert not [r for r in caplog.records if r.name == "curionet"]


@pytest.mark.timeout(20)
def test_interrupted_shutdown_abandons_the_rest_and_closes_the_kernel(caplog):
    seen = []

    async def interrupter():
        try:
            await sleep(1000)
        except CancelledError:
            pass
        try:
            await sleep(1000)
        except CancelledError:
            raise KeyboardInterrupt from None  # as a Ctrl-C landing in this task would

    async def main():
        await spawn(_stubborn(seen))
        await spawn(interrupter)
        await sleep(0)

    k = Kernel(clock=MockClock(autojump_threshold=0))
    with pytest.raises(KeyboardInterrupt):
        with k:
            k.run(main)
            k.run(shutdown=True)
    # Kernel.__exit__ did not run the shutdown a second time: the kernel is
    # closed and the stubborn task was abandoned (its finally block ran once).
    assert k._closed
    assert seen == [(1, 0.0), (2, 0.5), "finally"]
    assert any("interrupted by KeyboardInterrupt" in r.getMessage() and "stubborn" in r.getMessage()
               for r in caplog.records)
