"""A cancelled run_in_thread / block_in_thread call keeps its worker counted
until the thread really finishes: the pool stays bounded, cancellation is not
delayed, and a late exception is logged instead of lost."""

import logging
import threading
import time
from functools import partial

import curionet
from curionet import workers
from curionet.kernel import Kernel, MockClock
from curionet.kernel.kernel import current_kernel
from curionet.workers import block_in_thread, run_in_thread


def worker_threads():
    return sum(1 for t in threading.enumerate() if t.name == "curionet-worker")


async def until(pred, limit=10.0):
    """Let the kernel run until *pred()* holds (threads report back through
    the kernel, so it must keep cycling); fail after *limit* real seconds."""
    end = time.monotonic() + limit
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        await curionet.sleep(0)
        time.sleep(0.001)


def make_blocker(gate, lock, counts):
    """counts: [started, returned]"""

    def blocker(i):
        with lock:
            counts[0] += 1
        gate.wait(30)
        with lock:
            counts[1] += 1
        return i

    return blocker


def test_calls_cancelled_by_timeout_keep_the_pool_bounded():
    gate = threading.Event()
    lock = threading.Lock()
    counts = [0, 0]
    blocker = make_blocker(gate, lock, counts)
    limit = workers.MAX_WORKER_THREADS
    base_active = threading.active_count()
    base_workers = worker_threads()
    peak = [0, 0]

    def sample():
        peak[0] = max(peak[0], threading.active_count() - base_active)
        peak[1] = max(peak[1], worker_threads() - base_workers)

    async def main():
        pool = workers._thread_pool(current_kernel())
        try:
            for i in range(200):
                # The timeout fires at once (autojump clock): the caller is
                # released while the thread still blocks (or while it waits
                # for a slot).
                r = await curionet.ignore_after(1, run_in_thread, blocker, i, timeout_result="timed out")
                assert r == "timed out"
                sample()
            # Every worker still running an abandoned call holds its slot.
            assert pool.slots.busy == limit
            await until(lambda: counts[0] == limit)  # the threads get going
            assert counts == [limit, 0]
        finally:
            gate.set()
        # All abandoned threads finish and give their slots back.
        await until(lambda: pool.slots.busy == 0)
        assert counts == [limit, limit]
        sample()
        # Later calls still work, alone and many at once, on the same threads.
        assert await run_in_thread(lambda: 42) == 42
        async with curionet.TaskGroup() as g:
            for i in range(3 * limit):
                await g.spawn(run_in_thread, blocker, i)
        assert sorted(t.result for t in g.tasks) == list(range(3 * limit))
        sample()
        assert pool.slots.busy == 0

    with Kernel(clock=MockClock(autojump_threshold=0)) as k:
        try:
            k.run(main)
        finally:
            gate.set()
    assert peak[0] <= limit, f"{peak[0]} threads over the baseline, limit {limit}"
    assert peak[1] <= limit
    # The kernel's shutdown ends the (now idle) workers.
    assert worker_threads() <= base_workers


def test_calls_cancelled_by_task_cancel_keep_the_pool_bounded():
    gate = threading.Event()
    lock = threading.Lock()
    counts = [0, 0]
    blocker = make_blocker(gate, lock, counts)
    limit = workers.MAX_WORKER_THREADS
    base_active = threading.active_count()
    base_workers = worker_threads()
    peak = [0]

    async def main():
        pool = workers._thread_pool(current_kernel())
        try:
            # One at a time: started, then cancelled (the first `limit` in a
            # thread, the others while they wait for a slot).
            for i in range(100):
                t = await curionet.spawn(run_in_thread, blocker, i)
                await curionet.sleep(0)
                await t.cancel()  # returns at once
                assert t.cancelled
                peak[0] = max(peak[0], threading.active_count() - base_active)
            # And a batch cancelled together.
            tasks = [await curionet.spawn(run_in_thread, blocker, i) for i in range(100)]
            await curionet.sleep(0)
            for t in tasks:
                await t.cancel()
                peak[0] = max(peak[0], threading.active_count() - base_active)
            assert pool.slots.busy == limit
            assert counts[1] == 0
        finally:
            gate.set()
        await until(lambda: pool.slots.busy == 0)
        assert counts[0] == counts[1] == limit
        assert await run_in_thread(blocker, 7) == 7
        peak[0] = max(peak[0], threading.active_count() - base_active)

    with Kernel() as k:
        try:
            k.run(main)
        finally:
            gate.set()
    assert peak[0] <= limit, f"{peak[0]} threads over the baseline, limit {limit}"
    assert worker_threads() <= base_workers


async def test_late_exception_of_cancelled_call_is_logged_once(autojump_clock, caplog):
    gate = threading.Event()

    def late_failure():
        gate.wait(30)
        raise ValueError("late boom")

    def early_failure():
        raise KeyError("seen by the caller")

    caplog.set_level(logging.ERROR)
    pool = workers._thread_pool(current_kernel())
    try:
        assert await curionet.ignore_after(1, run_in_thread, late_failure, timeout_result="gone") == "gone"
        assert pool.slots.busy == 1
    finally:
        gate.set()
    await until(lambda: pool.slots.busy == 0)
    # An exception the caller receives is not logged.
    try:
        await run_in_thread(early_failure)
    except KeyError:
        pass
    records = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], BaseException)]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    rec = records[0]
    assert rec.name.split(".")[0] == "curionet"
    assert isinstance(rec.exc_info[1], ValueError) and str(rec.exc_info[1]) == "late boom"
    assert "late_failure" in caplog.text  # the traceback is there
    assert "late_failure" in rec.getMessage()


async def test_call_on_cancel_receives_the_future(autojump_clock, caplog):
    gate = threading.Event()
    got = []
    done = threading.Event()

    def on_cancel(fut):
        got.append(fut)
        done.set()

    def value():
        gate.wait(30)
        return "value"

    def failure():
        gate.wait(30)
        raise ValueError("handed to call_on_cancel")

    # Not called when the call is not cancelled.
    assert await run_in_thread(lambda: 1, call_on_cancel=on_cancel) == 1
    assert await block_in_thread(lambda: 2, call_on_cancel=on_cancel) == 2
    assert got == []
    try:
        call = partial(run_in_thread, value, call_on_cancel=on_cancel)
        r = await curionet.ignore_after(1, call, timeout_result="gone")
        assert r == "gone"
    finally:
        gate.set()
    assert await run_in_thread(done.wait, 10)
    assert len(got) == 1 and got[0].done() and got[0].result() == "value"

    gate.clear()
    done.clear()
    caplog.set_level(logging.ERROR)
    try:
        call = partial(block_in_thread, failure, call_on_cancel=on_cancel)
        r = await curionet.ignore_after(1, call, timeout_result="gone")
        assert r == "gone"
    finally:
        gate.set()
    assert await run_in_thread(done.wait, 10)
    assert len(got) == 2 and isinstance(got[1].exception(), ValueError)
    # call_on_cancel received the exception: nothing to log.
    pool = workers._thread_pool(current_kernel())
    await until(lambda: pool.slots.busy == 0)
    assert not [r for r in caplog.records if r.exc_info]


async def test_cancelled_block_in_thread_keeps_its_turn_until_the_thread_ends(autojump_clock):
    gate = threading.Event()
    lock = threading.Lock()
    order = []

    def exclusive(tag):
        with lock:
            order.append(f"enter {tag}")
        if tag == 1:
            gate.wait(30)
        with lock:
            order.append(f"exit {tag}")
        return tag

    try:
        r = await curionet.ignore_after(1, block_in_thread, exclusive, 1, timeout_result="gone")
        assert r == "gone"  # cancellation is not delayed by the thread
        second = await curionet.spawn(block_in_thread, exclusive, 2)
        for _ in range(5):
            await curionet.sleep(0)
        # The second call waits in the kernel for its turn, not in a thread.
        assert second.state == "THREAD_EXCLUSIVE"
        assert "enter 2" not in order
    finally:
        gate.set()
    assert await second.join() == 2
    assert order == ["enter 1", "exit 1", "enter 2", "exit 2"]
    pool = workers._thread_pool(current_kernel())
    await until(lambda: pool.slots.busy == 0 and not pool.exclusive)


def test_shutdown_with_a_running_abandoned_call_does_not_wait_for_it(caplog):
    gate = threading.Event()
    started = threading.Event()
    runner = []

    def late_failure():
        runner.append(threading.current_thread())
        started.set()
        gate.wait(30)
        raise ValueError("after shutdown")

    async def main():
        await curionet.ignore_after(1, run_in_thread, late_failure)

    caplog.set_level(logging.ERROR)
    try:
        with Kernel(clock=MockClock(autojump_threshold=0)) as k:
            k.run(main)
        # The kernel is gone; the thread still runs the call.
        assert started.wait(10)
        assert runner[0].is_alive()
    finally:
        gate.set()
    runner[0].join(10)
    assert not runner[0].is_alive()  # it exits: its pool is closed
    assert [str(r.exc_info[1]) for r in caplog.records if r.exc_info] == ["after shutdown"]


async def test_call_cancelled_before_it_waits_still_frees_its_slot(monkeypatch):
    # Cancelled before its first wait: the job is handed to a thread, the
    # cancellation is raised at once, and the kernel has set up no cross-thread
    # wake-up yet.  The slot must still come back when the thread finishes.
    monkeypatch.setattr(workers, "MAX_WORKER_THREADS", 1)
    gate = threading.Event()
    t = await curionet.spawn(run_in_thread, gate.wait, 30)
    await t.cancel()
    assert t.cancelled
    gate.set()
    async with curionet.timeout_after(10):  # a guard against a hang, not a timing assert
        assert await run_in_thread(lambda: "next") == "next"
