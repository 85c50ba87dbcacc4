"""Threads and processes benchmark: curionet against curio 1.6 and asyncio.

Rows (one table, one run; each framework runs each row in a fresh
subprocess, --repeat times; the table shows the median and the spread):

(a) run_in_thread of a trivial function, one call after another   -> calls/s
    (curio: run_in_thread; asyncio: asyncio.to_thread)
(b) run_in_process of a trivial function, one call after another  -> calls/s
    (curio: run_in_process; asyncio: loop.run_in_executor(ProcessPoolExecutor))
    pools are warmed up first, so worker start-up is not measured
(c) items/s from a producer thread to a consumer task
    (curionet and curio: UniversalQueue; asyncio: a queue.Queue, read by the
    task through asyncio.to_thread(q.get), and, as a second asyncio figure,
    loop.call_soon_threadsafe(asyncio.Queue.put_nowait) from the thread)

Usage: python benchmarks/threads.py [--repeat N] [--only curionet,curio,asyncio]
Peers come from the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

N_THREAD = 20_000
N_PROCESS = 10_000
N_ITEMS = 200_000
WARMUP = 200

FRAMEWORKS = ["curionet", "curio", "asyncio", "asyncio-cst"]
ROWS = [
    ("thread", "(a) run_in_thread, trivial function", "calls/s"),
    ("process", "(b) run_in_process, trivial function", "calls/s"),
    ("queue", "(c) thread -> task, items through a queue", "items/s"),
]
# asyncio-cst only has a figure for the queue row.


def trivial(x=None):
    return x


def _producer(put, n):
    for i in range(n):
        put(i)
    put(None)


def run_curio_like(mod_name, row):
    mod = __import__(mod_name)

    async def thread_row():
        for _ in range(WARMUP):
            await mod.run_in_thread(trivial)
        start = time.perf_counter()
        for _ in range(N_THREAD):
            await mod.run_in_thread(trivial)
        return N_THREAD / (time.perf_counter() - start)

    async def process_row():
        for _ in range(WARMUP):
            await mod.run_in_process(trivial)
        start = time.perf_counter()
        for _ in range(N_PROCESS):
            await mod.run_in_process(trivial)
        return N_PROCESS / (time.perf_counter() - start)

    async def queue_row():
        q = mod.UniversalQueue()
        t = threading.Thread(target=_producer, args=(q.put, N_ITEMS))
        start = time.perf_counter()
        t.start()
        n = 0
        while (await q.get()) is not None:
            n += 1
        elapsed = time.perf_counter() - start
        await mod.run_in_thread(t.join)
        assert n == N_ITEMS
        return N_ITEMS / elapsed

    return mod.run({"thread": thread_row, "process": process_row, "queue": queue_row}[row])


def run_asyncio(row, cst=False):
    import asyncio
    import concurrent.futures
    import queue

    async def thread_row():
        for _ in range(WARMUP):
            await asyncio.to_thread(trivial)
        start = time.perf_counter()
        for _ in range(N_THREAD):
            await asyncio.to_thread(trivial)
        return N_THREAD / (time.perf_counter() - start)

    async def process_row():
        loop = asyncio.get_running_loop()
        with concurrent.futures.ProcessPoolExecutor() as ex:
            for _ in range(WARMUP):
                await loop.run_in_executor(ex, trivial)
            start = time.perf_counter()
            for _ in range(N_PROCESS):
                await loop.run_in_executor(ex, trivial)
            return N_PROCESS / (time.perf_counter() - start)

    async def queue_row():
        q: queue.Queue = queue.Queue()
        t = threading.Thread(target=_producer, args=(q.put, N_ITEMS))
        start = time.perf_counter()
        t.start()
        n = 0
        while (await asyncio.to_thread(q.get)) is not None:
            n += 1
        elapsed = time.perf_counter() - start
        t.join()
        assert n == N_ITEMS
        return N_ITEMS / elapsed

    async def queue_cst_row():
        loop = asyncio.get_running_loop()
        aq: asyncio.Queue = asyncio.Queue()

        def put(item):
            loop.call_soon_threadsafe(aq.put_nowait, item)

        t = threading.Thread(target=_producer, args=(put, N_ITEMS))
        start = time.perf_counter()
        t.start()
        n = 0
        while (await aq.get()) is not None:
            n += 1
        elapsed = time.perf_counter() - start
        t.join()
        assert n == N_ITEMS
        return N_ITEMS / elapsed

    if cst:
        return asyncio.run(queue_cst_row()) if row == "queue" else None
    return asyncio.run({"thread": thread_row, "process": process_row, "queue": queue_row}[row]())


RUNNERS = {
    "curionet": lambda row: run_curio_like("curionet", row),
    "curio": lambda row: run_curio_like("curio", row),
    "asyncio": lambda row: run_asyncio(row),
    "asyncio-cst": lambda row: run_asyncio(row, cst=True),
}


def _measure(framework: str, row: str, timeout: float) -> float | None:
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", framework, row],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        print(f"  {framework}/{row} failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(FRAMEWORKS))
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "ROW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        framework, row = args.worker
        print(json.dumps(RUNNERS[framework](row)))
        return 0
    frameworks = [f for f in args.only.split(",") if f]
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for row, _, _ in ROWS:
            for fw in frameworks:
                if fw == "asyncio-cst" and row != "queue":
                    continue
                v = _measure(fw, row, args.timeout)
                if v is not None:
                    results.setdefault((fw, row), []).append(v)

    def med(fw: str, row: str) -> float | None:
        vals = results.get((fw, row))
        return statistics.median(vals) if vals else None

    def spread(fw: str, row: str) -> str:
        vals = results.get((fw, row))
        if not vals:
            return ""
        return f" ({min(vals):,.0f}-{max(vals):,.0f})"

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, median of {args.repeat} runs (min-max)")
    print()
    peers = [f for f in frameworks if f != "curionet"]
    header = "| row | unit | curionet | " + " | ".join(peers) + " | curionet / best peer |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for row, label, unit in ROWS:
        ours = med("curionet", row)
        cells = [f"{_fmt(ours)}{spread('curionet', row)}"]
        best = None
        for p in peers:
            v = med(p, row)
            cells.append(f"{_fmt(v)}{spread(p, row)}")
            if v is not None and (best is None or v > best):
                best = v
        ratio = "n/a" if ours is None or not best else f"{ours / best:.2f}x"
        print(f"| {label} | {unit} | " + " | ".join(cells) + f" | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
