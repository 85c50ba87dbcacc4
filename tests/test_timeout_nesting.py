"""Nested timeouts: an outer deadline that has passed is never lost.

The matrix runs one scenario, an outer timeout block around an inner one,
over every pairing of ``timeout_after``/``ignore_after``, both orders of the
deadlines (and equal ones), three places the inner block's exception is
caught, and three contexts a task can be in, on the virtual clock with exact
times.  The rule under test (Curio's nesting rules): once the outer deadline
has passed, the first blocking call back in the outer block raises
``TaskTimeout`` (so the outer block ends at its deadline), whoever caught the
inner block's ``TimeoutCancellationError`` in between.
"""

import pytest

from curionet import (
    AWAIT,
    TaskCancelled,
    TaskGroup,
    TaskTimeout,
    TimeoutCancellationError,
    UncaughtTimeoutError,
    check_cancellation,
    clock,
    disable_cancellation,
    ignore_after,
    run,
    sleep,
    spawn,
    spawn_thread,
    timeout_after,
)

KINDS = {"timeout": timeout_after, "ignore": ignore_after}
# (outer deadline, inner deadline)
ORDERS = {"outer_first": (0.5, 5.0), "inner_first": (5.0, 0.5), "same": (0.5, 0.5)}
TIMEOUTS = (TaskTimeout, TimeoutCancellationError)


async def scenario(outer_kind, inner_kind, order, catch):
    """Outer block { [catch] { middle frame { [catch] { inner block { sleep(1) } } } }; sleep(10) }.

    Returns what happened, with the virtual time of each step."""
    outer_s, inner_s = ORDERS[order]
    log = []
    assert await clock() == 0.0

    async def inner_part():
        async with KINDS[inner_kind](inner_s) as inner:
            await sleep(1)
            log.append(("inner body done", await clock()))
        log.append(("inner block done", await clock(), inner.expired))

    async def caught_around():
        try:
            await inner_part()
        except TIMEOUTS as e:
            log.append(("caught around", type(e).__name__, e.args[0], await clock()))

    async def middle():
        # Frames between the inner block and a handler further out.
        try:
            await inner_part()
            log.append(("middle done", await clock()))
        finally:
            log.append(("middle finally", await clock()))

    async def body():
        if catch == "around":
            await caught_around()
        elif catch == "further":
            try:
                await middle()
            except TIMEOUTS as e:
                log.append(("caught further", type(e).__name__, e.args[0], await clock()))
        else:
            await inner_part()
        log.append(("resumed", await clock()))
        await sleep(10)
        log.append(("outer body done", await clock()))

    try:
        async with KINDS[outer_kind](outer_s) as outer:
            await body()
    except (TaskTimeout, UncaughtTimeoutError) as e:
        at = e.args[0] if isinstance(e, TaskTimeout) else None
        log.append(("outer raised", type(e).__name__, at, await clock()))
    else:
        log.append(("outer done", await clock(), outer.expired))
    return log


def expected(outer_kind, inner_kind, order, catch):
    """The log the rules predict."""
    log = []
    if order in ("outer_first", "same"):
        # At 0.5 the inner block gets TimeoutCancellationError (an ignore_after
        # does not swallow a timeout that is not its own).
        if catch == "around":
            log.append(("caught around", "TimeoutCancellationError", 0.5, 0.5))
        elif catch == "further":
            log += [("middle finally", 0.5), ("caught further", "TimeoutCancellationError", 0.5, 0.5)]
        if catch != "none":
            # The outer deadline has passed: the next blocking call raises.
            log.append(("resumed", 0.5))
        if outer_kind == "timeout":
            log.append(("outer raised", "TaskTimeout", 0.5, 0.5))
        else:
            log.append(("outer done", 0.5, True))
        return log
    # The inner deadline (0.5) comes first; the outer one (5) later.
    if inner_kind == "ignore":
        log.append(("inner block done", 0.5, True))
        if catch == "further":
            log += [("middle done", 0.5), ("middle finally", 0.5)]
    elif catch == "around":
        log.append(("caught around", "TaskTimeout", 0.5, 0.5))
    elif catch == "further":
        log += [("middle finally", 0.5), ("caught further", "TaskTimeout", 0.5, 0.5)]
    else:
        # The inner TaskTimeout escaped into a block whose deadline had not passed.
        log.append(("outer raised", "UncaughtTimeoutError", None, 0.5))
        return log
    log.append(("resumed", 0.5))
    if outer_kind == "timeout":
        log.append(("outer raised", "TaskTimeout", 5.0, 5.0))
    else:
        log.append(("outer done", 5.0, True))
    return log


async def run_in_context(context, *args):
    if context == "plain":
        return await scenario(*args)
    if context == "group":
        async def sibling():
            await sleep(0.25)
            return "sibling"

        async with TaskGroup() as g:
            await g.spawn(sibling)
            task = await g.spawn(scenario, *args)
        return task.result
    assert context == "thread"
    thread = await spawn_thread(lambda: AWAIT(scenario(*args)))
    return await thread.join()


@pytest.mark.parametrize("context", ["plain", "group", "thread"])
@pytest.mark.parametrize("catch", ["around", "further", "none"])
@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("outer_kind,inner_kind", [(o, i) for o in KINDS for i in KINDS])
async def test_nested_timeout_matrix(autojump_clock, outer_kind, inner_kind, order, catch, context):
    log = await run_in_context(context, outer_kind, inner_kind, order, catch)
    assert log == expected(outer_kind, inner_kind, order, catch)


def thread_scenario(clk, outer_kind, inner_kind, order, catch):
    """The scenario as async-thread code: plain ``with`` blocks and an
    ``AWAIT`` per operation.  The thread moves the manual clock itself, so
    the kernel never jumps while the thread runs plain code."""
    outer_s, inner_s = ORDERS[order]
    log = []
    try:
        with KINDS[outer_kind](outer_s) as outer:
            try:
                with KINDS[inner_kind](inner_s) as inner:
                    clk.jump(0.5)  # the earlier deadline passes
                    AWAIT(sleep(0))
                    log.append(("inner body done", clk.current_time()))
                log.append(("inner block done", clk.current_time(), inner.expired))
            except TIMEOUTS as e:
                if catch == "none":
                    raise
                log.append(("caught", type(e).__name__, e.args[0], clk.current_time()))
            AWAIT(sleep(0))
            log.append(("resumed", clk.current_time()))
            clk.jump(4.5)  # the later deadline passes
            AWAIT(sleep(0))
            log.append(("outer body done", clk.current_time()))
    except (TaskTimeout, UncaughtTimeoutError) as e:
        at = e.args[0] if isinstance(e, TaskTimeout) else None
        log.append(("outer raised", type(e).__name__, at, clk.current_time()))
    else:
        log.append(("outer done", clk.current_time(), outer.expired))
    return log


def expected_in_thread(outer_kind, inner_kind, order, catch):
    log = []
    if order == "outer_first":
        if catch == "around":
            log.append(("caught", "TimeoutCancellationError", 0.5, 0.5))
        at = 0.5  # raised at the first AWAIT after the catch
    elif inner_kind == "ignore":
        log += [("inner block done", 0.5, True), ("resumed", 0.5)]
        at = 5.0
    elif catch == "around":
        log += [("caught", "TaskTimeout", 0.5, 0.5), ("resumed", 0.5)]
        at = 5.0
    else:
        return [("outer raised", "UncaughtTimeoutError", None, 0.5)]
    if outer_kind == "timeout":
        log.append(("outer raised", "TaskTimeout", at, at))
    else:
        log.append(("outer done", at, True))
    return log


@pytest.mark.parametrize("catch", ["around", "none"])
@pytest.mark.parametrize("order", ["outer_first", "inner_first"])
@pytest.mark.parametrize("outer_kind,inner_kind", [(o, i) for o in KINDS for i in KINDS])
async def test_nested_timeouts_in_async_thread_code(mock_clock, outer_kind, inner_kind, order, catch):
    thread = await spawn_thread(thread_scenario, mock_clock, outer_kind, inner_kind, order, catch)
    assert await thread.join() == expected_in_thread(outer_kind, inner_kind, order, catch)


async def test_bug_report_outer_deadline_after_caught_inner_cancellation(autojump_clock):
    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(0.5):
            try:
                async with timeout_after(5):
                    await sleep(1)
            except TimeoutCancellationError:
                pass
            await sleep(2)
    assert info.value.args[0] == 0.5
    assert await clock() == 0.5


async def test_outer_deadline_redelivered_at_every_blocking_call_inside_the_inner_block(autojump_clock):
    """Code inside the inner block that swallows the outer block's TaskTimeout
    gets it again at its next blocking call, until the blocks unwind."""
    seen = []
    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(0.5):
            try:
                async with timeout_after(5):
                    for _ in range(3):
                        try:
                            await sleep(1)
                        except TaskTimeout as e:
                            seen.append((e.args[0], await clock()))
                    await sleep(1)
            except TimeoutCancellationError:
                seen.append("inner block cancelled")
            await sleep(2)
    assert seen == [(0.5, 0.5)] * 3 + ["inner block cancelled"]
    assert info.value.args[0] == 0.5 and await clock() == 0.5


async def test_block_that_catches_its_own_timeout_carries_on(autojump_clock):
    """Curio's rule for a block's own deadline: the TaskTimeout is delivered
    once; code that catches it inside the block carries on and the block
    ends normally with ``expired`` set."""
    async with timeout_after(0.5) as block:
        try:
            await sleep(1)
        except TaskTimeout as e:
            assert e.args[0] == 0.5
        await sleep(2)
        async with timeout_after(5):
            await sleep(1)
    assert block.expired
    assert await clock() == 3.5


async def test_each_enclosing_block_gets_its_turn(autojump_clock):
    """Three levels, the outermost expiring first: every handler that
    swallows the cancellation sees it come back at the next blocking call,
    up to the block the deadline belongs to."""
    seen = []
    async with ignore_after(0.5) as outer:
        try:
            async with timeout_after(5):
                try:
                    async with timeout_after(10):
                        await sleep(1)
                except TimeoutCancellationError:
                    seen.append(("innermost", await clock()))
                await sleep(1)
        except TimeoutCancellationError:
            seen.append(("middle", await clock()))
        await sleep(1)
    assert outer.expired
    assert seen == [("innermost", 0.5), ("middle", 0.5)]
    assert await clock() == 0.5


async def test_task_group_between_the_blocks_waits_for_its_members(autojump_clock):
    """The cancellation passes through a task group: the group cancels its
    member and waits for it to end before the outer block gets its
    TaskTimeout at the next blocking call."""
    log = []

    async def member():
        try:
            await sleep(100)
        finally:
            log.append(("member cleanup", await clock()))
            await sleep(0.25)  # cleanup that blocks
            log.append(("member ended", await clock()))

    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(0.5):
            try:
                async with TaskGroup() as g:
                    await g.spawn(member)
                    async with timeout_after(5):
                        await sleep(1)
            except TimeoutCancellationError:
                log.append(("caught", await clock()))
            await sleep(2)
    assert log == [("member cleanup", 0.5), ("member ended", 0.75), ("caught", 0.75)]
    assert info.value.args[0] == 0.5 and await clock() == 0.75


async def test_timeout_during_task_group_cleanup_waits_for_the_members(autojump_clock):
    """The block's deadline passes while the group waits for a member it
    cancelled: the group still waits; the body's own exception then ends the
    block and the undelivered timeout is dropped with it."""
    log = []

    async def member():
        try:
            await sleep(100)
        finally:
            await sleep(1)  # slow cleanup, past the deadline
            log.append(("member ended", await clock()))

    with pytest.raises(ValueError):
        async with timeout_after(0.5) as block:
            async with TaskGroup() as g:
                await g.spawn(member)
                await sleep(0.25)
                raise ValueError
    assert log == [("member ended", 1.25)] and not block.expired
    assert await clock() == 1.25
    await sleep(1)  # nothing left pending
    assert await clock() == 2.25


async def test_outer_deadline_passing_in_a_shield_inside_the_inner_block(autojump_clock):
    """disable_cancellation() defers the delivery to the first blocking call
    after the shield; from there the usual rule applies."""
    seen = []
    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(0.5):
            try:
                async with timeout_after(5):
                    async with disable_cancellation():
                        await sleep(1)  # not interrupted
                        assert isinstance(await check_cancellation(), TaskTimeout)
                    seen.append(("shield done", await clock()))
                    await sleep(1)
            except TimeoutCancellationError:
                seen.append(("caught", await clock()))
            await sleep(2)
    assert seen == [("shield done", 1.0), ("caught", 1.0)]
    assert info.value.args[0] == 0.5 and await clock() == 1.0


async def test_check_cancellation_sees_the_outer_deadline_again(autojump_clock):
    seen = []
    with pytest.raises(TaskTimeout):
        async with timeout_after(0.5):
            async with timeout_after(5):
                async with disable_cancellation():
                    await sleep(1)
                    for _ in range(2):
                        exc = await check_cancellation(TaskTimeout)
                        seen.append(type(exc).__name__)
                await sleep(1)
    assert seen == ["TaskTimeout", "TaskTimeout"]
    assert await clock() == 1.0


async def test_thread_block_inside_nested_timeouts(mock_clock):
    """An ``async with spawn_thread():`` body inside the inner block: the
    owner's expired outer deadline is raised at every AWAIT and again after
    the inner block's cancellation is caught."""
    seen = []

    with pytest.raises(TaskTimeout) as info:
        async with timeout_after(0.5):
            try:
                async with timeout_after(5):
                    async with spawn_thread():
                        mock_clock.jump(0.5)
                        for _ in range(2):
                            try:
                                AWAIT(sleep(0))
                            except TaskTimeout as e:
                                seen.append(e.args[0])
                        AWAIT(sleep(0))
                        seen.append("not reached")
            except TimeoutCancellationError:
                seen.append("caught")
            await sleep(0)  # a blocking call (and one that cannot hang on the manual clock)
    assert seen == [0.5, 0.5, "caught"]
    assert info.value.args[0] == 0.5 and await clock() == 0.5


def test_on_the_real_clock():
    """The same nesting on the system clock, where the timeout arrives a
    little after the deadline: the outer block still ends at the first
    blocking call after the inner block."""

    async def main():
        reached = []
        async with ignore_after(0.05) as outer:
            try:
                async with timeout_after(5):
                    await sleep(1)
            except TimeoutCancellationError:
                reached.append("caught")
            await sleep(2)
            reached.append("slept")
        return outer.expired, reached

    assert run(main) == (True, ["caught"])


@pytest.mark.parametrize("nested", [False, True])
async def test_cancel_is_not_lost_behind_a_pending_timeout(autojump_clock, nested):
    """A task is cancelled while a timeout is pending on it (its deadline
    passed inside a shield, or it is raised again inside a nested block):
    the cancellation wins and is delivered after the shield."""
    log = []

    async def child():
        async with ignore_after(0.5) as block:
            if nested:
                async with timeout_after(5):
                    try:
                        await sleep(1)
                    except TaskTimeout:
                        log.append(("caught", await clock()))  # pending again from here
                    async with disable_cancellation():
                        await sleep(0.5)
                    await sleep(1)
            else:
                async with disable_cancellation():
                    await sleep(1)
                await sleep(1)
        log.append(("after block", await clock(), block.expired))
        await sleep(10)
        log.append("not reached")

    task = await spawn(child)
    await sleep(0.75)
    await task.cancel()
    assert log == ([("caught", 0.5)] if nested else [])
    assert isinstance(task.exception, TaskCancelled)
    assert await clock() == 1.0
