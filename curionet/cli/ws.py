"""``python -m curionet ws URL``: an interactive WebSocket client.

Each line read from standard input is sent as a text message; every message
received is printed as ``< text`` (binary messages as ``< (binary) <hex>``).
End of input closes the connection normally (code 1000).

A bad URL exits with status 2, a connection or handshake that fails with 1,
each with one ``error:`` line on stderr.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

from .. import TaskGroup, UniversalQueue, ignore_after, run, sleep
from ..protocols.websocket import ConnectionClosed, HandshakeError, InvalidStatus, websocket_connect
from ._usage import UsageError


def _stdin_lines(queue: UniversalQueue) -> None:
    for line in sys.stdin:
        queue.put(line.rstrip("\r\n"))
    queue.put(None)


def _show(message: str | bytes) -> str:
    if isinstance(message, str):
        return f"< {message}"
    return f"< (binary) {message.hex()}"


async def _client(args: Any) -> int:
    headers = []
    for item in args.header or ():
        name, _, value = item.partition(":")
        headers.append((name.strip(), value.strip()))
    context = None
    if args.url.startswith("wss:"):
        context = ssl.create_default_context(cafile=args.cafile)
    try:
        ws = await websocket_connect(
            args.url, ssl=context, subprotocols=args.subprotocol or (), extra_headers=headers,
            compression=not args.no_compression, max_message_size=args.max_size,
        )  # fmt: skip
    except InvalidStatus as exc:
        print(f"error: {args.url} refused the upgrade: HTTP {exc.status_code}", file=sys.stderr)
        return 1
    except (HandshakeError, OSError) as exc:
        print(f"error: Failed to connect to {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"Connected to {args.url}." + (f" Subprotocol: {ws.subprotocol}" if ws.subprotocol else ""),
          file=sys.stderr, flush=True)  # fmt: skip
    lines: UniversalQueue = UniversalQueue()
    threading.Thread(target=_stdin_lines, args=(lines,), daemon=True).start()

    async def receiver() -> None:
        try:
            async for message in ws:
                print(_show(message), flush=True)
        except ConnectionClosed:
            pass

    async def sender() -> None:
        while True:
            line = await lines.get()
            if line is None:
                # End of input: give replies to what we sent a moment to
                # arrive (a ping round trip, then a short quiet period).
                try:
                    async with ignore_after(2):
                        await ws.ping()
                    await sleep(args.linger)
                except ConnectionClosed:
                    pass
                await ws.close()
                return
            try:
                await ws.send(line)
            except ConnectionClosed:
                return

    async with TaskGroup(wait=any) as group:
        await group.spawn(receiver)
        await group.spawn(sender)
    await ws.close()
    print(f"Connection closed: {ws.close_code} {ws.close_reason or ''}".rstrip() + ".", file=sys.stderr)
    return 0 if ws.close_code in (1000, 1001) else 1


def _check_url(url: str) -> None:
    """Raise :class:`UsageError` for anything but a ``ws://`` or ``wss://``
    URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise UsageError(f"bad URL {url!r}: {exc}")
    if parts.scheme not in ("ws", "wss"):
        raise UsageError(f"not a ws:// or wss:// URL: {url!r}")
    if not parts.hostname:
        raise UsageError(f"no host in {url!r}")


def _main(args: Any) -> int:
    _check_url(args.url)
    return int(run(_client, args))


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "ws", help="interactive WebSocket client: send stdin lines, print messages",
        description="Connect to a WebSocket URL; send each line of standard input as a text message "
        "and print every message received.",
    )  # fmt: skip
    parser.add_argument("url", help="ws:// or wss:// URL")
    parser.add_argument("--subprotocol", action="append", help="offer a subprotocol (repeatable)")
    parser.add_argument("--header", action="append", help="extra request header 'Name: value' (repeatable)")
    parser.add_argument("--no-compression", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument("--cafile", help="CA certificates to trust for wss://")
    parser.add_argument("--max-size", type=int, default=1 << 20, help="largest message accepted (bytes)")
    parser.add_argument("--linger", type=float, default=0.2,
                        help="seconds to keep printing replies after end of input (default 0.2)")
    parser.set_defaults(func=_main)
