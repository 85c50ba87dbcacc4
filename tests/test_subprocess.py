"""curionet.subprocess: Popen, communicate, run, check_output."""

import os
import socket
import sys

import pytest

import curionet
from curionet import subprocess, timeout_after
from curionet.kernel.io import FileStream
from curionet.socket import socketpair

PY = sys.executable
GUARD = 20.0  # seconds: a child that misreads its stdin makes the test fail, not hang


def _gone(pid):
    """True if *pid* is neither running nor a zombie of ours."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


async def test_10mb_stdout_read_fully_without_deadlock():
    code = "import sys; sys.stdout.buffer.write(b'x' * 10_000_000); sys.stderr.buffer.write(b'e' * 1_000_000)"
    p = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await p.communicate()
    assert len(out) == 10_000_000 and len(err) == 1_000_000
    assert p.returncode == 0


async def test_communicate_with_stdin_input():
    code = "import sys; data = sys.stdin.buffer.read(); sys.stdout.buffer.write(data[::-1])"
    p = subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    big = bytes(range(256)) * 8000  # more than a pipe buffer each way
    out, err = await p.communicate(big)
    assert out == big[::-1] and err is None


async def test_streams_and_wait():
    code = "import sys\nfor i in range(3): print(i, flush=True)\nprint(sys.stdin.readline().upper(), end='')"
    p = subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    lines = [await p.stdout.readline() for _ in range(3)]
    assert lines == [b"0\n", b"1\n", b"2\n"]
    await p.stdin.write(b"hello\n")
    await p.stdin.close()
    assert await p.stdout.read() == b"HELLO\n"
    assert await p.wait() == 0
    await p.stdout.close()


async def test_run_and_check_output():
    r = await subprocess.run([PY, "-c", "print('hi')"], stdout=subprocess.PIPE)
    assert r.returncode == 0 and r.stdout == b"hi\n"
    assert await subprocess.check_output([PY, "-c", "import sys; print(sys.stdin.read())"], input=b"in") == b"in\n"
    with pytest.raises(subprocess.CalledProcessError) as info:
        await subprocess.check_output([PY, "-c", "import sys; print('out'); sys.exit(3)"])
    assert info.value.returncode == 3 and info.value.output == b"out\n"
    r = await subprocess.run([PY, "-c", "import sys; sys.exit(2)"])
    assert r.returncode == 2


async def test_run_timeout_kills_and_reaps():
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(30)"
    with pytest.raises(subprocess.TimeoutExpired) as info:
        await subprocess.run([PY, "-c", code], stdout=subprocess.PIPE, timeout=1)
    pid = int(info.value.stdout)  # the output read before the timeout
    assert _gone(pid)  # killed and reaped: no process, no zombie


async def test_cancelled_run_leaves_no_zombie():
    pids = []

    async def go():
        p = subprocess.Popen([PY, "-c", "import time; print('up', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE)
        pids.append(p.pid)
        async with p:
            await p.communicate()

    with pytest.raises(curionet.TaskTimeout) as info:
        await curionet.timeout_after(0.5, go)
    assert _gone(pids[0])

    with pytest.raises(curionet.TaskTimeout) as info:
        await curionet.timeout_after(
            1, subprocess.check_output, [PY, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(30)"]
        )
    assert _gone(int(info.value.stdout))  # the partial output names the child


async def test_cancelled_communicate_keeps_output_and_child_can_be_reaped():
    p = subprocess.Popen([PY, "-c", "import time; print('early', flush=True); time.sleep(30)"],
                         stdout=subprocess.PIPE)
    with pytest.raises(curionet.TaskTimeout) as info:
        await curionet.timeout_after(0.5, p.communicate)
    assert info.value.stdout == b"early\n"
    assert p.returncode is None  # as in Curio: the child is not touched
    p.kill()
    assert await p.wait() == -9
    assert _gone(p.pid)
    await p.stdout.close()


async def test_communicate_timeout_raises_timeout_expired():
    async with subprocess.Popen([PY, "-c", "import time; time.sleep(30)"]) as p:
        with pytest.raises(subprocess.TimeoutExpired):
            await p.communicate(timeout=0.1)
        p.kill()


def test_text_mode_is_refused():
    with pytest.raises(ValueError, match="bytes"):
        subprocess.Popen([PY, "-c", "pass"], text=True)


async def test_cancelled_communicate_reaps_a_child_that_already_exited():
    # The child closes its stdout but lives a little longer; communicate is
    # cancelled while waiting for the exit, after which the child exits.
    code = "import os, time; os.close(1); time.sleep(0.3)"
    p = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE)
    with pytest.raises(curionet.TaskTimeout):
        await curionet.timeout_after(0.1, p.communicate)
    await curionet.sleep(0.5)
    assert p.poll() == 0 and _gone(p.pid)


# -- a curionet stream as the child's stdin/stdout ---------------------------
# A curionet stream's descriptor is non-blocking, and O_NONBLOCK belongs to
# the open file (shared with the child through fork).  A child reading an
# empty non-blocking stdin sees EAGAIN ("EOF" to many programs); one writing a
# full non-blocking stdout fails.  The child must get a blocking descriptor.

READ_ALL = (
    "import sys\n"
    "print('started', flush=True)\n"
    "data = sys.stdin.buffer.read()\n"
    "print(len(data), data[:5], flush=True)\n"
)


async def test_pipe_stream_as_stdin_fed_after_the_child_started():
    r, w = os.pipe()
    reader = FileStream(open(r, "rb", buffering=0))
    writer = FileStream(open(w, "wb", buffering=0))
    async with subprocess.Popen([PY, "-c", READ_ALL], stdin=reader, stdout=subprocess.PIPE) as p:
        # The parent's stream stays usable (non-blocking) for the kernel.
        assert not os.get_blocking(reader.fileno())
        await reader.close()
        async with timeout_after(GUARD):
            assert await p.stdout.readline() == b"started\n"
            await writer.write(b"hello" + b"x" * 199_995)  # more than a pipe buffer
            await writer.close()
            out = await p.stdout.readall()
            assert out == b"200000 b'hello'\n"
            assert await p.wait() == 0


async def test_socket_stream_as_stdin_fed_after_the_child_started():
    a, b = socketpair()
    async with b:
        async with subprocess.Popen([PY, "-c", READ_ALL], stdin=a.as_stream(), stdout=subprocess.PIPE) as p:
            await a.close()  # handed over to the child
            async with timeout_after(GUARD):
                assert await p.stdout.readline() == b"started\n"
                await b.sendall(b"hello" * 1000)
                await b.shutdown(socket.SHUT_WR)
                assert await p.stdout.readall() == b"5000 b'hello'\n"
                assert await p.wait() == 0


async def test_pipe_stream_as_stdout_of_a_child_writing_more_than_a_pipe_holds():
    r, w = os.pipe()
    reader = FileStream(open(r, "rb", buffering=0))
    writer = FileStream(open(w, "wb", buffering=0))
    code = "import sys; sys.stdout.buffer.write(b'y' * 1_000_000)"
    async with subprocess.Popen([PY, "-c", code], stdout=writer) as p:
        await writer.close()
        async with timeout_after(GUARD):
            data = await reader.readall()
            assert await p.wait() == 0
    await reader.close()
    assert len(data) == 1_000_000 and data == b"y" * 1_000_000
