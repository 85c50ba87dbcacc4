"""pytest support: run ``async def test_...`` functions on a fresh kernel.

Registered as a pytest plugin through the ``pytest11`` entry point, so it is
active wherever curionet is installed.  An ``async def`` test runs on its own
:class:`~curionet.Kernel`, which is shut down afterwards (every task it left
behind is cancelled).  Fixtures:

* ``mock_clock``: a :class:`~curionet.MockClock` that moves only by ``jump()``;
  the test's kernel runs on it.
* ``autojump_clock``: a mock clock that jumps to the next timer whenever every
  task is blocked, so sleeps and timeouts take no real time.  (With real
  sockets in the test, prefer ``MockClock(autojump_threshold=0.05)`` so data
  still in flight on loopback is not overtaken by a jump.)
* ``kernel``: a kernel for synchronous tests that call ``kernel.run(...)``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from .kernel import Kernel, MockClock

__all__ = ["mock_clock", "autojump_clock", "kernel"]


@pytest.fixture
def mock_clock() -> MockClock:
    """A virtual clock that only moves when the test calls ``jump()``."""
    return MockClock()


@pytest.fixture
def autojump_clock() -> MockClock:
    """A virtual clock that jumps ahead whenever every task is blocked."""
    return MockClock(autojump_threshold=0)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A kernel (shut down after the test) for tests calling ``kernel.run``."""
    with Kernel() as k:
        yield k


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> bool | None:
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    clock = next((v for v in kwargs.values() if isinstance(v, MockClock)), None)
    with Kernel(clock=clock) as k:
        k.run(functools.partial(func, **kwargs))
    return True
