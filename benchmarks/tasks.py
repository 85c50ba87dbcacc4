"""Kernel benchmark: curionet against curio 1.6, asyncio and trio.

Rows (one table, one run; every framework runs each row in a fresh
subprocess, several times, and the best time is kept):

(a) spawn and join 100,000 trivial tasks                 -> tasks/s
(b) 10,000 tasks each doing 10 x sleep(0)                -> switches/s
(c) two tasks playing ping-pong over two queues          -> messages/s
(d) memory per task, 100,000 tasks waiting on one Event  -> bytes/task (tracemalloc)

Usage: python benchmarks/tasks.py [--repeat N] [--only curionet,asyncio,...]
Peers come from the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

N_SPAWN = 100_000
N_SWITCH_TASKS = 10_000
N_SWITCHES = 10
N_PINGPONG = 100_000
N_MEMORY = 100_000

FRAMEWORKS = ["curionet", "curio", "asyncio", "trio"]
ROWS = [
    ("spawn", "(a) spawn+join 100k tasks", "tasks/s", True),
    ("switch", "(b) 10k tasks x 10 sleep(0)", "switches/s", True),
    ("pingpong", "(c) queue ping-pong", "messages/s", True),
    ("memory", "(d) memory, 100k tasks on an Event", "bytes/task", False),
]


# ---------------------------------------------------------------------------
# Workloads, one per framework.  Each returns a figure for the row.
# ---------------------------------------------------------------------------


def _curio_like(mod):
    """curionet and curio share the API: one implementation for both."""

    async def trivial():
        pass

    async def spawn_join():
        start = time.perf_counter()
        tasks = [await mod.spawn(trivial) for _ in range(N_SPAWN)]
        for t in tasks:
            await t.join()
        return N_SPAWN / (time.perf_counter() - start)

    async def switcher():
        for _ in range(N_SWITCHES):
            await mod.sleep(0)

    async def switch():
        start = time.perf_counter()
        tasks = [await mod.spawn(switcher) for _ in range(N_SWITCH_TASKS)]
        for t in tasks:
            await t.join()
        return N_SWITCH_TASKS * N_SWITCHES / (time.perf_counter() - start)

    async def pingpong():
        q1, q2 = mod.Queue(), mod.Queue()

        async def ponger():
            for _ in range(N_PINGPONG):
                await q2.put(await q1.get())

        start = time.perf_counter()
        t = await mod.spawn(ponger)
        for i in range(N_PINGPONG):
            await q1.put(i)
            await q2.get()
        await t.join()
        return N_PINGPONG / (time.perf_counter() - start)

    async def memory():
        import tracemalloc

        evt = mod.Event()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        # As in the asyncio row (create_task(evt.wait())): the task is the wait.
        tasks = [await mod.spawn(evt.wait) for _ in range(N_MEMORY)]
        await mod.sleep(0)  # every task is now blocked on the event
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        await evt.set()
        for t in tasks:
            await t.join()
        return used / N_MEMORY

    return {"spawn": spawn_join, "switch": switch, "pingpong": pingpong, "memory": memory}


def run_curionet(row):
    import curionet

    return curionet.run(_curio_like(curionet)[row])


def run_curio(row):
    import curio

    return curio.run(_curio_like(curio)[row])


def run_asyncio(row):
    import asyncio

    async def trivial():
        pass

    async def spawn_join():
        start = time.perf_counter()
        tasks = [asyncio.create_task(trivial()) for _ in range(N_SPAWN)]
        for t in tasks:
            await t
        return N_SPAWN / (time.perf_counter() - start)

    async def switcher():
        for _ in range(N_SWITCHES):
            await asyncio.sleep(0)

    async def switch():
        start = time.perf_counter()
        tasks = [asyncio.create_task(switcher()) for _ in range(N_SWITCH_TASKS)]
        for t in tasks:
            await t
        return N_SWITCH_TASKS * N_SWITCHES / (time.perf_counter() - start)

    async def pingpong():
        q1: asyncio.Queue = asyncio.Queue()
        q2: asyncio.Queue = asyncio.Queue()

        async def ponger():
            for _ in range(N_PINGPONG):
                await q2.put(await q1.get())

        start = time.perf_counter()
        t = asyncio.create_task(ponger())
        for i in range(N_PINGPONG):
            await q1.put(i)
            await q2.get()
        await t
        return N_PINGPONG / (time.perf_counter() - start)

    async def memory():
        import tracemalloc

        evt = asyncio.Event()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.create_task(evt.wait()) for _ in range(N_MEMORY)]
        await asyncio.sleep(0)
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        evt.set()
        for t in tasks:
            await t
        return used / N_MEMORY

    funcs = {"spawn": spawn_join, "switch": switch, "pingpong": pingpong, "memory": memory}
    return asyncio.run(funcs[row]())


def run_trio(row):
    import trio

    async def trivial():
        pass

    async def spawn_join():
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(N_SPAWN):
                nursery.start_soon(trivial)
        return N_SPAWN / (time.perf_counter() - start)

    async def switcher():
        for _ in range(N_SWITCHES):
            await trio.sleep(0)

    async def switch():
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(N_SWITCH_TASKS):
                nursery.start_soon(switcher)
        return N_SWITCH_TASKS * N_SWITCHES / (time.perf_counter() - start)

    async def pingpong():
        s1, r1 = trio.open_memory_channel(0)
        s2, r2 = trio.open_memory_channel(0)

        async def ponger():
            for _ in range(N_PINGPONG):
                await s2.send(await r1.receive())

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ponger)
            for i in range(N_PINGPONG):
                await s1.send(i)
                await r2.receive()
        return N_PINGPONG / (time.perf_counter() - start)

    async def memory():
        import tracemalloc

        evt = trio.Event()
        result = {}

        async with trio.open_nursery() as nursery:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(N_MEMORY):
                nursery.start_soon(evt.wait)
            await trio.sleep(0.05)  # let every task block
            result["used"] = tracemalloc.get_traced_memory()[0] - base
            tracemalloc.stop()
            evt.set()
        return result["used"] / N_MEMORY

    funcs = {"spawn": spawn_join, "switch": switch, "pingpong": pingpong, "memory": memory}
    return trio.run(funcs[row])


RUNNERS = {"curionet": run_curionet, "curio": run_curio, "asyncio": run_asyncio, "trio": run_trio}


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


def _measure(framework: str, row: str, timeout: float) -> float | None:
    env = dict(os.environ, PYTHONHASHSEED="0")
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", framework, row],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        sys.stderr.write(f"{framework}/{row} failed:\n{proc.stderr}\n")
        return None
    return float(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is kept")
    parser.add_argument("--only", default=",".join(FRAMEWORKS))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "ROW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        framework, row = args.worker
        print(json.dumps(RUNNERS[framework](row)))
        return 0

    frameworks = [f for f in args.only.split(",") if f]
    results: dict[tuple[str, str], float | None] = {}
    for row, _, _, higher in ROWS:
        for fw in frameworks:
            figures = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                figures.append(_measure(fw, row, args.timeout))
                if time.perf_counter() - started > 30:
                    break  # a slow cell (curio's spawn) is measured once
            good = [f for f in figures if f is not None]
            results[fw, row] = (max(good) if higher else min(good)) if good else None

    peers = [f for f in frameworks if f != "curionet"]
    header = ["row", "unit", "curionet"] + peers + [f"curionet/{p}" for p in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, title, unit, _ in ROWS:
        ours = results.get(("curionet", row))
        cells = [title, unit, _fmt(ours)]
        cells += [_fmt(results.get((p, row))) for p in peers]
        for p in peers:
            theirs = results.get((p, row))
            cells.append(f"{ours / theirs:.2f}x" if ours and theirs else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, best of {args.repeat}")
    print("\n".join(lines))
    return 0


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
