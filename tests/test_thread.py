"""Async threads: spawn_thread, AWAIT, AsyncThread in task groups, async_thread."""

import threading
import time

import pytest

import curionet
import curionet.meta
from curionet import AsyncOnlyError, TaskError
from curionet.thread import AWAIT, AsyncThread, async_thread, is_async_thread, spawn_thread


async def test_thread_awaits_a_sleeping_coroutine_and_returns():
    async def slow_double(x):
        await curionet.sleep(0.05)
        return x * 2

    def work(x):
        assert is_async_thread()
        return AWAIT(slow_double(x)) + AWAIT(slow_double, 1)

    t = await spawn_thread(work, 20)
    assert isinstance(t, AsyncThread)
    assert await t.join() == 42
    assert t.terminated and not t.cancelled
    assert t.result == 42 and t.exception is None


async def test_kernel_keeps_running_while_thread_blocks():
    ticks = []
    gate = threading.Event()

    def blocker():
        gate.wait(10)
        return "done"

    t = await spawn_thread(blocker)
    for _ in range(3):
        ticks.append(await curionet.clock())
        await curionet.sleep(0.01)
    gate.set()
    assert await t.join() == "done"
    assert len(ticks) == 3


async def test_thread_exception_becomes_task_error():
    def bad():
        raise KeyError("nope")

    t = await spawn_thread(bad)
    with pytest.raises(TaskError) as info:
        await t.join()
    assert isinstance(info.value.__cause__, KeyError)
    assert isinstance(t.exception, KeyError)


async def test_exception_inside_awaited_coroutine_reaches_the_thread():
    async def broken():
        raise ValueError("in coroutine")

    def work():
        try:
            AWAIT(broken())
        except ValueError as e:
            return str(e)

    t = await spawn_thread(work)
    assert await t.join() == "in coroutine"


async def test_cancel_is_delivered_at_await():
    started = threading.Event()
    seen = []

    def consumer(q):
        started.set()
        try:
            while True:
                seen.append(AWAIT(q.get()))
        except curionet.CancelledError:
            seen.append("cancelled")
            raise

    q = curionet.Queue()
    t = await spawn_thread(consumer, q)
    await q.put(1)
    await curionet.run_in_thread(started.wait, 5)
    while not seen:
        await curionet.sleep(0.01)
    await t.cancel()
    assert t.cancelled and seen == [1, "cancelled"]


async def test_cancel_waits_for_plain_code_then_delivers_at_next_await():
    gate = threading.Event()
    log = []

    def work():
        gate.wait(10)  # plain blocking code: not interruptible
        log.append("unblocked")
        try:
            AWAIT(curionet.sleep(10))
        except curionet.TaskCancelled:
            log.append("cancelled at AWAIT")
            raise

    t = await spawn_thread(work)
    c = await curionet.spawn(t.cancel)
    await curionet.sleep(0.02)
    assert not t.terminated
    gate.set()
    await c.join()
    assert log == ["unblocked", "cancelled at AWAIT"] and t.cancelled


async def test_timeout_around_await_in_thread():
    def work():
        try:
            AWAIT(curionet.timeout_after(0.01, curionet.sleep, 5))
        except curionet.TaskTimeout:
            return "timed out"

    t = await spawn_thread(work)
    assert await t.join() == "timed out"


def test_await_outside_async_thread_is_an_error():
    async def coro():
        return 1

    with pytest.raises(AsyncOnlyError):
        AWAIT(coro())
    assert AWAIT(5) == 5  # not a coroutine: returned unchanged
    errors = []

    def plain_thread():
        try:
            AWAIT(coro())
        except AsyncOnlyError as e:
            errors.append(e)

    th = threading.Thread(target=plain_thread)
    th.start()
    th.join()
    assert len(errors) == 1


async def test_spawn_thread_bad_arguments():
    async def coro():
        pass

    with pytest.raises(TypeError, match="async with"):
        await spawn_thread()
    with pytest.raises(TypeError, match="async"):
        await spawn_thread(coro)
    with pytest.raises(TypeError, match="callable"):
        await spawn_thread(42)


async def test_taskgroup_spawn_thread():
    def work(x):
        time.sleep(0.01)
        return AWAIT(curionet.sleep(0)) or x

    async with curionet.TaskGroup() as g:
        t1 = await g.spawn_thread(work, 1)
        await g.spawn_thread(work, 2)
        await g.spawn(curionet.sleep, 0)
    assert isinstance(t1, AsyncThread)
    assert sorted(r for r in g.results if r is not None) == [1, 2]


async def test_taskgroup_cancels_a_thread_member():
    def forever():
        while True:
            AWAIT(curionet.sleep(0.01))

    def quick():
        return "quick"

    async with curionet.TaskGroup(wait=any) as g:
        slow = await g.spawn_thread(forever)
        await g.spawn_thread(quick)
    assert g.result == "quick"
    assert slow.cancelled


async def test_async_thread_decorator():
    @async_thread
    def blocking_sum(a, b):
        time.sleep(0.01)
        if is_async_thread():  # called from async code: runs in an async thread
            AWAIT(curionet.sleep(0))
        return a + b

    assert await blocking_sum(1, 2) == 3
    # Called from a plain thread it is an ordinary function.
    assert await curionet.run_in_thread(blocking_sum, 3, 4) == 7


async def test_thread_is_listed_and_named():
    gate = threading.Event()

    def named_worker():
        gate.wait(5)

    t = await spawn_thread(named_worker)
    assert t.name.endswith("named_worker")
    kernel = await curionet.kernel.traps._get_kernel()
    assert t in kernel.tasks()
    gate.set()
    await t.wait()


async def test_thread_block_runs_body_outside_the_kernel():
    ticks = []

    async def ticker():
        while True:
            ticks.append(1)
            await curionet.sleep(0.005)

    t = await curionet.spawn(ticker)
    await curionet.sleep(0.01)
    before = len(ticks)
    value = None
    async with spawn_thread() as th:
        assert is_async_thread() and not curionet.meta.curionet_running()
        time.sleep(0.3)  # blocks this thread only: the ticker keeps going
        during = len(ticks)
        value = AWAIT(curionet.clock()) and "awaited"
    assert isinstance(th, AsyncThread) and th.terminated
    assert value == "awaited"  # locals assigned in the block are visible after it
    assert during > before
    await t.cancel()


async def test_thread_block_exception_propagates():
    with pytest.raises(KeyError):
        async with spawn_thread():
            raise KeyError("from block")
    assert await curionet.sleep(0.001) is not None  # the kernel still works here


async def test_thread_block_timeout_delivered_at_await():
    reached = []
    with pytest.raises(curionet.TaskTimeout):
        async with curionet.timeout_after(0.05):
            async with spawn_thread():
                time.sleep(0.2)  # the deadline passes meanwhile
                AWAIT(curionet.sleep(10))
                reached.append(True)
    assert not reached


async def test_thread_block_keeps_ready_tasks_running():
    done = []

    async def quick():
        done.append(1)

    await curionet.spawn(quick)  # ready, not yet run, when the block starts
    async with spawn_thread():
        for _ in range(200):
            if done:
                break
            time.sleep(0.01)
    assert done


async def test_thread_block_rejects_arguments():
    with pytest.raises(TypeError):
        spawn_thread(None, 1)


async def test_thread_where_and_traceback_show_the_thread_code():
    gate = threading.Event()

    def waits_here():
        gate.wait(10)

    t = await spawn_thread(waits_here)
    await curionet.sleep(0.05)
    filename, lineno = t.where()
    assert filename == __file__
    assert "waits_here" in t.traceback() and "gate.wait(10)" in t.traceback()
    gate.set()
    await t.wait()
