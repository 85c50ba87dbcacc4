"""CPU pinning for the benchmarks whose rows measure one peer talking to
another over loopback (a server and its load generator or client).

Unpinned, the scheduler may put both processes on one CPU for part of a run:
a one-connection row then measures how fast a sleeping process is woken on
its own CPU, and a lucky run wins.  Pinned, the server always has one CPU
and the load its own.  On a machine with fewer than two usable CPUs nothing
is pinned (and the tables say so).
"""

from __future__ import annotations

import os
from collections.abc import Callable

_usable = sorted(os.sched_getaffinity(0))
SERVER_CPU: int | None = _usable[0] if len(_usable) >= 2 else None
LOAD_CPU: int | None = _usable[1] if len(_usable) >= 2 else None


def pinned_to(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen`` that runs the child (and
    whatever it forks) on *cpu* alone; ``None`` when *cpu* is ``None``."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def describe() -> str:
    """One line for a benchmark's header."""
    if SERVER_CPU is None:
        return "not pinned (fewer than 2 usable CPUs)"
    return f"server pinned to CPU {SERVER_CPU}, load to CPU {LOAD_CPU}"
