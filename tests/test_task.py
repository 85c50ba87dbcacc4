"""Tasks: spawn, join, wait, cancel, inspection, cancellation control."""

import gc
import logging

import pytest

import curionet
from curionet import (
    CancelledError,
    Event,
    TaskCancelled,
    TaskError,
    TaskTimeout,
    check_cancellation,
    clock,
    current_task,
    disable_cancellation,
    set_cancellation,
    sleep,
    spawn,
    timeout_after,
)


async def add(x, y):
    await sleep(0)
    return x + y


async def fail(exc):
    await sleep(0)
    raise exc


async def test_spawn_function_and_coroutine_object():
    t1 = await spawn(add, 1, 2)
    t2 = await spawn(add(3, 4))
    assert await t1.join() == 3
    assert await t2.join() == 7
    assert t1.terminated and not t1.cancelled
    assert t1.result == 3 and t1.exception is None


async def test_spawn_rejects_bad_arguments():
    with pytest.raises(TypeError):
        await spawn(add(1, 2), 3)
    with pytest.raises(TypeError):
        await spawn(len, "x")
    with pytest.raises(TypeError):
        await spawn(42)


async def test_join_raises_task_error_chained_to_cause():
    t = await spawn(fail, ValueError("boom"))
    with pytest.raises(TaskError) as info:
        await t.join()
    assert isinstance(info.value.__cause__, ValueError)
    assert isinstance(t.exception, ValueError)
    with pytest.raises(ValueError):
        _ = t.result


async def test_result_before_termination_is_an_error():
    evt = Event()
    t = await spawn(evt.wait)
    with pytest.raises(RuntimeError):
        _ = t.result
    await evt.set()
    await t.join()


async def test_wait_returns_nothing_and_raises_nothing():
    t = await spawn(fail, KeyError("k"))
    assert await t.wait() is None
    assert t.terminated
    assert isinstance(t.exception, KeyError)


async def test_ids_increase_and_names():
    t1 = await spawn(add, 1, 1)
    t2 = await spawn(add, 1, 1)
    assert t2.id > t1.id
    assert t1.name.endswith("add")
    me = await current_task()
    assert me.id < t1.id
    await t1.join()
    await t2.join()


async def test_where_and_traceback_point_at_the_wait():
    evt = Event()

    async def waiter():
        await evt.wait()  # <- where()

    t = await spawn(waiter)
    await sleep(0)
    filename, lineno = t.where()
    assert filename == __file__
    with open(filename) as f:
        assert "evt.wait()" in f.read().splitlines()[lineno - 1]
    assert t.state == "EVENT_WAIT"
    assert "test_task.py" in t.traceback()
    assert "EVENT_WAIT" in repr(t)
    await evt.set()
    await t.join()
    assert t.where() == (None, None)


async def test_cancel_blocking_runs_finally():
    log = []

    async def child():
        try:
            await sleep(1000)
        finally:
            log.append("finally")

    t = await spawn(child)
    await sleep(0)
    assert await t.cancel() is True
    assert log == ["finally"]
    assert t.cancelled and t.terminated
    assert isinstance(t.exception, TaskCancelled)
    with pytest.raises(TaskError) as info:
        await t.join()
    assert isinstance(info.value.__cause__, TaskCancelled)


async def test_cancel_before_task_first_runs():
    started = []

    async def child():
        started.append(1)
        await sleep(10)

    t = await spawn(child)
    await t.cancel()
    assert t.cancelled
    # It ran until its first blocking operation, where the pending
    # cancellation was delivered.
    assert started == [1]


async def test_cancel_non_blocking_and_twice():
    e1, e2 = Event(), Event()

    async def child():
        try:
            await sleep(1000)
        except CancelledError:
            await e1.set()
            await e2.wait()
            raise

    t = await spawn(child)
    await sleep(0)
    assert await t.cancel(blocking=False) is True
    await e1.wait()
    assert not t.terminated
    # A second cancel does not cancel again; it waits for the first.
    second = await spawn(t.cancel)
    await sleep(0)
    assert not second.terminated
    await e2.set()
    assert await second.join() is False
    assert t.cancelled


async def test_cancel_with_custom_exception():
    class Stop(CancelledError):
        pass

    async def child():
        try:
            await sleep(100)
        except Stop:
            return "stopped"

    t = await spawn(child)
    await sleep(0)
    await t.cancel(exc=Stop)
    assert t.result == "stopped"
    assert not t.cancelled


async def test_cancel_terminated_task_is_noop():
    t = await spawn(add, 1, 1)
    await t.join()
    assert await t.cancel() is False


async def test_task_catching_cancel_and_failing_is_logged(caplog):
    async def child():
        try:
            await sleep(100)
        except CancelledError:
            raise RuntimeError("cleanup failed")

    t = await spawn(child)
    await sleep(0)
    with caplog.at_level(logging.ERROR, logger="curionet"):
        await t.cancel()
    assert "failed while being cancelled" in caplog.text
    assert isinstance(t.exception, RuntimeError)


async def test_self_cancel_raises_at_next_blocking_point():
    me = await current_task()
    with pytest.raises(TaskCancelled):
        await me.cancel()


async def test_cancel_while_waiting_for_join():
    evt = Event()
    target = await spawn(evt.wait)

    async def joiner():
        return await target.join()

    j = await spawn(joiner)
    await sleep(0)
    await j.cancel()
    assert j.cancelled
    assert len(target._joining) == 0  # the joiner's wait was removed
    await evt.set()
    assert await target.join() is None


async def test_daemon_flag():
    t = await spawn(sleep, 100, daemon=True)
    assert t.daemon
    await t.cancel()


def test_unretrieved_crash_is_logged_once(caplog):
    from curionet import run

    async def main():
        await spawn(fail, ZeroDivisionError("never joined"))
        await sleep(0.001)

    with caplog.at_level(logging.ERROR, logger="curionet"):
        run(main)
        gc.collect()
    assert caplog.text.count("never retrieved") == 1
    assert "ZeroDivisionError" in caplog.text


def test_retrieved_crash_is_not_logged(caplog):
    from curionet import run

    async def main():
        t = await spawn(fail, ZeroDivisionError("joined"))
        with pytest.raises(TaskError):
            await t.join()

    with caplog.at_level(logging.ERROR, logger="curionet"):
        run(main)
        gc.collect()
    assert "never retrieved" not in caplog.text


async def test_disable_cancellation_defers_to_next_blocking_op():
    log = []

    async def child():
        async with disable_cancellation():
            await sleep(0.01)
            log.append("shielded sleep done")
            assert isinstance(await check_cancellation(), TaskCancelled)
        log.append("after block")
        try:
            await sleep(10)
        except TaskCancelled:
            log.append("delivered")
            raise

    t = await spawn(child)
    await sleep(0)
    await t.cancel()
    assert log == ["shielded sleep done", "after block", "delivered"]


async def test_disable_cancellation_function_form():
    async def work():
        await sleep(0.01)
        return 5

    async def child():
        return await disable_cancellation(work)

    t = await spawn(child)
    await sleep(0)
    await t.cancel()
    # The shielded call completed, then the cancellation hit the task's end.
    assert t.terminated


async def test_nested_disable_cancellation_restores_state():
    async with disable_cancellation():
        async with disable_cancellation():
            pass
        assert not (await current_task()).allow_cancel
    assert (await current_task()).allow_cancel


async def test_check_cancellation_raises_when_allowed():
    await set_cancellation(TaskCancelled("x"))
    with pytest.raises(TaskCancelled):
        await check_cancellation()
    assert await check_cancellation() is None


async def test_set_cancellation_delivered_at_next_block_and_returned():
    assert await set_cancellation(TaskCancelled()) is None
    assert not await check_cancellation(TaskTimeout)
    with pytest.raises(TaskCancelled):
        await sleep(1)
    prior = await set_cancellation(TaskCancelled("a"))
    assert prior is None
    async with disable_cancellation():
        got = await check_cancellation(TaskCancelled)
        assert isinstance(got, TaskCancelled)
        assert await check_cancellation() is None


async def test_cancel_clears_pending_timeouts_during_cleanup(autojump_clock):
    log = []

    async def child():
        async with timeout_after(1):
            try:
                await sleep(100)
            except TaskCancelled:
                await sleep(5)  # cleanup that outlives the deadline
                log.append("cleanup done")
                raise

    t = await spawn(child)
    await sleep(0.5)
    await t.cancel()
    assert log == ["cleanup done"]
    assert await clock() == 5.5


async def test_exception_and_group_results_raise_until_the_end_as_in_curio():
    # Curio 1.6 raises RuntimeError when a running task's exception, or a
    # group's results, are read before they exist; a None or [] read early
    # looked like "no failure" / "no results".
    async def child():
        await curionet.sleep(1)
        raise ValueError("late")

    t = await curionet.spawn(child)
    with pytest.raises(RuntimeError, match="not terminated"):
        _ = t.exception
    g = curionet.TaskGroup()
    await g.spawn(child)
    for name in ("result", "results", "exception", "exceptions"):
        with pytest.raises(RuntimeError, match="not yet terminated"):
            getattr(g, name)
    await g.join()
    assert isinstance(g.exceptions[0], ValueError)
    with pytest.raises(ValueError):
        _ = g.results
    await t.wait()
    assert isinstance(t.exception, ValueError)
