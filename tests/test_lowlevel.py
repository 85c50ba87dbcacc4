"""The kernel's public extension API (curionet.kernel.lowlevel and the
documented Kernel methods), and the rule that modules above the kernel use
only it."""

import pathlib
import re
import threading

import pytest

import curionet
import curionet.traps
from curionet import Event, Kernel, TaskCancelled, TaskGroup, sleep
from curionet.kernel import kernel as kernel_module, lowlevel

PACKAGE_DIR = pathlib.Path(curionet.__file__).resolve().parent

# What only curionet/kernel/ may do: read the kernel's private attributes,
# import the trap module itself, or poll file descriptors.
_PRIVATE = re.compile(r"kernel\._[a-z]|from \.+kernel\.traps\b|kernel\.traps import|import select\b")
# Allowed, with the reason: the monitor's server is a plain thread that waits
# on its listening socket and its stop pipe; it does no I/O for the kernel.
_ALLOWED = {("monitor.py", "import select")}


def private_kernel_uses(root: pathlib.Path) -> list[str]:
    """Each line of a module under *root* (outside ``kernel/``) that uses the
    kernel's private side, as ``path:line: text``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "kernel":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = _PRIVATE.search(line)
            if match and (rel.as_posix(), match.group()) not in _ALLOWED:
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_no_module_above_the_kernel_uses_its_private_side():
    assert private_kernel_uses(PACKAGE_DIR) == []


def test_the_scan_finds_private_uses(tmp_path):
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "kernel.py").write_text("kernel._ready = None\n")
    (tmp_path / "mod.py").write_text("from .kernel.traps import _read_wait\nx = 1\nk = kernel._current\n")
    (tmp_path / "deep.py").write_text("from ...kernel.traps import _write_wait\nimport select\n")
    (tmp_path / "monitor.py").write_text("import select\n")
    assert private_kernel_uses(tmp_path) == [
        "deep.py:1: from ...kernel.traps import _write_wait",
        "deep.py:2: import select",
        "mod.py:1: from .kernel.traps import _read_wait",
        "mod.py:3: k = kernel._current",
    ]


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
