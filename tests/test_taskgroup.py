"""TaskGroup: wait policies, results, cancellation, membership."""

import gc
import logging

import pytest

from curionet import (
    Event,
    TaskCancelled,
    TaskGroup,
    TaskTimeout,
    clock,
    ignore_after,
    sleep,
    spawn,
    timeout_after,
)


async def value_after(delay, value):
    await sleep(delay)
    return value


async def fail_after(delay, exc):
    await sleep(delay)
    raise exc


async def test_wait_all_collects_results_by_task_id(autojump_clock):
    async with TaskGroup() as g:
        await g.spawn(value_after, 3, "a")
        await g.spawn(value_after, 1, "b")
        await g.spawn(value_after, 2, "c")
    assert g.results == ["a", "b", "c"]
    assert g.exceptions == [None, None, None]
    assert g.completed is not None and g.completed.result == "b"
    assert g.result == "b"
    assert await clock() == 3


async def test_wait_any_cancels_the_rest(autojump_clock):
    async with TaskGroup(wait=any) as g:
        slow = await g.spawn(value_after, 10, "slow")
        await g.spawn(value_after, 1, "fast")
    assert g.result == "fast"
    assert slow.cancelled
    assert await clock() == 1


async def test_wait_object_skips_none_and_failures(autojump_clock):
    async with TaskGroup(wait=object) as g:
        await g.spawn(value_after, 1, None)
        await g.spawn(fail_after, 2, OSError("refused"))
        await g.spawn(value_after, 3, "sock")
        last = await g.spawn(value_after, 4, "late")
    assert g.result == "sock"
    assert last.cancelled
    assert await clock() == 3


async def test_wait_object_nothing_valid(autojump_clock):
    async with TaskGroup(wait=object) as g:
        await g.spawn(value_after, 1, None)
    with pytest.raises(RuntimeError):
        _ = g.result
    assert g.exception is None


async def test_wait_none_cancels_immediately(autojump_clock):
    async with TaskGroup(wait=None) as g:
        t = await g.spawn(value_after, 5, 1)
    assert t.cancelled
    assert await clock() == 0


async def test_failure_under_wait_all_cancels_remaining(autojump_clock):
    async with TaskGroup() as g:
        bad = await g.spawn(fail_after, 1, ValueError("bad"))
        other = await g.spawn(value_after, 10, "x")
    assert other.cancelled
    assert isinstance(g.exception, ValueError)
    with pytest.raises(ValueError):
        _ = g.result
    with pytest.raises(ValueError):
        _ = g.results
    assert bad in g.tasks
    assert await clock() == 1


async def test_body_exception_cancels_all_and_propagates(autojump_clock):
    tasks = []
    with pytest.raises(RuntimeError):
        async with TaskGroup() as g:
            tasks.append(await g.spawn(value_after, 10, 1))
            tasks.append(await g.spawn(value_after, 10, 2, daemon=True))
            raise RuntimeError()
    assert all(t.terminated and t.cancelled for t in tasks)


async def test_daemon_tasks_ignored_then_cancelled(autojump_clock):
    async with TaskGroup() as g:
        d = await g.spawn(value_after, 100, "daemon", daemon=True)
        await g.spawn(value_after, 1, "worker")
    assert g.results == ["worker"]
    assert d.cancelled
    assert d not in g.tasks
    assert await clock() == 1


async def test_existing_tasks_and_add_task(autojump_clock):
    t1 = await spawn(value_after, 1, "one")
    t2 = await spawn(value_after, 2, "two")
    async with TaskGroup([t1]) as g:
        await g.add_task(t2)
    assert g.results == ["one", "two"]
    with pytest.raises(RuntimeError):
        await TaskGroup().add_task(t1)  # already in a group


async def test_next_done_and_next_result(autojump_clock):
    async with TaskGroup() as g:
        await g.spawn(value_after, 2, "b")
        await g.spawn(value_after, 1, "a")
        first = await g.next_done()
        assert first.result == "a"
        assert await g.next_result() == "b"
        assert await g.next_done() is None
        with pytest.raises(RuntimeError):
            await g.next_result()


async def test_async_for_over_finished_tasks(autojump_clock):
    seen = []
    async with TaskGroup() as g:
        for d in (3, 1, 2):
            await g.spawn(value_after, d, d)
        async for task in g:
            seen.append(task.result)
    assert seen == [1, 2, 3]


async def test_joining_a_member_removes_it(autojump_clock):
    async with TaskGroup() as g:
        t = await g.spawn(value_after, 1, "mine")
        other = await g.spawn(value_after, 2, "group's")
        assert await t.join() == "mine"
        assert t not in g.tasks
    assert g.results == ["group's"]
    assert other in g.tasks


async def test_cancelling_a_member_directly_removes_it(autojump_clock):
    async with TaskGroup() as g:
        t = await g.spawn(value_after, 10, "x")
        await g.spawn(value_after, 1, "y")
        await t.cancel()
    assert g.results == ["y"]


async def test_cancel_remaining(autojump_clock):
    g = TaskGroup()
    await g.cancel_remaining()
    t = await g.spawn(value_after, 10, 1)
    await g.cancel_remaining()
    assert t.cancelled
    assert g.tasks == []
    await g.join()


async def test_cancelling_join_cancels_members(autojump_clock):
    members = []

    async def parent():
        async with TaskGroup() as g:
            members.append(await g.spawn(value_after, 100, 1))
            members.append(await g.spawn(value_after, 100, 2))

    p = await spawn(parent)
    await sleep(1)
    await p.cancel()
    assert all(m.cancelled for m in members)
    assert isinstance(p.exception, TaskCancelled)


async def test_cancellation_while_in_next_done(autojump_clock):
    g = TaskGroup()
    await g.spawn(value_after, 100, 1)
    with pytest.raises(TaskTimeout):
        await timeout_after(1, g.next_done)
    assert len(g._waiting) == 0  # no stranded waiter
    t2 = await g.spawn(value_after, 1, 2)
    done = await g.next_done()
    assert done is t2
    await g.cancel_remaining()


async def test_timeout_around_group(autojump_clock):
    async with ignore_after(2) as block:
        async with TaskGroup() as g:
            t = await g.spawn(value_after, 10, 1)
    assert block.expired and t.cancelled


async def test_spawn_after_join_is_an_error(autojump_clock):
    g = TaskGroup()
    await g.join()
    with pytest.raises(RuntimeError):
        await g.spawn(value_after, 1, 1)


async def test_empty_group_result(autojump_clock):
    async with TaskGroup() as g:
        pass
    assert g.exception is None
    assert g.results == []
    with pytest.raises(RuntimeError):
        _ = g.result


def test_unchecked_group_failure_is_logged(caplog):
    """Curio 1.6 lets a member's exception pass silently when nobody reads the
    group's results; curionet reports it once."""
    from curionet import run

    async def main():
        async with TaskGroup() as g:
            await g.spawn(fail_after, 0, KeyError("lost"))

    gc.collect()
    with caplog.at_level(logging.ERROR, logger="curionet"):
        run(main)
        gc.collect()
    assert caplog.text.count("never retrieved") == 1


def test_checked_group_failure_is_not_logged(caplog):
    from curionet import run

    async def main():
        async with TaskGroup() as g:
            await g.spawn(fail_after, 0, KeyError("seen"))
        assert isinstance(g.exceptions[0], KeyError)

    with caplog.at_level(logging.ERROR, logger="curionet"):
        run(main)
        gc.collect()
    assert "never retrieved" not in caplog.text


async def test_members_waiting_on_event_all_finish(autojump_clock):
    evt = Event()
    async with TaskGroup() as g:
        for _ in range(10):
            await g.spawn(evt.wait)
        await sleep(1)
        await evt.set()
    assert g.results == [None] * 10


async def test_result_collected_by_caller_completes_wait_object_group(autojump_clock):
    """Curio's Happy Eyeballs recipe: take the winner with next_result() and
    leave the block while a losing attempt still hangs.  join() must not wait
    for a second winner (Curio 1.6 hangs here)."""
    hanging = []
    async with TaskGroup(wait=object) as g:
        hanging.append(await g.spawn(value_after, 1000, "never"))
        await g.spawn(value_after, 1, "winner")
        while True:
            result = await g.next_result()
            if result:
                break
    assert g.completed is not None and g.result == "winner"
    assert hanging[0].cancelled
    assert await clock() == 1


async def test_task_collected_by_caller_completes_wait_any_group(autojump_clock):
    async with TaskGroup(wait=any) as g:
        slow = await g.spawn(value_after, 1000, "slow")
        await g.spawn(value_after, 1, "fast")
        first = await g.next_done()
    assert first.result == "fast" and g.result == "fast"
    assert slow.cancelled
    assert await clock() == 1


async def test_wait_all_still_waits_for_everything_after_next_done(autojump_clock):
    async with TaskGroup() as g:
        await g.spawn(value_after, 1, "a")
        await g.spawn(value_after, 3, "b")
        first = await g.next_done()
        assert first.result == "a"
    assert g.results == ["a", "b"]
    assert await clock() == 3


async def test_cancelling_an_explicit_join(autojump_clock):
    """Cancellation at the TaskGroup.join() blocking point: the joiner sees it
    and runs its finally, every member is cancelled (and runs its own
    finally), and a task waiting in next_done() on the same group is released
    instead of being stranded."""
    log = []

    async def member(n):
        try:
            await sleep(100)
        finally:
            log.append(f"member {n} finally")

    g = TaskGroup()
    members = [await g.spawn(member, n) for n in range(2)]

    async def joiner():
        try:
            await g.join()
        except TaskCancelled:
            log.append("joiner saw cancel")
            raise
        finally:
            log.append("joiner finally")

    j = await spawn(joiner)
    other = await spawn(g.next_done)
    await sleep(1)
    assert j.state not in ("READY", "TERMINATED")
    await j.cancel()
    assert j.cancelled
    # join() cancels the members before the cancellation leaves it.
    assert log == ["member 0 finally", "member 1 finally", "joiner saw cancel", "joiner finally"]
    assert all(m.cancelled for m in members)
    assert await timeout_after(1, other.join) is None  # released, no member left
    assert len(g._waiting) == 0
    assert await g.next_done() is None  # the group still answers
    assert await clock() == 1


async def test_cancel_remaining_releases_next_done_waiters(autojump_clock):
    g = TaskGroup()
    t = await g.spawn(value_after, 100, 1)
    waiters = [await spawn(g.next_done) for _ in range(2)]
    await sleep(0)
    await g.cancel_remaining()
    assert t.cancelled
    for w in waiters:
        assert await timeout_after(1, w.join) is None
    assert len(g._waiting) == 0 and await clock() == 0


async def test_directly_cancelled_last_member_releases_next_done(autojump_clock):
    g = TaskGroup()
    t = await g.spawn(value_after, 100, 1)
    waiter = await spawn(g.next_done)
    await sleep(0)
    await t.cancel()  # removes t from the group
    assert await timeout_after(1, waiter.join) is None
    assert len(g._waiting) == 0


async def test_last_member_finishing_releases_every_next_done_waiter(autojump_clock):
    g = TaskGroup()
    t = await g.spawn(value_after, 1, "only")
    waiters = [await spawn(g.next_done) for _ in range(3)]
    results = [await timeout_after(5, w.join) for w in waiters]
    assert results.count(t) == 1 and results.count(None) == 2
    assert await clock() == 1
