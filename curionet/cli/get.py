"""``python -m curionet get URL``: send a request with :class:`ClientSession`.

Prints the status line and headers, then the body (to stdout, or to a file
with ``-o``, with a progress bar on stderr for large downloads; ``-o -``
writes only the body to stdout and the heads to stderr).  A JSON body (by
its Content-Type, or with ``--json``) is pretty-printed.  The options
follow httpx's command line: ``-X`` method, a body from ``-d`` (raw),
``-j`` (JSON) or ``-f`` (form fields; ``name=@path`` uploads a file as
multipart/form-data), ``-p`` query parameters, ``--auth``, ``--proxy``,
``--cafile``, ``--follow-redirects`` (off by default) and ``-v`` (the
connection steps with their timings and the request head, on stderr).

Exit status: 0 for a 1xx-3xx response, 1 for 4xx/5xx, 2 when the request
failed or the input was bad (one line naming the problem goes to stderr).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
import time
from typing import Any

from .. import run
from ..errors import CurionetError
from ..protocols.happy_eyeballs import TraceEvent, open_tcp_stream
from ..protocols.http import (
    BasicAuth,
    ClientSession,
    DigestAuth,
    HTTPTransport,
    Request,
    Response,
    Timeout,
)

#: Downloads at least this large (or of unknown size) get a progress bar.
PROGRESS_THRESHOLD = 1024 * 1024


class _BadInput(Exception):
    """A command-line value that cannot be used (reported as one line)."""


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"invalid header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def _parse_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected 'name=value'")
    return name, value


def _parse_auth(text: str) -> tuple[str, str]:
    user, _, password = text.partition(":")
    if not user:
        raise argparse.ArgumentTypeError(f"invalid --auth {text!r}: expected 'user:password'")
    return user, password


def _is_json(response: Response) -> bool:
    ctype = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


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


class _Verbose:
    """``-v``: the connection steps (DNS, connect, TLS) and the request head
    on stderr, each with the milliseconds it took."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.sent = 0.0  # when the current request could go out
        self.request_head: list[str] = []  # shown once its connection is ready

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def flush_request(self) -> None:
        for text in self.request_head:
            self.line(text)
        self.request_head = []

    async def connector(self, host: str, port: int, *, ssl_context: Any, server_hostname: str | None) -> Any:
        # The default connector's steps, one by one so each can be timed.
        from ..ssl import CurioSSLContext

        self.line(f"* connecting to {host}:{port}")
        if _is_ip(host):
            self.line("* DNS: not needed (an IP address)")
        sock = await open_tcp_stream(host, port, trace=self._trace)
        try:
            if ssl_context is not None:
                start = time.monotonic()
                sock = await CurioSSLContext(ssl_context).wrap_socket(sock, server_hostname=server_hostname or host)
                self.line(f"* TLS handshake done: {sock.version()} {_ms(start)}")
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - every TCP socket takes it
                pass
            stream = sock.as_stream()
        except BaseException:
            await sock.close()
            raise
        self.sent = time.monotonic()
        self.flush_request()
        return stream

    def _trace(self, event: TraceEvent) -> None:
        if event.kind == "answer":
            self.line(f"* DNS answer ({_family(event.family)}): {event.detail} after {event.elapsed * 1000:.1f} ms")
        elif event.kind in ("attempt", "failed", "connected"):
            self.line(f"* {event.kind} {_address(event.address)} {event.detail} after {event.elapsed * 1000:.1f} ms"
                      .replace("  ", " "))  # fmt: skip

    def on_request(self, request: Request) -> None:
        self.sent = time.monotonic()  # a kept-alive connection is ready at once
        head = self.request_head = [f"> {request.method} {request.url.raw_path} HTTP/1.1"]
        if "host" not in request.headers:
            head.append(f"> Host: {request.url.netloc}")
        for name, value in request.headers.multi_items():
            if name.lower() in ("authorization", "proxy-authorization"):
                value = value.split(" ", 1)[0] + " <hidden>"
            head.append(f"> {name}: {value}")
        length = request.headers.get("content-length")
        head.append(">" if not length else f"> ({length} bytes of body)")

    def on_response(self, response: Response) -> None:
        self.flush_request()
        self.line(f"< {response.http_version} {response.status_code} {response.reason}"
                  f" (head received {_ms(self.sent)} after the connection was ready)")  # fmt: skip


def _ms(start: float) -> str:
    return f"in {(time.monotonic() - start) * 1000:.1f} ms"


def _family(family: int | None) -> str:
    return "A" if family == socket.AF_INET else "AAAA" if family == socket.AF_INET6 else "address"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address)


def _read_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _body(args: Any) -> dict[str, Any]:
    """The request-body keyword arguments for ``-d``, ``-j`` or ``-f``."""
    if args.data is not None:
        return {"content": _read_file(args.data[1:]) if args.data.startswith("@") else args.data.encode()}
    if args.json_body is not None:
        try:
            return {"json": json.loads(args.json_body)}
        except ValueError as exc:
            raise _BadInput(f"invalid JSON for -j: {exc}") from None
    if args.form:
        fields: dict[str, list[str]] = {}
        files: list[tuple[str, tuple[str, bytes]]] = []
        for name, value in args.form:
            if value.startswith("@"):
                files.append((name, (os.path.basename(value[1:]) or name, _read_file(value[1:]))))
            else:
                fields.setdefault(name, []).append(value)
        if files:
            return {"data": fields, "files": files}
        return {"data": fields}
    return {}


async def _get(args: Any) -> int:
    headers: list[tuple[str, str]] = list(args.header or [])  # repeated names all go out, in order
    if args.json and not any(name.lower() == "accept" for name, _ in headers):
        headers.append(("Accept", "application/json"))
    to_stdout = args.output == "-"
    heads = sys.stderr if to_stdout else sys.stdout
    verbose = _Verbose(sys.stderr) if args.verbose else None
    try:
        body = _body(args)
        method = args.method or ("HEAD" if args.head else "POST" if body else "GET")
        auth: Any = None
        if args.digest and args.auth is None:
            raise _BadInput("--digest needs --auth USER:PASSWORD")
        if args.auth is not None:
            auth = DigestAuth(*args.auth) if args.digest else BasicAuth(*args.auth)
        if args.cafile is not None and not os.path.exists(args.cafile):
            raise _BadInput(f"--cafile {args.cafile!r}: no such file or directory")
        verify: Any = False if args.insecure else args.cafile if args.cafile is not None else True
        transport = None
        hooks: dict[str, list[Any]] = {}
        if verbose is not None:
            transport = HTTPTransport(verify=verify, proxy=args.proxy, connector=verbose.connector,
                                      proxy_env=os.environ if args.proxy is None else None)  # fmt: skip
            hooks = {"request": [verbose.on_request], "response": [verbose.on_response]}
        async with ClientSession(verify=verify, timeout=Timeout(args.timeout), auth=auth, proxy=args.proxy,
                                 follow_redirects=args.follow_redirects, event_hooks=hooks,
                                 transport=transport) as session:  # fmt: skip
            async with session.stream(method, args.url, headers=headers, params=args.param, **body) as response:
                for hop in response.history:
                    _print_head(hop, heads)
                _print_head(response, heads)
                if method != "HEAD":
                    await _write_body(response, args, to_stdout)
    except BrokenPipeError:
        # The reader went away (``| head -c1``): say so once, and keep the
        # interpreter from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        print("error: standard output was closed (broken pipe)", file=sys.stderr)
        return 2
    except (CurionetError, OSError, _BadInput) as exc:
        # HTTPError and InvalidURL (a bad URL or port) name the URL; OSError
        # is a file that cannot be read (-d @file) or written (-o).
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if response.status_code >= 400 else 0


async def _write_body(response: Response, args: Any, to_stdout: bool) -> None:
    if args.output and not to_stdout:
        await _download(response, args.output)
        return
    if not to_stdout and (args.json or _is_json(response)):
        body = await response.aread()
        try:
            text = json.dumps(json.loads(body), indent=2, ensure_ascii=False) + "\n"
        except ValueError:
            text = body.decode(response.encoding, errors="replace")
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    out = sys.stdout.buffer
    sys.stdout.flush()
    async for chunk in response.aiter_bytes():
        out.write(chunk)
    out.flush()


async def _download(response: Response, path: str) -> None:
    length = response.headers.get("content-length")
    total = int(length) if length and length.isdigit() and "content-encoding" not in response.headers else None
    progress = _Progress(total, sys.stderr) if total is None or total >= PROGRESS_THRESHOLD else None
    start = time.monotonic()
    with open(path, "wb") as f:
        async for chunk in response.aiter_bytes():
            f.write(chunk)
            if progress is not None:
                progress.update(len(chunk), time.monotonic(), start)
    if progress is not None:
        progress.finish(time.monotonic(), start)


def _main(args: Any) -> int:
    return int(run(_get, args))


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "get",
        help="send a request and print the status line, headers and body",
        description="Send a request with curionet's HTTP client; print the status line, the headers and the body.",
    )
    parser.add_argument("url", help="the http:// or https:// URL")
    parser.add_argument("-X", "--method", type=str.upper,
                        help="the request method (default: GET, or POST with a body)")  # fmt: skip
    body = parser.add_mutually_exclusive_group()
    body.add_argument("-d", "--data", metavar="TEXT",
                      help="the raw request body; '@FILE' reads it from FILE ('@-': standard input)")  # fmt: skip
    body.add_argument("-j", "--json-body", metavar="JSON", help="send JSON text as an application/json body")
    body.add_argument("-f", "--form", action="append", type=_parse_pair, metavar="NAME=VALUE",
                      help="a form field (repeatable; urlencoded); 'NAME=@FILE' uploads FILE and makes"
                           " the form multipart/form-data")  # fmt: skip
    parser.add_argument("-p", "--param", action="append", type=_parse_pair, metavar="NAME=VALUE",
                        help="add a query parameter (repeatable)")  # fmt: skip
    parser.add_argument("-H", "--header", action="append", type=_parse_header, metavar="'Name: value'",
                        help="add a request header (repeatable)")  # fmt: skip
    parser.add_argument("--auth", type=_parse_auth, metavar="USER:PASSWORD", help="HTTP Basic credentials")
    parser.add_argument("--digest", action="store_true", help="use --auth for HTTP Digest instead of Basic")
    parser.add_argument("--proxy", metavar="URL", help="send the request through this http:// proxy")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--cafile", metavar="PATH", help="verify TLS against this CA bundle (file or directory)")
    tls.add_argument("-k", "--insecure", action="store_true", help="do not verify the TLS certificate")
    parser.add_argument("--follow-redirects", action="store_true", help="follow redirects (each one is shown)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the body to FILE (progress bar on stderr); '-': the body alone to"
                             " standard output, the heads to stderr")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="ask for JSON and pretty-print the body")
    parser.add_argument("--head", action="store_true", help="send HEAD: print the status line and headers only")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the connection steps with timings (DNS, connect, TLS, response head)"
                             " and the request head, on stderr")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=30.0, help="connect/read/write timeout in seconds")
    parser.set_defaults(func=_main)
