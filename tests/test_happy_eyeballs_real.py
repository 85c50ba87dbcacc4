"""Happy Eyeballs against real loopback sockets.

A host name resolved (by a fake resolver) to an IPv6 listener on ``::1``
whose accept queue is full, and an IPv4 listener on ``127.0.0.1``.

Discussion: making a connect hang on loopback.  Linux drops an incoming SYN
when the listener's accept queue is full (``sk_acceptq_is_full``), whatever
the SYN-cookie setting: cookies only stand in for a full SYN queue.  With
``listen(0)`` the accept queue holds one connection, so the listener is
filled by connecting until a probe stays unconnected; every later connect
hangs (its SYN is retransmitted and dropped) until it is given up.

These are the only tests of the connector that take real time; their one
timing check has a generous bound.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl

import pytest

from curionet import TaskTimeout, spawn, timeout_after
from curionet.kernel.io import Socket
from curionet.kernel.traps import _get_kernel
from curionet.protocols.happy_eyeballs import getaddrinfo_resolver, open_tcp_stream


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_IPV6 = _ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not HAVE_IPV6, reason="this machine has no IPv6 on loopback (::1)")


def _open_fds() -> set[int]:
    return set(int(fd) for fd in os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def full_backlog_listener():
    """A listener on ``::1`` to which new connects hang.  Yields its port."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    fillers = []
    try:
        listener.bind(("::1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(64):
            probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            fillers.append(probe)
            probe.setblocking(False)
            probe.connect_ex(("::1", port))
            if not select.select([], [probe], [], 0.2)[1]:
                break  # this one hangs: the queue is full
        else:  # pragma: no cover - the kernel never filled up
            raise RuntimeError("could not fill the accept queue of a ::1 listener")
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


@contextlib.contextmanager
def ipv4_listener():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener, listener.getsockname()[1]
    finally:
        listener.close()


@contextlib.contextmanager
def refused_ipv6_port():
    """A ``::1`` port bound but not listening: connects are refused (RST)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.bind(("::1", 0))
        yield s.getsockname()[1]
    finally:
        s.close()


def resolver_for(port6: int, port4: int):
    async def resolver(host, port, family):
        assert host == "dual.localhost"
        if family == socket.AF_INET6:
            return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", port6, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port4))]

    return resolver


async def _assert_kernel_forgot(fds: set[int]) -> None:
    kernel = await _get_kernel()
    assert not (fds & set(kernel._fds)), "a closed socket is still registered in the kernel"


@needs_ipv6
async def test_hanging_ipv6_falls_back_to_ipv4_after_one_delay():
    with full_backlog_listener() as port6, ipv4_listener() as (listener4, port4):
        before = _open_fds()
        events = []
        sock = await open_tcp_stream(
            "dual.localhost", 80, resolver=resolver_for(port6, port4), trace=events.append
        )
        try:
            assert isinstance(sock, Socket)
            assert sock.family == socket.AF_INET
            assert sock.getpeername() == ("127.0.0.1", port4)
            during = _open_fds() - before
            assert during == {sock.fileno()}, "the losing ::1 attempt left a socket open"
            attempts = [e for e in events if e.kind == "attempt"]
            assert [e.address[0] for e in attempts] == ["::1", "127.0.0.1"]
            # One Connection Attempt Delay (0.25 s) apart; generous bound for a loaded machine.
            gap = attempts[1].elapsed - attempts[0].elapsed
            assert 0.25 - 1e-6 <= gap < 2.0
            assert [e.kind for e in events if e.address and e.address[0] == "::1"] == ["attempt", "cancelled"]
            # The connection works.
            server, _ = listener4.accept()
            with server:
                await sock.sendall(b"hello")
                assert server.recv(5) == b"hello"
        finally:
            fd = sock.fileno()
            await sock.close()
        assert _open_fds() - before == set()
        await _assert_kernel_forgot({fd})


@needs_ipv6
async def test_refused_ipv6_falls_through_to_ipv4_at_once():
    with refused_ipv6_port() as port6, ipv4_listener() as (listener4, port4):
        before = _open_fds()
        events = []
        # A long delay: reaching IPv4 well before it proves the failure started it.
        sock = await open_tcp_stream(
            "dual.localhost", 80, resolver=resolver_for(port6, port4), happy_eyeballs_delay=2.0, trace=events.append
        )
        async with sock:
            assert sock.getpeername() == ("127.0.0.1", port4)
            kinds = [(e.kind, e.address and e.address[0]) for e in events if e.kind in ("attempt", "failed")]
            assert kinds == [("attempt", "::1"), ("failed", "::1"), ("attempt", "127.0.0.1")]
            assert "ECONNREFUSED" in next(e.detail for e in events if e.kind == "failed")
            assert events[-1].kind == "done" and events[-1].elapsed < 1.0
        assert _open_fds() - before == set()


@needs_ipv6
async def test_timeout_while_ipv6_hangs_closes_everything():
    with full_backlog_listener() as port6:
        before = _open_fds()

        async def only_v6(host, port, family):
            if family == socket.AF_INET6:
                return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", port6, 0, 0))]
            return []

        with pytest.raises(TaskTimeout):
            async with timeout_after(0.1):
                await open_tcp_stream("dual.localhost", 80, resolver=only_v6)
        assert _open_fds() - before == set()


async def test_everything_refused_on_real_sockets():
    with refused_ipv6_port() if HAVE_IPV6 else contextlib.nullcontext(0) as port6:
        s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s4.bind(("127.0.0.1", 0))  # bound, not listening: refused
        with s4:
            before = _open_fds()
            with pytest.raises(ConnectionRefusedError) as info:
                await open_tcp_stream("dual.localhost", 80, resolver=resolver_for(port6, s4.getsockname()[1]))
            assert "dual.localhost:80" in str(info.value) and "Connection refused" in str(info.value)
            assert len(info.value.__cause__.exceptions) == (2 if HAVE_IPV6 else 1)
            assert _open_fds() - before == set()


async def test_literal_addresses_on_real_sockets():
    with ipv4_listener() as (_, port4):
        async with await open_tcp_stream("127.0.0.1", port4) as sock:
            assert sock.getpeername() == ("127.0.0.1", port4)


async def test_default_resolver_runs_getaddrinfo_in_a_thread():
    infos = await getaddrinfo_resolver("localhost", 80, socket.AF_INET)
    assert infos and all(i[0] == socket.AF_INET and i[4][0].startswith("127.") for i in infos)
    with ipv4_listener() as (_, port4):
        async with await open_tcp_stream("localhost", port4, family=socket.AF_INET) as sock:
            assert sock.getpeername()[1] == port4


async def test_local_address_is_bound():
    with ipv4_listener() as (_, port4):
        async with await open_tcp_stream("127.0.0.1", port4, local_address="127.0.0.1") as sock:
            assert sock.getsockname()[0] == "127.0.0.1"


def _v4_only(port4: int):
    async def resolver(host, port, family):
        if family == socket.AF_INET:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port4))]
        raise socket.gaierror(socket.EAI_NONAME, "no AAAA")

    return resolver


@contextlib.contextmanager
def _tls_pair(hostname: str):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    yield server_ctx, client_ctx


async def _tls_echo_once(listener: Socket, server_ctx) -> None:
    from curionet import ssl as cssl

    client, _ = await listener.accept()
    try:
        tls = await cssl.SSLContext.wrap(server_ctx).wrap_socket(client, server_side=True)
    except (ssl.SSLError, OSError):
        return  # the client refused our certificate; _wrap closed the socket
    async with tls:
        data = await tls.recv(100)
        await tls.sendall(data.upper())


async def test_tls_after_connecting():
    with _tls_pair("dual.localhost") as (server_ctx, client_ctx):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.bind(("127.0.0.1", 0))
        raw.listen(8)
        async with Socket(raw) as listener:
            server = await spawn(_tls_echo_once, listener, server_ctx)
            sock = await open_tcp_stream("dual.localhost", 443, ssl=client_ctx, resolver=_v4_only(raw.getsockname()[1]))
            async with sock:
                assert isinstance(sock._socket, ssl.SSLSocket)
                assert sock.getpeercert()["subjectAltName"] == (("DNS", "dual.localhost"),)
                await sock.sendall(b"hello")
                assert await sock.recv(100) == b"HELLO"
            await server.join()


async def test_tls_failure_closes_the_socket():
    with _tls_pair("dual.localhost") as (server_ctx, client_ctx):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.bind(("127.0.0.1", 0))
        raw.listen(8)
        async with Socket(raw) as listener:
            before = _open_fds()
            server = await spawn(_tls_echo_once, listener, server_ctx)
            with pytest.raises(ssl.SSLCertVerificationError):
                await open_tcp_stream(
                    "dual.localhost", 443, ssl=client_ctx, server_hostname="other.localhost",
                    resolver=_v4_only(raw.getsockname()[1]),
                )  # fmt: skip
            await server.join()
            assert _open_fds() - before == set()


@needs_ipv6
async def test_local_address_of_one_family_skips_the_other():
    with refused_ipv6_port() as port6, ipv4_listener() as (_, port4):
        events = []
        sock = await open_tcp_stream(
            "dual.localhost", 80, resolver=resolver_for(port6, port4), local_address="127.0.0.1",
            happy_eyeballs_delay=2.0, trace=events.append,
        )  # fmt: skip
        async with sock:
            assert sock.getsockname()[0] == "127.0.0.1"
        # The IPv6 attempt could not bind an IPv4 address: it failed, and IPv4 went at once.
        kinds = [(e.kind, e.address[0]) for e in events if e.kind in ("attempt", "failed")]
        assert kinds == [("attempt", "::1"), ("failed", "::1"), ("attempt", "127.0.0.1")]
        assert events[-1].elapsed < 1.0


async def test_open_connection_goes_through_the_connector(caplog):
    import logging

    import curionet

    with ipv4_listener() as (_, port4), caplog.at_level(logging.DEBUG, logger="curionet.happy_eyeballs"):
        sock = await curionet.open_connection("127.0.0.1", port4, source_addr=("127.0.0.1", 0))
        async with sock:
            assert sock.getpeername() == ("127.0.0.1", port4)
    messages = [r.getMessage() for r in caplog.records if r.name == "curionet.happy_eyeballs"]
    assert any("attempt" in m and f"127.0.0.1:{port4}" in m for m in messages)
