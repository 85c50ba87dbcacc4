"""The test helpers curionet ships in ``curionet.testing``: the fake network
``Scenario`` and the cancel-at-the-n-th-blocking-point driver."""

from __future__ import annotations

import errno
import socket

import pytest

from curionet import Event, TaskCancelled, TaskError, clock, disable_cancellation, sleep, spawn
from curionet.testing import (
    CancelRun,
    FakeSocket,
    Scenario,
    cancel_at_blocking_point,
    cancel_at_every_blocking_point,
)

V6, V4 = socket.AF_INET6, socket.AF_INET


# ---------------------------------------------------------------------------
# cancel_at_blocking_point / cancel_at_every_blocking_point
# ---------------------------------------------------------------------------


async def three_points(log):
    """Three blocking points (the protected sleep is not one)."""
    try:
        await sleep(1)
        log.append("slept 1")
        await sleep(0)
        log.append("rescheduled")
        async with disable_cancellation():
            await sleep(1)
        log.append("protected")
        await sleep(2)
        log.append("slept 2")
        return "done"
    finally:
        log.append("finally")


async def test_each_run_is_cancelled_exactly_at_its_nth_point(autojump_clock):
    expected_logs = {
        1: ["finally"],
        2: ["slept 1", "finally"],
        3: ["slept 1", "rescheduled", "protected", "finally"],
    }
    for n, expected in expected_logs.items():
        log = []
        start = await clock()
        run = await cancel_at_blocking_point(n, three_points, log)
        assert (run.n, run.blocking_points, run.fired, run.completed) == (n, n, True, False)
        assert log == expected
        assert await clock() == start + {1: 0, 2: 1, 3: 2}[n]  # cancelled at once, not after the sleep


async def test_a_run_with_fewer_points_completes(autojump_clock):
    log = []
    run = await cancel_at_blocking_point(4, three_points, log)
    assert run == CancelRun(n=4, blocking_points=3, fired=False, completed=True, result="done")
    assert log[-2:] == ["slept 2", "finally"]


async def test_every_point_is_swept_and_checked(autojump_clock):
    runs = []

    async def check(run):
        await sleep(0)  # an async check is awaited
        runs.append((run.n, run.completed))

    assert await cancel_at_every_blocking_point(three_points, [], check=check) == 3
    assert runs == [(1, False), (2, False), (3, False), (4, True)]


async def test_a_swallowed_cancellation_shows_as_fired_and_completed(autojump_clock):
    async def swallows():
        try:
            await sleep(1)
        except TaskCancelled:
            return "ignored"
        return "slept"

    run = await cancel_at_blocking_point(1, swallows)
    assert (run.fired, run.completed, run.result) == (True, True, "ignored")


async def test_a_cancellation_turned_into_another_error_fails(autojump_clock):
    async def converts():
        try:
            await sleep(1)
        except TaskCancelled:
            raise RuntimeError("oops") from None

    with pytest.raises(AssertionError, match="blocking point 1.*RuntimeError") as info:
        await cancel_at_blocking_point(1, converts)
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_a_crash_before_the_cancellation_is_raised(autojump_clock):
    async def crashes():
        await sleep(1)
        raise KeyError("boom")

    with pytest.raises(TaskError) as info:
        await cancel_at_blocking_point(5, crashes)
    assert isinstance(info.value.__cause__, KeyError)


async def test_bad_n_and_a_limit_too_low(autojump_clock):
    with pytest.raises(ValueError):
        await cancel_at_blocking_point(0, sleep, 1)

    async def long():
        for _ in range(10):
            await sleep(1)

    with pytest.raises(AssertionError, match="blocking point 3"):
        await cancel_at_every_blocking_point(long, limit=3)


async def test_cancelling_the_caller_cancels_the_run(autojump_clock):
    log = []

    async def caller():
        await cancel_at_blocking_point(10, three_points, log)

    task = await spawn(caller)
    await sleep(0.5)
    await task.cancel()
    assert task.cancelled
    assert log == ["finally"]


# ---------------------------------------------------------------------------
# Scenario
# ---------------------------------------------------------------------------


async def test_scenario_resolves_connects_and_records(autojump_clock):
    sc = Scenario({V6: (0.01, ["::1"]), V4: (0.02, ["127.0.0.1"])}, {"::1": (0.1, "ok")}, host="svc.test", port=8080)
    sock = await sc.connect_to()
    assert isinstance(sock, FakeSocket)
    assert (sock.family, sock.address, sock.connected, sock.closed) == (V6, "::1", True, False)
    assert sc.starts == [("::1", pytest.approx(0.01))]
    assert sc.queries == [(V6, 0), (V4, 0)]
    assert sc.open_sockets() == [sock]
    assert [e.kind for e in sc.events][-1] == "done"
    infos = await sc.resolver("svc.test", 8080, V4)
    assert infos == [(V4, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 8080))]


async def test_scenario_outcomes(autojump_clock):
    unreachable = OSError(errno.ENETUNREACH, "Network is unreachable")
    sc = Scenario(
        {V6: (0, ["::1"]), V4: (0, ["127.0.0.1", "127.0.0.2", "127.0.0.3"])},
        {"127.0.0.1": (0.1, unreachable), "127.0.0.2": (0.2, "refused"), "127.0.0.3": (0.3, "ok")},
        unsupported=[V6],
    )
    sock = await sc.connect_to()
    assert sock.address == "127.0.0.3"
    assert sc.starts == [("127.0.0.1", 0), ("127.0.0.2", pytest.approx(0.1)), ("127.0.0.3", pytest.approx(0.3))]
    assert [s.family for s in sc.sockets] == [V4, V4, V4]  # no IPv6 socket could be made
    assert [e.kind for e in sc.events].count("unsupported") == 1
    failures = [e.detail for e in sc.events if e.kind == "failed"]
    assert "Network is unreachable" in failures[0] and "refused by 127.0.0.2" in failures[1]
    assert sc.open_sockets() == [sock]


def test_scenario_rejects_an_unknown_outcome():
    with pytest.raises(ValueError, match="bogus"):
        Scenario({}, {"127.0.0.1": (0, "bogus")})


async def test_scenario_unknown_name_and_silent_family(autojump_clock):
    sc = Scenario({V4: (0, ["127.0.0.1"])})
    with pytest.raises(socket.gaierror):
        await sc.resolver("elsewhere.test", 80, V4)
    waiter = await spawn(sc.resolver, "dual.test", 80, V6)
    await sleep(100)
    assert not waiter.terminated  # a family missing from dns never answers
    await waiter.cancel()


async def test_scenario_closing_twice_is_reported(autojump_clock):
    sc = Scenario({})
    sock = sc.socket(V4, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    await sc.close(sock)
    with pytest.raises(AssertionError, match="closed twice"):
        await sc.close(sock)


async def test_scenario_hangs_until_cancelled(autojump_clock):
    sc = Scenario({V4: (0, ["127.0.0.1"])})  # unknown peer: hangs
    done = Event()

    async def connect():
        try:
            await sc.connect_to()
        finally:
            await done.set()

    task = await spawn(connect)
    await sleep(60)
    assert not done.is_set()
    await task.cancel()
    assert sc.open_sockets() == []
