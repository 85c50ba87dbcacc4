"""``python -m curionet get URL``: fetch a URL with :class:`ClientSession`.

Prints the status line and headers, then the body (to stdout, or to a file
with ``-o``, with a progress bar on stderr for large downloads).  ``--json``
pretty-prints a JSON body; ``--head`` sends ``HEAD`` and prints no body.
Exit status: 0 for a 1xx-3xx response, 1 for 4xx/5xx, 2 when the request
failed (the error, naming the URL, goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO

from .. import run
from ..kernel.time import clock
from ..protocols.http import ClientSession, HTTPError, Response, Timeout

#: Downloads at least this large (or of unknown size) get a progress bar.
PROGRESS_THRESHOLD = 1024 * 1024


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"invalid header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def _print_head(response: Response, out: Any) -> None:
    out.write(f"{response.http_version} {response.status_code} {response.reason}\n")
    for name, value in response.headers.multi_items():
        out.write(f"{name}: {value}\n")
    out.write("\n")
    out.flush()


class _Progress:
    """A one-line progress bar on stderr, redrawn at most every 0.1 s."""

    def __init__(self, total: int | None, stream: Any) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self._last = -1.0

    def _draw(self, now: float, start: float) -> None:
        rate = self.done / max(now - start, 1e-6) / 1e6
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            line = f"\r[{bar:<30}] {frac * 100:5.1f}% {self.done / 1e6:8.1f} MB {rate:7.1f} MB/s"
        else:
            line = f"\r{self.done / 1e6:8.1f} MB {rate:7.1f} MB/s"
        self.stream.write(line)
        self.stream.flush()

    def update(self, n: int, now: float, start: float) -> None:
        self.done += n
        if now - self._last >= 0.1:
            self._last = now
            self._draw(now, start)

    def finish(self, now: float, start: float) -> None:
        self._draw(now, start)
        self.stream.write("\n")
        self.stream.flush()


async def _get(args: Any) -> int:
    headers: list[tuple[str, str]] = list(args.header or [])  # repeated names all go out, in order
    if args.json and not any(name.lower() == "accept" for name, _ in headers):
        headers.append(("Accept", "application/json"))
    method = "HEAD" if args.head else "GET"
    timeout = Timeout(args.timeout)
    try:
        async with ClientSession(verify=not args.insecure, timeout=timeout) as session:
            async with session.stream(method, args.url, headers=headers) as response:
                _print_head(response, sys.stdout)
                if not args.head:
                    if args.output:
                        await _download(response, args.output)
                    elif args.json:
                        body = await response.aread()
                        try:
                            print(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
                        except ValueError:
                            sys.stdout.write(body.decode(response.encoding, errors="replace"))
                    else:
                        out: BinaryIO = sys.stdout.buffer
                        sys.stdout.flush()
                        async for chunk in response.aiter_bytes():
                            out.write(chunk)
                        out.flush()
    except HTTPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if response.status_code >= 400 else 0


async def _download(response: Response, path: str) -> None:
    length = response.headers.get("content-length")
    total = int(length) if length and length.isdigit() and "content-encoding" not in response.headers else None
    progress = _Progress(total, sys.stderr) if total is None or total >= PROGRESS_THRESHOLD else None
    start = await clock()
    with open(path, "wb") as f:
        async for chunk in response.aiter_bytes():
            f.write(chunk)
            if progress is not None:
                progress.update(len(chunk), await clock(), start)
    if progress is not None:
        progress.finish(await clock(), start)


def _main(args: Any) -> int:
    return int(run(_get, args))


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "get",
        help="fetch a URL and print the status line, headers and body",
        description="Fetch URL with curionet's HTTP client; print the status line, the headers and the body.",
    )
    parser.add_argument("url", help="the http:// or https:// URL to fetch")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE (progress bar on stderr)")
    parser.add_argument("-H", "--header", action="append", type=_parse_header, metavar="'Name: value'",
                        help="add a request header (repeatable)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="ask for JSON and pretty-print the body")
    parser.add_argument("--head", action="store_true", help="send HEAD: print the status line and headers only")
    parser.add_argument("-k", "--insecure", action="store_true", help="do not verify the TLS certificate")
    parser.add_argument("--timeout", type=float, default=30.0, help="connect/read/write timeout in seconds")
    parser.set_defaults(func=_main)
