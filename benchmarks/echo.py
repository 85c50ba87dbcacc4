"""Echo-server benchmark: curionet against curio 1.6, asyncio, uvloop, trio and
a blocking thread-per-connection server, all in one run.

Every server is the seed program for its framework (``recv(100000)`` then
``sendall``) running alone in its own process.  The load comes from a small C
program compiled at start-up with the system ``cc`` (epoll, one thread, so it
is never the bottleneck): each connection sends a message, waits until the
whole message has come back, and repeats.

Rows:

* 1 connection, 100-byte messages     -> round trips/s
* 100 connections, 100-byte messages  -> round trips/s
* 1 connection, 64 KiB messages       -> MB/s (echoed payload)

Each figure also appears per server CPU-second (user + system time of the
server process, from ``/proc/<pid>/stat``, over the measured window), which is
less sensitive to a busy machine than wall-clock throughput.  Each
(server, row) is measured ``--repeat`` times (servers interleaved) and the
median is shown with the spread (min..max): on a shared virtual machine the
one-connection rows swing several-fold with the other CPU's load (how fast a
sleeping thread is woken), so a best-of figure would measure luck.  The
server runs on one CPU and the load generator on another (``_pinning.py``),
so that no run has both on one CPU.

``--paired PEER`` measures the 100-connection row another way, for a
verdict that the machine's noise cannot swing: curionet and PEER serve at the
same time, both on the server CPU, each with its own load generator on the
other CPU, so any slowdown of the machine hits both alike; the figure is each
server's CPU time per round trip, and the ratio of the two per run.

Usage: python benchmarks/echo.py [--duration 2] [--repeat 3] [--only curionet,curio,...]
       python benchmarks/echo.py --paired uvloop-streams [--repeat 5]
Peers come from the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

from _pinning import LOAD_CPU, SERVER_CPU, describe, pinned_to

LOADGEN_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct { int fd; size_t sent, recvd; int want_out; } conn_t;
static size_t size;
static char *sbuf, *rbuf;
static long long rts;
static int ep;

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void set_out(conn_t *c, int idx, int on) {
    if (c->want_out == on) return;
    struct epoll_event ev; ev.events = EPOLLIN | (on ? EPOLLOUT : 0); ev.data.u32 = idx;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static void try_send(conn_t *c, int idx) {
    while (c->sent < size) {
        ssize_t w = send(c->fd, sbuf + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) { set_out(c, idx, 1); return; }
            perror("send"); exit(2);
        }
        c->sent += w;
    }
    set_out(c, idx, 0);
}

int main(int argc, char **argv) {
    if (argc != 7) { fprintf(stderr, "usage: host port conns size warmup duration\n"); return 1; }
    const char *host = argv[1]; int port = atoi(argv[2]); int n = atoi(argv[3]);
    size = (size_t)atol(argv[4]); double warm = atof(argv[5]), dur = atof(argv[6]);
    size_t rcap = size > 65536 ? size : 65536;
    sbuf = malloc(size); rbuf = malloc(rcap); memset(sbuf, 'x', size);
    ep = epoll_create1(0);
    conn_t *cs = calloc(n, sizeof(conn_t));
    struct sockaddr_in sa; memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET; sa.sin_port = htons(port); inet_pton(AF_INET, host, &sa.sin_addr);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 2; }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event ev; ev.events = EPOLLIN; ev.data.u32 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    for (int i = 0; i < n; i++) try_send(&cs[i], i);
    struct epoll_event evs[1024];
    double t_start = now() + warm, t_end = t_start + dur, t0 = 0;
    int measuring = 0;
    for (;;) {
        double t = now();
        if (!measuring && t >= t_start) {
            measuring = 1; rts = 0; t0 = t; printf("START\n"); fflush(stdout);
        }
        if (measuring && t >= t_end) break;
        int k = epoll_wait(ep, evs, 1024, 50);
        for (int e = 0; e < k; e++) {
            int idx = evs[e].data.u32; conn_t *c = &cs[idx];
            if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                for (;;) {
                    ssize_t r = recv(c->fd, rbuf, rcap, 0);
                    if (r > 0) {
                        c->recvd += r;
                        if (c->recvd >= size && c->sent >= size) {
                            rts++; c->recvd -= size; c->sent = 0; try_send(c, idx);
                        }
                        continue;
                    }
                    if (r == 0) { fprintf(stderr, "server closed\n"); return 3; }
                    if (errno == EAGAIN || errno == EINTR) break;
                    perror("recv"); return 3;
                }
            }
            if (evs[e].events & EPOLLOUT) try_send(c, idx);
        }
    }
    double elapsed = now() - t0;
    printf("%lld %.6f\n", rts, elapsed); fflush(stdout);
    for (int i = 0; i < n; i++) close(cs[i].fd);
    return 0;
}
"""

# Each server prints its port on stdout once it listens.  argv[1] is unused.
SERVERS = {
    "curionet": """
        from curionet import run, tcp_server_socket, run_server
        async def echo_client(client, addr):
            async with client:
                while True:
                    data = await client.recv(100000)
                    if not data:
                        break
                    await client.sendall(data)
        sock = tcp_server_socket('127.0.0.1', 0)
        print(sock.getsockname()[1], flush=True)
        run(run_server, sock, echo_client)
    """,
    "curio": """
        from curio import run
        from curio.network import tcp_server_socket, run_server
        async def echo_client(client, addr):
            async with client:
                while True:
                    data = await client.recv(100000)
                    if not data:
                        break
                    await client.sendall(data)
        sock = tcp_server_socket('127.0.0.1', 0)
        print(sock.getsockname()[1], flush=True)
        run(run_server, sock, echo_client)
    """,
    "asyncio-streams": """
        import asyncio
        async def echo_client(reader, writer):
            while True:
                data = await reader.read(100000)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()
        async def main():
            server = await asyncio.start_server(echo_client, '127.0.0.1', 0)
            print(server.sockets[0].getsockname()[1], flush=True)
            await server.serve_forever()
        asyncio.run(main())
    """,
    "asyncio-protocol": """
        import asyncio
        class Echo(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport
            def data_received(self, data):
                self.transport.write(data)
        async def main():
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Echo, '127.0.0.1', 0)
            print(server.sockets[0].getsockname()[1], flush=True)
            await server.serve_forever()
        asyncio.run(main())
    """,
    "trio": """
        import trio
        from functools import partial
        async def echo_client(stream):
            try:
                while True:
                    data = await stream.receive_some(100000)
                    if not data:
                        break
                    await stream.send_all(data)
            except trio.BrokenResourceError:  # a reset must not take the server down
                pass
        async def main():
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(partial(trio.serve_tcp, echo_client, 0, host="127.0.0.1"))
                print(listeners[0].socket.getsockname()[1], flush=True)
        trio.run(main)
    """,
    "threads": """
        import socket, threading
        def echo_client(client):
            with client:
                while True:
                    data = client.recv(100000)
                    if not data:
                        break
                    client.sendall(data)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', 0))
        sock.listen(1000)
        print(sock.getsockname()[1], flush=True)
        while True:
            client, addr = sock.accept()
            threading.Thread(target=echo_client, args=(client,), daemon=True).start()
    """,
}
SERVERS["uvloop-streams"] = "import uvloop; uvloop.install()\n" + textwrap.dedent(SERVERS["asyncio-streams"])
SERVERS["uvloop-protocol"] = "import uvloop; uvloop.install()\n" + textwrap.dedent(SERVERS["asyncio-protocol"])

ORDER = ["curionet", "curio", "asyncio-streams", "asyncio-protocol", "uvloop-streams", "uvloop-protocol", "trio",
         "threads"]  # fmt: skip
ROWS = [
    ("1 conn, 100 B", 1, 100),
    ("100 conns, 100 B", 100, 100),
    ("1 conn, 64 KiB", 1, 65536),
]
RATIO_PEERS = ["curio", "uvloop-streams", "threads"]


def build_loadgen(workdir: str) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("a C compiler (cc) is needed to build the load generator")
    src = os.path.join(workdir, "echoload.c")
    exe = os.path.join(workdir, "echoload")
    with open(src, "w") as f:
        f.write(LOADGEN_C)
    subprocess.run([cc, "-O2", "-o", exe, src], check=True)
    return exe


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(name: str) -> tuple[subprocess.Popen, int]:
    code = textwrap.dedent(SERVERS[name])
    # Peers log every connection reset by the load generator at exit: keep stderr quiet.
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=pinned_to(SERVER_CPU))  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"{name} server failed to start")
    return proc, int(line)


def measure(loadgen: str, proc: subprocess.Popen, port: int, conns: int, size: int, warmup: float,
            duration: float) -> tuple[float, float]:  # fmt: skip
    """Return (round trips per second, round trips per server CPU-second)."""
    lg = subprocess.Popen([loadgen, "127.0.0.1", str(port), str(conns), str(size), str(warmup), str(duration)],
                          stdout=subprocess.PIPE, text=True, preexec_fn=pinned_to(LOAD_CPU))  # fmt: skip
    assert lg.stdout is not None
    if lg.stdout.readline().strip() != "START":
        lg.kill()
        raise RuntimeError("load generator failed")
    cpu0 = cpu_seconds(proc.pid)
    result = lg.stdout.readline()
    cpu1 = cpu_seconds(proc.pid)
    lg.wait()
    rts, elapsed = result.split()
    n, secs = int(rts), float(elapsed)
    cpu = max(cpu1 - cpu0, 1e-9)
    return n / secs, n / cpu


def paired(loadgen: str, peer: str, repeat: int, warmup: float, duration: float) -> None:
    """curionet and *peer* at once on the server CPU, 100 connections each
    (see the module docstring); print server CPU-us per round trip."""
    ratios: list[float] = []
    cost: dict[str, list[float]] = {"curionet": [], peer: []}
    for rep in range(repeat):
        order = ["curionet", peer] if rep % 2 == 0 else [peer, "curionet"]  # neither always starts first
        servers = {name: start_server(name) for name in order}
        try:
            loads = {name: subprocess.Popen([loadgen, "127.0.0.1", str(port), "100", "100", str(warmup),
                                             str(duration)], stdout=subprocess.PIPE, text=True,
                                            preexec_fn=pinned_to(LOAD_CPU))
                     for name, (_, port) in servers.items()}  # fmt: skip
            for lg in loads.values():
                assert lg.stdout is not None and lg.stdout.readline().strip() == "START"
            cpu0 = {name: cpu_seconds(proc.pid) for name, (proc, _) in servers.items()}
            lines = {name: lg.stdout.readline() for name, lg in loads.items()}  # type: ignore[union-attr]
            cpu1 = {name: cpu_seconds(proc.pid) for name, (proc, _) in servers.items()}
            for lg in loads.values():
                lg.wait()
        finally:
            for proc, _ in servers.values():
                proc.kill()
                proc.wait()
        us = {name: (cpu1[name] - cpu0[name]) / int(lines[name].split()[0]) * 1e6 for name in order}
        for name in order:
            cost[name].append(us[name])
        ratios.append(us[peer] / us["curionet"])
        print(f"  run {rep + 1}/{repeat}: curionet {us['curionet']:.2f} us, {peer} {us[peer]:.2f} us per round trip",
              file=sys.stderr, flush=True)  # fmt: skip
    print(f"paired echo, 100 conns, 100 B: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, both servers on "
          f"CPU {SERVER_CPU}, loads on CPU {LOAD_CPU}; {repeat} runs of {duration:g} s")  # fmt: skip
    print()
    print("| server | server CPU-us per round trip (median) | spread |")
    print("|---|---:|---:|")
    for name in ("curionet", peer):
        print(f"| {name} | {statistics.median(cost[name]):.2f} | {min(cost[name]):.2f}..{max(cost[name]):.2f} |")
    print()
    print(f"curionet / {peer} (its CPU per round trip over curionet's, run by run): median "
          f"{statistics.median(ratios):.3f}x, spread {min(ratios):.3f}..{max(ratios):.3f}x")  # fmt: skip


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=5, help="runs per (server, row); the median is shown")
    ap.add_argument("--only", help="comma-separated servers (default: all)")
    ap.add_argument("--paired", metavar="PEER", choices=ORDER[1:],
                    help="the 100-connection row with curionet and PEER serving at once (see above)")  # fmt: skip
    args = ap.parse_args()
    names = [n for n in ORDER if not args.only or n in args.only.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        loadgen = build_loadgen(tmp)
        if args.paired:
            paired(loadgen, args.paired, args.repeat, args.warmup, args.duration)
            return
        # results[row][name] = list of (rt/s, rt per cpu-s)
        results: dict[str, dict[str, list[tuple[float, float]]]] = {r[0]: {} for r in ROWS}
        for rep in range(args.repeat):
            # Interleave servers across repetitions so background noise hits all alike.
            for name in names:
                proc, port = start_server(name)
                try:
                    for label, conns, size in ROWS:
                        r = measure(loadgen, proc, port, conns, size, args.warmup, args.duration)
                        results[label].setdefault(name, []).append(r)
                finally:
                    proc.kill()
                    proc.wait()
                print(f"  run {rep + 1}/{args.repeat}: {name} done", file=sys.stderr, flush=True)
    report(results, names)


def report(results: dict[str, dict[str, list[tuple[float, float]]]], names: list[str]) -> None:
    runs_n = len(next(iter(results.values()))[names[0]])
    print(f"echo benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {describe()}; "
          f"median of {runs_n} runs (min..max)")  # fmt: skip
    print()
    for label, _conns, size in ROWS:
        unit = "MB/s" if size > 1000 else "round trips/s"
        per_cpu = "MB/CPU-s" if size > 1000 else "rt/CPU-s"
        scale = size / 1e6 if size > 1000 else 1.0
        med_tp = {n: statistics.median(r[0] for r in results[label][n]) for n in names}
        med_pc = {n: statistics.median(r[1] for r in results[label][n]) for n in names}
        print(f"### {label}")
        print()
        print(f"| server | {unit} (median) | spread | {per_cpu} (median) | spread |")
        print("|---|---:|---:|---:|---:|")
        for name in names:
            runs = results[label][name]
            tp = [r[0] * scale for r in runs]
            pc = [r[1] * scale for r in runs]
            print(f"| {name} | {fmt(med_tp[name] * scale)} | {fmt(min(tp))}..{fmt(max(tp))} | "
                  f"{fmt(med_pc[name] * scale)} | {fmt(min(pc))}..{fmt(max(pc))} |")  # fmt: skip
        if "curionet" in names:
            parts = []
            for peer in RATIO_PEERS:
                if peer in names:
                    parts.append(f"{peer} {med_tp['curionet'] / med_tp[peer]:.2f}x "
                                 f"(per CPU {med_pc['curionet'] / med_pc[peer]:.2f}x)")  # fmt: skip
            print()
            print("curionet / " + "; ".join(parts))
        print()


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"(took {time.perf_counter() - t:.0f} s)", file=sys.stderr)
