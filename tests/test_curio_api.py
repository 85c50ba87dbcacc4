"""Curio 1.6's documented API under curionet's module paths."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import curionet


def _debug_messages(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "curionet.debug"]


async def _child() -> int:
    return 7


async def _spawn_child() -> int:
    task = await curionet.spawn(_child)
    return await task.join()  # type: ignore[no-any-return]


def test_kernel_debug_true_is_curios_default_tracing(caplog: Any) -> None:
    """``Kernel(debug=True)`` (and ``run(..., debug=True)``) turn on Curio's
    default debugging: a trace of every scheduling event."""
    with caplog.at_level(logging.DEBUG, logger="curionet.debug"):
        with curionet.Kernel(debug=True) as kernel:
            assert kernel.run(_spawn_child) == 7
        first = _debug_messages(caplog)
        caplog.clear()
        assert curionet.run(_spawn_child, debug=True) == 7
        second = _debug_messages(caplog)
    for messages in (first, second):
        assert any(m.startswith("CREATE") and "_child" in m for m in messages), messages
        assert any(m.startswith("TERMINATED") and "_child" in m for m in messages), messages


@pytest.mark.parametrize("debug", [False, None, []])
def test_kernel_debug_false_adds_nothing(debug: Any, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger="curionet.debug"):
        assert curionet.run(_spawn_child, debug=debug) == 7
    assert _debug_messages(caplog) == []


async def _crash() -> None:
    raise ValueError("boom")


async def _spawn_crash() -> None:
    task = await curionet.spawn(_crash)
    await task.wait()
    assert isinstance(task.exception, ValueError)


def test_kernel_debug_takes_a_class_an_instance_or_a_list(caplog: Any) -> None:
    from curionet.debug import logcrash, longblock, schedtrace

    for debug in (logcrash, logcrash(logging.WARNING), [longblock(max_time=10), logcrash(level=logging.WARNING)]):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="curionet.debug"):
            curionet.run(_spawn_crash, debug=debug)
        crashes = [r for r in caplog.records if r.name == "curionet.debug" and "crashed" in r.getMessage()]
        assert len(crashes) == 1 and "_crash" in crashes[0].getMessage(), debug
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="curionet.debug"):
        curionet.run(_spawn_child, debug=[schedtrace, logcrash])
    assert any(m.startswith("RUN") for m in _debug_messages(caplog))


def test_debug_hooks_take_curios_keywords() -> None:
    from curionet.debug import logcrash, longblock, schedtrace, traptrace

    assert logcrash(logging.WARNING).level == logging.WARNING  # Curio: logcrash(level=ERROR, **kwargs)
    assert longblock(max_time=0.5, level=logging.ERROR).max_time == 0.5
    for cls in (schedtrace, traptrace, logcrash, longblock):
        # Curio accepts (and ignores) keywords it does not know; curionet
        # accepts them too, but says so.
        with pytest.warns(RuntimeWarning, match="colour"):
            hook = cls(level=logging.DEBUG, colour="red")
        assert hook.level == logging.DEBUG
