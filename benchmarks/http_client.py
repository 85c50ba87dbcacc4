"""HTTP client benchmark: curionet's ClientSession against httpx and aiohttp,
all fetching from the same local nginx.

The script installs nginx if it is missing (``apt-get install -y
nginx-light``), writes its configuration and files to a temporary directory,
starts it on 127.0.0.1 only, and stops it at the end.  Rows:

* ``1 KB GET, sequential``: requests/s, one task, one keep-alive connection;
* ``1 KB GET, 10 tasks``: requests/s, 10 concurrent tasks sharing a session
  (pool of 10 connections);
* ``10 MB download``: MB/s reading a 10 MB body into memory.

Each figure is also reported per CPU-second of the client process: on a
shared machine wall-clock rates swing with other load, CPU cost much less.

nginx serves files with ``sendfile off`` and 1 MB output buffers.  With
``sendfile on`` (``--sendfile``) nginx itself was the ceiling on the
download row on the 2-core VM this was tuned on: a bare Python ``recv_into``
loop got no more than the libraries (~1,100 MB/s), while with buffered
writes the same bare loop reached ~2,000 MB/s, so the row measures clients,
not the server.  The 1 KB rows are not affected.

Every (library, row) measurement runs in a fresh process, ``--repeat`` times,
interleaved across libraries so that background load hits all of them alike;
the table shows the median and the min-max spread.  httpx and aiohttp run on
the stock asyncio event loop.  Each library reads the whole body (``get``),
with its default settings otherwise.

Usage: python benchmarks/http_client.py [--repeat N] [--requests N] [--quick]
       [--only curionet,httpx,aiohttp] [--rows seq,conc,download] [--sendfile]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from _pinning import LOAD_CPU, SERVER_CPU, describe, pinned_to

LIBS = ["curionet", "httpx", "aiohttp"]
ROWS = ["seq", "conc", "download"]
ROW_TITLES = {
    "seq": "1 KB GET, sequential (req/s)",
    "conc": "1 KB GET, 10 tasks (req/s)",
    "download": "10 MB download (MB/s)",
}
SMALL = 1024
LARGE = 10 * 1024 * 1024
CONCURRENCY = 10

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process on;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {sendfile}
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {root}/tmp_body;
    proxy_temp_path {root}/tmp_proxy;
    fastcgi_temp_path {root}/tmp_fastcgi;
    uwsgi_temp_path {root}/tmp_uwsgi;
    scgi_temp_path {root}/tmp_scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
}}
"""


# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------


def ensure_nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if path:
        return path
    print("installing nginx-light with apt-get ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(path):
        raise SystemExit("nginx could not be installed")
    return path


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


BUFFERED = "sendfile off; output_buffers 2 1m;"
SENDFILE = "sendfile on; tcp_nopush on;"


class Nginx:
    def __init__(self, sendfile: bool = False) -> None:
        self.binary = ensure_nginx()
        self.root = tempfile.mkdtemp(prefix="curionet-bench-nginx-")
        os.chmod(self.root, 0o755)  # workers run as an unprivileged user
        www = os.path.join(self.root, "www")
        os.mkdir(www)
        os.chmod(www, 0o755)
        with open(os.path.join(www, "1kb.bin"), "wb") as f:
            f.write(os.urandom(SMALL))
        with open(os.path.join(www, "10mb.bin"), "wb") as f:
            f.write(os.urandom(LARGE))
        for name in ("1kb.bin", "10mb.bin"):
            os.chmod(os.path.join(www, name), 0o644)
        self.port = free_port()
        conf = os.path.join(self.root, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(root=self.root, port=self.port, sendfile=SENDFILE if sendfile else BUFFERED))
        self.proc = subprocess.Popen([self.binary, "-p", self.root, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=pinned_to(SERVER_CPU))  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise SystemExit(f"nginx did not start: {err}") from None
                time.sleep(0.05)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------
# Workers: one measurement per process, printed as a number
# ---------------------------------------------------------------------------




def _start() -> tuple[float, float]:
    return (time.perf_counter(), time.process_time())


def _rates(amount: float, t0: tuple[float, float]) -> tuple[float, float]:
    """(amount per wall-clock second, amount per CPU-second of this process)."""
    wall = time.perf_counter() - t0[0]
    cpu = time.process_time() - t0[1]
    return amount / wall, amount / cpu


def worker_curionet(row: str, url_small: str, url_large: str, n: int) -> tuple[float, float]:
    import curionet
    from curionet.protocols.http import ClientSession, Limits

    async def main() -> tuple[float, float]:
        limits = Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with ClientSession(limits=limits) as session:
            if row == "download":
                await session.get(url_large)
                t0 = _start()
                for _ in range(n):
                    r = await session.get(url_large)
                    assert len(r.content) == LARGE
                return _rates(n * LARGE / 1e6, t0)
            for _ in range(50):
                await session.get(url_small)
            if row == "seq":
                t0 = _start()
                for _ in range(n):
                    r = await session.get(url_small)
                    assert len(r.content) == SMALL
                return _rates(n, t0)

            async def task(k: int) -> None:
                for _ in range(k):
                    r = await session.get(url_small)
                    assert len(r.content) == SMALL

            t0 = _start()
            async with curionet.TaskGroup() as g:
                for _ in range(CONCURRENCY):
                    await g.spawn(task, n // CONCURRENCY)
            return _rates((n // CONCURRENCY) * CONCURRENCY, t0)

    return curionet.run(main)  # type: ignore[no-any-return]


def worker_httpx(row: str, url_small: str, url_large: str, n: int) -> tuple[float, float]:
    import asyncio

    import httpx

    async def main() -> tuple[float, float]:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits) as client:
            if row == "download":
                await client.get(url_large)
                t0 = _start()
                for _ in range(n):
                    r = await client.get(url_large)
                    assert len(r.content) == LARGE
                return _rates(n * LARGE / 1e6, t0)
            for _ in range(50):
                await client.get(url_small)
            if row == "seq":
                t0 = _start()
                for _ in range(n):
                    r = await client.get(url_small)
                    assert len(r.content) == SMALL
                return _rates(n, t0)

            async def task(k: int) -> None:
                for _ in range(k):
                    r = await client.get(url_small)
                    assert len(r.content) == SMALL

            t0 = _start()
            await asyncio.gather(*(task(n // CONCURRENCY) for _ in range(CONCURRENCY)))
            return _rates((n // CONCURRENCY) * CONCURRENCY, t0)

    return asyncio.run(main())


def worker_aiohttp(row: str, url_small: str, url_large: str, n: int) -> tuple[float, float]:
    import asyncio

    import aiohttp

    async def main() -> tuple[float, float]:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def get(url: str) -> bytes:
                async with session.get(url) as r:
                    return await r.read()

            if row == "download":
                await get(url_large)
                t0 = _start()
                for _ in range(n):
                    assert len(await get(url_large)) == LARGE
                return _rates(n * LARGE / 1e6, t0)
            for _ in range(50):
                await get(url_small)
            if row == "seq":
                t0 = _start()
                for _ in range(n):
                    assert len(await get(url_small)) == SMALL
                return _rates(n, t0)

            async def task(k: int) -> None:
                for _ in range(k):
                    assert len(await get(url_small)) == SMALL

            t0 = _start()
            await asyncio.gather(*(task(n // CONCURRENCY) for _ in range(CONCURRENCY)))
            return _rates((n // CONCURRENCY) * CONCURRENCY, t0)

    return asyncio.run(main())


WORKERS = {"curionet": worker_curionet, "httpx": worker_httpx, "aiohttp": worker_aiohttp}


def run_worker(lib: str, row: str, nginx: Nginx, n: int) -> tuple[float, float]:
    count = max(4, n // 100) if row == "download" else n
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", lib, row,
         nginx.url("1kb.bin"), nginx.url("10mb.bin"), str(count)],
        capture_output=True, text=True, timeout=600, preexec_fn=pinned_to(LOAD_CPU),
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{lib} {row} failed:\n{proc.stderr}")
    wall, cpu = proc.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def fmt(values: list[float]) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.0f}"
    return f"{med:,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="measurements per (library, row)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per 1 KB measurement")
    parser.add_argument("--quick", action="store_true", help="one short run of each")
    parser.add_argument("--only", default=",".join(LIBS), help="comma-separated libraries")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows: seq,conc,download")
    parser.add_argument("--sendfile", action="store_true", help="nginx with sendfile on (see above)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        lib, row, small, large, n = args.worker
        wall, cpu = WORKERS[lib](row, small, large, int(n))
        print(wall, cpu)
        return
    if args.quick:
        args.repeat, args.requests = 1, 500
    libs = [lib for lib in args.only.split(",") if lib]
    rows = [row for row in args.rows.split(",") if row]
    # A SIGTERM (timeout, CI) must still run the finally below that stops nginx.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    nginx = Nginx(sendfile=args.sendfile)
    results: dict[tuple[str, str], list[float]] = {(lib, row): [] for lib in libs for row in rows}
    cpu_results: dict[tuple[str, str], list[float]] = {(lib, row): [] for lib in libs for row in rows}
    try:
        for rep in range(args.repeat):
            for row in rows:
                for lib in libs:  # interleaved: background load hits every library alike
                    value, cpu = run_worker(lib, row, nginx, args.requests)
                    results[lib, row].append(value)
                    cpu_results[lib, row].append(cpu)
                    print(f"  run {rep + 1}/{args.repeat} {row:8} {lib:9} {value:10,.1f} (per CPU-s {cpu:10,.1f})",
                          file=sys.stderr)  # fmt: skip
    finally:
        nginx.stop()
    sendfile = "on" if args.sendfile else "off"
    print(f"\nnginx on 127.0.0.1 (sendfile {sendfile}; {describe()}); median of {args.repeat} runs (min-max); "
          f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}\n")  # fmt: skip
    print_table(results, libs, rows, "per wall-clock second")
    print("\nThe same runs, per CPU-second of the client process (less sensitive to other load):\n")
    print_table(cpu_results, libs, rows, "per client CPU-second")


def print_table(results: dict[tuple[str, str], list[float]], libs: list[str], rows: list[str], unit: str) -> None:
    header = f"| row ({unit}) | " + " | ".join(libs) + " |"
    ratios = [lib for lib in libs if lib != "curionet"] if "curionet" in libs else []
    header += "".join(f" curionet / {lib} |" for lib in ratios)
    print(header)
    print("|---" * (1 + len(libs) + len(ratios)) + "|")
    for row in rows:
        cells = [fmt(results[lib, row]) for lib in libs]
        ratio_cells = [
            f"{statistics.median(results['curionet', row]) / statistics.median(results[lib, row]):.2f}x"
            for lib in ratios
        ]
        print(f"| {ROW_TITLES[row]} | " + " | ".join(cells) + " |" + "".join(f" {c} |" for c in ratio_cells))


if __name__ == "__main__":
    main()
