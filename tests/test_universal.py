"""UniversalQueue, UniversalEvent, UniversalResult: threads, tasks, asyncio."""

import asyncio
import selectors
import threading
from collections import Counter

import pytest

import curionet
from curionet import UniversalEvent, UniversalQueue, UniversalResult


async def test_10000_items_between_4_threads_and_4_tasks_none_lost_or_duplicated():
    to_tasks = UniversalQueue(maxsize=100)
    to_threads = UniversalQueue(maxsize=100)
    n_each = 2500
    got_by_tasks = []
    got_by_threads = []

    def thread_producer(base):
        for i in range(n_each):
            to_tasks.put(base + i)

    def thread_consumer():
        while True:
            item = to_threads.get()
            if item is None:
                return
            got_by_threads.append(item)

    async def task_producer(base):
        for i in range(n_each):
            await to_threads.put(base + i)

    async def task_consumer():
        while True:
            item = await to_tasks.get()
            if item is None:
                return
            got_by_tasks.append(item)

    producers = [threading.Thread(target=thread_producer, args=(k * n_each,)) for k in range(4)]
    consumers = [threading.Thread(target=thread_consumer) for _ in range(4)]
    for th in producers + consumers:
        th.start()
    async with curionet.TaskGroup() as g:
        for _ in range(4):
            await g.spawn(task_consumer)
        async with curionet.TaskGroup() as pg:
            for k in range(4):
                await pg.spawn(task_producer, 100_000 + k * n_each)
        for th in producers:
            await curionet.run_in_thread(th.join)
        for _ in range(4):
            await to_tasks.put(None)
            await to_threads.put(None)
    for th in consumers:
        await curionet.run_in_thread(th.join)
    assert sorted(got_by_tasks) == list(range(4 * n_each))
    assert sorted(got_by_threads) == list(range(100_000, 100_000 + 4 * n_each))


async def test_sync_and_async_use_of_the_same_methods():
    q = UniversalQueue()
    q.put(1)  # acts at once, awaiting optional
    await q.put(2)
    assert q.qsize() == 2
    assert await q.get() == 1
    assert await curionet.run_in_thread(q.get) == 2
    assert q.empty()


async def test_bounded_queue_blocks_the_putter_until_room():
    q = UniversalQueue(maxsize=1)
    await q.put("a")
    assert q.full()
    t = await curionet.spawn(q.put, "b")
    await curionet.sleep(0.01)
    assert not t.terminated
    assert await curionet.run_in_thread(q.get) == "a"
    await t.join()
    assert await q.get() == "b"


async def test_cancelled_get_loses_nothing():
    q = UniversalQueue()
    getter = await curionet.spawn(q.get)
    await curionet.sleep(0.01)
    await getter.cancel()
    q.put("kept")
    assert await q.get() == "kept"

    # Whichever getter is cancelled, the item reaches exactly one place.
    waiters = [await curionet.spawn(q.get) for _ in range(2)]
    await curionet.sleep(0.01)
    await curionet.run_in_thread(q.put, "x")
    await waiters[0].cancel()
    await curionet.sleep(0.01)
    await waiters[1].cancel()
    delivered = [w.result for w in waiters if not w.cancelled]
    delivered += [await q.get()] if not q.empty() else []
    assert delivered == ["x"]


async def test_task_done_and_join_across_threads():
    q = UniversalQueue()
    for i in range(5):
        await q.put(i)

    def worker():
        for _ in range(5):
            q.get()
            q.task_done()

    th = threading.Thread(target=worker)
    th.start()
    await q.join()
    await curionet.run_in_thread(th.join)
    with pytest.raises(ValueError):
        q.task_done()


async def test_withfd_signals_readability_to_a_foreign_poller():
    q = UniversalQueue(withfd=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(q.fileno(), selectors.EVENT_READ)
        assert sel.select(0) == []
        await q.put("x")
        assert len(sel.select(0)) == 1
        assert await q.get() == "x"
        assert sel.select(0) == []
        sel.close()
    finally:
        q.close()
    with pytest.raises(RuntimeError):
        UniversalQueue().fileno()


def test_bad_maxsize():
    with pytest.raises(ValueError):
        UniversalQueue(maxsize=-1)


async def test_asyncio_consumer_in_another_thread():
    q = UniversalQueue()
    back = UniversalQueue()

    async def aio_consumer():
        total = 0
        while True:
            item = await q.get()
            if item is None:
                break
            total += item
            q.task_done()
        await back.put(total)

    th = threading.Thread(target=asyncio.run, args=(aio_consumer(),))
    th.start()
    for i in range(1000):
        await q.put(i)
    await q.join()
    await q.put(None)
    assert await back.get() == sum(range(1000))
    await curionet.run_in_thread(th.join)


async def test_asyncio_producer_curionet_consumer():
    q = UniversalQueue(maxsize=10)

    async def aio_producer():
        for i in range(200):
            await q.put(i)

    th = threading.Thread(target=asyncio.run, args=(aio_producer(),))
    th.start()
    got = [await q.get() for _ in range(200)]
    await curionet.run_in_thread(th.join)
    assert got == list(range(200))


async def test_universal_event_thread_to_task_and_back():
    evt = UniversalEvent()
    back = UniversalEvent()

    def thread():
        evt.set()
        back.wait()

    th = threading.Thread(target=thread)
    th.start()
    await evt.wait()
    assert evt.is_set()
    await back.set()
    await curionet.run_in_thread(th.join)
    evt.clear()
    assert not evt.is_set()


async def test_universal_event_wait_cancellable():
    evt = UniversalEvent()
    with pytest.raises(curionet.TaskTimeout):
        await curionet.timeout_after(0.01, evt.wait)
    evt.set()
    await evt.wait()


async def test_universal_result_value_and_exception():
    r = UniversalResult()
    threading.Thread(target=r.set_value, args=(42,)).start()
    assert await r.unwrap() == 42
    assert r.is_set()
    with pytest.raises(RuntimeError):
        r.set_value(1)

    r2 = UniversalResult()
    await r2.set_exception(KeyError("k"))
    with pytest.raises(KeyError):
        await curionet.run_in_thread(r2.unwrap)


def test_universal_objects_from_plain_threads_only():
    q = UniversalQueue()
    counts = Counter()

    def prod():
        for i in range(100):
            q.put(i)
        q.put(None)

    th = threading.Thread(target=prod)
    th.start()
    while (item := q.get()) is not None:
        counts[item] += 1
    th.join()
    assert sorted(counts) == list(range(100)) and set(counts.values()) == {1}
