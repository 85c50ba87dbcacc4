"""The task monitor: look inside a running kernel from another terminal
(Curio's ``curio.monitor``).

``run(main, with_monitor=True)`` starts a :class:`Monitor`: a thread serving
a line-oriented console on ``127.0.0.1:48802`` (``CURIONET_MONITOR_HOST`` /
``CURIONET_MONITOR_PORT`` override it; port ``0`` picks a free port, see
:attr:`Monitor.address`).  Connect with ``python -m curionet.monitor`` (as
Curio's ``python -m curio.monitor``; ``-H HOST``, ``-p PORT``) or
``python -m curionet monitor``.
Commands:

* ``ps``: every task with its id, state, cycles, name and where it waits
* ``where ID`` (``w ID``): the stack of a task
* ``cancel ID``: cancel a task
* ``help``, ``quit``

Discussion: the monitor thread never reads kernel state directly.  Each
command is a function sent to the kernel with ``call_soon_threadsafe`` and run
there between scheduling cycles, so it sees a consistent picture.  If the
kernel does not answer within a few seconds (a task is blocking it), the
monitor says so instead of hanging.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import select
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Monitor", "MONITOR_HOST", "MONITOR_PORT", "PROMPT", "monitor_client", "run_client", "main"]

MONITOR_HOST = "127.0.0.1"
MONITOR_PORT = 48802
PROMPT = "curionet > "
_HELP = """Commands:
  ps           list tasks
  where ID     show the stack of task ID (also: w ID)
  cancel ID    cancel task ID
  help         this text
  quit         leave the monitor (the program keeps running)
"""


def _ps(kernel: Any) -> str:
    now = kernel.clock.current_time()
    rows = [f"{'Task':>6} {'State':<16} {'Cycles':>8} {'Timeout':>8}  {'Name':<32} Where",
            f"{'-' * 6} {'-' * 16} {'-' * 8} {'-' * 8}  {'-' * 32} {'-' * 24}"]  # fmt: skip
    for t in kernel.tasks():
        deadlines = [d for d, fired in (t._deadlines or ()) if not fired]
        timeout = f"{min(deadlines) - now:8.2f}" if deadlines else f"{'None':>8}"
        filename, lineno = t.where()
        where = f"{os.path.basename(filename)}:{lineno}" if filename else ""
        name = t.name if len(t.name) <= 32 else "..." + t.name[-29:]
        rows.append(f"{t.id:>6} {t.state:<16} {t.cycles:>8} {timeout}  {name:<32} {where}")
    return "\n".join(rows) + "\n"


def _find(kernel: Any, arg: str) -> Any:
    try:
        tid = int(arg)
    except ValueError:
        return None
    return kernel.get_task(tid)


def _where(kernel: Any, arg: str) -> str:
    task = _find(kernel, arg)
    if task is None:
        return f"no task {arg!r}\n"
    return f"Stack for {task!r} (most recent call last):\n{task.traceback() or '  (no frames)'}"


def _cancel(kernel: Any, arg: str) -> str:
    task = _find(kernel, arg)
    if task is None:
        return f"no task {arg!r}\n"
    if task is kernel.main_task:
        note = " (the main task)"
    else:
        note = ""
    kernel.new_task(task.cancel(blocking=False), daemon=True)
    return f"cancelling {task!r}{note}\n"


class Monitor:
    """Serve the monitor console for the kernel *kern* on ``host:port`` from
    a background thread.  Call :meth:`close` to stop it (``run()`` does)."""

    def __init__(self, kern: Any, host: str | None = None, port: int | None = None) -> None:
        self.kernel = kernel = kern
        host = host or os.environ.get("CURIONET_MONITOR_HOST", MONITOR_HOST)
        if port is None:
            port = int(os.environ.get("CURIONET_MONITOR_PORT", MONITOR_PORT))
        # The wake-up channel must exist before another thread uses it.
        kernel.expect_threadsafe_calls()
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(5)
        except BaseException:
            self._sock.close()
            raise
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._stop_r, self._stop_w = socket.socketpair()
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        kernel.monitor = self
        self._thread = threading.Thread(target=self._serve, name="curionet-monitor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close every connection."""
        if self._thread is None:
            return
        try:
            self._stop_w.send(b"x")
        except OSError:
            pass
        self._thread.join(5.0)
        self._thread = None  # type: ignore[assignment]
        with self._lock:
            for c in self._clients:
                c.close()
            self._clients.clear()
        for s in (self._sock, self._stop_r, self._stop_w):
            s.close()
        if getattr(self.kernel, "monitor", None) is self:
            self.kernel.monitor = None

    # -- running commands in the kernel --------------------------------------
    def _in_kernel(self, func: Callable[[Any, str], str], arg: str) -> str:
        fut: concurrent.futures.Future[str] = concurrent.futures.Future()

        def call() -> None:
            try:
                fut.set_result(func(self.kernel, arg))
            except BaseException as e:  # any failure is reported to the client
                fut.set_exception(e)

        if self.kernel.closed:
            return "the kernel has shut down\n"
        self.kernel.call_soon_threadsafe(call)
        try:
            return fut.result(5.0)
        except concurrent.futures.TimeoutError:
            return "the kernel did not answer within 5 s (a task may be blocking it)\n"
        except Exception as e:
            return f"error: {e!r}\n"

    def command(self, line: str) -> str | None:
        """Execute one console command and return its output (``None``:
        the client asked to quit)."""
        parts = line.split()
        if not parts:
            return ""
        cmd, args = parts[0].lower(), parts[1:]
        if cmd in ("q", "quit", "exit"):
            return None
        if cmd in ("h", "help", "?"):
            return _HELP
        if cmd == "ps":
            return self._in_kernel(lambda k, a: _ps(k), "")
        if cmd in ("w", "where") and len(args) == 1:
            return self._in_kernel(_where, args[0])
        if cmd == "cancel" and len(args) == 1:
            return self._in_kernel(_cancel, args[0])
        return f"unknown command {line.strip()!r}; type help\n"

    # -- the server thread -------------------------------------------------------
    def _serve(self) -> None:
        while True:
            r, _, _ = select.select([self._sock, self._stop_r], [], [])
            if self._stop_r in r:
                return
            try:
                client, _ = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                self._clients.append(client)
            threading.Thread(target=self._session, args=(client,), name="curionet-monitor-client",
                             daemon=True).start()  # fmt: skip

    def _session(self, client: socket.socket) -> None:
        try:
            n = self.kernel.task_count
            client.sendall(f"curionet monitor: {n} tasks running\nType help for commands\n{PROMPT}".encode())
            buf = b""
            while True:
                data = client.recv(4096)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    out = self.command(line.decode("utf-8", "replace"))
                    if out is None:
                        client.sendall(b"bye\n")
                        return
                    client.sendall((out + PROMPT).encode())
        except OSError:
            return
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            client.close()


# -- the client: python -m curionet.monitor ----------------------------------------


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The client's options (``-H``, ``-p``, ``-c``), for ``python -m
    curionet.monitor`` and ``python -m curionet monitor``."""
    parser.add_argument("-H", "--host", default=MONITOR_HOST, help=f"monitor host (default {MONITOR_HOST})")
    parser.add_argument("-p", "--port", type=int, default=MONITOR_PORT,
                        help=f"monitor port (default {MONITOR_PORT})")  # fmt: skip
    parser.add_argument("-c", "--command", action="append", default=[],
                        help="run this command and exit (repeatable), e.g. -c ps")  # fmt: skip


def _read_reply(f: Any) -> str | None:
    """Read until the prompt (or EOF: ``None``)."""
    buf = b""
    end = PROMPT.encode()
    while not buf.endswith(end):
        chunk = f.recv(65536)
        if not chunk:
            return buf.decode("utf-8", "replace") if buf else None
        buf += chunk
    return buf[: -len(end)].decode("utf-8", "replace")


def run_client(host: str, port: int, commands: list[str] | tuple[str, ...] = ()) -> int:
    """Connect to the monitor at ``host:port``; run *commands* and print
    their output, or (with none) run the interactive console until the user
    quits.  Returns the exit status."""
    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError as e:
        print(f"cannot connect to the monitor at {host}:{port}: {e}", file=sys.stderr)
        return 1
    with sock:
        banner = _read_reply(sock)
        if commands:
            for cmd in commands:
                sock.sendall(cmd.encode() + b"\n")
                reply = _read_reply(sock)
                if reply is None:
                    return 1
                sys.stdout.write(reply)
            return 0
        sys.stdout.write(banner or "")
        sock.settimeout(None)
        while True:
            try:
                line = input(PROMPT)
            except EOFError:
                return 0
            sock.sendall(line.encode() + b"\n")
            reply = _read_reply(sock)
            if reply is None:
                return 0
            sys.stdout.write(reply)
            if reply.endswith("bye\n"):  # the server ended the session
                return 0


def monitor_client(host: str, port: int) -> int:
    """Run the interactive console client against the monitor at
    ``host:port`` until the user quits (Curio's ``monitor_client``).
    Returns the exit status."""
    return run_client(host, port)


def main(argv: list[str] | None = None) -> int:
    """``python -m curionet.monitor [-H HOST] [-p PORT] [-c COMMAND]``:
    connect to the monitor of a running program (*argv* defaults to the
    command line)."""
    parser = argparse.ArgumentParser(prog="python -m curionet.monitor",
                                     description="connect to the task monitor of a running program")  # fmt: skip
    add_client_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return run_client(args.host, args.port, args.command)


if __name__ == "__main__":
    raise SystemExit(main())
