"""Run the Autobahn WebSocket conformance cases against curionet's server.

Starts a curionet WebSocket echo server (compression on, messages up to
32 MiB so the 9.x cases fit) in a subprocess on 127.0.0.1, drives the
Autobahn case files against it with ``kosoku`` (``pip install -e
'.[conformance]'``), and prints a table per section: cases, passed (OK,
NON-STRICT and INFORMATIONAL count as a pass, as Autobahn defines), failed
with the case ids and reasons, and the time the section took.  Exits 1 if
any case failed.

Usage::

    python benchmarks/autobahn.py                 # sections 1-13
    python benchmarks/autobahn.py 1 2 9           # only these sections
    python benchmarks/autobahn.py --cases 12.1.*  # any case globs
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

# Autobahn has no sections 8 and 11.
SECTIONS = ["1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"]

_SERVER = """
import sys
import curionet
from curionet.protocols.websocket import websocket_server

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def main():
    await websocket_server("127.0.0.1", int(sys.argv[1]), echo, compression=True,
                           max_message_size=32 * 1024 * 1024, ping_interval=None)

curionet.run(main)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start listening")


async def _run(url: str, cases: list[str], concurrency: int) -> list[Any]:
    from kosoku import FailureError, run_fuzzingclient

    try:
        return list(await run_fuzzingclient(url, cases=cases, concurrency=concurrency))
    except FailureError as e:
        return list(e.results)


def _reason(r: Any) -> str:
    parts = [f"{r.behavior.value}/{r.behavior_close.value}"]
    if r.behavior.value not in ("OK", "NON-STRICT", "INFORMATIONAL"):
        parts.append(r.result)
    if r.behavior_close.value not in ("OK", "INFORMATIONAL"):
        parts.append(r.result_close)
        if r.remote_close_code is not None:
            parts.append(f"server close code {r.remote_close_code}")
    return "; ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help="sections to run (default: all of 1-13)")
    parser.add_argument("--cases", nargs="*", default=None, help="case ids/globs instead of sections")
    parser.add_argument("-p", "--concurrency", type=int, default=1, help="cases run in parallel (default 1)")
    args = parser.parse_args()
    if args.cases:
        groups = [(" ".join(args.cases), list(args.cases))]
    else:
        groups = [(s, [f"{s}.*"]) for s in (args.sections or SECTIONS)]

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)])
    failed_total = 0
    rows = []
    try:
        _wait_listening(port, proc)
        url = f"ws://127.0.0.1:{port}"
        for name, cases in groups:
            t0 = time.monotonic()
            results = asyncio.run(_run(url, cases, args.concurrency))
            took = time.monotonic() - t0
            bad = [r for r in results if not r.passed]
            failed_total += len(bad)
            rows.append((name, len(results), len(results) - len(bad), len(bad), took))
            print(f"section {name}: {len(results)} cases, {len(results) - len(bad)} passed, "
                  f"{len(bad)} failed, {took:.1f} s", flush=True)  # fmt: skip
            if results:
                slowest = max(results, key=lambda r: r.duration)
                print(f"  slowest case {slowest.case_id}: {slowest.duration / 1000:.1f} s", flush=True)
            for r in bad:
                print(f"  FAIL {r.case_id}: {_reason(r)}", flush=True)
            if proc.poll() is not None:
                print(f"server exited with {proc.returncode}", flush=True)
                return 1
    finally:
        proc.terminate()
        proc.wait()
    print()
    print(f"{'section':>8} {'cases':>6} {'passed':>7} {'failed':>7} {'time (s)':>9}")
    for name, n, ok, bad_n, took in rows:
        print(f"{name:>8} {n:>6} {ok:>7} {bad_n:>7} {took:>9.1f}")
    total = sum(r[1] for r in rows)
    print(f"{'total':>8} {total:>6} {total - failed_total:>7} {failed_total:>7} {sum(r[4] for r in rows):>9.1f}")
    return 1 if failed_total else 0


if __name__ == "__main__":
    sys.exit(main())
