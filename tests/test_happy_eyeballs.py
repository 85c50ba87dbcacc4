"""Happy Eyeballs (RFC 8305): the pure rules, and whole races on the mock clock.

A ``Scenario`` (from ``curionet.testing``) is a fake resolver plus a fake
socket layer (in the spirit of Trio's Happy Eyeballs tests): every DNS answer
has its own delay, every address its own connect delay and outcome ("ok",
"refused" or "hang").  With
the autojump clock the races run in microseconds and every attempt's start
time is an exact virtual time.
"""

from __future__ import annotations

import errno
import logging
import socket

import pytest
from hypothesis import given, strategies as st

import curionet
from curionet import CancelledError, TaskTimeout, clock, sleep, spawn, timeout_after
from curionet.protocols.happy_eyeballs import (
    MAX_ATTEMPT_DELAY,
    MIN_ATTEMPT_DELAY,
    Done,
    GiveUp,
    Planner,
    StartAttempt,
    Wait,
    clamp_attempt_delay,
    interleave,
    merge_addresses,
    open_tcp_stream,
)
from curionet.testing import Scenario, cancel_at_every_blocking_point

V6, V4 = socket.AF_INET6, socket.AF_INET
HOST = "dual.test"
PORT = 80


def ai(addr: str) -> tuple:
    """A getaddrinfo tuple for a loopback-style literal (never connected to)."""
    if ":" in addr:
        return (V6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (addr, PORT, 0, 0))
    return (V4, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (addr, PORT))


def addrs(infos) -> list[str]:
    return [i[4][0] for i in infos]


# The fake only ever names loopback addresses: ::1 and 127.0.0.0/8.  It never
# touches a real socket, but even so nothing here could reach another host.
A6 = ["::1", "0:0:0:0:0:0:0:1%1", "::ffff:127.0.0.9"]
A4 = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


# ---------------------------------------------------------------------------
# The pure rules
# ---------------------------------------------------------------------------


def test_clamp_attempt_delay():
    assert clamp_attempt_delay(0.25) == 0.25
    assert clamp_attempt_delay(0) == MIN_ATTEMPT_DELAY == 0.01
    assert clamp_attempt_delay(0.001) == 0.01
    assert clamp_attempt_delay(-3) == 0.01
    assert clamp_attempt_delay(5) == MAX_ATTEMPT_DELAY == 2.0


def test_interleave_first_address_family_count_1_and_2():
    v6 = [ai(a) for a in ("::1", "::2", "::3", "::4")]
    v4 = [ai(a) for a in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")]
    mixed = [v4[0], v6[0], v4[1], v6[1], v4[2], v4[3], v6[2], v6[3]]
    assert addrs(interleave(mixed)) == [
        "::1", "127.0.0.1", "::2", "127.0.0.2", "::3", "127.0.0.3", "::4", "127.0.0.4",
    ]  # fmt: skip
    # RFC 8305 section 4's example for a First Address Family Count of 2.
    assert addrs(interleave(mixed, 2)) == [
        "::1", "::2", "127.0.0.1", "::3", "127.0.0.2", "::4", "127.0.0.3", "127.0.0.4",
    ]  # fmt: skip


def test_interleave_keeps_resolver_order_and_runs_out_unevenly():
    v6 = [ai("::3"), ai("::1")]
    v4 = [ai("127.0.0.5"), ai("127.0.0.1"), ai("127.0.0.3"), ai("127.0.0.2")]
    assert addrs(interleave(v4 + v6)) == ["::3", "127.0.0.5", "::1", "127.0.0.1", "127.0.0.3", "127.0.0.2"]
    assert addrs(interleave(v4)) == addrs(v4)
    assert addrs(interleave(v6, 5)) == ["::3", "::1"]
    assert interleave([]) == []


def test_interleave_drops_duplicates():
    assert addrs(interleave([ai("::1"), ai("127.0.0.1"), ai("::1"), ai("127.0.0.1")])) == ["::1", "127.0.0.1"]


def test_merge_late_aaaa_after_ipv4_attempts_started():
    tried = [ai("127.0.0.1")]
    untried = [ai("127.0.0.2"), ai("127.0.0.3")]
    new = [ai("::1"), ai("::2")]
    # The last attempt was IPv4, so the new IPv6 addresses go next, alternating.
    assert addrs(merge_addresses(tried, untried, new)) == ["::1", "127.0.0.2", "::2", "127.0.0.3"]


def test_merge_late_a_after_ipv6_attempt_started():
    tried = [ai("::1")]
    untried = [ai("::2")]
    new = [ai("127.0.0.1"), ai("127.0.0.2")]
    assert addrs(merge_addresses(tried, untried, new)) == ["127.0.0.1", "::2", "127.0.0.2"]
    # With a First Address Family Count of 2 the IPv6 head start is finished first.
    assert addrs(merge_addresses(tried, untried, new, 2)) == ["::2", "127.0.0.1", "127.0.0.2"]


def test_merge_ignores_addresses_already_tried_or_listed():
    tried = [ai("::1")]
    untried = [ai("127.0.0.1")]
    assert addrs(merge_addresses(tried, untried, [ai("::1"), ai("127.0.0.1"), ai("::2")])) == ["127.0.0.1", "::2"]
    assert addrs(merge_addresses([], untried, [ai("::2")])) == ["::2", "127.0.0.1"]


def test_planner_without_io():
    events = []
    plan = Planner(HOST, PORT, (V6, V4), 0.0, trace=events.append)
    assert plan.next_action(0.0) == Wait(None)
    plan.answer(V4, [ai("127.0.0.1")], 0.01)
    wait = plan.next_action(0.01)
    assert wait == Wait(pytest.approx(0.06))
    assert plan.next_action(0.059) == wait
    start = wait.until
    assert plan.next_action(start) == StartAttempt(ai("127.0.0.1"))
    plan.answer(V6, [ai("::1")], 0.1)
    wait = plan.next_action(0.1)
    assert wait == Wait(start + 0.25)
    assert plan.next_action(wait.until) == StartAttempt(ai("::1"))
    plan.attempt_failed(ai("::1"), ConnectionRefusedError(errno.ECONNREFUSED, "refused"), 0.32)
    assert plan.next_action(0.32) == Wait(None)
    assert plan.attempt_connected(ai("127.0.0.1"), "sock", 0.4)
    assert plan.next_action(0.4) == Done(ai("127.0.0.1"), "sock")
    kinds = [e.kind for e in events]
    assert kinds == ["answer", "resolution-delay", "attempt", "answer", "attempt", "failed", "connected"]
    assert "[::1]:80" in str(events[4])


def test_planner_gives_up_with_gaierror_when_nothing_resolves():
    plan = Planner(HOST, PORT, (V6, V4), 0.0)
    plan.resolution_failed(V6, socket.gaierror(socket.EAI_NONAME, "Name or service not known"), 0.01)
    plan.answer(V4, [], 0.02)
    action = plan.next_action(0.02)
    assert isinstance(action, GiveUp)
    assert isinstance(action.error, socket.gaierror)
    assert action.error.errno == socket.EAI_NONAME
    assert f"{HOST}:{PORT}" in str(action.error)


def expect(starts):
    return [(a, pytest.approx(t, abs=1e-9)) for a, t in starts]


# ---------------------------------------------------------------------------
# Resolution (section 3)
# ---------------------------------------------------------------------------


async def test_aaaa_first_connects_at_once(autojump_clock):
    sc = Scenario(
        {V6: (0.01, ["::1"]), V4: (0.02, ["127.0.0.1"])},
        {"::1": (0, "hang"), "127.0.0.1": (0.05, "ok")},
    )
    sock = await sc.connect_to()
    assert sock.address == "127.0.0.1" and sock.connected and not sock.closed
    assert sc.starts == expect([("::1", 0.01), ("127.0.0.1", 0.26)])
    assert await clock() == pytest.approx(0.31)
    assert sc.sockets[0].closed  # the hanging IPv6 attempt lost
    assert [(f, t) for f, t in sc.queries] == [(V6, 0.0), (V4, 0.0)]  # both queries start together


async def test_a_first_then_aaaa_within_resolution_delay(autojump_clock):
    sc = Scenario(
        {V6: (0.03, ["::1"]), V4: (0.01, ["127.0.0.1"])},
        {"::1": (0.02, "ok")},
    )
    sock = await sc.connect_to()
    assert sock.address == "::1"
    assert sc.starts == expect([("::1", 0.03)])
    assert "resolution-delay" not in [e.kind for e in sc.events]


async def test_a_first_and_aaaa_after_resolution_delay(autojump_clock):
    sc = Scenario(
        {V6: (0.2, ["::1"]), V4: (0.01, ["127.0.0.1"])},
        {"127.0.0.1": (0, "hang"), "::1": (0.01, "ok")},
    )
    sock = await sc.connect_to()
    # A at 10 ms, wait 50 ms for AAAA, start IPv4; AAAA at 200 ms joins the
    # list and its address goes next, one Connection Attempt Delay later.
    assert sc.starts == expect([("127.0.0.1", 0.06), ("::1", 0.31)])
    assert sock.address == "::1"
    assert sc.sockets[0].closed
    kinds = [(e.kind, pytest.approx(e.elapsed, abs=1e-9)) for e in sc.events if e.kind != "query"]
    assert kinds[:4] == [("answer", 0.01), ("resolution-delay", 0.06), ("attempt", 0.06), ("answer", 0.2)]


async def test_custom_resolution_delay(autojump_clock):
    sc = Scenario({V6: (1.0, ["::1"]), V4: (0.01, ["127.0.0.1"])}, {"127.0.0.1": (0, "ok")})
    await sc.connect_to(resolution_delay=0.2)
    assert sc.starts == expect([("127.0.0.1", 0.21)])


async def test_aaaa_negative_first_waits_for_a(autojump_clock):
    sc = Scenario(
        {V6: (0.01, socket.gaierror(socket.EAI_NONAME, "no AAAA")), V4: (0.04, ["127.0.0.1"])},
        {"127.0.0.1": (0, "ok")},
    )
    sock = await sc.connect_to()
    assert sock.address == "127.0.0.1"
    assert sc.starts == expect([("127.0.0.1", 0.04)])  # no Resolution Delay: AAAA already answered


async def test_aaaa_negative_inside_resolution_delay_ends_the_wait(autojump_clock):
    sc = Scenario({V6: (0.03, []), V4: (0.01, ["127.0.0.1"])}, {"127.0.0.1": (0, "ok")})
    await sc.connect_to()
    assert sc.starts == expect([("127.0.0.1", 0.03)])


async def test_late_aaaa_merged_mid_race(autojump_clock):
    sc = Scenario(
        {V6: (0.4, ["::1", "::2"]), V4: (0.0, ["127.0.0.1", "127.0.0.2", "127.0.0.3"])},
        {"::2": (0.1, "ok")},
    )
    sock = await sc.connect_to()
    assert sc.starts == expect([
        ("127.0.0.1", 0.05),
        ("127.0.0.2", 0.30),
        # AAAA arrived at 0.40: its addresses alternate with the untried IPv4 ones.
        ("::1", 0.55),
        ("127.0.0.3", 0.80),
        ("::2", 1.05),
    ])  # fmt: skip
    assert sock.address == "::2"
    assert await clock() == pytest.approx(1.15)
    assert [s.closed for s in sc.sockets] == [True, True, True, True, False]


async def test_late_answer_after_every_attempt_failed_starts_at_once(autojump_clock):
    sc = Scenario(
        {V6: (0.5, ["::1"]), V4: (0.0, ["127.0.0.1"])},
        {"127.0.0.1": (0.01, "refused"), "::1": (0, "ok")},
    )
    sock = await sc.connect_to()
    assert sc.starts == expect([("127.0.0.1", 0.05), ("::1", 0.5)])
    assert sock.address == "::1"


async def test_family_restricts_the_queries(autojump_clock):
    sc = Scenario({V6: (0.01, ["::1"]), V4: (0.02, ["127.0.0.1"])}, {"127.0.0.1": (0, "ok")})
    await sc.connect_to(family=V4)
    assert [f for f, _ in sc.queries] == [V4]
    assert sc.starts == expect([("127.0.0.1", 0.02)])  # one family: no Resolution Delay


async def test_literal_addresses_skip_dns(autojump_clock):
    sc = Scenario({}, {"127.0.0.1": (0, "ok"), "::1": (0, "ok")})
    sock = await open_tcp_stream("127.0.0.1", PORT, resolver=sc.resolver, socket_layer=sc)
    assert sock.address == "127.0.0.1"
    sock = await open_tcp_stream("::1", PORT, resolver=sc.resolver, socket_layer=sc)
    assert sock.address == "::1"
    assert sc.queries == []
    with pytest.raises(socket.gaierror):
        await open_tcp_stream("::1", PORT, family=V4, resolver=sc.resolver, socket_layer=sc)


async def test_nothing_resolves_gives_gaierror(autojump_clock):
    sc = Scenario({V6: (0.01, []), V4: (0.02, socket.gaierror(socket.EAI_NONAME, "Name or service not known"))})
    with pytest.raises(socket.gaierror) as info:
        await sc.connect_to()
    assert info.value.errno == socket.EAI_NONAME
    assert f"{HOST}:{PORT}" in str(info.value) and "Name or service not known" in str(info.value)
    assert sc.sockets == []


# ---------------------------------------------------------------------------
# Attempts (section 5)
# ---------------------------------------------------------------------------


async def test_attempts_are_staggered_by_250ms(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1", "0:0:0:0:0:0:0:1%1"]), V4: (0, ["127.0.0.1", "127.0.0.2"])},
        {"127.0.0.2": (0.1, "ok")},
    )
    sock = await sc.connect_to()
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", 0.25), ("0:0:0:0:0:0:0:1%1", 0.5), ("127.0.0.2", 0.75)])
    assert sock.address == "127.0.0.2"
    assert await clock() == pytest.approx(0.85)


async def test_failure_starts_the_next_attempt_at_once(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1"]), V4: (0, ["127.0.0.1", "127.0.0.2"])},
        {"::1": (0.1, "refused"), "127.0.0.1": (0, "hang"), "127.0.0.2": (0, "ok")},
    )
    await sc.connect_to()
    # ::1 refused at 0.1 -> 127.0.0.1 at once; it hangs -> 127.0.0.2 a delay later.
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", 0.1), ("127.0.0.2", 0.35)])


async def test_failure_of_an_older_attempt_also_starts_the_next(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1"]), V4: (0, ["127.0.0.1", "127.0.0.2"])},
        {"::1": (0.3, "refused"), "127.0.0.1": (0, "hang"), "127.0.0.2": (0, "ok")},
    )
    await sc.connect_to(happy_eyeballs_delay=0.2)
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", 0.2), ("127.0.0.2", 0.3)])


async def test_never_two_attempts_within_10ms(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1"]), V4: (0, ["127.0.0.1", "127.0.0.2"])},
        {"::1": (0.002, "refused"), "127.0.0.1": (0.001, "refused"), "127.0.0.2": (0, "ok")},
    )
    await sc.connect_to()
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", 0.01), ("127.0.0.2", 0.02)])


@pytest.mark.parametrize(("delay", "used"), [(0.0, 0.01), (0.001, 0.01), (-1, 0.01), (7.5, 2.0), (3, 2.0), (1.0, 1.0)])
async def test_attempt_delay_is_clamped(autojump_clock, delay, used):
    sc = Scenario({V6: (0, ["::1"]), V4: (0, ["127.0.0.1"])}, {"127.0.0.1": (0, "ok")})
    await sc.connect_to(happy_eyeballs_delay=delay)
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", used)])


@pytest.mark.parametrize(
    ("fafc", "order"),
    [
        (1, ["::1", "127.0.0.1", "0:0:0:0:0:0:0:1%1", "127.0.0.2", "::ffff:127.0.0.9", "127.0.0.3"]),
        (2, ["::1", "0:0:0:0:0:0:0:1%1", "127.0.0.1", "::ffff:127.0.0.9", "127.0.0.2", "127.0.0.3"]),
    ],
)
async def test_first_address_family_count(autojump_clock, fafc, order):
    sc = Scenario({V6: (0, A6), V4: (0, A4)}, {"127.0.0.3": (0, "ok")})
    await sc.connect_to(first_address_family_count=fafc)
    assert sc.starts == expect([(a, 0.25 * k) for k, a in enumerate(order)])


async def test_all_attempts_fail(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1"]), V4: (0, ["127.0.0.1", "127.0.0.2"])},
        {"::1": (0.01, "refused"), "127.0.0.1": (0.02, "refused"), "127.0.0.2": (0.5, "refused")},
    )
    with pytest.raises(OSError) as info:
        await sc.connect_to()
    err = info.value
    assert isinstance(err, ConnectionRefusedError)  # every attempt was refused
    assert err.errno == errno.ECONNREFUSED
    assert str(err) == (
        f"[Errno {errno.ECONNREFUSED}] all 3 connection attempts to {HOST}:{PORT} failed: "
        "refused by ::1; refused by 127.0.0.1; refused by 127.0.0.2"
    )
    assert isinstance(err.__cause__, ExceptionGroup)
    assert [str(e) for e in err.__cause__.exceptions] == [
        f"[Errno {errno.ECONNREFUSED}] refused by {a}" for a in ("::1", "127.0.0.1", "127.0.0.2")
    ]
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", 0.01), ("127.0.0.2", 0.03)])
    assert sc.open_sockets() == []
    assert await clock() == pytest.approx(0.53)
    assert sc.events[-1].kind == "gave-up"


async def test_mixed_failures_give_plain_oserror(autojump_clock):
    class Boom(OSError):
        pass

    sc = Scenario({V6: (0, ["::1"]), V4: (0, ["127.0.0.1"])}, {"::1": (0, "refused")}, unsupported=())
    sc.peers["127.0.0.1"] = (0, "refused")

    original = sc.connect

    async def connect(sock, address, local):
        if address[0] == "127.0.0.1":
            sock.address, sock.started = address[0], await clock()
            raise Boom(errno.ETIMEDOUT, "timed out")
        await original(sock, address, local)

    sc.connect = connect
    with pytest.raises(OSError) as info:
        await sc.connect_to()
    assert type(info.value) is OSError and info.value.errno is None
    assert {type(e) for e in info.value.__cause__.exceptions} == {ConnectionRefusedError, Boom}
    assert sc.open_sockets() == []


async def test_first_to_connect_wins_and_losers_are_closed(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1", "0:0:0:0:0:0:0:1%1"]), V4: (0, ["127.0.0.1", "127.0.0.2"])},
        {
            "::1": (0, "hang"),
            "127.0.0.1": (0.6, "ok"),  # would connect at 0.85
            "0:0:0:0:0:0:0:1%1": (0.2, "ok"),  # connects at 0.7: the winner
            "127.0.0.2": (0, "hang"),
        },
    )
    sock = await sc.connect_to()
    assert sock.address == "0:0:0:0:0:0:0:1%1"
    assert await clock() == pytest.approx(0.7)
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", 0.25), ("0:0:0:0:0:0:0:1%1", 0.5)])
    assert sc.open_sockets() == [sock]
    cancelled = sorted(e.address[0] for e in sc.events if e.kind == "cancelled")
    assert cancelled == ["127.0.0.1", "::1"]
    # Nothing runs on after the call returned.
    await sleep(5)
    assert sc.open_sockets() == [sock] and len(sc.sockets) == 3


async def test_two_attempts_connecting_at_the_same_moment(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1"]), V4: (0, ["127.0.0.1"])},
        {"::1": (0.35, "ok"), "127.0.0.1": (0.1, "ok")},
    )
    sock = await sc.connect_to()
    assert sock.address == "::1"  # created first, finished first in the same cycle
    assert sc.open_sockets() == [sock]
    assert [s.closed for s in sc.sockets] == [False, True]


async def test_ipv6_unsupported_is_skipped(autojump_clock):
    sc = Scenario(
        {V6: (0, ["::1", "0:0:0:0:0:0:0:1%1"]), V4: (0.02, ["127.0.0.1"])},
        {"127.0.0.1": (0, "ok")},
        unsupported={V6},
    )
    sock = await sc.connect_to()
    assert sock.address == "127.0.0.1"
    # AAAA answered first; its socket could not be made, so IPv4 goes as soon
    # as A answers, without a Connection Attempt Delay.
    assert sc.starts == expect([("127.0.0.1", 0.02)])
    assert [e.kind for e in sc.events].count("unsupported") == 1


async def test_only_unsupported_addresses(autojump_clock):
    sc = Scenario({V6: (0, ["::1"]), V4: (0, [])}, unsupported={V6})
    with pytest.raises(OSError) as info:
        await sc.connect_to()
    assert info.value.errno == errno.EAFNOSUPPORT
    assert sc.sockets == []


# ---------------------------------------------------------------------------
# Cancellation: no socket may leak, whenever it strikes
# ---------------------------------------------------------------------------


def _busy_scenario():
    return Scenario(
        {V6: (0.03, ["::1", "0:0:0:0:0:0:0:1%1"]), V4: (0.01, ["127.0.0.1", "127.0.0.2", "127.0.0.3"])},
        {"::1": (0.3, "refused"), "0:0:0:0:0:0:0:1%1": (0, "hang"), "127.0.0.3": (0.4, "ok")},
    )


async def test_uncancelled_busy_scenario_reference(autojump_clock):
    sc = _busy_scenario()
    sock = await sc.connect_to()
    assert sock.address == "127.0.0.3"
    assert sc.starts == expect([
        ("::1", 0.03), ("127.0.0.1", 0.28), ("0:0:0:0:0:0:0:1%1", 0.33), ("127.0.0.2", 0.58), ("127.0.0.3", 0.83),
    ])  # fmt: skip
    assert await clock() == pytest.approx(1.23)


@pytest.mark.parametrize("at", [0, 0.01, 0.02, 0.03, 0.1, 0.28, 0.3, 0.33, 0.4, 0.58, 0.6, 0.83, 1.0, 1.22])
async def test_timeout_around_the_call_closes_every_socket(autojump_clock, at):
    sc = _busy_scenario()
    with pytest.raises(TaskTimeout):
        async with timeout_after(at):
            await sc.connect_to()
    assert await clock() == pytest.approx(at)
    assert sc.open_sockets() == []
    await sleep(10)  # nothing was left running either
    assert sc.open_sockets() == []


async def test_cancel_at_every_scheduling_step(autojump_clock):
    """Cancel the caller after 0, 1, 2, ... scheduling cycles at the same
    virtual instants, so the cancellation lands between every pair of awaits."""
    for steps in range(60):
        sc = _busy_scenario()
        task = await spawn(sc.connect_to)
        await sleep(0.33)  # mid-race: three attempts in flight
        for _ in range(steps):
            await sleep(0)
        await task.cancel()
        assert task.cancelled
        assert sc.open_sockets() == [], steps


async def test_cancel_at_every_blocking_point_of_the_caller(autojump_clock):
    """Cancelled at each of its own blocking points, the race closes every
    socket it opened; when it completes, only the winner is open."""
    scenarios = []

    async def race():
        scenarios.append(_busy_scenario())
        return await scenarios[-1].connect_to()

    def check(run):
        assert scenarios[-1].open_sockets() == ([run.result] if run.completed else []), run

    points = await cancel_at_every_blocking_point(race, check=check)
    assert points >= 5 and len(scenarios) == points + 1


async def test_cancellation_from_outside(autojump_clock):
    sc = _busy_scenario()
    task = await spawn(sc.connect_to)
    await sleep(0.5)
    assert len(sc.open_sockets()) == 2
    await task.cancel()
    assert isinstance(task.exception, CancelledError)
    assert sc.open_sockets() == []
    assert await clock() == pytest.approx(0.5)


async def test_cancelled_after_winning_closes_the_winner(autojump_clock):
    """A cancellation that lands after an attempt connected, while the losers
    are being cleaned up, must close the winner too."""
    sc = Scenario({V6: (0, ["::1"]), V4: (0, ["127.0.0.1"])}, {"::1": (0.3, "ok"), "127.0.0.1": (0, "hang")})
    for steps in range(8):
        sc.sockets.clear()
        task = await spawn(sc.connect_to)
        await sleep(0.3)
        for _ in range(steps):
            await sleep(0)
        await task.cancel()
        if task.cancelled:
            assert sc.open_sockets() == [], steps
        else:
            assert sc.open_sockets() == [task.result], steps
            task.result.closed = True


# ---------------------------------------------------------------------------
# Trace and logging
# ---------------------------------------------------------------------------


async def test_trace_reports_every_step_in_order(autojump_clock):
    sc = Scenario(
        {V6: (0.01, ["::1"]), V4: (0.02, ["127.0.0.1"])},
        {"::1": (0, "hang"), "127.0.0.1": (0.05, "ok")},
    )
    await sc.connect_to()
    lines = [(e.kind, pytest.approx(e.elapsed, abs=1e-9), e.address and e.address[0]) for e in sc.events]
    assert lines == [
        ("query", 0, None),
        ("query", 0, None),
        ("answer", 0.01, None),
        ("attempt", 0.01, "::1"),
        ("answer", 0.02, None),
        ("attempt", 0.26, "127.0.0.1"),
        ("connected", 0.31, "127.0.0.1"),
        ("done", 0.31, "127.0.0.1"),
        ("cancelled", 0.31, "::1"),
    ]
    assert "ms" in str(sc.events[3]) and "[::1]:80" in str(sc.events[3])


async def test_debug_logging(autojump_clock, caplog):
    sc = Scenario({V6: (0, ["::1"]), V4: (0, [])}, {"::1": (0, "ok")})
    with caplog.at_level(logging.DEBUG, logger="curionet.happy_eyeballs"):
        await open_tcp_stream(HOST, PORT, resolver=sc.resolver, socket_layer=sc)
    messages = [r.getMessage() for r in caplog.records if r.name == "curionet.happy_eyeballs"]
    assert any("attempt" in m and "[::1]:80" in m for m in messages)
    assert any(m.startswith(f"{HOST}:{PORT}") and "connected" in m for m in messages)


def test_reexported_from_curionet():
    assert curionet.open_tcp_stream is open_tcp_stream


def test_open_tcp_stream_signature_is_the_documented_one():
    import inspect

    params = inspect.signature(open_tcp_stream).parameters
    P = inspect.Parameter
    assert [(n, p.kind) for n, p in list(params.items())[:2]] == [
        ("host", P.POSITIONAL_OR_KEYWORD), ("port", P.POSITIONAL_OR_KEYWORD),
    ]  # fmt: skip
    documented = {
        "ssl": None,
        "server_hostname": None,
        "happy_eyeballs_delay": 0.25,
        "resolution_delay": 0.05,
        "first_address_family_count": 1,
        "local_address": None,
        "family": socket.AF_UNSPEC,
    }
    for name, default in documented.items():
        assert params[name].kind is P.KEYWORD_ONLY and params[name].default == default, name
    # Anything beyond the documented options (trace hook, injected resolver
    # and socket layer) is keyword-only and optional.
    for name, p in list(params.items())[2:]:
        assert p.kind is P.KEYWORD_ONLY and p.default is not P.empty, name


async def test_bad_family_rejected(autojump_clock):
    with pytest.raises(ValueError):
        await open_tcp_stream(HOST, PORT, family=socket.AF_UNIX)


async def test_a_failing_trace_hook_breaks_nothing(autojump_clock, caplog):
    sc = Scenario({V6: (0, ["::1"]), V4: (0, ["127.0.0.1"])}, {"::1": (0, "hang"), "127.0.0.1": (0, "ok")})

    def hook(event):
        raise RuntimeError("broken hook")

    sock = await sc.connect_to(trace=hook)
    assert sock.address == "127.0.0.1"
    assert sc.open_sockets() == [sock]
    assert "trace hook failed" in caplog.text


async def test_resolver_answers_of_another_family_are_ignored(autojump_clock):
    sc = Scenario({V6: (0, ["::1", "127.0.0.2"]), V4: (0, ["127.0.0.1"])}, {"127.0.0.1": (0, "ok")})
    await sc.connect_to()
    # 127.0.0.2 came back for the AAAA query: not an answer to it.
    assert sc.starts == expect([("::1", 0), ("127.0.0.1", 0.25)])


# ---------------------------------------------------------------------------
# Properties of the ordering rules
# ---------------------------------------------------------------------------


_addr_lists = st.lists(st.sampled_from(["::1", "::2", "::3", "::4", "127.0.0.1", "127.0.0.2", "127.0.0.3"]), max_size=9)


def _families(infos):
    return "".join("6" if i[0] == V6 else "4" for i in infos)


@given(_addr_lists, st.integers(min_value=1, max_value=4))
def test_interleave_properties(names, fafc):
    infos = [ai(n) for n in names]
    out = interleave(infos, fafc)
    unique = list(dict.fromkeys(names))
    assert sorted(addrs(out)) == sorted(unique)  # a permutation, duplicates dropped
    for fam in (V6, V4):  # each family keeps the resolver's order
        assert [i for i in out if i[0] == fam] == [ai(n) for n in unique if ai(n)[0] == fam]
    pattern = _families(out)
    n6, n4 = pattern.count("6"), pattern.count("4")
    if n6:
        head = min(fafc, n6)
        assert pattern.startswith("6" * head)
        rest = pattern[head:]
        # After the head start: strict alternation, IPv4 first, until one family runs out.
        k = min(len(rest.replace("6", "")), len(rest.replace("4", "")))
        assert rest[: 2 * k] == "46" * k or (n4 == 0)


@given(_addr_lists, _addr_lists, st.integers(min_value=0, max_value=5), st.integers(min_value=1, max_value=3))
def test_merge_addresses_properties(first, late, n_tried, fafc):
    ordered = interleave([ai(n) for n in first], fafc)
    tried, untried = ordered[:n_tried], ordered[n_tried:]
    merged = merge_addresses(tried, untried, [ai(n) for n in late], fafc)
    expected = set(addrs(untried)) | set(late)
    expected -= set(addrs(tried))
    assert sorted(addrs(merged)) == sorted(expected)  # nothing lost, nothing tried twice
    assert len(set(addrs(merged))) == len(merged)
    if tried and merged and {i[0] for i in merged} == {V4, V6} and {i[0] for i in tried} != {V6}:
        assert merged[0][0] != tried[-1][0]  # the family not tried last goes next
