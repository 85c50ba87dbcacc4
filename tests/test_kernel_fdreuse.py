"""A file descriptor closed behind the kernel's back and reused.

The kernel keeps a descriptor registered with epoll after a wait on it ends
(lazy unregistration).  When the socket is then closed without telling the
kernel (``sock._socket.close()``, ``os.close``, garbage collection), epoll
forgets the descriptor but the kernel's books do not; a new socket that gets
the same number must still be waited on correctly.

Every wait below runs under ``timeout_after`` so a kernel that loses the
wake-up fails the test in a second instead of hanging the suite.
"""

import gc
import os
import warnings
import weakref

import pytest

from curionet import ClosedResourceError, Kernel, TaskCancelled, current_task, sleep, spawn, timeout_after
from curionet.kernel.io import SocketStream
from curionet.kernel.traps import _io_waiting, _read_wait
from curionet.socket import socketpair

GUARD = 2.0  # seconds: far more than a loopback round trip, short enough to fail fast


@pytest.fixture(autouse=True)
def _no_garbage_fds():
    # Descriptors of earlier tests' garbage, closed by a collection during a
    # test, would be reused before the one the test closes.
    gc.collect()


async def _block_then_cancel(sock):
    """Leave *sock*'s fd registered for reading: a recv blocks and is cancelled."""
    t = await spawn(sock.recv, 100)
    await sleep(0)
    await sleep(0)
    assert (await _io_waiting(sock.fileno()))[0] is t
    await t.cancel()
    assert isinstance(t.exception, TaskCancelled)


async def _block_then_wake(sock, peer):
    """Leave *sock*'s fd registered for reading: a recv blocks, data wakes it."""
    t = await spawn(sock.recv, 100)
    await sleep(0)
    await sleep(0)
    await peer.sendall(b"first")
    async with timeout_after(GUARD):
        assert await t.join() == b"first"


async def _recv_on_reused_fd(fd):
    """A new socketpair reusing *fd*: a blocked recv must see the peer's data."""
    a, b = socketpair()
    try:
        assert a.fileno() == fd, "the new socket did not reuse the descriptor"
        reader = await spawn(a.recv, 100)
        await sleep(0)
        await sleep(0)
        assert reader.state == "READ_WAIT"
        await b.sendall(b"hello")
        async with timeout_after(GUARD):
            assert await reader.join() == b"hello"
    finally:
        await a.close()
        await b.close()


async def test_fd_reused_after_raw_close_in_one_run():
    a1, b1 = socketpair()
    fd = a1.fileno()
    await _block_then_cancel(a1)
    a1._socket.close()
    b1._socket.close()
    await _recv_on_reused_fd(fd)


async def test_fd_reused_after_os_close():
    a1, b1 = socketpair()
    fd = a1.fileno()
    await _block_then_wake(a1, b1)
    os.close(a1._socket.detach())
    os.close(b1._socket.detach())
    await _recv_on_reused_fd(fd)


async def test_fd_reused_after_garbage_collection():
    a1, b1 = socketpair()
    fd = a1.fileno()
    await _block_then_cancel(a1)
    raw = weakref.ref(a1._socket)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # "unclosed socket": the point of the test
        del a1, b1
        gc.collect()
    assert raw() is None, "the socket was not collected: the kernel keeps it alive"
    await _recv_on_reused_fd(fd)


def test_fd_reused_across_runs_of_one_kernel():
    async def first():
        a1, b1 = socketpair()
        await _block_then_wake(a1, b1)
        fd = a1.fileno()
        a1._socket.close()
        b1._socket.close()
        return fd

    with Kernel() as k:
        fd = k.run(first)
        k.run(_recv_on_reused_fd, fd)


def test_fd_reused_after_cancelled_wait_across_runs():
    async def first():
        a1, b1 = socketpair()
        await _block_then_cancel(a1)
        fd = a1.fileno()
        a1._socket.close()
        b1._socket.close()
        return fd

    with Kernel() as k:
        fd = k.run(first)
        k.run(_recv_on_reused_fd, fd)


async def test_wait_on_a_stale_closed_fd_number_raises():
    # The number is in the kernel's books but no longer open: a wait on it
    # by another caller must fail rather than sleep forever.
    a1, b1 = socketpair()
    fd = a1.fileno()
    await _block_then_cancel(a1)
    a1._socket.close()
    try:
        async with timeout_after(GUARD):
            with pytest.raises(ClosedResourceError):
                await _read_wait(int(fd))
        assert await _io_waiting(int(fd)) == (None, None)
    finally:
        await b1.close()


async def test_objects_sharing_one_fd_keep_working():
    # as_stream() and a stream made on the raw socket are the same descriptor
    # and file, not a reuse: alternating between them must keep working.
    a, b = socketpair()
    async with a, b:
        readers = [a.recv, a.as_stream().read, SocketStream(a._socket).read]
        for i in range(6):
            t = await spawn(readers[i % 3], 10)
            await sleep(0)
            await sleep(0)
            assert t.state == "READ_WAIT"
            await b.sendall(b"x%d" % i)
            async with timeout_after(GUARD):
                assert await t.join() == b"x%d" % i


async def test_a_refused_registration_leaves_no_books(tmp_path):
    # epoll refuses regular files (EPERM): the wait fails, and neither the
    # kernel's books nor the task's state may say it is waiting.
    with open(tmp_path / "f", "wb") as f:
        for _ in range(2):
            with pytest.raises(PermissionError):
                await _read_wait(f.fileno())
            assert await _io_waiting(f.fileno()) == (None, None)
            assert (await current_task()).state == "RUNNING"


async def test_closing_a_stream_after_its_socket_spares_the_fd_reuser():
    # A socket and its stream own one descriptor: closing the socket releases
    # it, and closing the stream afterwards must not release it again, for by
    # then the number may belong to a new connection with a task waiting.
    a1, b1 = socketpair()
    stream = a1.as_stream()
    fd = a1.fileno()
    await a1.close()
    await b1.close()
    a2, b2 = socketpair()
    async with a2, b2:
        assert a2.fileno() == fd, "the new socket did not reuse the descriptor"
        reader = await spawn(a2.recv, 100)
        await sleep(0)
        await sleep(0)
        assert reader.state == "READ_WAIT"
        await stream.close()  # the second release of the number, by the old owner
        assert (await _io_waiting(a2.fileno()))[0] is reader
        await b2.sendall(b"hello")
        async with timeout_after(GUARD):
            assert await reader.join() == b"hello"
