"""Cancelled name lookups (``curionet.socket.getaddrinfo`` and friends) run in
the kernel's bounded worker pool: abandoning many of them never starts more
than MAX_WORKER_THREADS threads, and their late outcome is dropped quietly."""

import logging
import socket as stdlib_socket
import threading
import time

import curionet
from curionet import socket as csocket, workers
from curionet.kernel import Kernel, MockClock
from curionet.kernel.kernel import current_kernel


def test_cancelled_lookups_stay_within_the_pool(monkeypatch, caplog):
    gate = threading.Event()
    started = []

    def slow_getaddrinfo(host, *args):
        started.append(host)
        gate.wait(30)
        raise stdlib_socket.gaierror(stdlib_socket.EAI_NONAME, "made-up name")

    monkeypatch.setattr(stdlib_socket, "getaddrinfo", slow_getaddrinfo)
    base = threading.active_count()
    peak = 0

    async def main():
        nonlocal peak
        try:
            for i in range(200):
                r = await curionet.ignore_after(1, csocket.getaddrinfo, f"host{i}.invalid", 80, timeout_result="gone")
                assert r == "gone"
                peak = max(peak, threading.active_count() - base)
        finally:
            gate.set()
        # The pool drains, and a later lookup still works.
        end = time.monotonic() + 10
        while workers._thread_pool(current_kernel()).slots.busy:
            assert time.monotonic() < end
            await curionet.sleep(0)
            time.sleep(0.001)

    with caplog.at_level(logging.ERROR, logger="curionet"):
        with Kernel(clock=MockClock(autojump_threshold=0)) as k:
            k.run(main)
    assert peak <= workers.MAX_WORKER_THREADS, f"{peak} threads for 200 abandoned lookups"
    # Abandoned lookups' errors are nobody's business: nothing is logged.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
