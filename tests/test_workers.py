"""run_in_thread, run_in_process, block_in_thread, run_in_executor."""

import concurrent.futures
import multiprocessing
import os
import threading
import time
import traceback

import pytest

import curionet
from curionet import workers
from curionet.workers import RemoteTraceback, block_in_thread, run_in_executor, run_in_process, run_in_thread


def add(a, b):
    return a + b


def fail_deep():
    raise ValueError("from the worker")


def forever():
    while True:
        time.sleep(0.05)


def die():
    os._exit(3)


def getpid_after(seconds):
    time.sleep(seconds)
    return os.getpid()


async def test_run_in_thread_returns_and_runs_elsewhere():
    assert await run_in_thread(add, 2, 3) == 5
    assert await run_in_thread(threading.get_ident) != threading.get_ident()


async def test_run_in_thread_reraises_with_original_traceback():
    with pytest.raises(ValueError, match="from the worker") as info:
        await run_in_thread(fail_deep)
    names = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "fail_deep" in names


async def test_cancelled_run_in_thread_frees_task_at_once():
    gate = threading.Event()
    finished = threading.Event()

    def blocker():
        gate.wait(30)
        finished.set()
        return "late"

    t = await curionet.spawn(run_in_thread, blocker)
    await curionet.sleep(0.01)
    await t.cancel()  # returns although the thread still blocks
    assert t.cancelled and not finished.is_set()
    # The abandoned call holds one slot until it returns; the others serve new calls.
    assert await run_in_thread(add, 1, 1) == 2
    gate.set()
    assert await run_in_thread(finished.wait, 10)


async def test_thread_pool_is_bounded_and_settable(monkeypatch):
    monkeypatch.setattr(workers, "MAX_WORKER_THREADS", 2)
    lock = threading.Lock()
    active = [0, 0]  # current, max

    def work():
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1

    async with curionet.TaskGroup() as g:
        for _ in range(6):
            await g.spawn(run_in_thread, work)
    assert active[1] == 2


async def test_bad_pool_size_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(workers, "MAX_WORKER_THREADS", 0)
    with pytest.raises(ValueError, match="MAX_WORKER_THREADS"):
        await run_in_thread(add, 1, 2)


async def test_run_in_process_result_and_exception():
    assert await run_in_process(add, 20, 22) == 42
    pid = await run_in_process(os.getpid)
    assert pid != os.getpid()
    with pytest.raises(ValueError, match="from the worker") as info:
        await run_in_process(fail_deep)
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "fail_deep" in str(info.value.__cause__)
    # The worker survives an exception and is reused.
    assert await run_in_process(os.getpid) == pid


async def test_run_in_process_unpicklable_is_an_error_not_a_hang():
    with pytest.raises(Exception):  # noqa: B017 - pickle raises several types
        await run_in_process(lambda: 1)
    assert await run_in_process(add, 1, 2) == 3


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_cancelled_run_in_process_leaves_no_child(monkeypatch):
    monkeypatch.setattr(workers, "MAX_WORKER_PROCESSES", 1)
    worker_pid = await run_in_process(os.getpid)  # the one worker, reused below
    with pytest.raises(curionet.TaskTimeout):
        await curionet.timeout_after(0.5, run_in_process, forever)
    assert not _alive(worker_pid)  # terminated and reaped: no process, no zombie
    assert worker_pid not in {c.pid for c in multiprocessing.active_children()}
    # The next call gets a fresh worker.
    assert await run_in_process(os.getpid) != worker_pid


async def test_cancelled_run_in_process_kills_the_worker_pid():
    pids = []

    async def call():
        pids.append(await run_in_process(os.getpid))
        await run_in_process(forever)

    t = await curionet.spawn(call)
    while not pids:
        await curionet.sleep(0.01)
    await curionet.sleep(0.2)
    await t.cancel()
    assert not _alive(pids[0])


async def test_process_pool_is_bounded(monkeypatch):
    monkeypatch.setattr(workers, "MAX_WORKER_PROCESSES", 1)
    async with curionet.TaskGroup() as g:
        for _ in range(3):
            await g.spawn(run_in_process, getpid_after, 0.01)
    assert len(set(g.results)) == 1  # one worker served every call


async def test_block_in_thread_uses_one_thread_per_callable():
    lock = threading.Lock()
    active = [0, 0]

    def work():
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return 1

    async with curionet.TaskGroup() as g:
        for _ in range(5):
            await g.spawn(block_in_thread, work)
    assert g.results == [1] * 5
    assert active[1] == 1


async def test_run_in_executor():
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        assert await run_in_executor(ex, add, 1, 2) == 3
        with pytest.raises(ValueError):
            await run_in_executor(ex, fail_deep)
        gate = threading.Event()
        with pytest.raises(curionet.TaskTimeout):
            await curionet.timeout_after(0.05, run_in_executor, ex, gate.wait, 10)
        gate.set()


async def test_workers_are_shut_down_with_the_kernel():
    # A fresh kernel: its pools' threads and processes end at shutdown.
    async def use():
        await run_in_thread(add, 1, 2)
        return await run_in_process(os.getpid)

    def in_thread():
        return curionet.run(use)

    pid = await run_in_thread(in_thread)
    assert not _alive(pid)


async def test_worker_process_dying_is_a_clear_error_and_is_replaced():
    with pytest.raises(RuntimeError, match="died"):
        await run_in_process(die)
    assert await run_in_process(add, 2, 2) == 4
