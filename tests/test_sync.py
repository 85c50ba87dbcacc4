"""Event, Lock, RLock, Semaphore, BoundedSemaphore, Condition, Result, and
cancellation at every blocking point of every primitive."""

import pytest

from curionet import (
    AsyncOnlyError,
    BoundedSemaphore,
    Condition,
    Event,
    LifoQueue,
    Lock,
    PriorityQueue,
    Queue,
    Result,
    RLock,
    Semaphore,
    TaskCancelled,
    TaskGroup,
    TaskTimeout,
    clock,
    sleep,
    spawn,
    timeout_after,
)
from curionet.kernel.sched import SchedBarrier, SchedFIFO

# ---------------------------------------------------------------------------
# Plain behaviour
# ---------------------------------------------------------------------------


async def test_event():
    evt = Event()
    assert not evt.is_set()
    waiters = [await spawn(evt.wait) for _ in range(3)]
    await sleep(0)
    assert len(evt._waiting) == 3
    await evt.set()
    for w in waiters:
        await w.join()
    assert evt.is_set()
    await evt.wait()  # already set: returns at once
    evt.clear()
    assert not evt.is_set()


async def test_lock_mutual_exclusion_and_fifo():
    lock = Lock()
    order = []

    async def worker(n):
        async with lock:
            order.append(("in", n))
            await sleep(0)
            order.append(("out", n))

    async with TaskGroup() as g:
        for n in range(3):
            await g.spawn(worker, n)
    assert order == [("in", 0), ("out", 0), ("in", 1), ("out", 1), ("in", 2), ("out", 2)]
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        await lock.release()


async def test_lock_sync_with_is_refused():
    with pytest.raises(AsyncOnlyError):  # Curio's error; a plain 'with' works in async threads
        with Lock():
            pass


async def test_rlock_reentrant_and_owned():
    rl = RLock()
    async with rl:
        async with rl:
            assert rl.locked()
        assert rl.locked()
    assert not rl.locked()

    await rl.acquire()

    async def intruder():
        await rl.release()

    t = await spawn(intruder)
    await t.wait()
    assert isinstance(t.exception, RuntimeError)
    await rl.release()


async def test_semaphore_counts():
    sem = Semaphore(2)
    assert sem.value == 2
    await sem.acquire()
    await sem.acquire()
    assert sem.locked()
    t = await spawn(sem.acquire)
    await sleep(0)
    assert not t.terminated
    await sem.release()
    await t.join()
    assert sem.value == 0
    await sem.release()
    await sem.release()
    assert sem.value == 2
    with pytest.raises(ValueError):
        Semaphore(-1)


async def test_bounded_semaphore_refuses_over_release():
    sem = BoundedSemaphore(1)
    async with sem:
        pass
    with pytest.raises(ValueError):
        await sem.release()


async def test_condition_producer_consumer():
    items = []
    cond = Condition()
    got = []

    async def consumer():
        for _ in range(3):
            async with cond:
                while not items:
                    await cond.wait()
                got.append(items.pop(0))

    c = await spawn(consumer)
    for n in range(3):
        async with cond:
            items.append(n)
            await cond.notify()
        await sleep(0)
    await c.join()
    assert got == [0, 1, 2]


async def test_condition_wait_for_and_notify_all():
    cond = Condition(Lock())
    state = {"go": False}
    done = []

    async def waiter(n):
        async with cond:
            await cond.wait_for(lambda: state["go"])
            done.append(n)

    async with TaskGroup() as g:
        for n in range(3):
            await g.spawn(waiter, n)
        await sleep(0)
        async with cond:
            state["go"] = True
            await cond.notify_all()
    assert sorted(done) == [0, 1, 2]
    with pytest.raises(RuntimeError):
        await cond.wait()
    with pytest.raises(RuntimeError):
        await cond.notify()


async def test_result_value_and_exception():
    r = Result()
    t = await spawn(r.unwrap)
    await sleep(0)
    await r.set_value(42)
    assert await t.join() == 42
    assert r.is_set()
    with pytest.raises(RuntimeError):
        await r.set_value(1)
    r2 = Result()
    await r2.set_exception(KeyError("k"))
    with pytest.raises(KeyError):
        await r2.unwrap()


async def test_sched_primitives_curio_api():
    fifo = SchedFIFO()
    barrier = SchedBarrier()
    woke = []

    async def waiter(s, n):
        await s.suspend("WAITING")
        woke.append(n)

    for n in range(3):
        await spawn(waiter, fifo, n)
        await spawn(waiter, barrier, 10 + n)
    await sleep(0)
    assert len(fifo) == 3 and len(barrier) == 3
    await fifo.wake(2)
    await barrier.wake()
    await sleep(0)
    assert sorted(woke) == [0, 1, 10, 11, 12]
    await fifo.wake()
    await sleep(0)
    assert 2 in woke


# ---------------------------------------------------------------------------
# Cancellation at each blocking point
# ---------------------------------------------------------------------------
#
# Each case builds a primitive in a state where an operation blocks, and
# gives a way to unblock one waiter and to check the primitive's bookkeeping.
# The test cancels a blocked task, checks it saw the exception and ran its
# finally block, then checks the primitive still works for other tasks.


class Case:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


async def _lock_case():
    lock = Lock()
    await lock.acquire()

    async def block():
        await lock.acquire()
        await lock.release()

    async def unblock():
        await lock.release()

    def idle():
        return len(lock._waiting) == 0

    return block, unblock, idle


async def _semaphore_case():
    sem = Semaphore(1)
    await sem.acquire()

    async def block():
        await sem.acquire()
        await sem.release()

    async def unblock():
        await sem.release()

    def idle():
        return len(sem._waiting) == 0 and sem.value == 1

    return block, unblock, idle


async def _event_case():
    evt = Event()

    async def block():
        await evt.wait()

    async def unblock():
        await evt.set()

    def idle():
        return len(evt._waiting) == 0

    return block, unblock, idle


async def _condition_case():
    cond = Condition()

    async def block():
        async with cond:
            await cond.wait()
        assert not cond.locked()

    async def unblock():
        async with cond:
            await cond.notify()

    def idle():
        return len(cond._waiting) == 0 and not cond.locked()

    return block, unblock, idle


async def _queue_get_case():
    q = Queue()
    got = []

    async def block():
        got.append(await q.get())

    async def unblock():
        await q.put("item")

    def idle():
        return len(q._getting) == 0 and q.empty() and got.count("item") == 1

    return block, unblock, idle


async def _queue_put_case():
    q = Queue(maxsize=1)
    await q.put("first")
    consumed = []

    async def block():
        await q.put("second")

    async def unblock():
        consumed.append(await q.get())

    def idle():
        # Only the surviving put landed; the cancelled one added nothing.
        return len(q._putting) == 0 and list(q._queue) == ["second"] and consumed == ["first"]

    return block, unblock, idle


async def _queue_join_case():
    q = Queue()
    await q.put(1)

    async def block():
        await q.join()

    async def unblock():
        await q.get()
        await q.task_done()

    def idle():
        return len(q._joining) == 0 and q._unfinished == 0

    return block, unblock, idle


async def _task_join_case():
    evt = Event()
    target = await spawn(evt.wait)

    async def block():
        await target.join()

    async def unblock():
        await evt.set()

    def idle():
        return target.terminated and (target._joining is None or len(target._joining) == 0)

    return block, unblock, idle


async def _taskgroup_join_case():
    evt = Event()
    g = TaskGroup()
    await g.spawn(evt.wait)

    async def block():
        # next_done() is the blocking point of TaskGroup.join()
        await g.next_done()

    async def unblock():
        await evt.set()

    def idle():
        return len(g._waiting) == 0

    return block, unblock, idle


async def _sleep_case():
    kernel_box = {}

    async def block():
        kernel_box["t"] = await sleep(5)

    async def unblock():
        pass  # time (auto-jump) unblocks it

    def idle():
        return "t" in kernel_box

    return block, unblock, idle


CASES = {
    "sleep": _sleep_case,
    "Event.wait": _event_case,
    "Lock.acquire": _lock_case,
    "Semaphore.acquire": _semaphore_case,
    "Condition.wait": _condition_case,
    "Queue.get": _queue_get_case,
    "Queue.put": _queue_put_case,
    "Queue.join": _queue_join_case,
    "Task.join": _task_join_case,
    "TaskGroup.next_done": _taskgroup_join_case,
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_cancel_at_blocking_point(case, autojump_clock):
    block, unblock, idle = await CASES[case]()
    log = []

    async def victim():
        try:
            await block()
        except TaskCancelled:
            log.append("saw cancel")
            raise
        finally:
            log.append("finally")

    v = await spawn(victim)
    await sleep(0)  # let it block
    assert v.state not in ("READY", "TERMINATED")
    await v.cancel()
    assert log == ["saw cancel", "finally"]
    assert v.cancelled

    # The primitive keeps working: another task blocks and is released.
    survivor = await spawn(block)
    await sleep(0)
    await unblock()
    await survivor.join()
    assert idle(), f"{case}: primitive left in a bad state"


@pytest.mark.parametrize("case", sorted(CASES))
async def test_timeout_at_blocking_point(case, autojump_clock):
    block, unblock, idle = await CASES[case]()
    if case == "sleep":
        with pytest.raises(TaskTimeout):
            await timeout_after(1, block)
        assert await clock() == 1
        return
    with pytest.raises(TaskTimeout):
        await timeout_after(1, block)
    assert await clock() == 1
    survivor = await spawn(block)
    await sleep(0)
    await unblock()
    await survivor.join()
    assert idle()


async def test_woken_then_cancelled_lock_waiter_still_owns_lock():
    """A waiter handed the lock and cancelled before it runs must not strand
    the lock: it returns from acquire() owning it and releases it."""
    lock = Lock()
    await lock.acquire()
    log = []

    async def waiter():
        try:
            await lock.acquire()
            log.append("acquired")
            await lock.release()
            await sleep(1)
        except TaskCancelled:
            log.append("cancelled")
            raise

    t = await spawn(waiter)
    await sleep(0)
    await lock.release()  # ownership handed to the waiter (now READY)
    await t.cancel(blocking=False)
    await t.wait()
    assert log == ["acquired", "cancelled"]
    assert not lock.locked()


async def test_woken_then_cancelled_semaphore_and_queue_waiters_lose_nothing():
    """Same race for a semaphore unit and a queue item: the woken waiter
    returns normally with what it was handed; the cancellation lands at its
    next blocking point."""
    sem = Semaphore(0)
    q = Queue()
    log = []

    async def sem_waiter():
        await sem.acquire()
        log.append("unit")
        await sem.release()
        await sleep(1)

    async def q_waiter():
        log.append(await q.get())
        await sleep(1)

    s_task = await spawn(sem_waiter)
    q_task = await spawn(q_waiter)
    await sleep(0)
    await sem.release()  # the unit goes to the waiter (now READY)
    await q.put("item")  # the waiting getter is woken
    await s_task.cancel(blocking=False)
    await q_task.cancel(blocking=False)
    await s_task.wait()
    await q_task.wait()
    assert s_task.cancelled and q_task.cancelled
    assert sorted(log) == ["item", "unit"]
    assert sem.value == 1 and len(sem._waiting) == 0
    assert q.empty() and len(q._getting) == 0


async def test_queue_no_item_lost_under_random_cancellation(autojump_clock):
    q = Queue(maxsize=3)
    received = []

    async def consumer():
        while True:
            received.append(await q.get())

    consumers = [await spawn(consumer) for _ in range(4)]
    for n in range(200):
        await q.put(n)
        if n % 7 == 0:
            victim = consumers.pop(0)
            await victim.cancel()
            consumers.append(await spawn(consumer))
    while not q.empty():
        await sleep(0)
    for c in consumers:
        await c.cancel()
    assert sorted(received) == list(range(200))


# ---------------------------------------------------------------------------
# Queues
# ---------------------------------------------------------------------------


async def test_queue_basic_api():
    q = Queue(maxsize=2)
    assert q.empty() and not q.full() and q.qsize() == 0 and q.size() == 0
    await q.put(1)
    await q.put(2)
    assert q.full() and q.qsize() == 2
    assert await q.get() == 1
    assert await q.get() == 2
    await q.task_done()
    await q.task_done()
    with pytest.raises(ValueError):
        await q.task_done()


async def test_priority_and_lifo_queues():
    pq = PriorityQueue()
    for x in (5, 1, 3):
        await pq.put(x)
    assert [await pq.get() for _ in range(3)] == [1, 3, 5]
    lq = LifoQueue()
    for x in (1, 2, 3):
        await lq.put(x)
    assert [await lq.get() for _ in range(3)] == [3, 2, 1]


async def test_queue_join_waits_for_task_done():
    q = Queue()
    done = []

    async def worker():
        while True:
            item = await q.get()
            await sleep(0)
            done.append(item)
            await q.task_done()

    w = await spawn(worker)
    for i in range(5):
        await q.put(i)
    await q.join()
    assert done == [0, 1, 2, 3, 4]
    await w.cancel()


async def test_bounded_queue_backpressure_order():
    q = Queue(maxsize=1)
    out = []

    async def producer():
        for i in range(5):
            await q.put(i)

    p = await spawn(producer)
    for _ in range(5):
        out.append(await q.get())
    await p.join()
    assert out == [0, 1, 2, 3, 4]
