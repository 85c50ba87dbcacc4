"""Multi-core echo benchmark: ``python -m curionet echo`` with 1 worker
against 2 workers (``curionet.serve``), 100 connections of 100-byte
messages, in one run.

The load comes from echo.py's C load generator (epoll, one thread).  On a
2-core machine it competes with the workers for the CPUs, so its own CPU
use is shown too: the share of a core it takes is CPU that two workers
cannot have, and the ratio is bounded by what it leaves.  Each setting is
measured ``--repeat`` times (interleaved) and the median shown with the
spread; "server CPU-s/s" is the workers' user + system time per second.

Usage: python benchmarks/multicore.py [--duration 2] [--repeat 5] [--conns 100]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo import build_loadgen, cpu_seconds, fmt  # noqa: E402


def children(pid: int) -> list[int]:
    out: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out.extend(int(p) for p in f.read().split())
    return out


def start_server(workers: int) -> tuple[subprocess.Popen, int, list[int]]:
    proc = subprocess.Popen([sys.executable, "-m", "curionet", "echo", "--port", "0", "--workers", str(workers),
                             "--grace", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    m = re.search(r"listening on [^:]+:(\d+)", proc.stdout.readline())
    if not m:
        proc.kill()
        proc.wait()
        raise RuntimeError("echo server failed to start")
    return proc, int(m.group(1)), children(proc.pid)


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def measure(loadgen: str, pids: list[int], port: int, conns: int, size: int, warmup: float,
            duration: float) -> tuple[float, float, float]:  # fmt: skip
    """Return (round trips/s, workers' CPU-s per s, load generator's CPU-s per s)."""
    lg = subprocess.Popen([loadgen, "127.0.0.1", str(port), str(conns), str(size), str(warmup), str(duration)],
                          stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert lg.stdout is not None
    if lg.stdout.readline().strip() != "START":
        lg.kill()
        lg.wait()
        raise RuntimeError("load generator failed")
    server0 = sum(cpu_seconds(p) for p in pids)
    lg0 = cpu_seconds(lg.pid)
    result = lg.stdout.readline()
    server1 = sum(cpu_seconds(p) for p in pids)
    lg1 = cpu_seconds(lg.pid)  # readable until reaped
    lg.wait()
    lg.stdout.close()
    rts, elapsed = result.split()
    secs = float(elapsed)
    return int(rts) / secs, (server1 - server0) / secs, (lg1 - lg0) / secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=5, help="runs per setting; the median is shown")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--size", type=int, default=100, help="message size in bytes")
    args = ap.parse_args()
    settings = [1, 2]
    results: dict[int, list[tuple[float, float, float]]] = {w: [] for w in settings}
    with tempfile.TemporaryDirectory() as tmp:
        loadgen = build_loadgen(tmp)
        for rep in range(args.repeat):
            for workers in settings:  # interleaved, so background noise hits both alike
                proc, port, pids = start_server(workers)
                try:
                    results[workers].append(measure(loadgen, pids, port, args.conns, args.size, args.warmup,
                                                    args.duration))  # fmt: skip
                finally:
                    stop_server(proc)
            print(f"  run {rep + 1}/{args.repeat} done", file=sys.stderr, flush=True)
    print(f"multi-core echo: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.conns} connections, "
          f"{args.size} B messages; median of {args.repeat} runs (min..max)")  # fmt: skip
    print()
    print("| workers | round trips/s | spread | server CPU-s/s | load generator CPU-s/s |")
    print("|---:|---:|---:|---:|---:|")
    med: dict[int, float] = {}
    for workers in settings:
        runs = results[workers]
        tp = [r[0] for r in runs]
        med[workers] = statistics.median(tp)
        server_cpu = statistics.median(r[1] for r in runs)
        loadgen_cpu = statistics.median(r[2] for r in runs)
        print(f"| {workers} | {fmt(med[workers])} | {fmt(min(tp))}..{fmt(max(tp))} | {server_cpu:.2f} | "
              f"{loadgen_cpu:.2f} |")  # fmt: skip
    print()
    print(f"2 workers / 1 worker: {med[2] / med[1]:.2f}x")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"(took {time.perf_counter() - t:.0f} s)", file=sys.stderr)
