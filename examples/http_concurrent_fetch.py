"""Fetch many URLs concurrently: one task per URL in a ``TaskGroup``, a
``BoundedSemaphore`` capping how many requests are in flight, one
``ClientSession`` (and its connection pool) shared by all.

Each URL gets one line: its status and what came back, or ``failed`` and
why (a refused connection, a 404 ...).  A failure is caught in its own task,
so it does not cancel the others; the exit status is 1 if any URL failed.

Runs offline: it starts a small local HTTP server (stdlib ``http.server`` in
a thread, on 127.0.0.1) and fetches from it.  Pass URLs on the command line to
fetch those instead:  ``python examples/http_concurrent_fetch.py https://example.org/``.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import curionet
from curionet import BoundedSemaphore, ClientSession, HTTPError, TaskGroup


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the pool can reuse connections

    def do_GET(self):
        n = int(self.path.rsplit("/", 1)[-1] or 0)
        body = json.dumps({"item": n, "squared": n * n}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def fetch(session, limit, url):
    """One line about *url*: never raises for a request that went wrong."""
    async with limit:  # at most N requests in flight
        try:
            response = await session.get(url)
            response.raise_for_status()  # a 4xx or 5xx becomes HTTPStatusError
            if response.headers.get("content-type", "").startswith("application/json"):
                result = await response.json()
            else:
                result = len(response.content)
        except HTTPError as exc:  # refused, timed out, bad status, bad URL ...
            return False, f"failed {url}: {exc}"
        return True, f"{response.status_code} {url} {result}"


async def main(urls):
    limit = BoundedSemaphore(4)
    async with ClientSession(timeout=10) as session:
        async with TaskGroup() as group:
            tasks = [await group.spawn(fetch, session, limit, url) for url in urls]
        failed = 0
        for task in tasks:  # in the order the URLs were given
            ok, line = task.result
            failed += not ok
            print(line)
        pool = session.transport.pool
        print(f"{len(urls)} requests over {len(pool.connections)} kept-alive connections, {failed} failed")
    return failed


if __name__ == "__main__":
    urls = sys.argv[1:]
    server = None
    if not urls:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        urls = [f"http://127.0.0.1:{server.server_address[1]}/items/{n}" for n in range(12)]
    try:
        failures = curionet.run(main, urls)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    sys.exit(1 if failures else 0)
