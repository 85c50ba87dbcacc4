"""The kernel's I/O side: the poller, the descriptor books, busy polling.

:class:`_IOMixin` holds the methods of :class:`~curionet.kernel.kernel.Kernel`
that keep ``_fds`` (fd -> ``[reader, writer, registered mask, owner token]``)
in step with the poller; the kernel inherits them, so a call costs what it
did when they were written in ``kernel.py``.  The ``_read_wait`` /
``_write_wait`` handler and the loop stay in ``kernel.py``.

I/O registrations are lazy: a file descriptor stays registered while tasks
keep waiting on it, and an event that arrives for a descriptor nobody waits
on any more removes the stale interest then.  The usual recv/send loop thus
makes no epoll_ctl calls at all.

Discussion: descriptors closed behind the kernel's back.  A lazy
registration outlives the wait that made it, so the kernel's books can name
a file that is gone: a socket closed without ``_io_release``
(``sock._socket.close()``, ``os.close``, garbage collection) leaves epoll,
which drops a closed file by itself, but not ``_fds``, and a new socket
given the same number would wait on interest epoll no longer has, forever.
So each entry also remembers *who* registered it: curionet's sockets and
streams pass their descriptor as an ``int`` subclass of their own
(``io._FdToken``), and a wait by another token on the same number takes
the slow path (``_io_register``): ``EPOLL_CTL_MOD`` succeeds if the number
still names the registered file (a stream and its socket, a TLS wrapper);
``ENOENT`` means the number was reused, so the stale waiters get
``ClosedResourceError`` and the new file is registered; ``EBADF`` means
nothing is open there, and the wait fails with ``ClosedResourceError``.
The common case (the same object waiting again) costs one identity test.
Plain integers carry no owner: equal numbers count as one owner, so a
caller waiting on raw descriptors must ``_io_release`` them before closing.

A release (``_io_release``) carries the owner token too, and one that does
not name the owner of the books, while tasks of that owner wait, is
ignored: the releaser's file was closed already and the number now belongs
to someone else.  That happens when two objects own one descriptor in turn
and both close it (a :class:`Socket` and its ``as_stream()``, which share
a token, each release on ``close``): the first release is the real one; by
the second the number may name a new connection, whose waiters must not be
woken nor its registration dropped.  With no waiter, a release by another
token drops the entry (stale, or at worst one re-registration later).  A
release by a plain integer, or of books made by one, is always obeyed.
So two objects made separately on one raw socket are two owners: close the
one a task waits through.

Discussion: busy polling.  When nothing is ready to run, the kernel has to
wait for I/O.  Blocking in ``epoll_wait`` puts the thread (and often the CPU)
to sleep, and waking it again costs tens of microseconds on a virtual
machine, more than a Python echo server spends on a whole message.  So a
kernel that sent something since it last went idle (a request, a reply: an
answer or the next request is due) first polls without blocking for up to
``busy_poll`` seconds (100 us) and blocks only if nothing arrived: the idea
of Linux's ``SO_BUSY_POLL`` and of Go's spinning scheduler.  With a fast
peer the answer arrives during the spin and the round trip skips the sleep
and the wake-up entirely.  A kernel that only received (a bulk download)
sleeps at once: spinning between the bursts of a stream costs more CPU than
it saves.  A spin that finds nothing backs off: the next 1, 2, 4 ...
64 idle waits block at once, and only short waits (under 1 ms) count down
those skips, so a quiet server stops spinning after one window and traffic
the window does not fit wastes at most one window in 64 waits.  A kernel
watching more than 16 descriptors (a server with many clients) does not
spin: with that many peers one of them wakes it soon anyway, and spinning
through the short gaps between their messages only burns CPU the server
could spend on them (at 100 WebSocket connections of 64 KiB messages it was
a tenth of the server's CPU per message).  Spinning
releases the GIL on every poll, and a spin is at most one window long, so a
worker thread the kernel waits for is never held up for longer.
``Kernel(busy_poll=0)`` (or ``CURIONET_BUSY_POLL=0`` in the environment)
turns it off; a mock clock never spins.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from ..errors import ClosedResourceError
from .task import READY, Task

__all__ = ["send_hint"]

_EV_READ = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_EV_WRITE = select.POLLOUT | select.POLLERR | select.POLLHUP
_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT

#: Default busy-poll window in seconds (see the module's Discussion).
BUSY_POLL = 100e-6
_sched_yield = getattr(os, "sched_yield", lambda: None)
# An idle wait this short counts as request/response traffic worth spinning for.
_SPIN_SHORT = 1e-3
# A kernel watching more descriptors than this does not spin (see the Discussion).
_SPIN_MAX_FDS = 16
# The most bytes the kernel receives for tasks (traps._recv_wait) in one pass
# over a poll's events, into new bytes objects: past it, the tasks woken by
# that poll make their receives themselves, one after another, so a poll
# that reports a thousand sockets full of data does not take it all into
# memory at once.  (A receive into a task's own buffer costs no memory and
# is not counted.)  8 MiB covers a hundred 64 KiB WebSocket messages.
_RECV_BUDGET = 8 << 20
# The kernel receives for tasks only when a poll reports at least this many
# descriptors: the point is to read a batch before answering it, and a lone
# socket gains nothing from it, while a receive made the moment it turns
# readable can catch a big message half arrived (a 64 KiB WebSocket message
# is two loopback segments) where the task's own, a moment later, gets it
# whole.
_RECV_MIN_EVENTS = 2


class _SendHint:
    """The busy-poll hint.  ``sent`` is set by every send (sockets, streams,
    worker hand-offs) and cleared by the loop each time it goes idle: a
    kernel that sent something since it last went idle (a request, or a
    server's reply) expects an answer or the next request soon and
    busy-polls for it; one that only received (a bulk download) sleeps at
    once (see the module's Discussion on busy polling).  There is one per
    process, shared by kernels running in other threads: it is only a hint,
    and a wrong guess costs one spin or one sleep, never correctness."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


send_hint = _SendHint()


class _Poller:
    """epoll where the platform has it, ``poll()`` elsewhere; one API."""

    def __init__(self) -> None:
        if hasattr(select, "epoll"):
            self._p: Any = select.epoll()
            self._ms = False
        else:  # pragma: no cover - non-Linux
            self._p = select.poll()
            self._ms = True

    def modify(self, fd: int, mask: int) -> None:
        """``EPOLL_CTL_MOD``: ``FileNotFoundError`` if *fd*'s current file is
        not registered (it was closed and the number reused)."""
        self._p.modify(fd, mask)

    def set(self, fd: int, mask: int, old: int) -> None:
        p = self._p
        if mask == 0:
            try:
                p.unregister(fd)
            except (OSError, KeyError, ValueError):
                pass
        elif old == 0:
            try:
                p.register(fd, mask)
            except FileExistsError:
                p.modify(fd, mask)
        else:
            try:
                p.modify(fd, mask)
            except FileNotFoundError:  # fd was closed and reused behind our back
                p.register(fd, mask)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if self._ms:  # pragma: no cover
            return self._p.poll(None if timeout is None else timeout * 1000.0)  # type: ignore[no-any-return]
        return self._p.poll(-1 if timeout is None else timeout)  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self._ms:
            self._p.close()


class _IOWait:
    """Undo record for a task blocked in ``_read_wait``/``_write_wait``."""

    __slots__ = ("_fds",)

    def __init__(self, fds: dict[int, list[Any]]) -> None:
        self._fds = fds

    def _discard(self, task: Task) -> None:
        wait = task._wait_data
        task._wait_data = None
        st = self._fds.get(wait[0])
        if st is not None and st[wait[1]] is task:
            st[wait[1]] = None


class _IOMixin:
    """The kernel's I/O methods (see the module's docstring)."""

    _fds: dict[int, list[Any]]
    _poller: _Poller
    _ready: deque[Task]
    _notify_sock: tuple[socket.socket, socket.socket] | None
    _busy_poll: float
    _spin_skip: int
    _spin_backoff: int

    if TYPE_CHECKING:

        def _reschedule(self, task: Task, value: Any = None, exc: BaseException | None = None) -> None: ...

    def _init_io(self, busy_poll: float | None, spin: bool) -> None:
        """Set up the I/O state: the poller, the books, the busy-poll window
        (*spin* false: never spin, as with a mock clock)."""
        if busy_poll is None:
            busy_poll = float(os.environ.get("CURIONET_BUSY_POLL", BUSY_POLL))
        if busy_poll < 0:
            raise ValueError("busy_poll must be >= 0")
        self._busy_poll = busy_poll if spin else 0.0
        self._spin_skip = 0  # idle waits to go before spinning again
        self._spin_backoff = 1
        self._poller = _Poller()
        self._fds = {}  # fd -> [reader, writer, registered mask, owner token]
        self._io_wait = _IOWait(self._fds)
        # Cross-thread wake-up: a socketpair (made when first needed).
        self._notify_sock = None

    def _init_notify(self) -> None:
        if self._notify_sock is None:
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._notify_sock = (r, w)
            fd = r.fileno()
            st = self._fds.setdefault(fd, [None, None, 0, fd])
            st[2] = select.POLLIN
            self._poller.set(r.fileno(), select.POLLIN, 0)

    def _idle_poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait for I/O with no task ready: if something was sent since the
        last wait, spin for up to ``busy_poll`` seconds first unless recent
        spins failed, then block.

        A failed spin skips the next 1, 2, 4 ... 64 spins (reset by a spin
        that succeeds), and only idle waits shorter than ``_SPIN_SHORT``
        count towards those skips, so a quiet kernel stops spinning after
        one try and traffic that does not fit the window wastes at most one
        window every 64 waits."""
        window = self._busy_poll
        sent = send_hint.sent
        send_hint.sent = False
        if not sent or len(self._fds) > _SPIN_MAX_FDS or (timeout is not None and timeout <= window):
            # Only receives since the last wait (no answer is due, as between
            # the bursts of a download), many descriptors (one of them will
            # wake the kernel soon anyway), or a timer is due within the
            # window: just wait.
            return self._poller.poll(timeout)
        poll = self._poller.poll
        if self._spin_skip:
            start = time.monotonic()
            events = poll(timeout)
            if events and time.monotonic() - start <= _SPIN_SHORT:
                self._spin_skip -= 1
            return events
        end = time.monotonic() + window
        while True:
            events = poll(0.0)
            if events:
                self._spin_backoff = 1
                return events
            if time.monotonic() >= end:
                break
            _sched_yield()  # let a runnable peer on this CPU have it
        self._spin_skip = self._spin_backoff
        self._spin_backoff = min(2 * self._spin_backoff, 64)
        return poll(None if timeout is None else timeout - window)

    def _dispatch_io(self, events: list[tuple[int, int]]) -> None:
        fds = self._fds
        ready = self._ready
        notify = self._notify_sock
        notify_fd = notify[0].fileno() if notify is not None else -1
        budget = _RECV_BUDGET if len(events) >= _RECV_MIN_EVENTS else 0
        for fd, ev in events:
            if fd == notify_fd:
                try:
                    while notify[0].recv(4096):  # type: ignore[index]
                        pass
                except OSError:
                    pass
                continue
            st = fds.get(fd)
            if st is None:
                continue
            drop = 0
            if ev & _EV_READ:
                task = st[0]
                if task is not None:
                    st[0] = None
                    value = None
                    wait = task._wait_data
                    if len(wait) > 2:
                        # A _recv_wait: receive for the task now (see traps),
                        # unless this poll's budget is spent (None: it will).
                        task._wait_data = None
                        if budget > 0:
                            req = wait[2]
                            try:
                                value = req[3](*req[4])
                                if type(value) is bytes:
                                    budget -= len(value)
                            except (BlockingIOError, InterruptedError):
                                pass  # not readable after all: None, the task tries again
                            except Exception as e:  # raised in the task (a socket error
                                task._next_exc = e  # is reported once: never call again)
                    task._waitq = None
                    task._next_value = value
                    task._state = READY
                    task._reason = "READY"
                    ready.append(task)
                elif st[2] & _POLLIN:
                    drop = _POLLIN
            if ev & _EV_WRITE:
                task = st[1]
                if task is not None:
                    st[1] = None
                    task._waitq = None
                    task._next_value = None
                    task._state = READY
                    task._reason = "READY"
                    ready.append(task)
                elif st[2] & _POLLOUT:
                    drop |= _POLLOUT
            if drop:
                # Lazy unregistration: interest stays registered while tasks
                # keep waiting; an event nobody waits for any more drops it.
                new = st[2] & ~drop
                try:
                    self._poller.set(fd, new, st[2])
                except OSError:  # the fd was closed behind our back
                    self._io_forget(fd, None, f"fd {fd} was closed while a task waited on it")
                    continue
                if new:
                    st[2] = new
                else:
                    del fds[fd]

    def _io_register(self, task: Task, fd: int, st: list[Any], bit: int) -> None:
        """Slow path of an I/O wait: add *bit* to the interest registered for
        *fd*, and re-register *fd* when another owner token waits on it."""
        owner, mask = st[3], st[2]
        new = mask | bit
        poller = self._poller
        try:
            if owner is fd or (type(owner) is int and type(fd) is int):
                if new != mask:
                    poller.set(fd, new, mask)
            elif mask:
                try:
                    poller.modify(fd, new)  # the same open file (a stream of a socket, a TLS wrapper)
                except FileNotFoundError:
                    # epoll has no such file at this number: the registered
                    # one was closed and the number reused.
                    for w in (0, 1):
                        waiter = st[w]
                        if waiter is not None:
                            st[w] = None
                            waiter._waitq = waiter._wait_data = None
                            self._reschedule(waiter, None, ClosedResourceError(
                                f"fd {fd} was closed (and reused) while a task waited on it"))  # fmt: skip
                    poller.set(fd, new, 0)
            else:
                poller.set(fd, new, 0)
        except OSError as e:
            if e.errno == errno.EBADF:
                self._io_forget(fd, task, f"fd {fd} was closed while a task waited on it")
                raise ClosedResourceError(f"fd {fd} is not open") from e
            if st[2] == 0 and st[0] is None and st[1] is None:
                del self._fds[fd]  # nothing registered: keep no books (EPERM: a regular file)
            raise
        st[2] = new
        st[3] = fd

    def _io_forget(self, fd: int, task: Task | None, why: str) -> None:
        """Drop *fd* from the books and the poller; wake its waiters (other
        than *task*) with ``ClosedResourceError(why)``."""
        st = self._fds.pop(fd, None)
        if st is not None:
            if st[2]:
                self._poller.set(fd, 0, st[2])
            for waiter in st[:2]:
                if waiter is not None and waiter is not task:
                    waiter._waitq = waiter._wait_data = None
                    self._reschedule(waiter, None, ClosedResourceError(why))

    def _trap_io_release(self, task: Task, req: Any) -> Any:
        """Forget a descriptor about to be closed, unless the books belong to
        another owner: see the module's Discussion on releases."""
        fileobj = req[1]
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        st = self._fds.get(fd)
        if st is None:
            return None
        owner = st[3]
        if owner is not fd and type(owner) is not int and type(fd) is not int:
            if st[0] is not None or st[1] is not None:
                return None  # another owner's waits on a number reused meanwhile
        self._io_forget(fd, task, f"fd {fd} was closed while a task waited on it")
        return None

    def _trap_io_waiting(self, task: Task, req: Any) -> Any:
        fileobj = req[1]
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        st = self._fds.get(fd)
        if st is None:
            return (None, None)
        return (st[0], st[1])
