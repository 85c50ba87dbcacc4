"""Curio 1.6 manual examples for threads and universal objects, with only the
imports changed (and sleeps shortened)."""

import asyncio
import threading
import time

import curionet as curio
from curionet import UniversalQueue, run, run_in_thread, spawn
from curionet.thread import AWAIT, spawn_thread


def test_universal_queue_curio_asyncio_threads_example(capsys):
    async def consumer(name, q):
        print(f"{name} consumer starting")
        while True:
            item = await q.get()
            if item is None:
                break
            print(f"{name} got: {item}")
            await q.task_done()
        print(f"{name} consumer done")
        await q.put(None)

    def producer(q):
        for i in range(10):
            q.put(i)
            time.sleep(0.01)
        q.join()
        print("Producer done")

    async def main():
        q = UniversalQueue()
        t1 = await spawn(consumer("curio", q))
        t2 = threading.Thread(target=asyncio.run, args=[consumer("asyncio", q)])
        t2.start()
        t3 = threading.Thread(target=producer, args=[q])
        t3.start()
        await run_in_thread(t3.join)
        await q.put(None)
        await t1.join()
        await run_in_thread(t2.join)

    run(main())
    out = capsys.readouterr().out
    got = sorted(int(line.split()[-1]) for line in out.splitlines() if " got: " in line)
    assert got == list(range(10))
    assert "Producer done" in out and "curio consumer done" in out and "asyncio consumer done" in out


def test_async_thread_queue_consumer_example(capsys):
    from curionet import CancelledError, Queue, sleep

    def consumer(queue):
        try:
            while True:
                item = AWAIT(queue.get())
                print("Got:", item)
                AWAIT(queue.task_done())
        except CancelledError:
            print("Consumer goodbye!")
            raise

    async def main():
        q = Queue()
        t = await spawn_thread(consumer, q)
        for i in range(10):
            await q.put(i)
            await sleep(0.001)
        await q.join()
        await t.cancel()

    run(main())
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Got: {i}" for i in range(10)] + ["Consumer goodbye!"]


def test_universal_result_example(capsys):
    def worker(x, y, result):
        time.sleep(0.01)
        try:
            result.set_value(x + y)
        except Exception as err:
            result.set_exception(err)

    async def main():
        result = curio.UniversalResult()
        threading.Thread(target=worker, args=[2, 3, result]).start()
        print("Result:", await result.unwrap())

    curio.run(main)
    assert capsys.readouterr().out == "Result: 5\n"


def test_howto_signal_event_recipe(capsys):
    import os
    import signal

    from curionet import UniversalEvent

    sigusr_evt = UniversalEvent()

    def handle(signo, frame):
        sigusr_evt.set()

    old = signal.signal(signal.SIGUSR1, handle)
    try:

        async def main():
            print("Waiting for a signal")
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            await sigusr_evt.wait()
            print("Got it!")

        run(main)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert capsys.readouterr().out == "Waiting for a signal\nGot it!\n"
