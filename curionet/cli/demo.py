"""``python -m curionet demo``: a short tour of the kernel.

Spawns workers in a task group that pull jobs from a queue, applies a timeout
and prints what happened, so a fresh install can be seen working.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import Queue, TaskGroup, clock, ignore_after, run, sleep
from ._usage import UsageError


async def _worker(name: str, jobs: Queue, out: list[str]) -> None:
    while True:
        n = await jobs.get()
        if n is None:
            await jobs.task_done()
            return
        await sleep(0.01 * n)
        out.append(f"{name} finished job {n}")
        await jobs.task_done()


async def _demo(workers: int, jobs_count: int) -> int:
    start = await clock()
    jobs: Queue = Queue()
    out: list[str] = []
    async with TaskGroup() as group:
        for i in range(workers):
            await group.spawn(_worker, f"worker-{i}", jobs, out)
        for n in range(1, jobs_count + 1):
            await jobs.put(n)
        for _ in range(workers):
            await jobs.put(None)
        await jobs.join()
    for line in out:
        print(line)
    async with ignore_after(0.05) as block:
        await sleep(10)
    print(f"a 10 s sleep under ignore_after(0.05) expired: {block.expired}")
    print(f"{jobs_count} jobs on {workers} workers in {await clock() - start:.3f} s")
    return 0


def _main(args: Any) -> int:
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    if args.jobs < 0:
        raise UsageError(f"--jobs must be at least 0, not {args.jobs}")
    return int(run(_demo, args.workers, args.jobs))


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("demo", help="run a short demonstration of the kernel")
    parser.add_argument("--workers", type=int, default=3, help="tasks pulling jobs from the queue (default 3)")
    parser.add_argument("--jobs", type=int, default=6, help="jobs to run (default 6)")
    parser.set_defaults(func=_main)
