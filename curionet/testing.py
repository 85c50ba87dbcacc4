"""pytest support: run ``async def test_...`` functions on a fresh kernel.

Registered as a pytest plugin through the ``pytest11`` entry point, so it is
active wherever curionet is installed.  It runs a test marked
``@pytest.mark.curionet`` and, in auto mode, every other ``async def`` test
not marked for another plugin (``asyncio``, ``anyio``, ``trio``).  The mode
is the ``curionet_mode`` ini option or ``--curionet-mode``: ``auto`` or
``strict`` (marked tests only); by default auto, or strict while
pytest-asyncio or pytest-trio is installed, so that curionet takes no test
meant for them.

Such a test runs on its own :class:`~curionet.Kernel`, which is shut down
afterwards (every task it left behind is cancelled).  The ``async def``
fixtures it uses (``yield`` ones too) run on that same kernel: set up before
the test body and torn down after it, in pytest's fixture order; an async
generator fixture runs in a task of its own from its setup to its teardown.
They must be function-scoped.  Fixtures:

* ``mock_clock``: a :class:`~curionet.MockClock` that moves only by ``jump()``;
  the test's kernel runs on it.
* ``autojump_clock``: a mock clock that jumps to the next timer whenever every
  task is blocked, so sleeps and timeouts take no real time.  (With real
  sockets in the test, prefer ``MockClock(autojump_threshold=0.05)`` so data
  still in flight on loopback is not overtaken by a jump.)
* ``kernel``: a kernel for synchronous tests that call ``kernel.run(...)``.

Helpers for testing code built on curionet, the ones curionet's own tests use:

* :class:`Scenario`: a fake resolver and socket layer with per-address
  delays and outcomes, to run whole Happy Eyeballs races on the mock clock.
* :func:`cancel_at_blocking_point` and :func:`cancel_at_every_blocking_point`:
  cancel a coroutine at its 1st, 2nd, ... blocking point, to prove that a
  cancellation striking between any two awaits leaks nothing.
* :func:`memory_stream_pair`: two connected in-memory
  :class:`~curionet.kernel.stream.Stream` ends (with optional short reads and
  a bound on the bytes in flight), to drive a protocol without sockets.
"""

from __future__ import annotations

import errno
import functools
import inspect
import socket
import types
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .errors import TaskCancelled, TaskError
from .kernel import Event, Kernel, MockClock, Task, clock, current_task, sleep, spawn, traps
from .kernel.stream import MemoryStream as MemoryStream, memory_stream_pair as memory_stream_pair
from .protocols.happy_eyeballs import AddrInfo, TraceEvent, open_tcp_stream

__all__ = [
    "mock_clock",
    "autojump_clock",
    "kernel",
    "Scenario",
    "FakeSocket",
    "BLOCKING_TRAPS",
    "CancelRun",
    "cancel_at_blocking_point",
    "cancel_at_every_blocking_point",
    "MemoryStream",
    "memory_stream_pair",
]


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


# ---------------------------------------------------------------------------
# The pytest plugin: which tests run on curionet, and their async fixtures
# ---------------------------------------------------------------------------

#: The values of the ``curionet_mode`` ini option and ``--curionet-mode``.
MODES = ("auto", "strict")

# Plugins that may claim unmarked async tests (pytest-asyncio in its auto
# mode, pytest-trio in trio_mode): while one is loaded, the default mode is
# strict.  anyio's plugin is not one: it runs only the tests marked for it.
_OTHER_RUNNERS = ("asyncio", "pytest_asyncio.plugin", "trio", "pytest_trio.plugin")
# Markers by which another plugin claims a test; auto mode leaves those alone.
_FOREIGN_MARKERS = ("asyncio", "anyio", "trio")

_MODE = pytest.StashKey[str]()
_TEST_KERNEL = pytest.StashKey[Kernel]()


def pytest_addoption(parser: Any) -> None:
    help = (
        "which async tests run on curionet: 'auto' (every async def test not marked for another plugin) "
        "or 'strict' (only tests marked @pytest.mark.curionet). "
        "Default: auto, or strict while pytest-asyncio or pytest-trio is installed."
    )
    parser.addini("curionet_mode", help, default="")
    parser.getgroup("curionet").addoption("--curionet-mode", dest="curionet_mode", default=None, help=help)


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "curionet: run this async test, and the async fixtures it uses, on a fresh curionet kernel"
    )
    mode = config.getoption("curionet_mode") or config.getini("curionet_mode")
    if not mode:
        others = any(config.pluginmanager.has_plugin(name) for name in _OTHER_RUNNERS)
        mode = "strict" if others else "auto"
    elif mode not in MODES:
        raise pytest.UsageError(f"curionet_mode must be 'auto' or 'strict', not {mode!r}")
    elif mode == "auto" and _asyncio_mode(config) == "auto":
        raise pytest.UsageError(
            "asyncio_mode = auto (pytest-asyncio) and curionet_mode = auto both claim every async test: "
            "set one of them to strict and mark the tests that run on it"
        )
    config.stash[_MODE] = mode


def _asyncio_mode(config: Any) -> str | None:
    if not any(config.pluginmanager.has_plugin(name) for name in ("asyncio", "pytest_asyncio.plugin")):
        return None
    try:
        return str(config.getoption("asyncio_mode", None) or config.getini("asyncio_mode"))
    except ValueError:  # a pytest-asyncio without that option
        return None


def pytest_report_header(config: Any) -> str:
    return f"curionet: mode={config.stash.get(_MODE, '?')}"


def _runs_on_curionet(item: Any) -> bool:
    """Whether the plugin runs *item*: an ``async def`` test marked
    ``curionet``, or in auto mode one not claimed by another plugin."""
    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
        return False
    if item.get_closest_marker("curionet") is not None:
        return True
    if item.config.stash.get(_MODE, "auto") != "auto":
        return False
    if any(item.get_closest_marker(name) is not None for name in _FOREIGN_MARKERS):
        return False
    return "anyio_backend" not in item.fixturenames


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: Any) -> Any:
    # pytest-asyncio in auto mode turns every async test into an item of its
    # own that runs on asyncio; a test marked curionet is taken back.
    result = yield
    if not result:
        return result
    items = result if isinstance(result, list) else [result]
    if not any(_taken_by_pytest_asyncio(item) for item in items):
        return result
    return [_plain_function(item) if _taken_by_pytest_asyncio(item) else item for item in items]


def _taken_by_pytest_asyncio(item: Any) -> bool:
    return (
        isinstance(item, pytest.Function)
        and type(item).__module__.startswith("pytest_asyncio")
        and item.get_closest_marker("curionet") is not None
    )


def _plain_function(item: Any) -> pytest.Function:
    plain = pytest.Function.from_parent(
        item.parent,
        name=item.name,
        callspec=getattr(item, "callspec", None),
        callobj=item.obj,
        fixtureinfo=item._fixtureinfo,
        keywords={k: v for k, v in item.keywords.items() if k != "asyncio"},
        originalname=item.originalname,
    )
    plain.own_markers = [mark for mark in item.own_markers if mark.name != "asyncio"]
    return plain


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    func = fixturedef.func
    item = getattr(request, "_pyfuncitem", None)
    if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)) or not _runs_on_curionet(item):
        return (yield)
    from _pytest.fixtures import resolve_fixture_function  # binds a fixture defined in a test class

    # pytest runs the fixture through a synchronous stand-in, a generator
    # (so the teardown is pytest's usual yield-fixture teardown) that drives
    # the async fixture on the test's kernel.
    fixturedef.func = _fixture_on_kernel(fixturedef, resolve_fixture_function(fixturedef, request), request, item)
    try:
        return (yield)
    finally:
        fixturedef.func = func


def _fixture_on_kernel(fixturedef: Any, func: Any, request: Any, item: Any) -> Callable[..., Iterator[Any]]:
    name, scope = fixturedef.argname, fixturedef.scope

    def run_on_kernel(**kwargs: Any) -> Iterator[Any]:
        if scope != "function":
            pytest.fail(
                f"async fixture {name!r} has scope {scope!r}: curionet runs each test on a kernel of its own, "
                "so an async fixture it uses must be function-scoped",
                pytrace=False,
            )
        kernel = _test_kernel(item, request)
        if inspect.iscoroutinefunction(func):
            yield kernel.run(functools.partial(func, **kwargs))
            return
        fixture = _AsyncGenFixture(name, func(**kwargs))
        yield kernel.run(fixture.setup)
        kernel.run(fixture.teardown)

    return run_on_kernel


def _test_kernel(item: Any, request: Any) -> Kernel:
    """The kernel *item* runs on, made by its first async fixture; it is
    shut down after the teardown of the last one."""
    kernel = item.stash.get(_TEST_KERNEL, None)
    if kernel is None:
        # The clock must be there before the kernel is.
        names = [name for name in ("mock_clock", "autojump_clock") if name in item.fixturenames]
        kernel = Kernel(clock=request.getfixturevalue(names[0]) if names else None)
        item.stash[_TEST_KERNEL] = kernel

        def shut_down() -> None:
            del item.stash[_TEST_KERNEL]
            kernel.__exit__(None, None, None)

        item.addfinalizer(shut_down)  # runs after the fixtures set up from here on are torn down
    return kernel


class _AsyncGenFixture:
    """An ``async def`` fixture that yields, run in a task of its own from
    its setup to its teardown, so that it may hold a task group, a timeout
    or a lock across its ``yield``."""

    def __init__(self, name: str, agen: Any) -> None:
        self.name = name
        self.agen = agen
        self.value: Any = None
        self.task: Task | None = None

    async def setup(self) -> Any:
        self.set_up, self.tear_down = Event(), Event()
        self.task = await spawn(self._body, daemon=True)
        await self.set_up.wait()
        if self.task.terminated:  # failed before its yield
            await _join(self.task)
        return self.value

    async def teardown(self) -> None:
        assert self.task is not None
        await self.tear_down.set()
        await _join(self.task)

    async def _body(self) -> None:
        try:
            try:
                self.value = await self.agen.__anext__()
            except StopAsyncIteration:
                raise RuntimeError(f"async fixture {self.name!r} did not yield a value") from None
        finally:
            await self.set_up.set()
        await self.tear_down.wait()
        try:
            await self.agen.__anext__()
        except StopAsyncIteration:
            return
        await self.agen.aclose()
        raise RuntimeError(f"async fixture {self.name!r} yielded more than once")


async def _join(task: Task) -> Any:
    """``task.join()``, raising what ended the task rather than a TaskError."""
    try:
        return await task.join()
    except TaskError as e:
        error = e.__cause__ or e
    raise error


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> bool | None:
    if not _runs_on_curionet(pyfuncitem):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    call = functools.partial(pyfuncitem.obj, **{name: pyfuncitem.funcargs[name] for name in names})
    clock = next((v for v in call.keywords.values() if isinstance(v, MockClock)), None)
    kernel = pyfuncitem.stash.get(_TEST_KERNEL, None)
    if kernel is None:
        with Kernel(clock=clock) as k:
            k.run(call)
    elif clock is not None and clock is not kernel.clock:
        pytest.fail(
            "an async fixture started the test's kernel before its clock fixture was set up: "
            "request mock_clock or autojump_clock (or override one of them) rather than another clock fixture",
            pytrace=False,
        )
    else:
        kernel.run(call)
    return True


# ---------------------------------------------------------------------------
# A fake network: resolver and socket layer for open_tcp_stream
# ---------------------------------------------------------------------------


class FakeSocket:
    """A socket made by a :class:`Scenario`; it records what was done to it.

    ``family`` is the address family it was created for, ``address`` the IP
    it was asked to connect to and ``started`` the kernel clock at that moment
    (both ``None`` until then); ``connected`` and ``closed`` say how it ended.
    """

    def __init__(self, family: int) -> None:
        self.family = family
        self.address: str | None = None
        self.started: float | None = None
        self.connected = False
        self.closed = False

    def __repr__(self) -> str:
        return f"<FakeSocket {self.address} connected={self.connected} closed={self.closed}>"


class Scenario:
    """A fake resolver and socket layer for :func:`curionet.open_tcp_stream`,
    in the spirit of Trio's Happy Eyeballs tests.

    *dns* maps an address family (``socket.AF_INET6``, ``socket.AF_INET``) to
    ``(delay, [ip, ...])`` or ``(delay, exception)``: the query for that family
    answers after *delay* seconds, or raises.  A family that is not in *dns*
    never answers.  *peers* maps an IP to ``(connect delay, outcome)``;
    outcome is ``"ok"``, ``"refused"``, ``"hang"`` (never connects) or an
    ``OSError`` instance to raise.  IPs not in *peers* hang.  Creating a
    socket of a family in *unsupported* fails with ``EAFNOSUPPORT``, as on a
    machine without IPv6.  Only *host* resolves; other names fail with
    ``socket.gaierror``.

    Pass ``resolver=scenario.resolver, socket_layer=scenario`` to
    ``open_tcp_stream`` (or call :meth:`connect_to`); it returns the winning
    :class:`FakeSocket`.  No real socket or DNS query is ever made.  Run on the
    ``autojump_clock`` fixture, every delay takes no real time and every start
    time is exact.  Afterwards, ``sockets`` holds every socket in creation
    order, ``starts`` their ``(ip, start time)``, ``queries`` the
    ``(family, time)`` of each DNS query and ``events`` the
    :class:`~curionet.protocols.happy_eyeballs.TraceEvent` of a
    :meth:`connect_to` run; :meth:`open_sockets` lists the sockets not closed.
    """

    def __init__(
        self,
        dns: dict[int, tuple[float, Any]],
        peers: dict[str, tuple[float, Any]] | None = None,
        unsupported: Iterable[int] = (),
        *,
        host: str = "dual.test",
        port: int = 80,
    ) -> None:
        self.dns = dns
        self.peers = peers or {}
        for ip, (_, outcome) in self.peers.items():
            if not isinstance(outcome, BaseException) and outcome not in ("ok", "refused", "hang"):
                raise ValueError(f"outcome for {ip} must be 'ok', 'refused', 'hang' or an exception, not {outcome!r}")
        self.unsupported = set(unsupported)
        self.host = host
        self.port = port
        self.sockets: list[FakeSocket] = []
        self.queries: list[tuple[int, float]] = []
        self.events: list[TraceEvent] = []

    async def resolver(self, host: str, port: Any, family: int) -> list[AddrInfo]:
        """The fake DNS: a ``resolver=`` for ``open_tcp_stream``."""
        self.queries.append((family, await clock()))
        if host != self.host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        entry = self.dns.get(family)
        if entry is None:
            await Event().wait()  # never answers
            raise AssertionError("unreachable")  # pragma: no cover
        delay, answer = entry
        await sleep(delay)
        if isinstance(answer, BaseException):
            raise answer
        return [_addrinfo(ip, port) for ip in answer]

    def socket(self, family: int, type: int, proto: int) -> FakeSocket:
        """Create a :class:`FakeSocket` (the socket layer's factory)."""
        if family in self.unsupported:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        sock = FakeSocket(family)
        self.sockets.append(sock)
        return sock

    async def connect(self, sock: FakeSocket, address: Any, local_address: Any) -> None:
        """Connect *sock* as *peers* says for ``address[0]``."""
        sock.address = address[0]
        sock.started = await clock()
        delay, outcome = self.peers.get(address[0], (0, "hang"))
        if outcome == "hang":
            await Event().wait()
        await sleep(delay)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == "refused":
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"refused by {address[0]}")
        sock.connected = True

    async def close(self, sock: FakeSocket) -> None:
        """Close *sock*; closing one twice is a bug in the code under test."""
        if sock.closed:
            raise AssertionError(f"{sock!r} closed twice")
        sock.closed = True

    def wrap(self, sock: FakeSocket) -> FakeSocket:
        """The winner is handed back as it is."""
        return sock

    @property
    def starts(self) -> list[tuple[str | None, float | None]]:
        """``(ip, start time)`` of every connection attempt, in order."""
        return [(s.address, s.started) for s in self.sockets]

    def open_sockets(self) -> list[FakeSocket]:
        """The sockets not closed (after a run: at most the winner)."""
        return [s for s in self.sockets if not s.closed]

    async def connect_to(self, **kwargs: Any) -> Any:
        """``open_tcp_stream(host, port, **kwargs)`` on this scenario, its
        trace recorded in ``events``."""
        kwargs.setdefault("trace", self.events.append)
        return await open_tcp_stream(self.host, self.port, resolver=self.resolver, socket_layer=self, **kwargs)


def _addrinfo(ip: str, port: Any) -> AddrInfo:
    if ":" in ip:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))


# ---------------------------------------------------------------------------
# Cancellation at the n-th blocking point
# ---------------------------------------------------------------------------

#: The trap kinds at which a task can block, so be cancelled.
BLOCKING_TRAPS = frozenset({traps.T_SCHEDULE, traps.T_SLEEP, traps.T_IO_WAIT, traps.T_FUTURE_WAIT, traps.T_SCHED_WAIT})


@dataclass
class CancelRun:
    """What happened in one run of :func:`cancel_at_blocking_point`.

    ``blocking_points`` counts the blocking points the run reached (up to
    *n*), ``fired`` says whether the cancellation was armed (the run reached
    its *n*-th blocking point), ``completed`` whether the coroutine returned
    (then ``result`` is its value) rather than ending with the cancellation.
    """

    n: int
    blocking_points: int = 0
    fired: bool = False
    completed: bool = False
    result: Any = None


@types.coroutine
def _cancel_at(coro: Any, run: CancelRun, task: Task) -> Generator[Any, Any, Any]:
    """Drive *coro*, passing each trap to the kernel, and make the task's
    *n*-th cancellable blocking trap deliver a cancellation."""
    value: Any = None
    exc: BaseException | None = None
    while True:
        try:
            request = coro.send(value) if exc is None else coro.throw(exc)
        except StopIteration as stop:
            return stop.value
        value, exc = None, None
        if request[0] in BLOCKING_TRAPS and task.allow_cancel:
            run.blocking_points += 1
            if run.blocking_points == run.n and task.cancel_pending is None:
                run.fired = True
                # The kernel's own mechanism: a pending cancellation is raised
                # at the task's next blocking point, which is this trap.
                task.cancel_pending = TaskCancelled(f"cancelled at blocking point {run.n}")
        try:
            value = yield request
        except BaseException as e:  # thrown in by the kernel: forwarded into coro
            exc = e


async def cancel_at_blocking_point(n: int, corofunc: Callable[..., Awaitable[Any]], *args: Any) -> CancelRun:
    """Run ``corofunc(*args)`` in a new task and cancel it at its *n*-th
    blocking point (``n >= 1``), the way :meth:`Task.cancel` would if it
    struck exactly there.

    A blocking point is a trap at which the task may block and cancellation
    is allowed (not inside ``disable_cancellation()``); it counts only the
    task's own traps, not those of tasks it spawns.  Returns a
    :class:`CancelRun`: either the coroutine returned (it had fewer than *n*
    blocking points, or it swallowed the cancellation) or it ended with the
    cancellation.  Any other exception it ends with is raised here (as an
    ``AssertionError`` chained to it if the cancellation had fired).
    """
    if n < 1:
        raise ValueError(f"n counts blocking points from 1, not {n!r}")
    run = CancelRun(n)

    async def driver() -> Any:
        return await _cancel_at(corofunc(*args), run, await current_task())

    task = await spawn(driver)
    try:
        run.result = await task.join()
    except TaskError as e:
        cause = e.__cause__
        if run.fired and isinstance(cause, TaskCancelled):
            return run
        if run.fired:
            raise AssertionError(
                f"cancelled at blocking point {n}, {corofunc!r} ended with {cause!r} instead of the cancellation"
            ) from cause
        raise
    except BaseException:
        await task.cancel()  # the caller was cancelled: so is the run
        raise
    run.completed = True
    return run


async def cancel_at_every_blocking_point(
    corofunc: Callable[..., Awaitable[Any]],
    *args: Any,
    check: Callable[[CancelRun], Any] | None = None,
    limit: int = 1000,
) -> int:
    """Run ``corofunc(*args)`` again and again, cancelled at its 1st, 2nd,
    3rd ... blocking point, until a run ends without reaching it; return how
    many blocking points that last run had.

    Each run calls *corofunc* afresh, so it should set up its own state.
    *check*, if given, is called with each :class:`CancelRun` right after the
    run (and awaited if it returns an awaitable): the place to assert that
    nothing leaked.  Fails if the coroutine still reaches its *limit*-th
    blocking point.
    """
    for n in range(1, limit + 1):
        run = await cancel_at_blocking_point(n, corofunc, *args)
        if check is not None:
            outcome = check(run)
            if inspect.isawaitable(outcome):
                await outcome
        if not run.fired:
            return run.blocking_points
    raise AssertionError(f"{corofunc!r} still reached its blocking point {limit}")
