"""The kernel: run forms, reuse, shutdown, deadlock detection, activations,
I/O waits, futures and cross-thread wake-ups."""

import concurrent.futures
import socket
import threading

import pytest

import curionet
from curionet import (
    Activation,
    ClosedResourceError,
    Event,
    Kernel,
    ReadResourceBusy,
    TaskCancelled,
    WriteResourceBusy,
    run,
    sleep,
    spawn,
)
from curionet.kernel import current_kernel
from curionet.kernel.traps import _future_wait, _get_kernel, _io_release, _io_waiting, _read_wait, _write_wait


async def double(x):
    await sleep(0)
    return 2 * x


def test_run_function_and_coroutine():
    assert run(double, 21) == 42
    assert run(double(4)) == 8


def test_run_raises_the_main_exception_unchanged():
    async def main():
        await sleep(0)
        raise KeyError("main failed")

    with pytest.raises(KeyError):
        run(main)


def test_kernel_reused_across_runs_keeps_background_tasks():
    state = []

    async def background():
        try:
            while True:
                state.append("tick")
                await sleep(0)
        finally:
            state.append("reaped")

    async def start():
        return await spawn(background)

    async def later():
        await sleep(0)
        return "second"

    with Kernel() as k:
        task = k.run(start)
        assert not task.terminated
        assert k.run(later) == "second"
        assert state.count("tick") >= 1
    assert task.cancelled and state[-1] == "reaped"


def test_run_with_shutdown_closes_kernel():
    k = Kernel()
    assert k.run(double, 1, shutdown=True) == 2
    with pytest.raises(RuntimeError):
        k.run(double, 1)


def test_kernel_run_none_runs_one_cycle():
    seen = []

    async def step():
        seen.append(1)
        await sleep(0)
        seen.append(2)

    async def start():
        await spawn(step)

    with Kernel() as k:
        k.run(start)
        k.run()
        assert seen[:1] == [1]


def test_nested_run_is_refused():
    async def main():
        return run(double, 1)

    with pytest.raises(RuntimeError):
        run(main)


def test_two_kernels_in_one_thread_refused():
    k2 = Kernel()

    async def main():
        k2.run(double, 1)

    with pytest.raises(RuntimeError):
        run(main)
    k2.run(shutdown=True)


def test_deadlock_is_reported_not_hung():
    async def main():
        await Event().wait()

    with pytest.raises(RuntimeError, match="deadlock"):
        run(main)


def test_current_kernel_and_get_kernel():
    async def main():
        k = await _get_kernel()
        assert current_kernel() is k
        return k

    k = run(main)
    assert isinstance(k, Kernel)
    assert current_kernel() is None


def test_kernels_in_separate_threads():
    results = []

    def worker(n):
        results.append(run(double, n))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 2, 4, 6]


def test_activations_see_the_lifecycle():
    events = []

    class Recorder(Activation):
        def activate(self, kernel):
            events.append("activate")

        def created(self, task):
            events.append(("created", task.name.rsplit(".", 1)[-1]))

        def running(self, task):
            events.append("running")

        def suspended(self, task, trap):
            events.append("suspended")

        def terminated(self, task):
            events.append(("terminated", task.name.rsplit(".", 1)[-1]))

    run(double, 1, activations=[Recorder()])
    assert events[0] == "activate"
    assert ("created", "double") in events
    assert "running" in events and "suspended" in events
    assert ("terminated", "double") in events


def test_shutdown_cancels_tasks_blocked_forever():
    finals = []

    async def stuck():
        try:
            await Event().wait()
        finally:
            finals.append("cleaned")

    async def main():
        for _ in range(3):
            await spawn(stuck)
        await sleep(0)

    run(main)
    assert finals == ["cleaned"] * 3


async def test_read_write_wait_on_socketpair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:

        async def reader():
            await _read_wait(a)
            return a.recv(100)

        t = await spawn(reader)
        await sleep(0)
        assert (await _io_waiting(a))[0] is t
        b.send(b"hello")
        assert await t.join() == b"hello"
        await _write_wait(b)  # writable at once
    finally:
        await _io_release(a)
        await _io_release(b)
        a.close()
        b.close()


async def test_two_readers_on_one_fd_is_resource_busy():
    a, b = socket.socketpair()
    try:
        t = await spawn(_read_wait, a)
        await sleep(0)
        with pytest.raises(ReadResourceBusy):
            await _read_wait(a)
        w = await spawn(_write_wait, b)
        await w.join()
        await _write_wait(b)
        await t.cancel()
        # After the cancellation the fd is free for another reader.
        b.send(b"x")
        await _read_wait(a)
    finally:
        await _io_release(a)
        await _io_release(b)
        a.close()
        b.close()
    assert issubclass(WriteResourceBusy, curionet.ResourceBusy)


async def test_release_wakes_waiters_with_closed_error():
    a, b = socket.socketpair()
    try:

        async def reader():
            await _read_wait(a)

        t = await spawn(reader)
        await sleep(0)
        await _io_release(a)
        await t.wait()
        assert isinstance(t.exception, ClosedResourceError)
        assert isinstance(t.exception, OSError)
    finally:
        a.close()
        b.close()


async def test_cancel_io_wait_then_reuse():
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        t = await spawn(_read_wait, a)
        await sleep(0)
        await t.cancel()
        assert isinstance(t.exception, TaskCancelled)
        b.send(b"data")
        await _read_wait(a)
        assert a.recv(10) == b"data"
    finally:
        await _io_release(a)
        a.close()
        b.close()


async def test_future_wait_from_thread():
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(lambda: 7 * 6)
        await _future_wait(fut)
        assert fut.result() == 42


async def test_future_wait_cancelled():
    gate = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(gate.wait)

        t = await spawn(_future_wait, fut)
        await sleep(0)
        await t.cancel()
        assert t.cancelled
        gate.set()


async def test_call_soon_threadsafe_wakes_kernel():
    k = await _get_kernel()
    k._init_notify()
    evt = Event()

    async def setter():
        await evt.set()

    def from_thread():
        k.call_soon_threadsafe(lambda: k._new_task(setter(), False))

    threading.Thread(target=from_thread).start()
    await evt.wait()


def test_curio_doc_producer_consumer_runs_unchanged():
    """The producer/consumer example from Curio's reference manual, with only
    the import changed."""
    import curionet as curio

    out = []

    async def producer(queue):
        for n in range(10):
            await queue.put(n)
        await queue.join()
        out.append("Producer done")

    async def consumer(queue):
        while True:
            item = await queue.get()
            out.append(item)
            await queue.task_done()

    async def main():
        q = curio.Queue()
        prod_task = await curio.spawn(producer(q))
        cons_task = await curio.spawn(consumer(q))
        await prod_task.join()
        await cons_task.cancel()

    curio.run(main())
    assert out == list(range(10)) + ["Producer done"]


def test_shutdown_reaps_tasks_spawned_during_cleanup():
    finals = []

    async def late():
        try:
            await Event().wait()
        finally:
            finals.append("late cleaned")

    async def stuck():
        try:
            await Event().wait()
        finally:
            await spawn(late)
            finals.append("stuck cleaned")

    async def main():
        await spawn(stuck)
        await sleep(0)

    run(main)
    assert finals == ["stuck cleaned", "late cleaned"]
