"""Compression time and size of zlib levels 1-6 at curionet's WebSocket
settings (12-bit window, memLevel 5, context takeover), on 64 KiB of five
kinds of text: the benchmark's JSON-like messages, generated JSON records,
log lines, the Python license (prose) and Python source code.

This is the measurement behind ``permessage-deflate``'s default level
(docs/reference/websocket.md, "Compression").  Usage:

    python benchmarks/deflate_levels.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import zlib

SIZE = 65536
LEVELS = (1, 2, 3, 4, 5, 6)


def corpora() -> dict[str, bytes]:
    from websocket import payload  # the echo benchmark's message

    rng = random.Random(1)
    records = [
        {
            "id": i,
            "name": rng.choice(["alice", "bob", "carol", "dave"]) + str(rng.randint(0, 999)),
            "price": round(rng.random() * 1000, 2),
            "tags": rng.sample(["a", "b", "c", "d", "e", "f"], 3),
            "ts": 1_700_000_000 + i * 37,
        }
        for i in range(2000)
    ]
    logs = "".join(
        f"2026-12-02T11:{i % 60:02d}:{i * 7 % 60:02d}Z INFO request id={rng.getrandbits(32):08x} "
        f"path=/api/v1/items/{rng.randint(1, 5000)} status={rng.choice([200, 200, 200, 404, 500])} "
        f"ms={rng.random() * 50:.2f}\n"
        for i in range(1000)
    )
    stdlib = os.path.dirname(os.__file__)
    with open(os.path.join(stdlib, "LICENSE.txt"), "rb") as f:
        prose = f.read()
    source = b""
    for name in ("asyncio/base_events.py", "email/message.py", "http/client.py", "json/decoder.py"):
        with open(os.path.join(stdlib, name), "rb") as f:
            source += f.read()
    bench = payload(SIZE)
    assert isinstance(bench, bytes)
    return {
        "benchmark JSON": bench,
        "JSON records": json.dumps(records).encode()[:SIZE],
        "log lines": logs.encode()[:SIZE],
        "prose": (prose * (SIZE // len(prose) + 1))[:SIZE],
        "Python source": source[:SIZE],
    }


def measure(data: bytes, level: int, rounds: int) -> tuple[float, int]:
    """Best-of-3 microseconds per message and the size of the last one."""
    best = float("inf")
    size = 0
    for _ in range(3):
        compressor = zlib.compressobj(level, zlib.DEFLATED, -12, 5)
        t0 = time.perf_counter()
        for _ in range(rounds):
            out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        best = min(best, (time.perf_counter() - t0) / rounds)
        size = len(out) - 4
    return best * 1e6, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    print("| 64 KiB of | " + " | ".join(f"level {lv}" for lv in LEVELS) + " | level 3 vs 6: speed, size |")
    print("|---" * (len(LEVELS) + 2) + "|")
    for name, data in corpora().items():
        results = {lv: measure(data, lv, args.rounds) for lv in LEVELS}
        cells = [f"{us:,.0f} µs, {size:,} B" for us, size in results.values()]
        speed = results[6][0] / results[3][0]
        growth = results[3][1] / results[6][1] - 1
        print(f"| {name} | " + " | ".join(cells) + f" | {speed:.1f}x faster, {growth:+.0%} |")


if __name__ == "__main__":
    main()
