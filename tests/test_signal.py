"""Signals: SignalQueue/SignalEvent, and run() turning SIGINT/SIGTERM into a
clean cancellation of the main task (checked in child processes)."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import curionet
from curionet import SignalEvent, SignalQueue

CHILD = textwrap.dedent(
    """
    import sys, curionet

    async def child():
        try:
            await curionet.sleep(1000)
        finally:
            print("child finally", flush=True)

    async def main():
        t = await curionet.spawn(child)
        try:
            print("ready", flush=True)
            await curionet.sleep(1000)
        except curionet.CancelledError:
            print("main cancelled", flush=True)
            raise
        finally:
            print("main finally", flush=True)

    try:
        curionet.run(main)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(7)
    """
)


def _run_child_and_signal(signo):
    p = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signo)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    return p.returncode, out, err


def test_sigterm_cancels_main_and_runs_finally_blocks():
    code, out, err = _run_child_and_signal(signal.SIGTERM)
    assert out.splitlines() == ["main cancelled", "main finally", "child finally"], err
    assert code == 128 + signal.SIGTERM, err


def test_sigint_cancels_main_then_raises_keyboard_interrupt():
    code, out, err = _run_child_and_signal(signal.SIGINT)
    assert out.splitlines() == ["main cancelled", "main finally", "child finally", "KeyboardInterrupt"], err
    assert code == 7, err


def test_run_restores_the_default_handlers():
    async def main():
        return signal.getsignal(signal.SIGINT)

    inside = curionet.run(main)
    assert inside is not signal.default_int_handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_user_handlers_are_left_alone():
    seen = []
    old = signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    try:

        async def main():
            return signal.getsignal(signal.SIGINT)

        assert curionet.run(main) is signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, old)


async def test_signal_queue_receives_signals():
    async with SignalQueue(signal.SIGUSR1, signal.SIGUSR2) as q:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR2)
        got = {await q.get(), await q.get()}
    assert got == {signal.SIGUSR1, signal.SIGUSR2}
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


async def test_signal_from_another_thread_wakes_a_sleeping_kernel():
    with SignalEvent(signal.SIGUSR1) as evt:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        await curionet.timeout_after(20, evt.wait)
        assert evt.signo == signal.SIGUSR1


def test_signal_objects_need_the_main_thread_and_real_signals():
    errors = []

    def in_thread():
        try:
            SignalQueue(signal.SIGUSR1)
        except RuntimeError as e:
            errors.append(e)

    th = threading.Thread(target=in_thread)
    th.start()
    th.join()
    assert errors
    with pytest.raises(ValueError):
        SignalEvent(signal.SIGKILL)
    with pytest.raises(TypeError):
        SignalQueue()


def test_sigint_after_main_swallows_the_cancellation_still_interrupts():
    code = textwrap.dedent(
        """
        import curionet, sys
        async def main():
            try:
                print("ready", flush=True)
                await curionet.sleep(1000)
            except curionet.CancelledError:
                return "swallowed"
        try:
            curionet.run(main)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    assert out == "KeyboardInterrupt\n" and p.returncode == 0, err
