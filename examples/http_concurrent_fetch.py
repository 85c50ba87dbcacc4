"""Fetch many URLs concurrently: one task per URL with ``spawn``, results
collected with ``join``, a ``BoundedSemaphore`` capping how many requests are
in flight, one ``ClientSession`` (and its connection pool) shared by all.

Runs offline: it starts a small local HTTP server (stdlib ``http.server`` in
a thread, on 127.0.0.1) and fetches from it.  Pass URLs on the command line to
fetch those instead:  ``python examples/http_concurrent_fetch.py https://example.org/``.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import curionet
from curionet import BoundedSemaphore, ClientSession, spawn


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
    async with limit:  # at most N requests in flight
        response = await session.get(url)
        response.raise_for_status()
        if response.headers.get("content-type", "").startswith("application/json"):
            return url, response.status_code, await response.json()
        return url, response.status_code, len(response.content)


async def main(urls):
    limit = BoundedSemaphore(4)
    async with ClientSession(timeout=10) as session:
        tasks = [await spawn(fetch, session, limit, url) for url in urls]
        for task in tasks:
            url, status, result = await task.join()
            print(status, url, result)
        pool = session.transport.pool
        print(f"{len(urls)} requests over {len(pool.connections)} kept-alive connections")


if __name__ == "__main__":
    urls = sys.argv[1:]
    server = None
    if not urls:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        urls = [f"http://127.0.0.1:{server.server_address[1]}/items/{n}" for n in range(12)]
    try:
        curionet.run(main, urls)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
