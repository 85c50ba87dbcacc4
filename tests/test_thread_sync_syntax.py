"""Curio's async-thread story: inside an async thread, curionet objects work
with plain ``with``/``for``/``next()``, and ``AWAIT`` takes Curio's forms.
Outside an async thread the same statements raise what Curio raises."""

from __future__ import annotations

import gc
import logging
import os
import socket as stdsocket
import sys
import threading
import time

import pytest

import curionet
from curionet import (
    AsyncOnlyError,
    BoundedSemaphore,
    Condition,
    Lock,
    RLock,
    Semaphore,
    SyncIOError,
    TaskGroup,
    TaskTimeout,
    aopen,
    ignore_after,
    socket as csocket,
    subprocess,
    timeout_after,
)
from curionet.kernel.io import FileStream
from curionet.meta import awaitable
from curionet.network import open_connection, tcp_server
from curionet.thread import AWAIT, AsyncThread, async_thread, spawn_thread


async def in_thread(func, *args):
    """Run ``func(*args)`` in an async thread and return its result."""
    t = await spawn_thread(func, *args)
    return await t.join()


# ---------------------------------------------------------------------------
# with: locks, timeouts, task groups, cancellation shields
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Lock, RLock, Semaphore, BoundedSemaphore, Condition])
async def test_lock_with_in_async_thread(cls):
    lock = cls()
    order = []

    def holder():
        with lock as entered:
            assert lock.locked()
            order.append("thread in")
            AWAIT(curionet.sleep(0.01))  # a task waiting for the lock cannot get in meanwhile
            order.append("thread out")
        return entered

    async def contender():
        async with lock:
            order.append("task")

    t = await spawn_thread(holder)
    while not order and not t.terminated:
        await curionet.sleep(0.001)
    c = await curionet.spawn(contender)
    assert await t.join() is lock  # Curio: __aenter__ returns the lock
    await c.join()
    assert order == ["thread in", "thread out", "task"]


async def test_condition_wait_and_notify_in_async_thread():
    cond = Condition()
    items = []

    def consumer():
        with cond:
            AWAIT(cond.wait_for, lambda: items)
            return items.pop()

    t = await spawn_thread(consumer)
    await curionet.sleep(0.01)
    async with cond:
        items.append("item")
        await cond.notify()
    assert await t.join() == "item"


async def test_timeout_after_with_in_async_thread():
    def work():
        kernel_task = AWAIT(curionet.current_task())
        try:
            with timeout_after(0.02):
                AWAIT(curionet.sleep(10))
        except TaskTimeout:
            timed_out = True
        with ignore_after(0.02) as block:
            AWAIT(curionet.sleep(10))
        with timeout_after(5) as quick:
            AWAIT(curionet.sleep(0))
        # Every deadline was removed again: a later sleep is not cut short.
        AWAIT(curionet.sleep(0.03))
        return timed_out, block.expired, quick.expired, kernel_task._deadlines

    assert await in_thread(work) == (True, True, False, None)


async def test_deadline_passing_during_plain_code_is_not_raised_after_the_block():
    # The deadline passes while the thread runs plain code (no AWAIT): the
    # block completes with ``expired`` set (see docs/curio.md), and the
    # undelivered timeout must not leak out of the block's exit or later.
    def work():
        with timeout_after(0.01) as block:
            time.sleep(0.1)
        AWAIT(curionet.sleep(0.02))
        return block.expired

    assert await in_thread(work) is True


async def test_nested_timeout_blocks_in_async_thread():
    def work():
        seen = []
        try:
            with timeout_after(0.02):
                try:
                    with timeout_after(5):
                        AWAIT(curionet.sleep(10))
                except curionet.TimeoutCancellationError:
                    seen.append("inner block: cancelled by the outer timeout")
                    raise
        except TaskTimeout:
            seen.append("outer block: TaskTimeout")
        return seen

    assert await in_thread(work) == ["inner block: cancelled by the outer timeout", "outer block: TaskTimeout"]


async def test_taskgroup_with_for_and_next_in_async_thread():
    async def value(x):
        await curionet.sleep(0.001 * x)
        return x

    def work():
        with TaskGroup() as g:
            for x in (3, 1, 2):
                AWAIT(g.spawn(value, x))
        joined = sorted(g.results)
        with TaskGroup() as g2:
            AWAIT(g2.spawn, value, 2)
            AWAIT(g2.spawn, value, 1)
            first = next(g2)
            rest = [t.result for t in g2]
        return joined, first.result, rest

    assert await in_thread(work) == ([1, 2, 3], 1, [2])


async def test_taskgroup_with_cancels_members_when_the_body_raises():
    started = []

    async def forever():
        started.append(1)
        await curionet.sleep(10)

    def work():
        try:
            with TaskGroup() as g:
                member = AWAIT(g.spawn(forever))
                AWAIT(curionet.sleep(0))
                raise KeyError("body")
        except KeyError:
            return member

    member = await in_thread(work)
    assert started and member.cancelled


async def test_disable_cancellation_with_in_async_thread():
    reached = []

    def work():
        with curionet.disable_cancellation():
            AWAIT(curionet.sleep(0.05))  # a cancellation arriving now waits
            reached.append("shielded sleep finished")
        AWAIT(curionet.sleep(10))  # ... and is delivered here
        reached.append("not reached")

    t = await spawn_thread(work)
    await curionet.sleep(0.01)
    await t.cancel()
    assert t.cancelled and reached == ["shielded sleep finished"]


# ---------------------------------------------------------------------------
# Streams, sockets, files, subprocesses
# ---------------------------------------------------------------------------


async def test_socket_stream_with_for_and_next_in_async_thread():
    a, b = csocket.socketpair()

    def reader(sock):
        with sock.as_stream() as s:
            first = next(s)
            rest = [line for line in s]
        return first, rest

    t = await spawn_thread(reader, b)
    async with a:
        await a.sendall(b"one\ntwo\nthree\n")
        await a.shutdown(stdsocket.SHUT_WR)
        assert await t.join() == (b"one\n", [b"two\n", b"three\n"])
        # Leaving the with block closed the stream: the peer sees end of file.
        assert await timeout_after(5, a.recv, 10) == b""


async def test_socket_with_in_async_thread():
    a, b = csocket.socketpair()

    def work(sock):
        with sock as entered:
            AWAIT(sock.sendall(b"x"))
        return entered is sock, sock.fileno()

    assert await in_thread(work, a) == (True, -1)
    async with b:
        assert await b.recv(10) == b"x"


async def test_file_stream_for_in_async_thread():
    rfd, wfd = os.pipe()
    stream = FileStream(open(rfd, "rb", buffering=0))

    def reader():
        with stream:
            return list(stream)

    t = await spawn_thread(reader)
    with open(wfd, "wb", buffering=0) as w:
        w.write(b"a\nb\n")
    assert await t.join() == [b"a\n", b"b\n"]


async def test_aopen_with_in_async_thread(tmp_path):
    path = tmp_path / "notes.txt"

    def work():
        with aopen(path, "w") as f:
            AWAIT(f.write("first\n"))
            AWAIT(f.write, "second\n")
        with aopen(path) as f:
            data = AWAIT(f.read())
            AWAIT(f.seek(0))
            with pytest.raises(SyncIOError):  # Curio: files are iterated with 'async for' only
                for _ in f:
                    pass
            with pytest.raises(SyncIOError):
                next(f)
            with f.blocking() as raw:
                raw.seek(0)
                first = raw.readline()
        return data, first, f.closed

    assert await in_thread(work) == ("first\nsecond\n", "first\n", True)


async def test_popen_with_in_async_thread():
    code = "import sys; sys.stdout.write(sys.stdin.read().upper())"

    def work():
        with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as p:
            AWAIT(p.stdin.write(b"one\ntwo\n"))
            AWAIT(p.stdin.close())
            lines = list(p.stdout)
        return lines, p.returncode

    assert await in_thread(work) == ([b"ONE\n", b"TWO\n"], 0)


# ---------------------------------------------------------------------------
# Curio's dualserv pattern: an async server and a threaded server side by side
# ---------------------------------------------------------------------------


def _free_port():
    with stdsocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _connect(port):
    while True:
        try:
            return await open_connection("127.0.0.1", port)
        except ConnectionRefusedError:
            await curionet.sleep(0.005)  # the server is not listening yet


async def test_dual_server_async_and_threaded_handlers():
    served_in = []

    async def async_echo(client, addr):
        served_in.append(("async", curionet.thread.is_async_thread()))
        s = client.as_stream()
        async for line in s:
            await s.write(b"async:" + line)

    @async_thread
    def threaded_echo(client, addr):
        served_in.append(("thread", curionet.thread.is_async_thread()))
        with client:
            with client.as_stream() as s:
                for line in s:
                    time.sleep(0.001)  # blocking work stalls only this client
                    AWAIT(s.write(b"thread:" + line))

    async def talk(port, lines):
        sock = await _connect(port)
        async with sock:
            s = sock.as_stream()
            replies = []
            for line in lines:
                await s.write(line)
                replies.append(await s.readline())
            return replies

    async_port, thread_port = _free_port(), _free_port()
    async with TaskGroup(wait=None) as servers:
        await servers.spawn(tcp_server, "127.0.0.1", async_port, async_echo)
        await servers.spawn(tcp_server, "127.0.0.1", thread_port, threaded_echo)
        async with TaskGroup() as clients:
            for port in (async_port, thread_port, thread_port):
                await clients.spawn(talk, port, [b"hello\n", b"world\n"])
    assert clients.results == [
        [b"async:hello\n", b"async:world\n"],
        [b"thread:hello\n", b"thread:world\n"],
        [b"thread:hello\n", b"thread:world\n"],
    ]
    assert sorted(served_in) == [("async", False), ("thread", True), ("thread", True)]


# ---------------------------------------------------------------------------
# AWAIT and AsyncThread: Curio's signatures
# ---------------------------------------------------------------------------


def _plain(a, b=0, *, c=0):
    return ("plain", a, b, c, threading.current_thread().name.startswith("curionet-"))


async def _coro(a, b=0, *, c=0):
    return ("coro", a, b, c)


def _dual_sync():
    return "sync"


@awaitable(_dual_sync)
async def _dual():
    return "async"


async def test_await_calls_plain_and_coroutine_functions_with_keywords():
    def work():
        return [
            AWAIT(_plain, 1, 2, c=3),  # a plain function: called in the thread
            AWAIT(_coro, 1, b=2, c=3),  # a coroutine function: run by the kernel
            AWAIT(_coro(4)),  # a coroutine object
            AWAIT(_dual),  # an @awaitable function: its async side, on the kernel
            AWAIT("not awaitable"),
        ]

    assert await in_thread(work) == [
        ("plain", 1, 2, 3, True),
        ("coro", 1, 2, 3),
        ("coro", 4, 0, 0),
        "async",
        "not awaitable",
    ]


def test_await_plain_function_outside_async_thread_is_called():
    # Curio: AWAIT(func) calls a plain function anywhere; only a coroutine needs an async thread.
    assert AWAIT(_plain, 1, c=2)[:4] == ("plain", 1, 0, 2)
    with pytest.raises(AsyncOnlyError):
        AWAIT(_coro, 1)


async def test_async_thread_constructed_and_started_like_curio():
    def work(a, b=0):
        return AWAIT(_coro, a, b=b)

    t = AsyncThread(target=work, args=(1,), kwargs={"b": 2})
    assert not t.terminated
    await t.start()
    assert await t.join() == ("coro", 1, 2, 0)
    with pytest.raises(RuntimeError):
        await t.start()
    with pytest.raises(RuntimeError):
        await AsyncThread().start()  # Curio: an async thread must be given a target


async def test_async_thread_await_method():
    box = []

    def work():
        return box[0].AWAIT(_coro(5))

    t = AsyncThread(work)
    box.append(t)
    await t.start()
    assert await t.join() == ("coro", 5, 0, 0)
    with pytest.raises(AsyncOnlyError):
        t.AWAIT(_coro(6))  # not from the thread itself: it would deadlock


async def test_timeout_functions_take_curio_keyword_names():
    async def slow(x):
        await curionet.sleep(10)
        return x

    assert await timeout_after(5, coro=_coro(7)) == ("coro", 7, 0, 0)
    assert await ignore_after(0.01, coro=slow(1), timeout_result="late") == "late"
    assert await curionet.disable_cancellation(coro=_coro(8)) == ("coro", 8, 0, 0)


# ---------------------------------------------------------------------------
# Misuse outside an async thread raises what Curio raises
# ---------------------------------------------------------------------------


async def test_sync_syntax_outside_async_thread_raises_async_only_error(tmp_path):
    a, b = csocket.socketpair()
    async with a, b:
        stream = a.as_stream()
        objects = [Lock(), RLock(), Semaphore(), Condition(), timeout_after(1), ignore_after(1),
                   TaskGroup(), curionet.disable_cancellation(), a, stream]  # fmt: skip
        for obj in objects:
            with pytest.raises(AsyncOnlyError):
                with obj:
                    pass
        for obj in (stream, TaskGroup()):
            with pytest.raises(AsyncOnlyError):
                for _ in obj:
                    pass
            with pytest.raises(AsyncOnlyError):
                next(obj)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    with pytest.raises(AsyncOnlyError):
        with p:
            pass
    await p.wait()
    (tmp_path / "f").write_text("x\n")
    f = aopen(tmp_path / "f")
    with pytest.raises(AsyncOnlyError):
        with f:
            pass
    async with f:
        with pytest.raises(SyncIOError):
            for _ in f:
                pass
        with pytest.raises(SyncIOError):
            next(f)


def test_sync_syntax_in_a_plain_thread_raises_async_only_error():
    errors = []

    def plain():
        try:
            with Lock():
                pass
        except AsyncOnlyError as e:
            errors.append(e)

    th = threading.Thread(target=plain)
    th.start()
    th.join()
    assert len(errors) == 1


# ---------------------------------------------------------------------------
# A crashed async thread is reported when it crashes
# ---------------------------------------------------------------------------


def _crash(token):
    raise KeyError(token)


def _reports(caplog, token):
    """The curionet logger's reports of the KeyError(token) a thread raised."""
    return [r for r in caplog.records
            if r.name == "curionet" and r.exc_info and r.exc_info[1].args == (token,)]  # fmt: skip


async def test_crashed_daemon_thread_is_logged_when_it_crashes(caplog):
    caplog.set_level(logging.ERROR, logger="curionet")
    t = await spawn_thread(_crash, "daemon", daemon=True)  # held: not discarded before the asserts
    await t.wait()
    assert len(_reports(caplog, "daemon")) == 1
    assert isinstance(t.exception, KeyError)
    del t
    gc.collect()
    assert len(_reports(caplog, "daemon")) == 1  # reported once


async def test_crashed_thread_nobody_joins_is_logged_when_dropped(caplog):
    caplog.set_level(logging.ERROR, logger="curionet")
    gc.disable()  # the report must not depend on the cycle collector
    try:
        t = await spawn_thread(_crash, "dropped")
        await t.wait()
        assert not _reports(caplog, "dropped")  # a non-daemon thread may still be joined
        del t
        assert len(_reports(caplog, "dropped")) == 1
    finally:
        gc.enable()


async def test_joined_thread_failure_is_not_logged(caplog):
    caplog.set_level(logging.ERROR, logger="curionet")
    t = await spawn_thread(_crash, "joined")
    with pytest.raises(curionet.TaskError):
        await t.join()
    del t
    gc.collect()
    assert not _reports(caplog, "joined")
