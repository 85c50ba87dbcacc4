"""The kernel's public extension API (curionet.kernel.lowlevel and the
documented Kernel methods)."""

import threading

import pytest

import curionet
import curionet.traps
from curionet import Event, Kernel, TaskCancelled, TaskGroup, sleep
from curionet.kernel import kernel as kernel_module, lowlevel


def test_traps_are_the_kernel_traps_under_public_names():
    assert lowlevel.read_wait is curionet.traps._read_wait
    assert lowlevel.scheduler_wait is curionet.traps._scheduler_wait
    for name in lowlevel.__all__:
        assert hasattr(lowlevel, name), name


def test_new_task_cancel_task_and_inspection():
    seen = {}

    async def sleeper():
        await sleep(10)

    async def main():
        k = await lowlevel.get_kernel()
        me = await lowlevel.get_current()
        seen["main"] = k.main_task is me and k.current_task is me
        t = k.new_task(sleeper(), daemon=True)
        assert k.get_task(t.id) is t
        assert k.task_count == 2
        await sleep(0)
        k.cancel_task(t, TaskCancelled, "by the test")
        await t.wait()
        seen["cancelled"] = t.cancelled
        seen["message"] = str(t.exception)
        assert k.get_task(t.id) is None

    with Kernel() as k:
        k.run(main)
        assert k.main_task is None and k.current_task is None
    assert k.closed
    assert seen == {"main": True, "cancelled": True, "message": "by the test"}


def test_registered_pools_and_callbacks_close_at_shutdown():
    closed = []

    class Pool:
        def close(self):
            closed.append("pool")

    kernel = Kernel()
    pool = Pool()
    assert kernel.register_pool("mine", pool) is pool
    assert kernel.pools["mine"] is pool
    with pytest.raises(RuntimeError, match="already has a pool named 'mine'"):
        kernel.register_pool("mine", Pool())
    kernel.add_shutdown_callback(lambda: closed.append("callback"))
    kernel.run(shutdown=True)
    assert closed == ["pool", "callback"]


def test_threadsafe_calls_wake_a_kernel_that_expects_them():
    async def main():
        k = await lowlevel.get_kernel()
        k.expect_threadsafe_calls()
        k.expect_threadsafe_calls()  # idempotent
        evt = Event()

        async def setter():
            await evt.set()

        threading.Thread(target=k.call_soon_threadsafe, args=(lambda: k.new_task(setter()),)).start()
        await evt.wait()  # nothing in this thread can wake it
        return "woken"

    assert curionet.run(main) == "woken"


def test_without_expecting_threadsafe_calls_a_stuck_kernel_is_a_deadlock():
    async def main():
        await Event().wait()

    with pytest.raises(RuntimeError, match="deadlock"):
        curionet.run(main)


def test_run_enters_the_installed_guard(monkeypatch):
    entered = []

    class Guard:
        def __init__(self, kernel, with_monitor):
            entered.append((type(kernel).__name__, with_monitor))

        def __enter__(self):
            entered.append("enter")

        def __exit__(self, *exc):
            entered.append("exit")

    async def main():
        return 7

    monkeypatch.setattr(kernel_module, "_run_guard", None)
    lowlevel.set_run_guard(Guard)
    assert curionet.run(main) == 7
    assert entered == [("Kernel", False), "enter", "exit"]
    lowlevel.set_run_guard(None)
    assert curionet.run(main) == 7
    with pytest.raises(RuntimeError, match="with_monitor"):
        curionet.run(main, with_monitor=True)


def test_the_package_installs_its_hooks():
    from curionet.kernel import task as task_module
    from curionet.signal import _run_guard
    from curionet.thread import spawn_thread

    assert kernel_module._run_guard is _run_guard
    assert task_module._thread_spawner is spawn_thread


async def test_task_group_spawn_thread_uses_the_installed_spawner():
    async with TaskGroup() as g:
        t = await g.spawn_thread(lambda: 21 * 2)
    assert t.result == 42
