"""A task fills a UniversalQueue; an ordinary thread consumes it.

The thread uses the plain, blocking queue API (``q.get()``), the task the
async one (``await q.put()``): the same queue object serves both.  The
thread reports back through a UniversalResult that the task awaits, and a
second, async thread shows AWAIT calling a coroutine from thread code.

Run: python examples/thread_interop.py
"""

import threading

import curionet
from curionet import UniversalQueue, UniversalResult
from curionet.thread import AWAIT, spawn_thread


def consumer(q: UniversalQueue, result: UniversalResult) -> None:
    """Blocking code: sums the numbers until it gets None."""
    total = 0
    count = 0
    while (item := q.get()) is not None:
        total += item
        count += 1
        q.task_done()
    q.task_done()
    result.set_value((count, total))


def reporter(count: int, total: int) -> str:
    """Runs in an async thread: AWAIT runs a coroutine on the kernel."""
    AWAIT(curionet.sleep(0.01))
    return f"thread consumed {count} items, total {total}"


async def main() -> None:
    q = UniversalQueue(maxsize=100)  # bounded: the task waits when the thread lags
    result = UniversalResult()
    t = threading.Thread(target=consumer, args=(q, result))
    t.start()
    for i in range(1, 10_001):
        await q.put(i)
    await q.put(None)
    await q.join()  # every item processed
    count, total = await result.unwrap()
    await curionet.run_in_thread(t.join)
    report = await spawn_thread(reporter, count, total)
    print(await report.join())


if __name__ == "__main__":
    curionet.run(main)
