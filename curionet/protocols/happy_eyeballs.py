"""Happy Eyeballs v2 (RFC 8305): connect to a dual-stack host quickly.

:func:`open_tcp_stream` resolves a host name with separate AAAA and A
queries, orders the answers, and races staggered TCP connection attempts;
the first attempt to connect wins and every other one is cancelled and its
socket closed.  It is the connector used by ``curionet.network.open_connection``
and by the HTTP and WebSocket clients.

The module is split the h11 way:

* plain functions for the RFC's pure rules: :func:`clamp_attempt_delay`
  (section 5), :func:`interleave` (section 4) and :func:`merge_addresses`
  (section 3's late answers);
* :class:`Planner`, a state machine without I/O that is told what happened
  (an answer, a failure, a connection) and the time, and says what to do next
  (:class:`StartAttempt`, :class:`Wait`, :class:`Done` or :class:`GiveUp`);
* a thin driver in :func:`open_tcp_stream` that runs the resolver queries and
  the attempts as tasks of one :class:`~curionet.TaskGroup` and executes the
  planner's decisions.

Time is read only through the kernel (``clock()``, ``ignore_after``), so on a
:class:`~curionet.MockClock` every decision happens at an exact virtual time.
The resolver and the socket layer are injectable (``resolver=``,
``socket_layer=``), which is how the tests drive whole scenarios without a
network.

Discussion: when does a failure start the next attempt early?  RFC 8305
section 5 starts an attempt every Connection Attempt Delay and starts the
next one at once when an attempt fails.  Here *any* failure lets the next
address go at once (an address that hangs should not hold back the others
longer than one delay), never sooner than 10 ms after the previous start.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..kernel.io import Socket
from ..kernel.sync import Event
from ..kernel.task import TaskGroup, disable_cancellation
from ..kernel.time import clock, ignore_after

__all__ = [
    "open_tcp_stream",
    "clamp_attempt_delay",
    "interleave",
    "merge_addresses",
    "family_name",
    "Planner",
    "StartAttempt",
    "Wait",
    "Done",
    "GiveUp",
    "TraceEvent",
    "SocketLayer",
    "StdlibSocketLayer",
    "getaddrinfo_resolver",
    "MIN_ATTEMPT_DELAY",
    "MAX_ATTEMPT_DELAY",
]

log = logging.getLogger("curionet.happy_eyeballs")

#: RFC 8305 section 5: the Connection Attempt Delay is clamped to this range,
#: and two attempts never start closer together than the minimum.
MIN_ATTEMPT_DELAY = 0.01
MAX_ATTEMPT_DELAY = 2.0

#: An address as ``socket.getaddrinfo`` returns it:
#: ``(family, type, proto, canonname, sockaddr)``.
AddrInfo = tuple[Any, ...]

_UNSUPPORTED = {errno.EAFNOSUPPORT, getattr(errno, "EPFNOSUPPORT", -1), errno.EPROTONOSUPPORT}


# ---------------------------------------------------------------------------
# Pure rules
# ---------------------------------------------------------------------------


def clamp_attempt_delay(delay: float) -> float:
    """Clamp a Connection Attempt Delay to RFC 8305's range, 10 ms to 2 s."""
    return min(MAX_ATTEMPT_DELAY, max(MIN_ATTEMPT_DELAY, float(delay)))


def family_name(family: int) -> str:
    """``'IPv6'``, ``'IPv4'`` or the family's name, for messages and traces."""
    if family == socket.AF_INET6:
        return "IPv6"
    if family == socket.AF_INET:
        return "IPv4"
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)


def _dedupe(infos: Iterable[AddrInfo], seen: set[Any] | None = None) -> list[AddrInfo]:
    seen = set() if seen is None else seen
    out = []
    for info in infos:
        key = (info[0], info[4])
        if key not in seen:
            seen.add(key)
            out.append(info)
    return out


def _by_family(infos: Iterable[AddrInfo]) -> dict[int, list[AddrInfo]]:
    groups: dict[int, list[AddrInfo]] = {}
    for info in infos:
        groups.setdefault(info[0], []).append(info)
    return groups


def _alternate(groups: dict[int, list[AddrInfo]], first: int, first_count: int) -> list[AddrInfo]:
    """Take *first_count* addresses of family *first*, then one of each family
    in turn; when a family runs out the others continue alone."""
    queues = {fam: list(addrs) for fam, addrs in groups.items() if addrs}
    if not queues:
        return []
    if first not in queues:
        first, first_count = next(iter(queues)), 1
    order = [first] + [fam for fam in queues if fam != first]
    out = queues[first][:first_count]
    del queues[first][:first_count]
    # After the head start, the next address comes from another family.
    turn = 1 % len(order)
    while any(queues.values()):
        fam = order[turn]
        if queues[fam]:
            out.append(queues[fam].pop(0))
        turn = (turn + 1) % len(order)
    return out


def interleave(infos: Iterable[AddrInfo], first_address_family_count: int = 1) -> list[AddrInfo]:
    """Order addresses for connection attempts (RFC 8305 section 4).

    The resolver's order is kept within each family; families are interleaved
    with IPv6 first: ``first_address_family_count`` IPv6 addresses, then one
    IPv4, one IPv6, and so on.  When one family runs out the rest of the other
    follows.  Duplicate addresses are dropped.  If there is no IPv6 address
    the family of the first address leads.

    >>> v6 = [(socket.AF_INET6, 1, 6, "", (f"::{i}", 80, 0, 0)) for i in (1, 2)]
    >>> v4 = [(socket.AF_INET, 1, 6, "", (f"127.0.0.{i}", 80)) for i in (1, 2)]
    >>> [i[4][0] for i in interleave(v4 + v6)]
    ['::1', '127.0.0.1', '::2', '127.0.0.2']
    """
    infos = _dedupe(infos)
    if not infos:
        return []
    groups = _by_family(infos)
    first = socket.AF_INET6 if socket.AF_INET6 in groups else infos[0][0]
    return _alternate(groups, first, max(1, int(first_address_family_count)))


def merge_addresses(
    tried: Sequence[AddrInfo],
    untried: Sequence[AddrInfo],
    new: Iterable[AddrInfo],
    first_address_family_count: int = 1,
) -> list[AddrInfo]:
    """Merge a late DNS answer into the not-yet-tried part of the list.

    *tried* are the addresses already attempted (in order), *untried* the
    rest of the current list and *new* the late answer.  The result is the new
    list of untried addresses: the families keep alternating from where the
    attempts stand, so the family that was not tried last goes next (RFC 8305
    section 3: late answers join the addresses not yet attempted, sorted as
    in section 4).  While the attempts are still inside the First Address
    Family Count head start of IPv6, the head start is completed first.
    Addresses already tried or listed are not added twice.
    """
    seen = {(i[0], i[4]) for i in tried}
    pool = _dedupe(list(untried) + list(new), seen)
    if not tried:
        return interleave(pool, first_address_family_count)
    groups = _by_family(pool)
    fafc = max(1, int(first_address_family_count))
    tried_families = {i[0] for i in tried}
    if tried_families == {socket.AF_INET6} and len(tried) < fafc and groups.get(socket.AF_INET6):
        return _alternate(groups, socket.AF_INET6, fafc - len(tried))
    last = tried[-1][0]
    others = [fam for fam in groups if fam != last]
    if not others:
        return _alternate(groups, last, 1)
    first = socket.AF_INET6 if socket.AF_INET6 in others else others[0]
    return _alternate(groups, first, 1)


# ---------------------------------------------------------------------------
# Trace
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceEvent:
    """One step of a Happy Eyeballs run, as passed to the ``trace`` hook.

    ``kind`` is one of ``'query'`` (a DNS query started), ``'answer'`` (it
    returned addresses), ``'no-answer'`` (it returned none or failed),
    ``'resolution-delay'`` (the wait for AAAA after an early A answer ended),
    ``'attempt'`` (a connection attempt started), ``'failed'``, ``'connected'``,
    ``'cancelled'`` (a losing attempt was stopped and its socket closed),
    ``'unsupported'`` (the machine cannot create sockets of that family),
    ``'done'`` or ``'gave-up'``.  ``time`` is the kernel clock, ``elapsed``
    the time since the call started.
    """

    kind: str
    time: float
    elapsed: float
    family: int | None = None
    address: Any = None
    detail: str = ""

    def __str__(self) -> str:
        where = ""
        if self.address is not None:
            where = f" {_format_address(self.address)}"
        elif self.family is not None:
            where = f" {family_name(self.family)}"
        detail = f" {self.detail}" if self.detail else ""
        return f"{self.elapsed * 1000:9.3f} ms  {self.kind:<16}{where}{detail}"


def _format_address(sockaddr: Any) -> str:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host = sockaddr[0]
        return f"[{host}]:{sockaddr[1]}" if ":" in str(host) else f"{host}:{sockaddr[1]}"
    return str(sockaddr)


# ---------------------------------------------------------------------------
# The planner: RFC 8305's decisions, without I/O
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StartAttempt:
    """Start a connection attempt to ``info`` now."""

    info: AddrInfo


@dataclass(frozen=True)
class Wait:
    """Nothing to do before ``until`` (``None``: until something happens)."""

    until: float | None


@dataclass(frozen=True)
class Done:
    """An attempt connected: ``info`` and the layer's socket ``sock``."""

    info: AddrInfo
    sock: Any


@dataclass(frozen=True)
class GiveUp:
    """Nothing can connect; ``error`` is the exception to raise."""

    error: BaseException


@dataclass
class Planner:
    """RFC 8305's state machine for one connection, free of I/O.

    Feed it what happened with the time it happened (:meth:`answer`,
    :meth:`resolution_failed`, :meth:`attempt_failed`,
    :meth:`attempt_unsupported`, :meth:`attempt_connected`) and ask
    :meth:`next_action` what to do now.  ``families`` are the DNS queries in
    flight (``AF_INET6`` and/or ``AF_INET``); with none, pass the addresses to
    :meth:`answer` at once (literal IP addresses).
    """

    host: str
    port: Any
    families: Sequence[int]
    start: float
    happy_eyeballs_delay: float = 0.25
    resolution_delay: float = 0.05
    first_address_family_count: int = 1
    trace: Callable[[TraceEvent], Any] | None = None

    delay: float = field(init=False)
    pending: set[int] = field(init=False)
    answers: dict[int, list[AddrInfo]] = field(init=False)
    resolution_errors: dict[int, BaseException] = field(init=False)
    gate_open: bool = field(init=False, default=False)
    gate_deadline: float | None = field(init=False, default=None)
    tried: list[AddrInfo] = field(init=False)
    untried: list[AddrInfo] = field(init=False)
    running: list[AddrInfo] = field(init=False)
    errors: list[Exception] = field(init=False)
    last_start: float | None = field(init=False, default=None)
    failed_since_start: bool = field(init=False, default=False)
    unsupported: set[int] = field(init=False)
    winner: Done | None = field(init=False, default=None)
    _undo: tuple[float | None, bool] = field(init=False, default=(None, False))

    def __post_init__(self) -> None:
        self.delay = clamp_attempt_delay(self.happy_eyeballs_delay)
        self.resolution_delay = max(0.0, float(self.resolution_delay))
        self.first_address_family_count = max(1, int(self.first_address_family_count))
        self.pending = set(self.families)
        self.answers = {}
        self.resolution_errors = {}
        self.tried = []
        self.untried = []
        self.running = []
        self.errors = []
        self.unsupported = set()

    # -- reporting ---------------------------------------------------------
    def emit(self, kind: str, now: float, family: int | None = None, address: Any = None, detail: str = "") -> None:
        """Report one step to the trace hook and the DEBUG log."""
        event = TraceEvent(kind, now, now - self.start, family, address, detail)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s:%s %s", self.host, self.port, event)
        if self.trace is not None:
            try:
                self.trace(event)
            except Exception:
                # A broken hook must not break the race or its clean-up.
                log.exception("Happy Eyeballs trace hook failed on %s", event)

    # -- resolution (section 3) ------------------------------------------
    def answer(self, family: int | None, infos: Sequence[AddrInfo], now: float) -> None:
        """A query for *family* answered with *infos* (possibly empty).
        ``family=None`` gives addresses that needed no query (literals)."""
        infos = [i for i in infos if i[0] not in self.unsupported]
        if family is not None:
            self.pending.discard(family)
            if infos:
                addrs = ", ".join(_format_address(i[4]) for i in infos)
                self.emit("answer", now, family, detail=addrs)
            else:
                self.emit("no-answer", now, family, detail="no addresses")
        for info in infos:
            self.answers.setdefault(info[0], []).append(info)
        if self.gate_open:
            if infos:
                self.untried = merge_addresses(self.tried, self.untried, infos, self.first_address_family_count)
            return
        self._update_gate(family, bool(infos), now)

    def resolution_failed(self, family: int, exc: BaseException, now: float) -> None:
        """The query for *family* failed with *exc* (a negative answer)."""
        self.pending.discard(family)
        self.resolution_errors[family] = exc
        self.emit("no-answer", now, family, detail=f"{type(exc).__name__}: {exc}")
        if not self.gate_open:
            self._update_gate(family, False, now)

    def _update_gate(self, family: int | None, positive: bool, now: float) -> None:
        if family is None or not self.pending:
            self._open_gate()
        elif positive and family == socket.AF_INET6:
            # A positive AAAA answer: connect at once.
            self._open_gate()
        elif positive and self.gate_deadline is None:
            # A positive A answer before AAAA: give AAAA the Resolution Delay.
            self.gate_deadline = now + self.resolution_delay

    def _open_gate(self) -> None:
        self.gate_open = True
        self.gate_deadline = None
        everything = [i for fam in self.answers.values() for i in fam]
        self.untried = interleave(everything, self.first_address_family_count)

    # -- attempts (section 5) --------------------------------------------
    def _start(self, now: float) -> StartAttempt:
        info = self.untried.pop(0)
        self._undo = (self.last_start, self.failed_since_start)
        self.tried.append(info)
        self.running.append(info)
        self.last_start = now
        self.failed_since_start = False
        self.emit("attempt", now, info[0], info[4])
        return StartAttempt(info)

    def attempt_failed(self, info: AddrInfo, exc: Exception, now: float) -> None:
        """The attempt to *info* failed with *exc*."""
        self._stop(info)
        self.errors.append(exc)
        self.failed_since_start = True
        self.emit("failed", now, info[0], info[4], f"{type(exc).__name__}: {exc}")

    def attempt_unsupported(self, info: AddrInfo, exc: Exception, now: float) -> None:
        """No socket of *info*'s family can be made here: skip the family.

        The attempt did not really start, so it does not count against the
        Connection Attempt Delay."""
        self._stop(info)
        self.errors.append(exc)
        family = info[0]
        self.unsupported.add(family)
        self.untried = [i for i in self.untried if i[0] != family]
        if self.tried and self.tried[-1] is info:
            self.tried.pop()
            self.last_start, self.failed_since_start = self._undo
        self.emit("unsupported", now, family, detail=f"{type(exc).__name__}: {exc}; skipping the family")

    def attempt_connected(self, info: AddrInfo, sock: Any, now: float) -> bool:
        """The attempt to *info* connected.  Returns ``True`` if it is the
        winner; ``False`` means another attempt already won and *sock* must
        be closed."""
        self._stop(info)
        if self.winner is not None:
            self.emit("cancelled", now, info[0], info[4], "connected after the winner; closed")
            return False
        self.winner = Done(info, sock)
        self.emit("connected", now, info[0], info[4])
        return True

    def attempt_cancelled(self, info: AddrInfo, now: float) -> None:
        """A running attempt was cancelled (it lost, or the call was)."""
        self._stop(info)
        self.emit("cancelled", now, info[0], info[4], "socket closed")

    def _stop(self, info: AddrInfo) -> None:
        for k, running in enumerate(self.running):
            if running is info:
                del self.running[k]
                break

    # -- the decision --------------------------------------------------
    def next_action(self, now: float) -> StartAttempt | Wait | Done | GiveUp:
        """What to do at time *now*.  A :class:`StartAttempt` is recorded as
        started at *now*."""
        if self.winner is not None:
            return self.winner
        if not self.gate_open:
            if self.gate_deadline is not None and now >= self.gate_deadline:
                self.emit("resolution-delay", now, socket.AF_INET6, detail="expired; starting without AAAA")
                self._open_gate()
            elif self.pending:
                return Wait(self.gate_deadline)
            else:  # pragma: no cover - the gate opens when the last query answers
                self._open_gate()
        if self.untried:
            if self.last_start is None:
                return self._start(now)
            if self.failed_since_start or not self.running:
                earliest = self.last_start + MIN_ATTEMPT_DELAY
            else:
                earliest = self.last_start + self.delay
            if now >= earliest:
                return self._start(now)
            return Wait(earliest)
        if self.running or self.pending:
            return Wait(None)
        return GiveUp(self._error())

    def _error(self) -> BaseException:
        where = _format_address((self.host, self.port))
        if not self.tried and not self.errors:
            details = "; ".join(f"{family_name(f)}: {e}" for f, e in sorted(self.resolution_errors.items()))
            rcodes = [getattr(e, "errno", None) for e in self.resolution_errors.values()]
            code = next((c for c in rcodes if c is not None), socket.EAI_NONAME)
            msg = f"no addresses found for {where}" + (f" ({details})" if details else "")
            err: BaseException = socket.gaierror(code, msg)
            return err
        codes = {getattr(e, "errno", None) for e in self.errors}
        n = len(self.errors)
        reasons = "; ".join((e.strerror if isinstance(e, OSError) and e.strerror else str(e)) for e in self.errors)
        if n == 1:
            msg = f"the connection attempt to {where} failed: {reasons}"
        else:
            msg = f"all {n} connection attempts to {where} failed: {reasons}"
        if len(codes) == 1 and None not in codes:
            err = OSError(codes.pop(), msg)  # e.g. ConnectionRefusedError when all were refused
        else:
            err = OSError(msg)
        err.__cause__ = ExceptionGroup(f"connection attempts to {where}", list(self.errors))
        return err


# ---------------------------------------------------------------------------
# Resolver and socket layer (injectable)
# ---------------------------------------------------------------------------

Resolver = Callable[[str, Any, int], Awaitable[Sequence[AddrInfo]]]



async def getaddrinfo_resolver(host: str, port: Any, family: int) -> list[AddrInfo]:
    """The default resolver: ``socket.getaddrinfo`` for one *family*, for TCP,
    run in a worker thread (``curionet.socket.getaddrinfo``) so the kernel
    keeps running.  A resolver is any async callable with this signature."""
    from .. import socket as _curionet_socket

    return await _curionet_socket.getaddrinfo(  # type: ignore[misc,no-any-return]
        host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )


class SocketLayer(Protocol):
    """What the connector needs from sockets (a fake one drives the tests)."""

    def socket(self, family: int, type: int, proto: int) -> Any:
        """Create a socket; ``OSError(EAFNOSUPPORT)`` skips the family."""

    async def connect(self, sock: Any, address: Any, local_address: Any) -> None:
        """Bind to *local_address* if given, then connect to *address*."""

    async def close(self, sock: Any) -> None:
        """Close *sock* (must not block)."""

    def wrap(self, sock: Any) -> Any:
        """The object handed to the caller for the winning socket."""


class StdlibSocketLayer:
    """Real sockets: each attempt is a :class:`curionet.kernel.io.Socket`
    (non-blocking; the kernel finishes the ``connect``), and the winner is
    returned as it is."""

    def socket(self, family: int, type: int, proto: int) -> Any:
        sock = socket.socket(family, type, proto)
        try:
            return Socket(sock)
        except BaseException:  # pragma: no cover - setblocking does not fail on a new socket
            sock.close()
            raise

    async def connect(self, sock: Any, address: Any, local_address: Any) -> None:
        if local_address is not None:
            sock.bind(local_address if isinstance(local_address, tuple) else (local_address, 0))
        err = await sock.connect_ex(address)
        if err:
            raise OSError(err, f"{_format_address(address)}: {os.strerror(err)} ({errno.errorcode.get(err, err)})")

    async def close(self, sock: Any) -> None:
        await sock.close()  # releases the descriptor in the kernel, then closes

    def wrap(self, sock: Any) -> Any:
        return sock


_STDLIB_LAYER = StdlibSocketLayer()


def _literal(host: str, port: Any, family: int) -> list[AddrInfo] | None:
    """Addresses for a literal IP *host* (no DNS), or ``None`` for a name."""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    if family not in (socket.AF_UNSPEC, fam):
        raise socket.gaierror(socket.EAI_FAMILY, f"{host} is not a {family_name(family)} address")
    # AI_NUMERICHOST never touches DNS; it also handles scope ids (fe80::1%lo).
    return socket.getaddrinfo(host, port, fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, socket.AI_NUMERICHOST)


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


class _Race:
    """Runs one :class:`Planner` with real tasks.  Every socket it creates is
    recorded in ``open`` until closed, so no path can leak one."""

    def __init__(self, plan: Planner, resolver: Resolver, layer: SocketLayer, local_address: Any) -> None:
        self.plan = plan
        self.resolver = resolver
        self.layer = layer
        self.local_address = local_address
        self.wake = Event()
        self.open: dict[int, tuple[Any, AddrInfo]] = {}

    async def _close(self, sock: Any) -> None:
        if self.open.pop(id(sock), None) is not None:
            try:
                await self.layer.close(sock)
            except Exception:
                # Keep closing the others; a failing close is only reported.
                log.exception("closing a Happy Eyeballs attempt socket failed")

    async def _resolve(self, family: int) -> None:
        plan = self.plan
        try:
            infos = await self.resolver(plan.host, plan.port, family)
        except Exception as exc:
            plan.resolution_failed(family, exc, await clock())
        else:
            plan.answer(family, [i for i in infos if i[0] == family], await clock())
        await self.wake.set()

    async def _attempt(self, info: AddrInfo, sock: Any) -> None:
        plan = self.plan
        try:
            await self.layer.connect(sock, info[4], self.local_address)
        except Exception as exc:
            await self._close(sock)
            plan.attempt_failed(info, exc, await clock())
        except BaseException:
            await self._close(sock)
            plan.attempt_cancelled(info, await clock())
            raise
        else:
            if not plan.attempt_connected(info, sock, await clock()):
                await self._close(sock)
        await self.wake.set()

    async def run(self) -> Done:
        plan = self.plan
        group = TaskGroup(wait=None)
        try:
            for family in plan.families:
                rrtype = "AAAA" if family == socket.AF_INET6 else "A"
                plan.emit("query", await clock(), family, detail=f"{rrtype} {plan.host}")
                await group.spawn(self._resolve, family)
            while True:
                self.wake.clear()
                now = await clock()
                action = plan.next_action(now)
                if isinstance(action, StartAttempt):
                    info = action.info
                    try:
                        sock = self.layer.socket(info[0], info[1], info[2])
                    except OSError as exc:
                        if exc.errno in _UNSUPPORTED:
                            plan.attempt_unsupported(info, exc, now)
                        else:
                            plan.attempt_failed(info, exc, now)
                        continue
                    self.open[id(sock)] = (sock, info)
                    await group.spawn(self._attempt, info, sock)
                elif isinstance(action, Wait):
                    if action.until is None:
                        await self.wake.wait()
                    else:
                        async with ignore_after(action.until - now):
                            await self.wake.wait()
                elif isinstance(action, Done):
                    self.open.pop(id(action.sock), None)  # the caller owns it now
                    plan.emit("done", now, action.info[0], action.info[4])
                    return action
                else:
                    plan.emit("gave-up", now, detail=str(action.error))
                    raise action.error
        finally:
            # Shielded: a second cancellation must not cut the clean-up short.
            async with disable_cancellation():
                await group.cancel_remaining()
                # Sockets whose task never ran, or a winner the call could
                # not return because it was cancelled meanwhile.
                for sock, info in list(self.open.values()):
                    await self._close(sock)
                    plan.attempt_cancelled(info, await clock())


async def open_tcp_stream(
    host: str,
    port: Any,
    *,
    ssl: Any = None,
    server_hostname: str | None = None,
    happy_eyeballs_delay: float = 0.25,
    resolution_delay: float = 0.05,
    first_address_family_count: int = 1,
    local_address: Any = None,
    family: int = socket.AF_UNSPEC,
    trace: Callable[[TraceEvent], Any] | None = None,
    resolver: Resolver | None = None,
    socket_layer: SocketLayer | None = None,
) -> Socket:
    """Connect to *host*:*port* over TCP the RFC 8305 way and return the socket.

    *host* is a name or a literal IP address (no DNS then).  AAAA and A
    queries start together; an AAAA answer starts the attempts at once, an A
    answer first waits up to *resolution_delay* seconds for AAAA.  Addresses
    are tried IPv6 first, families interleaved after
    *first_address_family_count* IPv6 addresses; a new attempt starts every
    *happy_eyeballs_delay* seconds (clamped to 10 ms .. 2 s), or at once when
    an attempt fails.  The first attempt to connect wins; the others are
    cancelled and their sockets closed.  Answers that come late join the
    addresses not yet tried.

    *family* ``AF_INET`` or ``AF_INET6`` restricts the lookup to one family.
    *local_address* (an IP string or an ``(ip, port)`` tuple) is bound before
    connecting.  With *ssl* (an :class:`ssl.SSLContext` or a
    ``curionet.ssl.SSLContext``, or ``True`` for the default context) the
    connection is wrapped in TLS for *server_hostname* (default: *host*)
    after it is made.

    Returns a connected :class:`curionet.kernel.io.Socket`.  Raises
    :class:`socket.gaierror` when no address is found, or one ``OSError``
    naming the host and port when every attempt fails, with every individual
    error in an ``ExceptionGroup`` as its ``__cause__``.  Cancelling the call
    (or a timeout around it) closes every socket it opened.

    *trace* is called with a :class:`TraceEvent` for each answer and attempt
    (the same lines are logged at DEBUG on ``curionet.happy_eyeballs``).
    *resolver* (an async ``resolver(host, port, family)`` returning
    ``getaddrinfo`` tuples) and *socket_layer* (a :class:`SocketLayer`) replace
    DNS and the real sockets, for tests.
    """
    if family not in (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"family must be AF_UNSPEC, AF_INET or AF_INET6, not {family!r}")
    if not isinstance(host, str):
        host = host.decode("ascii") if isinstance(host, (bytes, bytearray)) else str(host)
    layer: SocketLayer = socket_layer if socket_layer is not None else _STDLIB_LAYER
    start = await clock()
    literal = _literal(host, port, family)
    families: tuple[int, ...]
    if literal is not None:
        families = ()
    elif family == socket.AF_UNSPEC:
        families = (socket.AF_INET6, socket.AF_INET)
    else:
        families = (family,)
    plan = Planner(
        host, port, families, start,
        happy_eyeballs_delay=happy_eyeballs_delay,
        resolution_delay=resolution_delay,
        first_address_family_count=first_address_family_count,
        trace=trace,
    )  # fmt: skip
    if literal is not None:
        plan.answer(None, literal, start)
    race = _Race(plan, resolver if resolver is not None else getaddrinfo_resolver, layer, local_address)
    done = await race.run()
    raw = done.sock
    try:
        sock = layer.wrap(raw)
    except BaseException:
        await layer.close(raw)
        raise
    if ssl is None or ssl is False:
        return sock
    return await _wrap_tls(sock, ssl, server_hostname if server_hostname is not None else host)


async def _wrap_tls(sock: Any, context: Any, server_hostname: str) -> Any:
    """Wrap a connected curionet socket in TLS (``curionet.ssl``) and run the
    handshake.  The socket is closed if that fails."""
    from .. import ssl as _curionet_ssl

    try:
        ctx = _ssl.create_default_context() if context is True else _curionet_ssl._stdlib_context(context)
    except BaseException:
        await sock.close()
        raise
    # curionet.ssl closes the socket when the wrap or the handshake fails.
    return await _curionet_ssl._wrap(ctx, sock, server_hostname=server_hostname)
