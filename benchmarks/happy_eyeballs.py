"""Happy Eyeballs benchmark: time to connect to a dual-stack name when one
path is broken, curionet vs Trio's ``open_tcp_stream`` vs asyncio's
``create_connection(happy_eyeballs_delay=...)``.

Every library connects to the same made-up name, "dual.localhost", answered
by a fake resolver that each library is given through its own hook (curionet
``resolver=``, Trio ``set_custom_hostname_resolver``, asyncio's
``loop.getaddrinfo``).  The addresses are loopback only:

* ``::1``: a listener whose accept queue is full, so a connect to it hangs
  (Linux drops the SYN), or, in scenario B, a working listener;
* ``127.0.0.1``: a working listener.

Scenarios:

A. IPv6 hangs, both DNS answers at once, Connection Attempt Delay 250 ms.
B. The AAAA answer takes 300 ms (A answers at once), IPv6 works.  curionet
   sends separate AAAA and A queries (RFC 8305 section 3); Trio and asyncio
   make one ``getaddrinfo(AF_UNSPEC)`` call, which, like a real stub
   resolver, returns only when both answers are in.
C. IPv6 hangs and the caller asks for a 5 s delay: RFC 8305 caps it at 2 s.

Each library runs each scenario --runs times (in the same process, one
event loop per run); the median, min and max are printed in ms, followed by
the table of RFC 8305 requirements each implements.

Usage: python benchmarks/happy_eyeballs.py [--runs N] [--skip-c]
Peers come from the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import select
import socket
import statistics
import sys
import time

import curionet

HOST = "dual.localhost"
TCP = (socket.SOCK_STREAM, socket.IPPROTO_TCP, "")


# ---------------------------------------------------------------------------
# Loopback peers
# ---------------------------------------------------------------------------


class Peers:
    """A ::1 listener (hanging or working) and a 127.0.0.1 listener."""

    def __init__(self, ipv6_hangs: bool) -> None:
        self.fillers: list[socket.socket] = []
        self.l6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.l6.bind(("::1", 0))
        self.l6.listen(0 if ipv6_hangs else 64)
        self.port6 = self.l6.getsockname()[1]
        if ipv6_hangs:
            while True:
                probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                self.fillers.append(probe)
                probe.setblocking(False)
                probe.connect_ex(("::1", self.port6))
                if not select.select([], [probe], [], 0.2)[1]:
                    break
        self.l4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.l4.bind(("127.0.0.1", 0))
        self.l4.listen(64)
        self.port4 = self.l4.getsockname()[1]

    def infos(self, family: int) -> list[tuple]:
        if family == socket.AF_INET6:
            return [(socket.AF_INET6, *TCP, ("::1", self.port6, 0, 0))]
        return [(socket.AF_INET, *TCP, ("127.0.0.1", self.port4))]

    def drain(self) -> None:
        """Accept and close what the last run left in the accept queues."""
        for listener in (self.l4, self.l6):
            if listener is self.l6 and self.fillers:
                continue
            listener.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    listener.accept()[0].close()

    def close(self) -> None:
        for s in [*self.fillers, self.l6, self.l4]:
            s.close()


class Scenario:
    def __init__(self, name: str, ipv6_hangs: bool, aaaa_delay: float, delay: float, expect: str) -> None:
        self.name = name
        self.ipv6_hangs = ipv6_hangs
        self.aaaa_delay = aaaa_delay
        self.delay = delay
        self.expect = expect


SCENARIOS = {
    "A": Scenario("A. IPv6 hangs, delay 250 ms", True, 0.0, 0.25, "one delay: ~250 ms"),
    "B": Scenario(
        "B. AAAA answer 300 ms late, IPv6 works", False, 0.3, 0.25, "RFC: IPv4 after the 50 ms Resolution Delay"
    ),
    "C": Scenario("C. IPv6 hangs, delay asked 5 s", True, 0.0, 5.0, "RFC: delay capped at 2 s"),
}


# ---------------------------------------------------------------------------
# One connection per library; each returns (seconds, family connected)
# ---------------------------------------------------------------------------


def run_curionet(peers: Peers, sc: Scenario) -> tuple[float, int]:
    async def resolver(host, port, family):
        # Separate AAAA and A queries, each with its own latency.
        if family == socket.AF_INET6 and sc.aaaa_delay:
            await curionet.sleep(sc.aaaa_delay)
        return peers.infos(family)

    async def main():
        start = time.perf_counter()
        sock = await curionet.open_tcp_stream(HOST, 80, resolver=resolver, happy_eyeballs_delay=sc.delay)
        elapsed = time.perf_counter() - start
        family = sock.family
        await sock.close()
        return elapsed, family

    return curionet.run(main)


def run_trio(peers: Peers, sc: Scenario) -> tuple[float, int]:
    import trio

    class Resolver(trio.abc.HostnameResolver):
        async def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
            # One AF_UNSPEC query: it returns when both answers are in.
            await trio.sleep(sc.aaaa_delay)
            return peers.infos(socket.AF_INET6) + peers.infos(socket.AF_INET)

        async def getnameinfo(self, sockaddr, flags):  # pragma: no cover - unused
            raise NotImplementedError

    async def main():
        trio.socket.set_custom_hostname_resolver(Resolver())
        start = time.perf_counter()
        stream = await trio.open_tcp_stream(HOST, 80, happy_eyeballs_delay=sc.delay)
        elapsed = time.perf_counter() - start
        family = stream.socket.family
        await stream.aclose()
        return elapsed, family

    return trio.run(main)


def run_asyncio(peers: Peers, sc: Scenario) -> tuple[float, int]:
    async def getaddrinfo(host, port, *, family=0, type=0, proto=0, flags=0):
        await asyncio.sleep(sc.aaaa_delay)  # one AF_UNSPEC query, as above
        return peers.infos(socket.AF_INET6) + peers.infos(socket.AF_INET)

    async def main():
        loop = asyncio.get_running_loop()
        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
        start = time.perf_counter()
        transport, _ = await loop.create_connection(asyncio.Protocol, HOST, 80, happy_eyeballs_delay=sc.delay)
        elapsed = time.perf_counter() - start
        family = transport.get_extra_info("socket").family
        transport.close()
        await asyncio.sleep(0)
        return elapsed, family

    return asyncio.run(main())


LIBRARIES = [
    ("curionet", run_curionet),
    ("trio", run_trio),
    ("asyncio", run_asyncio),
]


# ---------------------------------------------------------------------------
# RFC 8305 requirements (what each implementation does, from its API and
# observed behaviour; asyncio 3.11, Trio 0.22, aiohappyeyeballs 2.x)
# ---------------------------------------------------------------------------

REQUIREMENTS = [
    # (requirement, curionet, trio, asyncio, aiohappyeyeballs)
    ("§3 separate AAAA and A queries, started together", "yes", "no (one getaddrinfo)", "no (one getaddrinfo)",
     "no (takes resolved addresses)"),
    ("§3 AAAA first: connect at once; A first: wait 50 ms Resolution Delay", "yes", "no", "no", "no"),
    ("§3 late answers merged into the untried addresses", "yes", "no", "no", "no"),
    ("§4 interleave families (IPv6 first)", "yes", "partly (2nd address only)", "yes (resolver's first family)",
     "yes (resolver's first family)"),
    ("§4 First Address Family Count", "yes (`first_address_family_count`)", "no", "yes (`interleave`)",
     "yes (`interleave`)"),
    ("§5 staggered attempts, 250 ms default", "yes", "yes", "off unless `happy_eyeballs_delay` is set",
     "off unless `happy_eyeballs_delay` is set"),
    ("§5 next attempt at once when one fails", "yes", "yes", "yes", "yes"),
    ("§5 delay clamped to 10 ms .. 2 s", "yes", "no", "no", "no"),
    ("§5 never two attempts within 10 ms", "yes", "no", "no", "no"),
    ("§5 first connection wins, other attempts cancelled and closed", "yes", "yes", "yes", "yes"),
    ("all failed: one error carrying every attempt's error", "yes (`ExceptionGroup` cause)", "yes", "message only",
     "message only"),
    ("trace of the decisions, with times", "yes (`trace=`, DEBUG log)", "no", "no", "no"),
]  # fmt: skip


def requirements_table() -> str:
    lines = [
        "| RFC 8305 requirement | curionet | Trio `open_tcp_stream` | asyncio `create_connection` | aiohappyeyeballs |",
        "|---|---|---|---|---|",
    ]
    for row in REQUIREMENTS:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-c", action="store_true", help="skip scenario C (5 s per run for Trio and asyncio)")
    args = parser.parse_args(argv)

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        print("this machine has no IPv6 on loopback (::1): the scenarios need it", file=sys.stderr)
        return 1

    names = ["A", "B"] if args.skip_c else ["A", "B", "C"]
    print(f"time to connect (ms): median [min-max] of {args.runs} runs; family connected over\n")
    print("| scenario | " + " | ".join(n for n, _ in LIBRARIES) + " |")
    print("|---|" + "---|" * len(LIBRARIES))
    for key in names:
        sc = SCENARIOS[key]
        peers = Peers(sc.ipv6_hangs)
        try:
            cells = []
            runs = args.runs if key != "C" else min(args.runs, 2)
            for _, func in LIBRARIES:
                times, families = [], set()
                for _ in range(runs):
                    elapsed, family = func(peers, sc)
                    peers.drain()
                    times.append(elapsed * 1000)
                    families.add("IPv6" if family == socket.AF_INET6 else "IPv4")
                cells.append(
                    f"{statistics.median(times):.0f} [{min(times):.0f}-{max(times):.0f}] {'/'.join(sorted(families))}"
                )
            print(f"| {sc.name} ({sc.expect}) | " + " | ".join(cells) + " |", flush=True)
        finally:
            peers.close()
    print()
    print(requirements_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
