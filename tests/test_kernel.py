"""The kernel: run forms, reuse, shutdown, deadlock detection, activations,
I/O waits, futures and cross-thread wake-ups."""

import concurrent.futures
import gc
import socket
import threading
import weakref

import pytest

import curionet
from curionet import (
    Activation,
    ClosedResourceError,
    Event,
    Kernel,
    ReadResourceBusy,
    TaskCancelled,
    WriteResourceBusy,
    run,
    sleep,
    spawn,
)
from curionet.kernel import current_kernel
from curionet.kernel.traps import _future_wait, _get_kernel, _io_release, _io_waiting, _read_wait, _write_wait


async def double(x):
    await sleep(0)
    return 2 * x


def test_run_function_and_coroutine():
    assert run(double, 21) == 42
    assert run(double(4)) == 8


def test_run_raises_the_main_exception_unchanged():
    async def main():
        await sleep(0)
        raise KeyError("main failed")

    with pytest.raises(KeyError):
        run(main)


def test_kernel_reused_across_runs_keeps_background_tasks():
    state = []

    async def background():
        try:
            while True:
                state.append("tick")
                await sleep(0)
        finally:
            state.append("reaped")

    async def start():
        return await spawn(background)

    async def later():
        await sleep(0)
        return "second"

    with Kernel() as k:
        task = k.run(start)
        assert not task.terminated
        assert k.run(later) == "second"
        assert state.count("tick") >= 1
    assert task.cancelled and state[-1] == "reaped"


def test_run_with_shutdown_closes_kernel():
    k = Kernel()
    assert k.run(double, 1, shutdown=True) == 2
    with pytest.raises(RuntimeError):
        k.run(double, 1)


def test_kernel_run_none_runs_one_cycle():
    seen = []

    async def step():
        seen.append(1)
        await sleep(0)
        seen.append(2)

    async def start():
        await spawn(step)

    with Kernel() as k:
        k.run(start)
        k.run()
        assert seen[:1] == [1]


def test_nested_run_is_refused():
    async def main():
        return run(double, 1)

    with pytest.raises(RuntimeError):
        run(main)


def test_two_kernels_in_one_thread_refused():
    k2 = Kernel()

    async def main():
        k2.run(double, 1)

    with pytest.raises(RuntimeError):
        run(main)
    k2.run(shutdown=True)


def test_deadlock_is_reported_not_hung():
    async def main():
        await Event().wait()

    with pytest.raises(RuntimeError, match="deadlock"):
        run(main)


def test_current_kernel_and_get_kernel():
    async def main():
        k = await _get_kernel()
        assert current_kernel() is k
        return k

    k = run(main)
    assert isinstance(k, Kernel)
    assert current_kernel() is None


def test_kernels_in_separate_threads():
    results = []

    def worker(n):
        results.append(run(double, n))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 2, 4, 6]


def test_activations_see_the_lifecycle():
    events = []

    class Recorder(Activation):
        def activate(self, kernel):
            events.append("activate")

        def created(self, task):
            events.append(("created", task.name.rsplit(".", 1)[-1]))

        def running(self, task):
            events.append("running")

        def suspended(self, task, trap):
            events.append("suspended")

        def terminated(self, task):
            events.append(("terminated", task.name.rsplit(".", 1)[-1]))

    run(double, 1, activations=[Recorder()])
    assert events[0] == "activate"
    assert ("created", "double") in events
    assert "running" in events and "suspended" in events
    assert ("terminated", "double") in events


def test_shutdown_cancels_tasks_blocked_forever():
    finals = []

    async def stuck():
        try:
            await Event().wait()
        finally:
            finals.append("cleaned")

    async def main():
        for _ in range(3):
            await spawn(stuck)
        await sleep(0)

    run(main)
    assert finals == ["cleaned"] * 3


async def test_read_write_wait_on_socketpair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:

        async def reader():
            await _read_wait(a)
            return a.recv(100)

        t = await spawn(reader)
        await sleep(0)
        assert (await _io_waiting(a))[0] is t
        b.send(b"hello")
        assert await t.join() == b"hello"
        await _write_wait(b)  # writable at once
    finally:
        await _io_release(a)
        await _io_release(b)
        a.close()
        b.close()


async def test_two_readers_on_one_fd_is_resource_busy():
    a, b = socket.socketpair()
    try:
        t = await spawn(_read_wait, a)
        await sleep(0)
        with pytest.raises(ReadResourceBusy):
            await _read_wait(a)
        w = await spawn(_write_wait, b)
        await w.join()
        await _write_wait(b)
        await t.cancel()
        # After the cancellation the fd is free for another reader.
        b.send(b"x")
        await _read_wait(a)
    finally:
        await _io_release(a)
        await _io_release(b)
        a.close()
        b.close()
    assert issubclass(WriteResourceBusy, curionet.ResourceBusy)


async def test_release_wakes_waiters_with_closed_error():
    a, b = socket.socketpair()
    try:

        async def reader():
            await _read_wait(a)

        t = await spawn(reader)
        await sleep(0)
        await _io_release(a)
        await t.wait()
        assert isinstance(t.exception, ClosedResourceError)
        assert isinstance(t.exception, OSError)
    finally:
        a.close()
        b.close()


async def test_cancel_io_wait_then_reuse():
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        t = await spawn(_read_wait, a)
        await sleep(0)
        await t.cancel()
        assert isinstance(t.exception, TaskCancelled)
        b.send(b"data")
        await _read_wait(a)
        assert a.recv(10) == b"data"
    finally:
        await _io_release(a)
        a.close()
        b.close()


async def test_future_wait_from_thread():
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(lambda: 7 * 6)
        await _future_wait(fut)
        assert fut.result() == 42


async def test_future_wait_cancelled():
    gate = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(gate.wait)

        t = await spawn(_future_wait, fut)
        await sleep(0)
        await t.cancel()
        assert t.cancelled
        gate.set()


async def test_call_soon_threadsafe_wakes_kernel():
    k = await _get_kernel()
    k.expect_threadsafe_calls()
    evt = Event()

    async def setter():
        await evt.set()

    def from_thread():
        k.call_soon_threadsafe(lambda: k.new_task(setter()))

    threading.Thread(target=from_thread).start()
    await evt.wait()


def test_curio_doc_producer_consumer_runs_unchanged():
    """The producer/consumer example from Curio's reference manual, with only
    the import changed."""
    import curionet as curio

    out = []

    async def producer(queue):
        for n in range(10):
            await queue.put(n)
        await queue.join()
        out.append("Producer done")

    async def consumer(queue):
        while True:
            item = await queue.get()
            out.append(item)
            await queue.task_done()

    async def main():
        q = curio.Queue()
        prod_task = await curio.spawn(producer(q))
        cons_task = await curio.spawn(consumer(q))
        await prod_task.join()
        await cons_task.cancel()

    curio.run(main())
    assert out == list(range(10)) + ["Producer done"]


def test_shutdown_reaps_tasks_spawned_during_cleanup():
    finals = []

    async def late():
        try:
            await Event().wait()
        finally:
            finals.append("late cleaned")

    async def stuck():
        try:
            await Event().wait()
        finally:
            await spawn(late)
            finals.append("stuck cleaned")

    async def main():
        await spawn(stuck)
        await sleep(0)

    run(main)
    assert finals == ["stuck cleaned", "late cleaned"]


# ---------------------------------------------------------------------------
# Curio 1.6 compatibility of the public API (names, signatures, async-ness)
# ---------------------------------------------------------------------------

# Curio 1.6's signatures (from its source), "async" marking the coroutine
# functions.  Where a function takes ``*args``, the positional parameters
# before it are matched by position only: Curio's source and manual name the
# coroutine parameter differently (``coro`` / ``corofunc``) and it is never
# passed by keyword.  Every other parameter must have Curio's name, kind (or a
# more permissive one) and default; curionet may add optional parameters.
CURIO_16 = {
    "run": "corofunc, *args, with_monitor=False, selector=None, debug=None, activations=None, **kernel_extra",
    "spawn": "async corofunc, *args, daemon=False",
    "current_task": "async ",
    "disable_cancellation": "coro=None, *args",
    "check_cancellation": "async exc_type=None",
    "set_cancellation": "async exc",
    "clock": "async ",
    "sleep": "async seconds",
    "timeout_after": "seconds, coro=None, *args",
    "ignore_after": "seconds, coro=None, *args, timeout_result=None",
    "Task.join": "async ",
    "Task.wait": "async ",
    "Task.cancel": "async *, exc=TaskCancelled, blocking=True",
    "Task.where": "",
    "Task.traceback": "",
    "TaskGroup": "tasks=(), *, wait=all",
    "TaskGroup.spawn": "async coro, *args, daemon=False",
    "TaskGroup.add_task": "async task",
    "TaskGroup.next_done": "async ",
    "TaskGroup.next_result": "async ",
    "TaskGroup.join": "async ",
    "TaskGroup.cancel_remaining": "async ",
    "Event": "",
    "Event.is_set": "",
    "Event.clear": "",
    "Event.wait": "async ",
    "Event.set": "async ",
    "Lock": "",
    "Lock.acquire": "async ",
    "Lock.release": "async ",
    "Lock.locked": "",
    "RLock": "",
    "RLock.acquire": "async ",
    "RLock.release": "async ",
    "RLock.locked": "",
    "Semaphore": "value=1",
    "Semaphore.acquire": "async ",
    "Semaphore.release": "async ",
    "Semaphore.locked": "",
    "BoundedSemaphore": "value=1",
    "Condition": "lock=None",
    "Condition.locked": "",
    "Condition.acquire": "async ",
    "Condition.release": "async ",
    "Condition.wait": "async ",
    "Condition.wait_for": "async predicate",
    "Condition.notify": "async n=1",
    "Condition.notify_all": "async ",
    "Result": "",
    "Result.is_set": "",
    "Result.unwrap": "async ",
    "Result.set_value": "async value",
    "Result.set_exception": "async exc",
    "Queue": "maxsize=0",
    "Queue.empty": "",
    "Queue.full": "",
    "Queue.qsize": "",
    "Queue.get": "async ",
    "Queue.put": "async item",
    "Queue.join": "async ",
    "Queue.task_done": "async ",
    "PriorityQueue": "maxsize=0",
    "LifoQueue": "maxsize=0",
    "Kernel": "*, selector=None, debug=None, activations=None, taskcls=Task, max_select_timeout=None",
    "Kernel.run": "corofunc=None, *args, shutdown=False",
}


def _curio_signature(spec):
    import inspect

    ns = {"all": all, "TaskCancelled": TaskCancelled, "Task": curionet.Task}
    return inspect.signature(eval(f"lambda {spec}: None", ns))


def _check_compatible(name, ours, spec):
    import inspect

    P = inspect.Parameter
    positional = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
    theirs = list(_curio_signature(spec).parameters.values())
    mine = list(ours.parameters.values())
    has_varargs = any(p.kind is P.VAR_POSITIONAL for p in theirs)
    t_pos = [p for p in theirs if p.kind in positional]
    m_pos = [p for p in mine if p.kind in positional]
    assert len(m_pos) >= len(t_pos), f"{name}: too few positional parameters"
    for t, m in zip(t_pos, m_pos, strict=False):
        if not has_varargs:
            assert m.name == t.name, f"{name}: parameter {m.name!r} should be {t.name!r}"
        assert m.default == t.default, f"{name}({t.name}): default {m.default!r} != {t.default!r}"
    mine_by_name = {p.name: p for p in mine}
    for t in theirs:
        if t.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            assert any(p.kind is t.kind for p in mine), f"{name}: no {t}"
        elif t.kind is P.KEYWORD_ONLY:
            m = mine_by_name.get(t.name)
            assert m is not None and m.kind in (P.KEYWORD_ONLY, P.POSITIONAL_OR_KEYWORD), f"{name}: no {t.name}="
            assert m.default == t.default, f"{name}({t.name}=): default {m.default!r} != {t.default!r}"
    matched = set(m_pos[: len(t_pos)]) | {p for p in mine if p.name in {t.name for t in theirs}}
    for p in mine:
        if p not in matched and p.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            assert p.default is not P.empty, f"{name}: extra required parameter {p.name!r}"


@pytest.mark.parametrize("name", sorted(CURIO_16))
def test_public_api_has_curio_16_signatures(name):
    import inspect

    spec = CURIO_16[name]
    is_async = spec.startswith("async ")
    spec = spec.removeprefix("async ")
    owner, _, attr = name.partition(".")
    obj = getattr(curionet, owner)  # importable from curionet itself
    func = getattr(obj, attr) if attr else obj
    ours = inspect.signature(func)
    if attr:
        ours = ours.replace(parameters=list(ours.parameters.values())[1:])  # drop self
    assert inspect.iscoroutinefunction(func) == is_async, f"{name}: async should be {is_async}"
    _check_compatible(name, ours, spec)


def test_task_and_taskgroup_attributes_and_errors_match_curio():
    async def main():
        t = await spawn(double, 1)
        await t.join()
        g = curionet.TaskGroup()
        await g.spawn(double, 2)
        await g.join()
        return t, g

    t, g = run(main)
    for attr in ("result", "exception", "cancelled", "terminated", "daemon", "id", "name"):
        assert hasattr(t, attr), attr
    assert (t.result, t.exception, t.cancelled, t.terminated, t.daemon) == (2, None, False, True, False)
    for attr in ("completed", "result", "results", "exception", "exceptions", "tasks"):
        assert hasattr(g, attr), attr
    assert g.results == [4]

    E = curionet
    # The cancellation family is outside Exception, as in Curio.
    assert issubclass(E.CancelledError, BaseException) and not issubclass(E.CancelledError, Exception)
    for cls in (E.TaskCancelled, E.TaskTimeout, E.TimeoutCancellationError):
        assert issubclass(cls, E.CancelledError)
    for cls in (E.TaskError, E.UncaughtTimeoutError, E.ResourceBusy, E.SyncIOError, E.AsyncOnlyError):
        assert issubclass(cls, E.CurioError) and not issubclass(cls, E.CancelledError)
    assert issubclass(E.ReadResourceBusy, E.ResourceBusy) and issubclass(E.WriteResourceBusy, E.ResourceBusy)
    assert E.CurioError is E.CurionetError


async def test_check_cancellation_takes_curios_keyword():
    await curionet.set_cancellation(curionet.TaskTimeout(1))
    got = await curionet.check_cancellation(exc_type=curionet.TaskTimeout)
    assert isinstance(got, curionet.TaskTimeout)
    assert await curionet.check_cancellation() is None


def test_pytest_plugin_is_registered_by_entry_point(pytestconfig):
    from importlib.metadata import entry_points

    import curionet.testing

    eps = [ep for ep in entry_points(group="pytest11") if ep.value == "curionet.testing"]
    assert [ep.name for ep in eps] == ["curionet"]
    assert pytestconfig.pluginmanager.get_plugin("curionet") is curionet.testing
    assert {"mock_clock", "autojump_clock", "kernel"} <= set(curionet.testing.__all__)


async def test_mock_clock_fixture_moves_only_by_jump(mock_clock):
    t = await spawn(sleep, 1)
    for _ in range(5):
        await sleep(0)
    assert not t.terminated  # no auto-jump: the sleeper waits for jump()
    assert await curionet.clock() == 0.0
    mock_clock.jump(1)
    await t.join()
    assert await curionet.clock() == 1.0


async def test_autojump_clock_fixture_jumps_when_all_tasks_block(autojump_clock):
    await sleep(3600)  # an hour of virtual time, no real waiting
    assert await curionet.clock() == 3600.0


@pytest.mark.skipif(not hasattr(__import__("select"), "epoll"), reason="epoll is Linux-only")
def test_kernel_polls_with_epoll_on_linux():
    import select

    with Kernel() as k:
        assert isinstance(k._poller._p, select.epoll)


# -- busy polling --------------------------------------------------------------


class _FakeTime:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


class _ScriptedPoller:
    """poll(0) finds nothing; a blocking poll returns one event after *wait* fake seconds."""

    def __init__(self, clock, spin_step=25e-6):
        self.clock = clock
        self.spin_step = spin_step
        self.wait = 10e-6
        self.spin_finds_event_after = None  # spin polls before an event shows up
        self.spins = 0
        self.blocking = []
        self.resend = True

    def poll(self, timeout):
        from curionet.kernel.io import send_hint

        if self.resend:
            send_hint.sent = True  # as if every wait followed a send (a request/response peer)
        if timeout == 0.0:
            self.spins += 1
            self.clock.now += self.spin_step
            if self.spin_finds_event_after is not None and self.spins >= self.spin_finds_event_after:
                return [(3, 1)]
            return []
        self.blocking.append(timeout)
        self.clock.now += self.wait
        return [(3, 1)]


@pytest.fixture
def spin_kernel(monkeypatch):
    import curionet.kernel.poll as kmod

    fake = _FakeTime()
    monkeypatch.setattr(kmod, "time", fake)
    monkeypatch.setattr(kmod, "_sched_yield", lambda: None)
    from curionet.kernel.io import send_hint

    send_hint.sent = True
    with Kernel(busy_poll=100e-6) as kernel:
        real = kernel._poller
        poller = _ScriptedPoller(fake)
        kernel._poller = poller
        yield kernel, poller, fake
        kernel._poller = real


def test_busy_poll_is_validated_and_off_with_a_mock_clock(monkeypatch):
    with pytest.raises(ValueError):
        Kernel(busy_poll=-1)
    with Kernel(clock=curionet.MockClock(), busy_poll=1e-3) as k:
        assert k._busy_poll == 0.0
    monkeypatch.setenv("CURIONET_BUSY_POLL", "0")
    with Kernel() as k:
        assert k._busy_poll == 0.0
    monkeypatch.delenv("CURIONET_BUSY_POLL")
    with Kernel() as k:
        assert k._busy_poll == pytest.approx(100e-6)


def test_failed_spins_back_off_and_short_waits_earn_them_back(spin_kernel):
    kernel, poller, clock = spin_kernel
    # First idle wait: spins the whole window (4 polls of 25 us), then blocks
    # for the rest of the timeout.
    assert kernel._idle_poll(1.0) == [(3, 1)]
    assert poller.spins == 4
    assert poller.blocking == [pytest.approx(1.0 - 100e-6)]
    # The next short wait blocks at once (skip 1), the one after spins again
    # and fails: now 2 waits are skipped, then 4, ...
    pattern = []
    for _ in range(1 + 1 + 2 + 1 + 4 + 1):
        before = poller.spins
        kernel._idle_poll(None)
        pattern.append(poller.spins > before)
    assert pattern == [False, True, False, False, True, False, False, False, False, True]
    # A spin that finds an event resets the back-off.
    poller.spins = 0
    poller.spin_finds_event_after = 2
    for _ in range(8):
        kernel._idle_poll(None)  # count the 8 skipped waits down
    assert kernel._spin_skip == 0
    assert kernel._idle_poll(None) == [(3, 1)]
    assert poller.spins == 2
    assert kernel._spin_backoff == 1


def test_a_kernel_watching_many_descriptors_does_not_spin(spin_kernel):
    kernel, poller, clock = spin_kernel
    fake_fds = range(10_000, 10_000 + 17)  # more than 16 descriptors watched
    for fd in fake_fds:
        kernel._fds[fd] = [None, None, 0, fd]
    try:
        assert kernel._idle_poll(1.0) == [(3, 1)]
        assert poller.spins == 0
        assert poller.blocking == [1.0]
    finally:
        for fd in fake_fds:
            del kernel._fds[fd]
    # Back to a few descriptors: the next wait spins again.
    from curionet.kernel.io import send_hint

    send_hint.sent = True
    kernel._idle_poll(1.0)
    assert poller.spins > 0


def test_long_waits_do_not_earn_spins_back(spin_kernel):
    kernel, poller, clock = spin_kernel
    kernel._idle_poll(None)  # the one failed spin of a quiet kernel
    poller.wait = 0.5  # then traffic is sparse: every wait is long
    for _ in range(20):
        before = poller.spins
        kernel._idle_poll(None)
        assert poller.spins == before
    assert kernel._spin_skip == 1


def test_a_timer_due_within_the_window_is_waited_for_without_spinning(spin_kernel):
    kernel, poller, clock = spin_kernel
    kernel._idle_poll(50e-6)
    assert poller.spins == 0 and poller.blocking == [50e-6]


def test_no_spin_unless_something_was_sent_since_the_last_wait(spin_kernel):
    from curionet.kernel.io import send_hint

    kernel, poller, clock = spin_kernel
    send_hint.sent = False
    poller.resend = False
    kernel._idle_poll(None)
    assert poller.spins == 0 and poller.blocking == [None]
    assert kernel._spin_skip == 0 and kernel._spin_backoff == 1  # a plain wait changes no spin state


async def test_sends_set_the_hint_the_kernel_clears():
    from curionet.kernel.io import send_hint

    a, b = curionet.socket.socketpair()
    async with a, b:
        for op in (lambda: a.send(b"x"), lambda: a.sendall(b"y"), lambda: a.as_stream().write(b"z")):
            send_hint.sent = False
            await op()
            assert send_hint.sent
        assert await b.recv(10) == b"xyz"
        # b waits for data that never comes: the kernel goes idle and clears the hint.
        async with curionet.ignore_after(0.01):
            await b.recv(10)
        assert not send_hint.sent


def test_echo_round_trips_with_and_without_busy_polling():
    async def main():
        a, b = curionet.socket.socketpair()
        async with a, b:
            for i in range(200):
                await a.sendall(b"%d" % i)
                assert await b.recv(100) == b"%d" % i
        return True

    for busy in (0, 100e-6):
        with Kernel(busy_poll=busy) as k:
            assert k.run(main)


# -- the timer heap keeps no ended task alive -------------------------------


async def test_the_timer_heap_keeps_no_ended_task_alive():
    # A timeout block or a sleep that ends early leaves its heap entry to go
    # stale until its deadline: that entry must not hold the task (an hour
    # here; a WebSocket's close_timeout in real code).  gc is off, so only
    # references count: a task held by the heap stays alive.
    async def leaves_block():
        async with curionet.timeout_after(3600):
            await sleep(0)

    async def cancelled_in_block():
        async with curionet.timeout_after(3600):
            await sleep(3600)

    gc.collect()
    gc.disable()
    try:
        refs = []
        for body, *args in ((leaves_block,), (cancelled_in_block,), (sleep, 3600)):
            t = await spawn(body, *args)
            await sleep(0)
            await sleep(0)
            if not t.terminated:
                await t.cancel()
            refs.append(weakref.ref(t))
            del t
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()
