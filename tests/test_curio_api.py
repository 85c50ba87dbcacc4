"""Curio 1.6's documented API under curionet's module paths."""

from __future__ import annotations

import logging
import os
import ssl as stdlib_ssl
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


async def test_stream_readinto_uses_the_buffer_first() -> None:
    from curionet import socket

    a, b = socket.socketpair()
    async with a, b:
        stream = b.as_stream()
        await a.sendall(b"line\nrest")
        assert await stream.readline() == b"line\n"
        buf = bytearray(10)
        n = await stream.readinto(buf)  # "rest" was buffered by readline()
        assert buf[:n] == b"rest"[:n] and n > 0
        await a.sendall(b"more data")
        view = memoryview(bytearray(4))
        got = b""
        while len(got) < len(b"rest" + b"more data") - n:
            k = await stream.readinto(view)
            assert 0 < k <= 4
            got += bytes(view[:k])
        assert b"rest"[:n] + got == b"restmore data"
        await a.shutdown(socket.SHUT_WR)
        assert await stream.readinto(bytearray(8)) == 0


async def test_file_stream_readinto() -> None:
    from curionet.io import FileStream

    r, w = os.pipe()
    async with FileStream(open(r, "rb", buffering=0)) as reader, FileStream(open(w, "wb", buffering=0)) as writer:
        await writer.write(b"abcdef")
        buf = bytearray(4)
        n = await reader.readinto(buf)
        assert n == 4 and buf == b"abcd"
        n = await reader.readinto(buf)
        assert buf[:n] == b"ef"


async def test_socket_gettimeout_and_makefile_keywords() -> None:
    from curionet import socket

    a, b = socket.socketpair()
    async with a, b:
        assert a.gettimeout() is None  # always non-blocking: timeouts come from timeout_after
        f = a.makefile("wb", encoding=None, errors=None, newline=None)
        await f.write(b"x")
        assert await b.recv(1) == b"x"
        with pytest.raises(ValueError):
            a.makefile("rb", encoding="utf-8")  # a binary stream has no encoding
        with pytest.raises(RuntimeError):
            a.makefile("r")


def test_universal_queue_join_sync_and_task_done_sync() -> None:
    import threading

    from curionet.queue import UniversalQueue

    q = UniversalQueue()
    for i in range(3):
        q.put(i)
    got: list[int] = []

    def worker() -> None:
        for _ in range(3):
            got.append(q.get())
            q.task_done_sync()

    t = threading.Thread(target=worker)
    t.start()
    q.join_sync()  # returns once every item was marked done
    t.join()
    assert got == [0, 1, 2]
    with pytest.raises(ValueError):
        q.task_done_sync()


async def test_universal_queue_join_sync_refuses_to_block_the_kernel() -> None:
    from curionet.queue import UniversalQueue

    q = UniversalQueue()
    q.join_sync()  # nothing unfinished: returns at once
    await q.put(1)
    with pytest.raises(RuntimeError, match="await"):
        q.join_sync()  # would block the kernel that must run the consumers
    await q.get()
    await q.task_done()
    await q.join()


async def test_meta_finalize_closes_an_async_generator() -> None:
    from curionet.meta import finalize

    log: list[str] = []

    async def numbers() -> Any:
        try:
            for i in range(10):
                yield i
        finally:
            await curionet.sleep(0)  # cleanup that needs the kernel
            log.append("closed")

    async with finalize(numbers()) as agen:
        async for i in agen:
            if i == 2:
                break
    assert log == ["closed"]
    with pytest.raises(KeyError):
        async with finalize(numbers()) as agen:
            async for _ in agen:
                raise KeyError("inside")
    assert log == ["closed", "closed"]
    async with finalize(iter([1])) as it:  # not an async generator: passed through
        assert next(it) == 1


def test_meta_asyncioable_picks_the_version_for_the_caller() -> None:
    import asyncio

    from curionet.meta import asyncioable, awaitable

    def spam(x: int) -> str:
        return f"sync {x}"

    @awaitable(spam)
    async def spam(x: int) -> str:  # noqa: F811
        return f"curionet {x}"

    @asyncioable(spam)
    async def spam(x: int) -> str:  # noqa: F811
        return f"asyncio {x}"

    async def call() -> str:
        return await spam(1)  # type: ignore[no-any-return]

    assert spam(1) == "sync 1"
    assert curionet.run(call) == "curionet 1"
    assert asyncio.run(call()) == "asyncio 1"
    with pytest.raises(TypeError):
        asyncioable(lambda: None)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: Any) -> Any:
    import trustme

    ca = trustme.CA()
    server = stdlib_ssl.create_default_context(stdlib_ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = stdlib_ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def _tls_server(server_ctx: Any) -> tuple[Any, int]:
    from curionet import network

    async def handler(client: Any, addr: Any) -> None:
        async with client:
            await client.recv(1)

    sock = network.tcp_server_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    return await curionet.spawn(network.run_server, sock, handler, server_ctx), port


async def test_curio_ssl_context_wraps_a_stdlib_context(tls: Any) -> None:
    from curionet import socket, ssl

    server_ctx, client_ctx = tls
    task, port = await _tls_server(server_ctx)
    ctx = ssl.CurioSSLContext(client_ctx)
    assert ctx.verify_mode == stdlib_ssl.CERT_REQUIRED  # the stdlib context's attributes
    assert isinstance(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ssl.CurioSSLContext)
    sock = await socket.create_connection(("127.0.0.1", port))
    async with await ctx.wrap_socket(sock, server_hostname="localhost") as tls_sock:
        assert tls_sock.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
        # Usable wherever curionet takes an ssl context:
    c = await curionet.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    await c.close()
    await task.cancel()


async def test_get_server_certificate_timeout(tls: Any) -> None:
    from curionet import network, ssl

    server_ctx, _ = tls
    task, port = await _tls_server(server_ctx)
    pem = await ssl.get_server_certificate(("127.0.0.1", port), timeout=30)
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    await task.cancel()
    async with network.tcp_server_socket("127.0.0.1", 0) as silent:  # accepts nothing, says nothing
        with pytest.raises(TimeoutError):
            await ssl.get_server_certificate(silent.getsockname()[:2], timeout=0.05)


async def _sleeper() -> None:
    await curionet.sleep(1000)


async def test_python_m_curionet_monitor_is_the_client() -> None:
    """Curio's tutorial: ``python -m curio.monitor`` connects to a program
    started with ``run(..., with_monitor=True)``."""
    import sys

    from curionet import subprocess
    from curionet.kernel.traps import _get_kernel
    from curionet.monitor import Monitor

    mon = Monitor(await _get_kernel(), port=0)
    try:
        task = await curionet.spawn(_sleeper)
        out = await subprocess.check_output(
            [sys.executable, "-m", "curionet.monitor", "-p", str(mon.address[1])], input=b"ps\nquit\n"
        )
        assert b"_sleeper" in out and b"TIME_SLEEP" in out
        await task.cancel()
    finally:
        mon.close()
