"""The pool's shortcuts make the choices its one policy makes.

``ConnectionPool._assign`` is the policy: which connection each waiting
request gets, and which connections are closed.  ``_fast_acquire`` and
``_fast_release`` skip it in the common cases.  A property test drives the
same random sequence of acquires, releases, failures, retries, peer closes
and clock ticks through the real pool and through a reference pool whose
shortcuts always decline, and requires the same bookkeeping after every
step.  Pure bookkeeping: connections get a fake stream, nothing does I/O.
"""

from hypothesis import example, given, settings, strategies as st

from curionet.protocols.http import Limits, Request
from curionet.protocols.http._connection import ACTIVE, CLOSED, IDLE
from curionet.protocols.http._pool import ConnectionPool, _PoolRequest

ORIGINS = ["http://b.test/", "https://a.test/", "http://a.test/"]  # three pool keys


class FakeStream:
    def __init__(self):
        self.peer_closed = False

    def is_readable(self):
        return self.peer_closed


class RecordingPool(ConnectionPool):
    def __init__(self, limits):
        super().__init__(limits=limits)
        self.created = []

    def _new_connection(self, key):
        conn = super()._new_connection(key)
        self.created.append(conn)
        return conn


class PolicyOnlyPool(RecordingPool):
    """Every acquire and release goes through ``_assign``."""

    def _fast_acquire(self, preq, now):
        return False

    def _fast_release(self, conn, now):
        return False


def close(conn):
    # What conn.aclose() does to the bookkeeping (its I/O is not modelled).
    conn.state = CLOSED
    conn._must_close = True
    conn._stream = None


class Driver:
    """One pool and the requests it has seen, driven by operations."""

    def __init__(self, pool):
        self.pool = pool
        self.requests = []  # _PoolRequest per acquire, in order
        self.now = 0.0

    def settle(self, closing):
        for conn in closing:
            close(conn)

    def acquire(self, origin):
        request = Request("GET", ORIGINS[origin])
        preq = _PoolRequest(request, self.pool._key(request.url))
        self.requests.append(preq)
        self.pool._requests.append(preq)
        self.settle(self.pool._acquire(preq, self.now))

    def held(self, n):
        """The n-th request still holding a connection (or None)."""
        holding = [r for r in self.requests if r.connection is not None]
        return holding[n % len(holding)] if holding else None

    def finish(self, preq, how):
        """The end of *preq*'s exchange on its connection."""
        conn = preq.connection
        if conn._stream is None and conn.state is ACTIVE:
            conn._stream = FakeStream()  # it connected
        if how == "must_close":
            conn._must_close = True
        elif how in ("fail", "retry", "break"):
            close(conn)
        if how == "retry":  # ServerDisconnected on a kept-alive connection
            preq.connection = None
            preq.force_new = True
            self.settle(self.pool._acquire(preq, self.now))
        elif how != "break":  # a broken response is released later
            self.settle(self.pool._release(preq, self.now))

    def apply(self, op):
        kind, arg = op
        pool = self.pool
        if kind == "acquire":
            self.acquire(arg % len(ORIGINS))
        elif kind == "burst":  # several requests to one origin at once
            for _ in range(2 + arg % 2):
                self.acquire(arg % len(ORIGINS))
        elif kind == "drain":  # every response read to the end
            for preq in [r for r in self.requests if r.connection is not None]:
                self.finish(preq, "clean")
        elif kind == "tick":
            self.now += TICKS[arg % len(TICKS)]
        elif kind in ("clean", "must_close", "fail", "retry", "break"):
            preq = self.held(arg)
            if preq is not None:
                self.finish(preq, kind)
        elif kind == "give_up":  # a waiting request cancelled or timed out
            waiting = [r for r in self.requests if r.connection is None and r in pool._requests]
            if waiting:
                self.settle(pool._release(waiting[arg % len(waiting)], self.now))
        elif kind == "peer_close":  # the server closed an idle connection
            idle = [c for c in pool.created if c.state is IDLE]
            if idle:
                idle[arg % len(idle)]._stream.peer_closed = True

    def snapshot(self):
        """The bookkeeping, with connections named by creation order."""
        created = self.pool.created
        number = {id(c): i for i, c in enumerate(created)}
        return (
            [number[id(r.connection)] if r.connection is not None else None for r in self.requests],
            [r in self.pool._requests for r in self.requests],
            [(c.state, c.key) for c in created],
            # Connections already closed may linger in the list until the next
            # _assign; they are closed either way.
            [number[id(c)] for c in self.pool._connections if c.state is not CLOSED],
        )


# Kinds repeated to weight them: most steps acquire or release cleanly; a
# burst then a drain leaves several idle connections to one origin.
KINDS = ["acquire"] * 3 + ["clean"] * 3 + ["burst", "drain", "must_close", "fail", "retry", "break", "give_up"]
KINDS += ["peer_close", "tick"]
TICKS = [1.0, 3.0, 10.0]
operations = st.tuples(st.sampled_from(KINDS), st.integers(0, 5))
limits = st.builds(
    Limits,
    max_connections=st.sampled_from([1, 2, 3, None]),
    max_keepalive_connections=st.sampled_from([0, 1, 2, None, None]),
    keepalive_expiry=st.sampled_from([None, 0.0, 2.0, 5.0, 5.0]),
)


@settings(max_examples=300, deadline=None)
@given(limits=limits, ops=st.lists(operations, min_size=8, max_size=50))
# An idle connection that expired at once, or while another origin's request
# took a shortcut, was left open where the policy closes it.
@example(limits=Limits(keepalive_expiry=0.0), ops=[("acquire", 0), ("clean", 0)])
@example(
    limits=Limits(keepalive_expiry=2.0),
    ops=[("acquire", 0), ("clean", 0), ("tick", 0), ("acquire", 1), ("clean", 0), ("tick", 0), ("acquire", 1)],
)
# Reuse takes the most recently used idle connection; a retry never reuses.
@example(limits=Limits(), ops=[("burst", 0), ("drain", 0), ("acquire", 0)])
@example(limits=Limits(), ops=[("burst", 0), ("clean", 0), ("retry", 0)])
def test_shortcuts_agree_with_the_policy(limits, ops):
    fast = Driver(RecordingPool(limits))
    policy = Driver(PolicyOnlyPool(limits))
    for op in ops:
        fast.apply(op)
        policy.apply(op)
        assert fast.snapshot() == policy.snapshot(), op


def test_the_shortcuts_are_taken():
    # The property above is empty if the shortcuts never fire.
    taken = []

    class Counting(RecordingPool):
        def _fast_acquire(self, preq, now):
            taken.append(("acquire", super()._fast_acquire(preq, now)))
            return taken[-1][1]

        def _fast_release(self, conn, now):
            taken.append(("release", super()._fast_release(conn, now)))
            return taken[-1][1]

    driver = Driver(Counting(Limits()))
    for op in [("acquire", 0), ("clean", 0), ("acquire", 0), ("clean", 0)]:
        driver.apply(op)
    assert taken == [("acquire", False), ("release", True), ("acquire", True), ("release", True)]
    assert len(driver.pool.created) == 1
