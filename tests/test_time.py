"""sleep, clock and nested timeouts, on the mock clock with exact virtual times."""

import pytest

from curionet import (
    Event,
    Kernel,
    MockClock,
    TaskTimeout,
    TimeoutCancellationError,
    UncaughtTimeoutError,
    check_cancellation,
    clock,
    current_task,
    disable_cancellation,
    ignore_after,
    sleep,
    spawn,
    timeout_after,
)


async def test_sleep_returns_clock_and_advances_exactly(autojump_clock):
    assert await clock() == 0.0
    assert await sleep(1.5) == 1.5
    assert await clock() == 1.5


async def test_sleep_zero_is_a_pure_reschedule(autojump_clock):
    order = []

    async def other():
        order.append("other")

    await spawn(other)
    order.append("before")
    await sleep(0)
    order.append("after")
    assert order == ["before", "other", "after"]
    assert await clock() == 0.0


async def test_manual_jump_clock(mock_clock):
    async def sleeper():
        return await sleep(5)

    t = await spawn(sleeper)
    await sleep(0)
    mock_clock.jump(5)
    assert await t.join() == 5.0
    with pytest.raises(ValueError):
        mock_clock.jump(-1)


async def test_timeout_after_block_raises_at_deadline(autojump_clock):
    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(2):
            await sleep(10)
    assert info.value.args[0] == 2.0
    assert await clock() == 2.0


async def test_timeout_after_call_form_and_success(autojump_clock):
    async def work(x):
        await sleep(1)
        return x * 2

    assert await timeout_after(5, work, 21) == 42
    assert await clock() == 1.0
    with pytest.raises(TaskTimeout):
        await timeout_after(0.5, work, 1)
    assert await clock() == 1.5
    # The expired timer from the first call never fires later.
    await sleep(10)
    assert await clock() == 11.5


async def test_ignore_after_forms(autojump_clock):
    async def slow():
        await sleep(10)
        return "done"

    assert await ignore_after(1, slow) is None
    assert await ignore_after(1, slow, timeout_result="late") == "late"
    assert await ignore_after(20, slow) == "done"
    async with ignore_after(3) as block:
        await sleep(10)
    assert block.expired
    async with ignore_after(3) as block2:
        await sleep(1)
    assert not block2.expired
    assert await clock() == 1 + 1 + 10 + 3 + 1


async def test_timeout_none_means_no_timeout(autojump_clock):
    async with timeout_after(None):
        await sleep(100)
    assert await clock() == 100


async def test_nested_inner_expires_first(autojump_clock):
    seen = []
    async with timeout_after(10):
        try:
            async with timeout_after(1):
                await sleep(5)
        except TaskTimeout as e:
            seen.append(("inner", e.args[0]))
        await sleep(2)
    assert seen == [("inner", 1.0)]
    assert await clock() == 3.0


async def test_nested_outer_expires_first(autojump_clock):
    """Curio's documented example: the outer handler matches, the inner one
    sees TimeoutCancellationError."""
    seen = []
    try:
        async with timeout_after(1):
            try:
                async with timeout_after(5):
                    await sleep(1000)
            except TaskTimeout:
                seen.append("inner")
            except TimeoutCancellationError:
                seen.append("inner-cancel")
                raise
    except TaskTimeout as e:
        seen.append(("outer", e.args[0]))
    assert seen == ["inner-cancel", ("outer", 1.0)]
    assert await clock() == 1.0


async def test_nested_both_expire_at_once_outer_wins(autojump_clock):
    seen = []
    try:
        async with timeout_after(2):
            try:
                async with timeout_after(2):
                    await sleep(10)
            except TimeoutCancellationError:
                seen.append("inner saw cancellation")
                raise
    except TaskTimeout as e:
        seen.append(("outer", e.args[0]))
    assert seen == ["inner saw cancellation", ("outer", 2.0)]
    assert await clock() == 2.0


async def test_ignore_after_and_timeout_after_expiring_at_once(autojump_clock):
    # ignore_after inside timeout_after, same deadline: the outer timeout wins,
    # the inner block does not swallow it.
    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(2):
            async with ignore_after(2) as inner:
                await sleep(10)
    assert not inner.expired and info.value.args[0] == 2.0
    assert await clock() == 2.0
    # And the reverse: the outer ignore_after swallows it; the inner
    # timeout_after sees TimeoutCancellationError, not TaskTimeout.
    seen = []
    async with ignore_after(2) as outer:
        try:
            async with timeout_after(2):
                await sleep(10)
        except TimeoutCancellationError:
            seen.append("inner saw cancellation")
            raise
    assert outer.expired and seen == ["inner saw cancellation"]
    assert await clock() == 4.0


async def test_uncaught_inner_timeout_becomes_uncaught_error(autojump_clock):
    with pytest.raises(UncaughtTimeoutError):
        async with timeout_after(10):
            async with timeout_after(1):
                await sleep(5)
    assert await clock() == 1.0


async def test_ignore_after_inside_timeout_after(autojump_clock):
    async with timeout_after(10):
        async with ignore_after(1) as inner:
            await sleep(5)
        assert inner.expired
        await sleep(2)
    assert await clock() == 3.0
    # And the outer expiring while inside the ignore_after block:
    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(1):
            async with ignore_after(5) as inner2:
                await sleep(100)
    assert not inner2.expired
    assert info.value.args[0] == 4.0


async def test_timeout_after_inside_ignore_after(autojump_clock):
    seen = []
    async with ignore_after(1) as outer:
        try:
            async with timeout_after(5):
                await sleep(100)
        except TimeoutCancellationError:
            seen.append("inner saw cancellation")
            raise
    assert outer.expired and seen == ["inner saw cancellation"]
    assert await clock() == 1.0
    # Inner expiring first inside an ignore_after:
    async with ignore_after(10) as outer2:
        with pytest.raises(TaskTimeout):
            async with timeout_after(1):
                await sleep(100)
    assert not outer2.expired
    assert await clock() == 2.0


async def test_nested_ignore_after_both(autojump_clock):
    async with ignore_after(1) as outer:
        async with ignore_after(5) as inner:
            await sleep(100)
    assert outer.expired and not inner.expired
    assert await clock() == 1.0


async def test_timeout_inside_disable_cancellation_is_not_delivered(autojump_clock):
    async with disable_cancellation():
        async with timeout_after(1) as block:
            await sleep(3)  # not interrupted
            assert await clock() == 3.0
        assert block.expired
        assert await check_cancellation() is None  # the timeout did not linger
    await sleep(1)  # and nothing is delivered afterwards
    assert await clock() == 4.0


async def test_outer_timeout_expiring_inside_disabled_block_delivered_after(autojump_clock):
    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(1):
            async with disable_cancellation():
                await sleep(3)
            assert await clock() == 3.0
            await sleep(10)  # first blocking operation after the shield
    assert info.value.args[0] == 1.0
    assert await clock() == 3.0


async def test_deeply_nested_timeouts(autojump_clock):
    seen = []
    try:
        async with timeout_after(3):
            try:
                async with timeout_after(2):
                    try:
                        async with timeout_after(10):
                            await sleep(100)
                    except TimeoutCancellationError:
                        seen.append(3)
                        raise
            except TaskTimeout:
                seen.append(2)
    except TaskTimeout:
        seen.append(1)
    assert seen == [3, 2]
    assert await clock() == 2.0


async def test_timeout_applies_to_any_blocking_op(autojump_clock):
    evt = Event()
    with pytest.raises(TaskTimeout):
        await timeout_after(0.25, evt.wait)
    assert len(evt._waiting) == 0
    assert await clock() == 0.25


async def test_many_timeouts_do_not_grow_the_timer_heap_without_bound(autojump_clock):
    for _ in range(2000):
        async with timeout_after(100):
            await sleep(0)
    kernel = (await current_task())._kernel
    assert len(kernel._timers) < 600


def test_timeout_on_kernel_clock_argument():
    clk = MockClock(autojump_threshold=0)

    async def main():
        async with ignore_after(7):
            await sleep(100)
        return await clock()

    with Kernel(clock=clk) as k:
        assert k.run(main) == 7.0
