"""WebSocket echo benchmark: curionet against websockets (asyncio and uvloop)
and trio-websocket.

For every library, message size (100-byte text, 64 KiB binary), connection
count (1, 100) and compression setting (off, permessage-deflate on), an echo
server and a client of the same library run in two separate processes.  Each
client connection sends a message and waits for its echo, in a loop, for a
fixed time after a warm-up.  Reported per row:

* echo messages/s (round trips completed per wall-clock second), and
* messages per server CPU-second: round trips divided by the CPU time
  (user + system, read from /proc) the *server* process used during the
  measured window.  This is the figure that does not depend on how fast the
  client library is, nor on what else the machine is running.

trio-websocket has no permessage-deflate support: its compression rows are
"n/a".  The payloads are compressible but not trivial (JSON-like text).

Usage: python benchmarks/websocket.py [--duration S] [--repeat N]
       [--only curionet,websockets,websockets-uvloop,trio-websocket] [--quick]
Peers come from the ``bench`` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _pinning import LOAD_CPU, SERVER_CPU, describe, pinned_to

LIBS = ["curionet", "websockets", "websockets-uvloop", "trio-websocket"]
SIZES = [100, 65536]
CONNS = [1, 100]
COMPRESSION = [False, True]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def payload(size: int) -> str | bytes:
    """A compressible, non-trivial message: text for small, binary for large."""
    words: list[str] = []
    i = 0
    while sum(len(w) + 1 for w in words) < size:
        words.append(f'{{"id":{i * 7919 % 10007},"user":"u{i % 97}","msg":"hello {i % 13}"}}')
        i += 1
    text = " ".join(words)[:size]
    return text if size <= 1024 else text.encode()


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


def serve_curionet(port: int, compression: bool) -> None:
    import curionet
    from curionet.protocols.websocket import WebSocketServer

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with WebSocketServer("127.0.0.1", port, echo, compression=compression, ping_interval=None,
                                   max_message_size=1 << 20) as server:  # fmt: skip
            print("READY", server.port, flush=True)
            await server.serve_forever()

    curionet.run(main)


def serve_websockets(port: int, compression: bool, uvloop: bool) -> None:
    import asyncio

    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        async with serve(echo, "127.0.0.1", port, compression="deflate" if compression else None,
                         ping_interval=None, max_size=1 << 20) as server:  # fmt: skip
            print("READY", list(server.sockets)[0].getsockname()[1], flush=True)
            await asyncio.Future()

    if uvloop:
        import uvloop as uv

        uv.run(main())
    else:
        asyncio.run(main())


def serve_trio(port: int, compression: bool) -> None:
    import trio
    from trio_websocket import ConnectionClosed, serve_websocket

    async def echo(request):
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    async def main():
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, echo, "127.0.0.1", port, None)
            print("READY", server.port, flush=True)

    trio.run(main)


# ---------------------------------------------------------------------------
# Clients: print START when warmed up, then DONE <round trips> <seconds>
# ---------------------------------------------------------------------------


def _report(state: dict) -> None:
    print("DONE", state["count"], state["elapsed"], flush=True)


def client_curionet(port: int, size: int, conns: int, duration: float, warmup: float, compression: bool) -> None:
    import curionet
    from curionet.protocols.websocket import websocket_connect

    msg = payload(size)
    state = {"count": 0, "measuring": False, "stop": False, "elapsed": 0.0}

    async def one():
        async with websocket_connect(f"ws://127.0.0.1:{port}/", compression=compression, ping_interval=None,
                                     max_message_size=1 << 20) as ws:  # fmt: skip
            while not state["stop"]:
                await ws.send(msg)
                await ws.receive()
                if state["measuring"]:
                    state["count"] += 1

    async def main():
        async with curionet.TaskGroup() as g:
            for _ in range(conns):
                await g.spawn(one)
            await curionet.sleep(warmup)
            print("START", flush=True)
            t0 = time.perf_counter()
            state["measuring"] = True
            await curionet.sleep(duration)
            state["measuring"] = False
            state["elapsed"] = time.perf_counter() - t0
            _report(state)
            state["stop"] = True

    curionet.run(main)


def client_websockets(port: int, size: int, conns: int, duration: float, warmup: float, compression: bool,
                      uvloop: bool) -> None:  # fmt: skip
    import asyncio

    from websockets.asyncio.client import connect

    msg = payload(size)
    state = {"count": 0, "measuring": False, "stop": False, "elapsed": 0.0}

    async def one():
        async with connect(f"ws://127.0.0.1:{port}/", compression="deflate" if compression else None,
                           ping_interval=None, max_size=1 << 20) as ws:  # fmt: skip
            while not state["stop"]:
                await ws.send(msg)
                await ws.recv()
                if state["measuring"]:
                    state["count"] += 1

    async def main():
        tasks = [asyncio.create_task(one()) for _ in range(conns)]
        await asyncio.sleep(warmup)
        print("START", flush=True)
        t0 = time.perf_counter()
        state["measuring"] = True
        await asyncio.sleep(duration)
        state["measuring"] = False
        state["elapsed"] = time.perf_counter() - t0
        _report(state)
        state["stop"] = True
        await asyncio.gather(*tasks)

    if uvloop:
        import uvloop as uv

        uv.run(main())
    else:
        asyncio.run(main())


def client_trio(port: int, size: int, conns: int, duration: float, warmup: float, compression: bool) -> None:
    import trio
    from trio_websocket import open_websocket_url

    msg = payload(size)
    state = {"count": 0, "measuring": False, "stop": False, "elapsed": 0.0}

    async def one():
        async with open_websocket_url(f"ws://127.0.0.1:{port}/") as ws:
            while not state["stop"]:
                await ws.send_message(msg)
                await ws.get_message()
                if state["measuring"]:
                    state["count"] += 1

    async def main():
        async with trio.open_nursery() as nursery:
            for _ in range(conns):
                nursery.start_soon(one)
            await trio.sleep(warmup)
            print("START", flush=True)
            t0 = time.perf_counter()
            state["measuring"] = True
            await trio.sleep(duration)
            state["measuring"] = False
            state["elapsed"] = time.perf_counter() - t0
            _report(state)
            state["stop"] = True

    trio.run(main)


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def run_row(lib: str, size: int, conns: int, compression: bool, duration: float, warmup: float) -> tuple[float, float]:
    me = os.path.abspath(__file__)
    server = subprocess.Popen([sys.executable, me, "_server", lib, "0", str(int(compression))],
                              stdout=subprocess.PIPE, text=True, preexec_fn=pinned_to(SERVER_CPU))  # fmt: skip
    try:
        line = server.stdout.readline().split()  # type: ignore[union-attr]
        if not line or line[0] != "READY":
            raise RuntimeError(f"{lib} server did not start")
        port = line[1]
        client = subprocess.Popen(
            [sys.executable, me, "_client", lib, port, str(size), str(conns), str(duration), str(warmup),
             str(int(compression))],
            stdout=subprocess.PIPE, text=True, preexec_fn=pinned_to(LOAD_CPU),
        )  # fmt: skip
        try:
            assert client.stdout is not None
            line = client.stdout.readline().split()
            if not line or line[0] != "START":
                raise RuntimeError(f"{lib} client did not start")
            cpu0 = cpu_seconds(server.pid)
            line = client.stdout.readline().split()
            cpu1 = cpu_seconds(server.pid)
            if not line or line[0] != "DONE":
                raise RuntimeError(f"{lib} client failed")
            count, elapsed = int(line[1]), float(line[2])
            client.wait(timeout=60)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    finally:
        server.terminate()
        server.wait()
    return count / elapsed, count / max(cpu1 - cpu0, 1.0 / CLK_TCK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; the median is shown with the range")
    parser.add_argument("--only", default=",".join(LIBS))
    parser.add_argument("--quick", action="store_true", help="1 s rows, 100-byte messages only")
    args = parser.parse_args()
    libs = args.only.split(",")
    sizes = [100] if args.quick else SIZES
    duration = 1.0 if args.quick else args.duration
    results: dict[tuple, tuple[list[float], list[float]]] = {}
    print(f"# {os.cpu_count()} CPUs, {describe()}, {duration:g} s per row after {args.warmup:g} s warm-up, "
          f"{args.repeat} run(s)")  # fmt: skip
    for compression in COMPRESSION:
        for size in sizes:
            for conns in CONNS:
                for lib in libs:
                    key = (lib, size, conns, compression)
                    if lib == "trio-websocket" and compression:
                        continue
                    rates, per_cpu = [], []
                    for _ in range(args.repeat):
                        r, c = run_row(lib, size, conns, compression, duration, args.warmup)
                        rates.append(r)
                        per_cpu.append(c)
                    results[key] = (rates, per_cpu)
                    print(f"  {lib:18} {size:6} B {conns:4} conn {'deflate' if compression else 'plain':7}"
                          f"  {statistics.median(rates):10.0f} msg/s  {statistics.median(per_cpu):10.0f} msg/CPU-s",
                          file=sys.stderr, flush=True)  # fmt: skip
    print_table(results, libs, sizes)


def _fmt(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.0f}"
    return f"{med:,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def print_table(results: dict, libs: list[str], sizes: list[int]) -> None:
    peers = [lib for lib in libs if lib != "curionet"]
    head = ["row", *[f"{lib} msg/s" for lib in libs], *[f"{lib} msg/CPU-s" for lib in libs],
            *[f"CPU ratio vs {p}" for p in peers]]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for compression in COMPRESSION:
        for size in sizes:
            for conns in CONNS:
                kind = "64 KiB" if size == 65536 else f"{size} B"
                label = f"{kind}, {conns} conn, {'deflate' if compression else 'plain'}"
                cells = [label]
                for idx in (0, 1):
                    for lib in libs:
                        r = results.get((lib, size, conns, compression))
                        cells.append(_fmt(r[idx]) if r else "n/a")
                ours = results.get(("curionet", size, conns, compression))
                for p in peers:
                    theirs = results.get((p, size, conns, compression))
                    if ours and theirs:
                        cells.append(f"{statistics.median(ours[1]) / statistics.median(theirs[1]):.2f}x")
                    else:
                        cells.append("n/a")
                print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_server":
        lib, port, comp = sys.argv[2], int(sys.argv[3]), bool(int(sys.argv[4]))
        if lib == "curionet":
            serve_curionet(port, comp)
        elif lib == "websockets":
            serve_websockets(port, comp, False)
        elif lib == "websockets-uvloop":
            serve_websockets(port, comp, True)
        else:
            serve_trio(port, comp)
    elif len(sys.argv) > 1 and sys.argv[1] == "_client":
        lib = sys.argv[2]
        port, size, conns = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        duration, warmup, comp = float(sys.argv[6]), float(sys.argv[7]), bool(int(sys.argv[8]))
        if lib == "curionet":
            client_curionet(port, size, conns, duration, warmup, comp)
        elif lib in ("websockets", "websockets-uvloop"):
            client_websockets(port, size, conns, duration, warmup, comp, lib.endswith("uvloop"))
        else:
            client_trio(port, size, conns, duration, warmup, comp)
    else:
        main()
