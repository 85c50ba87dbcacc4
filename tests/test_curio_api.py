"""Curio 1.6's documented API under curionet's module paths.

A Curio program runs on curionet with only its imports changed (``curio`` ->
``curionet``, ``curio.queue`` -> ``curionet.queue`` ...).  This module checks
the names each of Curio's modules exports and the signatures Curio callers
rely on: parameter names, which are positional or keyword-only, which have
defaults, ``*args``/``**kwargs``, and whether the call is a coroutine.

The expected API is written out literally (Curio is not imported: the test
runs without the bench extra).  Signature notation: ``async`` marks a
coroutine function; ``name=`` has a default; ``*`` starts keyword-only
parameters; ``~name`` is a parameter Curio callers pass by position only (the
standard library's socket methods take no keywords), so its name is not
checked.  curionet may add parameters, with defaults.
"""

from __future__ import annotations

import builtins
import contextvars
import importlib
import inspect
import logging
import os
import socket as stdlib_socket
import ssl as stdlib_ssl
from typing import Any

import pytest

import curionet

# fmt: off
# The names each of Curio's modules exports (its ``__all__``): ``from curio.x import *``.
NAMES: dict[str, list[str]] = {
    "curionet": [
        "AWAIT", "AsyncOnlyError", "CancelledError", "Channel", "Condition", "CurioError", "Event",
        "Kernel", "LifoQueue", "Lock", "PriorityQueue", "Queue", "RLock", "ReadResourceBusy",
        "ResourceBusy", "Result", "Semaphore", "SyncIOError", "Task", "TaskCancelled", "TaskError",
        "TaskGroup", "TaskTimeout", "TimeoutCancellationError", "UncaughtTimeoutError", "UniversalEvent",
        "UniversalQueue", "UniversalResult", "WriteResourceBusy", "anext", "aopen", "block_in_thread",
        "check_cancellation", "clock", "current_task", "disable_cancellation", "ignore_after",
        "open_connection", "open_unix_connection", "run", "run_in_executor", "run_in_process",
        "run_in_thread", "set_cancellation", "sleep", "spawn", "spawn_thread", "tcp_server",
        "tcp_server_socket", "timeout_after", "unix_server", "unix_server_socket"
    ],
    "curionet.task": [
        "Task", "TaskGroup", "check_cancellation", "current_task", "disable_cancellation",
        "set_cancellation", "spawn"
    ],
    "curionet.sync": [
        "Condition", "Event", "Lock", "RLock", "Result", "Semaphore", "UniversalEvent", "UniversalResult"
    ],
    "curionet.queue": ["LifoQueue", "PriorityQueue", "Queue", "UniversalQueue"],
    "curionet.time": ["clock", "ignore_after", "sleep", "timeout_after"],
    "curionet.traps": [
        "_cancel_task", "_clock", "_future_wait", "_get_current", "_get_kernel", "_io_release",
        "_io_waiting", "_read_wait", "_scheduler_wait", "_scheduler_wake", "_set_timeout", "_sleep",
        "_spawn", "_unset_timeout", "_write_wait"
    ],
    "curionet.sched": ["SchedBarrier", "SchedFIFO"],
    "curionet.channel": ["Channel"],
    "curionet.file": ["anext", "aopen"],
    "curionet.subprocess": [
        "CalledProcessError", "CompletedProcess", "DEVNULL", "PIPE", "Popen", "STDOUT", "SubprocessError",
        "check_output", "run"
    ],
    "curionet.thread": ["AWAIT", "spawn_thread"],
    "curionet.workers": ["block_in_thread", "run_in_executor", "run_in_process", "run_in_thread"],
    "curionet.network": [
        "open_connection", "open_unix_connection", "tcp_server", "tcp_server_socket", "unix_server",
        "unix_server_socket"
    ],
    "curionet.io": ["FileStream", "Socket", "SocketStream"],
    "curionet.meta": [
        "asyncioable", "awaitable", "curio_running", "finalize", "from_coroutine", "instantiate_coroutine",
        "iscoroutinefunction"
    ],
    "curionet.debug": ["logcrash", "longblock", "schedtrace", "traptrace"],
    "curionet.errors": [
        "AsyncOnlyError", "CancelledError", "CurioError", "ReadResourceBusy", "ResourceBusy", "SyncIOError",
        "TaskCancelled", "TaskError", "TaskTimeout", "TimeoutCancellationError", "UncaughtTimeoutError",
        "WriteResourceBusy"
    ],
    "curionet.kernel": ["Kernel", "run"],
}

# Names Curio documents or its programs use that are not in the module's ``__all__``.
DOCUMENTED: dict[str, list[str]] = {
    "curionet.task": ["ContextTask"],
    "curionet.sched": ["SchedBase"],
    "curionet.channel": ["AuthenticationError", "Connection", "ConnectionError"],
    "curionet.file": ["AsyncFile"],
    "curionet.thread": ["AsyncThread", "is_async_thread"],
    "curionet.network": ["run_server"],
    "curionet.io": ["StreamBase"],
    "curionet.debug": ["DebugBase"],
    "curionet.monitor": ["MONITOR_HOST", "MONITOR_PORT", "Monitor", "main", "monitor_client"],
    "curionet.kernel": ["Activation"],
}
# fmt: on

# The signatures Curio callers rely on, by module of definition.
SIGNATURES: dict[str, dict[str, str]] = {
    "curionet.task": {
        "Task": "class",
        "Task.join": "async (self)",
        "Task.wait": "async (self)",
        "Task.result": "property",
        "Task.exception": "property",
        "Task.cancel": "async (self, *, exc=, blocking=)",
        "Task.traceback": "(self)",
        "Task.where": "(self)",
        "TaskGroup": "class(tasks=, *, wait=)",
        "TaskGroup.tasks": "property",
        "TaskGroup.result": "property",
        "TaskGroup.exception": "property",
        "TaskGroup.results": "property",
        "TaskGroup.exceptions": "property",
        "TaskGroup.add_task": "async (self, task)",
        "TaskGroup.spawn": "async (self, coro, *args, daemon=)",
        "TaskGroup.spawn_thread": "async (self, func, *args, daemon=)",
        "TaskGroup.next_done": "async (self)",
        "TaskGroup.next_result": "async (self)",
        "TaskGroup.cancel_remaining": "async (self)",
        "TaskGroup.join": "async (self)",
        "TaskGroup.__aenter__": "async dunder",
        "TaskGroup.__aexit__": "async dunder",
        "TaskGroup.__aiter__": "sync dunder",
        "TaskGroup.__anext__": "async dunder",
        "current_task": "async ()",
        "spawn": "async (corofunc, *args, daemon=)",
        "disable_cancellation": "(coro=, *args)",
        "check_cancellation": "async (exc_type=)",
        "set_cancellation": "async (exc)",
        "ContextTask": "class",
    },
    "curionet.sync": {
        "Event": "class()",
        "Event.is_set": "(self)",
        "Event.clear": "(self)",
        "Event.wait": "async (self)",
        "Event.set": "async (self)",
        "UniversalEvent": "class()",
        "UniversalEvent.is_set": "(self)",
        "UniversalEvent.clear": "(self)",
        "UniversalEvent.wait": "(self)",
        "UniversalEvent.set": "(self)",
        "Lock": "class()",
        "Lock.__aenter__": "async dunder",
        "Lock.__aexit__": "async dunder",
        "Lock.acquire": "async (self)",
        "Lock.release": "async (self)",
        "Lock.locked": "(self)",
        "RLock": "class()",
        "RLock.__aenter__": "async dunder",
        "RLock.__aexit__": "async dunder",
        "RLock.acquire": "async (self)",
        "RLock.release": "async (self)",
        "RLock.locked": "(self)",
        "Semaphore": "class(value=)",
        "Semaphore.__aenter__": "async dunder",
        "Semaphore.__aexit__": "async dunder",
        "Semaphore.value": "property",
        "Semaphore.acquire": "async (self)",
        "Semaphore.release": "async (self)",
        "Semaphore.locked": "(self)",
        "Condition": "class(lock=)",
        "Condition.__aenter__": "async dunder",
        "Condition.__aexit__": "async dunder",
        "Condition.locked": "(self)",
        "Condition.acquire": "async (self)",
        "Condition.release": "async (self)",
        "Condition.wait": "async (self)",
        "Condition.wait_for": "async (self, predicate)",
        "Condition.notify": "async (self, n=)",
        "Condition.notify_all": "async (self)",
        "Result": "class()",
        "Result.is_set": "(self)",
        "Result.unwrap": "async (self)",
        "Result.set_value": "async (self, value)",
        "Result.set_exception": "async (self, exc)",
        "UniversalResult": "class()",
        "UniversalResult.is_set": "(self)",
        "UniversalResult.unwrap": "(self)",
        "UniversalResult.set_value": "(self, value)",
        "UniversalResult.set_exception": "(self, exc)",
    },
    "curionet.queue": {
        "Queue": "class(maxsize=)",
        "Queue.empty": "(self)",
        "Queue.full": "(self)",
        "Queue.get": "async (self)",
        "Queue.join": "async (self)",
        "Queue.put": "async (self, item)",
        "Queue.qsize": "(self)",
        "Queue.task_done": "async (self)",
        "PriorityQueue": "class(maxsize=)",
        "LifoQueue": "class(maxsize=)",
        "UniversalQueue": "class(*, maxsize=, withfd=)",
        "UniversalQueue.fileno": "(self)",
        "UniversalQueue.empty": "(self)",
        "UniversalQueue.full": "(self)",
        "UniversalQueue.qsize": "(self)",
        "UniversalQueue.get": "(self)",
        "UniversalQueue.put": "(self, item)",
        "UniversalQueue.task_done_sync": "(self)",
        "UniversalQueue.task_done": "(self)",
        "UniversalQueue.join_sync": "(self)",
        "UniversalQueue.join": "(self)",
    },
    "curionet.time": {
        "clock": "async ()",
        "sleep": "async (seconds)",
        "timeout_after": "(seconds, coro=, *args)",
        "ignore_after": "(seconds, coro=, *args, timeout_result=)",
    },
    "curionet.traps": {
        "_read_wait": "async (fileobj)",
        "_write_wait": "async (fileobj)",
        "_future_wait": "async (future, event=)",
        "_sleep": "async (~clock)",
        "_spawn": "async (coro)",
        "_cancel_task": "async (task, exc=, val=)",
        "_scheduler_wait": "async (sched, ~state)",
        "_scheduler_wake": "async (sched, n=)",
        "_get_kernel": "async ()",
        "_get_current": "async ()",
        "_set_timeout": "async (~clock)",
        "_unset_timeout": "async (previous)",
        "_clock": "async ()",
        "_io_waiting": "async (fileobj)",
        "_io_release": "async (fileobj)",
    },
    "curionet.sched": {
        "SchedFIFO": "class()",
        "SchedBarrier": "class()",
        "SchedBarrier.wake": "async (self, n=)",
        "SchedBase": "class()",
        "SchedBase.suspend": "async (self, reason=)",
        "SchedBase.wake": "async (self, n=)",
    },
    "curionet.channel": {
        "Channel": "class(address, family=, check_address=)",
        "Channel.__aenter__": "async dunder",
        "Channel.__aexit__": "async dunder",
        "Channel.bind": "(self)",
        "Channel.check_address": "(self, addr)",
        "Channel.accept": "async (self, *, authkey=)",
        "Channel.connect": "async (self, *, authkey=)",
        "Channel.close": "async (self)",
        "Connection": "class(reader, writer)",
        "Connection.from_Connection": "classmethod(cls, conn)",
        "Connection.__aenter__": "async dunder",
        "Connection.__aexit__": "async dunder",
        "Connection.close": "async (self)",
        "Connection.send_bytes": "async (self, buf, offset=, size=)",
        "Connection.recv_bytes": "async (self, maxlength=)",
        "Connection.recv_bytes_into": "async (self, buf, offset=)",
        "Connection.send": "async (self, obj)",
        "Connection.recv": "async (self)",
        "Connection.authenticate_server": "async (self, authkey)",
        "Connection.authenticate_client": "async (self, authkey)",
        "AuthenticationError": "exception",
        "ConnectionError": "exception",
    },
    "curionet.file": {
        "aopen": "(*args, **kwargs)",
        "anext": "async (f, sentinel=)",
        "AsyncFile": "class(fileobj, open_args=, open_kwargs=)",
        "AsyncFile.blocking": "(self)",
        # Curio passes *args/**kwargs on to the file object's method, whose
        # parameters are positional-only: these.
        "AsyncFile.read": "async (self, ~size=)",
        "AsyncFile.read1": "async (self, ~size=)",
        "AsyncFile.readinto": "async (self, ~buffer)",
        "AsyncFile.readinto1": "async (self, ~buffer)",
        "AsyncFile.readline": "async (self, ~size=)",
        "AsyncFile.readlines": "async (self, ~hint=)",
        "AsyncFile.write": "async (self, ~data)",
        "AsyncFile.writelines": "async (self, ~lines)",
        "AsyncFile.flush": "async (self)",
        "AsyncFile.close": "async (self)",
        "AsyncFile.seek": "async (self, ~offset, ~whence=)",
        "AsyncFile.tell": "async (self)",
        "AsyncFile.truncate": "async (self, ~size=)",
        "AsyncFile.__aiter__": "sync dunder",
        "AsyncFile.__aenter__": "async dunder",
        "AsyncFile.__aexit__": "async dunder",
        "AsyncFile.__anext__": "async dunder",
        "AsyncFile.readall": "async (self)",
    },
    "curionet.subprocess": {
        "run": "async (args, *, stdin=, input=, stdout=, stderr=, shell=, check=)",
        "Popen": "class(args, **kwargs)",
        "Popen.wait": "async (self)",
        "Popen.communicate": "async (self, input=)",
        "Popen.__aenter__": "async dunder",
        "Popen.__aexit__": "async dunder",
        "CompletedProcess": "class(args, returncode, stdout=, stderr=)",
        "CalledProcessError": "exception",
        "SubprocessError": "exception",
        "check_output": "async (args, *, stdin=, stderr=, shell=, input=)",
    },
    "curionet.thread": {
        "AWAIT": "(coro, *args, **kwargs)",
        "spawn_thread": "(func, *args, daemon=)",
        "AsyncThread": "class(target=, args=, kwargs=, daemon=)",
        "AsyncThread.start": "async (self)",
        "AsyncThread.AWAIT": "(self, coro)",
        "AsyncThread.join": "async (self)",
        "AsyncThread.wait": "async (self)",
        "AsyncThread.result": "property",
        "AsyncThread.exception": "property",
        "AsyncThread.cancel": "async (self, *, exc=, blocking=)",
        "AsyncThread.id": "property",
        "AsyncThread.state": "property",
        "is_async_thread": "()",
    },
    "curionet.workers": {
        "run_in_executor": "async (exc, callable, *args)",
        "run_in_thread": "async (callable, *args, call_on_cancel=)",
        "run_in_process": "async (callable, *args)",
        "block_in_thread": "async (callable, *args, call_on_cancel=)",
    },
    "curionet.network": {
        "open_connection": "async (host, port, *, ssl=, source_addr=, server_hostname=, alpn_protocols=)",
        "tcp_server": (
            "async (host, port, client_connected_task, *, family=, backlog=, ssl=, reuse_address=, reuse_port=)"
        ),
        "tcp_server_socket": "(host, port, family=, backlog=, reuse_address=, reuse_port=)",
        "open_unix_connection": "async (path, *, ssl=, server_hostname=, alpn_protocols=)",
        "unix_server": "async (path, client_connected_task, *, backlog=, ssl=)",
        "unix_server_socket": "(path, backlog=)",
        "run_server": "async (sock, client_connected_task, ssl=)",
    },
    "curionet.io": {
        "Socket": "class(sock)",
        "Socket.fileno": "(self)",
        "Socket.settimeout": "(self, seconds)",
        "Socket.gettimeout": "(self)",
        "Socket.dup": "(self)",
        "Socket.makefile": "(self, mode, buffering=, *, encoding=, errors=, newline=)",
        "Socket.as_stream": "(self)",
        "Socket.blocking": "(self)",
        "Socket.recv": "async (self, maxsize, flags=)",
        "Socket.recv_into": "async (self, buffer, nbytes=, flags=)",
        "Socket.send": "async (self, data, flags=)",
        "Socket.sendall": "async (self, data, flags=)",
        "Socket.accept": "async (self)",
        "Socket.connect_ex": "async (self, address)",
        "Socket.connect": "async (self, address)",
        "Socket.recvfrom": "async (self, ~buffersize, flags=)",
        "Socket.recvfrom_into": "async (self, buffer, ~bytes=, flags=)",
        "Socket.sendto": "async (self, ~bytes, flags_or_address, address=)",
        "Socket.recvmsg": "async (self, bufsize, ancbufsize=, flags=)",
        "Socket.recvmsg_into": "async (self, buffers, ancbufsize=, flags=)",
        "Socket.sendmsg": "async (self, buffers, ancdata=, flags=, address=)",
        "Socket.do_handshake": "async (self)",
        "Socket.close": "async (self)",
        "Socket.shutdown": "async (self, how)",
        "Socket.__aenter__": "async dunder",
        "Socket.__aexit__": "async dunder",
        "FileStream": "class(fileobj)",
        "FileStream.write": "async (self, data)",
        "FileStream.flush": "async (self)",
        "FileStream.blocking": "(self)",
        "SocketStream": "class(sock)",
        "SocketStream.write": "async (self, data)",
        "SocketStream.blocking": "(self)",
        "StreamBase": "class(fileobj)",
        "StreamBase.fileno": "(self)",
        "StreamBase.write": "async (self, data)",
        "StreamBase.read": "async (self, maxbytes=)",
        "StreamBase.readall": "async (self)",
        "StreamBase.read_exactly": "async (self, nbytes)",
        "StreamBase.readinto": "async (self, memory)",
        "StreamBase.readline": "async (self, maxlen=)",
        "StreamBase.readlines": "async (self)",
        "StreamBase.writelines": "async (self, lines)",
        "StreamBase.flush": "async (self)",
        "StreamBase.close": "async (self)",
        "StreamBase.__aiter__": "sync dunder",
        "StreamBase.__anext__": "async dunder",
        "StreamBase.__aenter__": "async dunder",
        "StreamBase.__aexit__": "async dunder",
    },
    "curionet.meta": {
        "iscoroutinefunction": "(func)",
        "finalize": "class(aobj)",
        "finalize.__aenter__": "async dunder",
        "finalize.__aexit__": "async dunder",
        "awaitable": "(syncfunc)",
        "asyncioable": "(awaitablefunc)",
        "curio_running": "()",
        "instantiate_coroutine": "(corofunc, *args, **kwargs)",
        "from_coroutine": "(level=)",
    },
    "curionet.debug": {
        "longblock": "class(*, max_time=, level=, **kwargs)",
        "longblock.running": "(self, task)",
        "longblock.suspended": "(self, task, trap)",
        "schedtrace": "class(**kwargs)",
        "schedtrace.created": "(self, task)",
        "schedtrace.running": "(self, task)",
        "schedtrace.suspended": "(self, task, trap)",
        "schedtrace.terminated": "(self, task)",
        "traptrace": "class(**kwargs)",
        "traptrace.suspended": "(self, task, trap)",
        "logcrash": "class(level=, **kwargs)",
        "DebugBase": "class(*, level=, log=, filter=, **kwargs)",
        "DebugBase.check_filter": "(self, task)",
    },
    "curionet.monitor": {
        "Monitor": "class(kern, host=, port=)",
        "Monitor.close": "(self)",
        "monitor_client": "(host, port)",
        "main": "()",
    },
    "curionet.errors": {
        "CurioError": "exception",
        "CancelledError": "exception",
        "TaskTimeout": "exception",
        "TaskError": "exception",
        "SyncIOError": "exception",
        "ResourceBusy": "exception",
        "ReadResourceBusy": "exception",
        "WriteResourceBusy": "exception",
        "TimeoutCancellationError": "exception",
        "UncaughtTimeoutError": "exception",
        "TaskCancelled": "exception",
        "AsyncOnlyError": "exception",
    },
    "curionet.kernel": {
        "Kernel": "class(*, selector=, debug=, activations=, taskcls=, max_select_timeout=)",
        "Kernel.run": "(self, corofunc=, *args, shutdown=)",
        "run": "(corofunc, *args, with_monitor=, selector=, debug=, activations=, **kernel_extra)",
        "Activation": "class()",
        "Activation.activate": "(self, kernel)",
        "Activation.created": "(self, task)",
        "Activation.running": "(self, task)",
        "Activation.suspended": "(self, task, trap)",
        "Activation.terminated": "(self, task)",
        "Kernel.__enter__": "sync dunder",
        "Kernel.__exit__": "sync dunder",
    },
    "curionet.socket": {
        "fromfd": "(fd, family, type, proto=)",
        "getfqdn": "async (name=)",
        "create_connection": "async (address, timeout=, source_address=)",
        "getaddrinfo": "async (host, port, family=, type=, proto=, flags=)",
        "gethostbyaddr": "async (~ip_address)",
        "gethostbyname": "async (~hostname)",
        "gethostbyname_ex": "async (~hostname)",
        "gethostname": "async ()",
        "getnameinfo": "async (~sockaddr, ~flags)",
        "socket": "(family=, type=, proto=, fileno=)",
        "socketpair": "(family=, type=, proto=)",
    },
    "curionet.ssl": {
        "SSLContext": "(protocol)",
        "CurioSSLContext": "class(context)",
        # Curio passes *args/**kwargs on to the stdlib's SSLContext.wrap_socket: these.
        "CurioSSLContext.wrap_socket": (
            "async (self, sock, server_side=, do_handshake_on_connect=, suppress_ragged_eofs=, server_hostname=,"
            " session=)"
        ),
        "create_default_context": "(purpose=, *, cafile=, capath=, cadata=)",
        "wrap_socket": (
            "async (sock, keyfile=, certfile=, server_side=, cert_reqs=, ssl_version=, ca_certs=,"
            " do_handshake_on_connect=, suppress_ragged_eofs=, ciphers=)"
        ),
        "get_server_certificate": "async (addr, ssl_version=, ca_certs=, timeout=)",
    },
}

# Curio's exception hierarchy.
ERROR_BASES: dict[str, list[str]] = {
    "curionet.errors.CurioError": ["Exception", "BaseException"],
    "curionet.errors.CancelledError": ["BaseException"],
    "curionet.errors.TaskTimeout": ["CancelledError", "BaseException"],
    "curionet.errors.TaskError": ["CurioError", "Exception", "BaseException"],
    "curionet.errors.SyncIOError": ["CurioError", "Exception", "BaseException"],
    "curionet.errors.ResourceBusy": ["CurioError", "Exception", "BaseException"],
    "curionet.errors.ReadResourceBusy": ["ResourceBusy", "CurioError", "Exception", "BaseException"],
    "curionet.errors.WriteResourceBusy": ["ResourceBusy", "CurioError", "Exception", "BaseException"],
    "curionet.errors.TimeoutCancellationError": ["CancelledError", "BaseException"],
    "curionet.errors.UncaughtTimeoutError": ["CurioError", "Exception", "BaseException"],
    "curionet.errors.TaskCancelled": ["CancelledError", "BaseException"],
    "curionet.errors.AsyncOnlyError": ["CurioError", "Exception", "BaseException"],
    "curionet.channel.AuthenticationError": ["ConnectionError", "CurioError", "Exception", "BaseException"],
    "curionet.channel.ConnectionError": ["CurioError", "Exception", "BaseException"],
}

# Items another change will bring in line; strict xfail: each turns into a
# failure once fixed, so the mark is removed with the fix.
PENDING: set[str] = set()
_PENDING_MARK = pytest.mark.xfail(strict=True, reason="pending: thread/time signatures")

P = inspect.Parameter
_POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)


def _resolve(module: str, qualname: str) -> tuple[Any, Any]:
    """``(owner, object)`` for ``module.qualname`` (the owner is the class for a method)."""
    owner: Any = importlib.import_module(module)
    obj = owner
    for part in qualname.split("."):
        owner = obj
        assert hasattr(obj, part), f"{module}.{qualname}: {part!r} is missing"
        obj = getattr(obj, part)
    return owner, obj


def _parse(params: str) -> list[tuple[str, str, bool, bool]]:
    """``[(name, kind, has_default, check_name)]`` with kind ``pos``, ``kw``, ``*`` or ``**``."""
    out = []
    kind = "pos"
    for token in filter(None, (t.strip() for t in params.split(","))):
        if token == "*":
            kind = "kw"
        elif token.startswith("**"):
            out.append((token[2:], "**", False, True))
        elif token.startswith("*"):
            out.append((token[1:], "*", False, True))
            kind = "kw"
        else:
            check = not token.startswith("~")
            name = token.lstrip("~")
            out.append((name.rstrip("="), kind, name.endswith("="), check))
    return out


def _signature_problems(expected: str, sig: inspect.Signature) -> list[str]:
    """Why a Curio call written against *expected* might fail against *sig*."""
    problems = []
    exp = _parse(expected)
    ours = list(sig.parameters.values())
    ours_pos = [p for p in ours if p.kind in _POSITIONAL]
    exp_pos = [e for e in exp if e[1] == "pos"]
    has_var = any(p.kind is P.VAR_POSITIONAL for p in ours)
    has_varkw = any(p.kind is P.VAR_KEYWORD for p in ours)
    exp_var = any(e[1] == "*" for e in exp)
    for i, (name, _, default, check) in enumerate(exp_pos):
        if i >= len(ours_pos):
            problems.append(f"positional parameter {i} ({name!r}) is missing")
            continue
        p = ours_pos[i]
        if check and p.name != name:
            problems.append(f"positional parameter {i} is {p.name!r}, Curio calls it {name!r}")
        elif check and p.kind is P.POSITIONAL_ONLY:
            problems.append(f"{name!r} is positional-only")
        if default and p.default is P.empty:
            problems.append(f"{p.name!r} has no default")
    for p in ours_pos[len(exp_pos):]:
        if p.default is P.empty:
            problems.append(f"extra required parameter {p.name!r}")
        elif exp_var:
            problems.append(f"extra positional parameter {p.name!r} would take Curio's *args")
    if exp_var and not has_var:
        problems.append("no *args")
    if any(e[1] == "**" for e in exp) and not has_varkw:
        problems.append("no **kwargs")
    exp_names = {e[0] for e in exp}
    for name, kind, default, _ in exp:
        if kind != "kw":
            continue
        p = sig.parameters.get(name)
        if p is None or p.kind not in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY):
            problems.append(f"keyword parameter {name!r} is missing")
        elif default and p.default is P.empty:
            problems.append(f"{name!r} has no default")
    for p in ours:
        if p.kind is P.KEYWORD_ONLY and p.default is P.empty and p.name not in exp_names:
            problems.append(f"extra required keyword parameter {p.name!r}")
    return problems


def _is_async(func: Any) -> bool:
    """A coroutine function, ``async def`` or ``@types.coroutine`` (the traps)."""
    code = getattr(func, "__code__", None)
    return inspect.iscoroutinefunction(func) or bool(code and code.co_flags & inspect.CO_ITERABLE_COROUTINE)


def _check(module: str, qualname: str, spec: str) -> None:
    owner, obj = _resolve(module, qualname)
    where = f"{module}.{qualname}"
    attr = inspect.getattr_static(owner, qualname.rsplit(".", 1)[-1]) if inspect.isclass(owner) else obj
    if spec == "exception":
        assert inspect.isclass(obj) and issubclass(obj, BaseException), f"{where} is not an exception class"
        return
    if spec == "property":
        assert not inspect.isroutine(attr), f"{where} must be an attribute (Curio: a property), not a method"
        return
    if spec.endswith("dunder"):
        assert callable(obj), f"{where} is not callable"
        assert _is_async(obj) == spec.startswith("async"), f"{where}: async-ness differs from Curio"
        return
    if spec == "class":
        assert inspect.isclass(obj), f"{where} is not a class"
        return
    if spec.startswith("class("):
        assert inspect.isclass(obj), f"{where} is not a class"
        params = spec[len("class(") : -1]
    elif spec.startswith("classmethod("):
        assert isinstance(attr, classmethod), f"{where} is not a classmethod"
        params = spec[len("classmethod(") : -1]
        obj = attr.__func__
    else:
        is_async = spec.startswith("async ")
        params = spec.removeprefix("async ")[1:-1]
        assert callable(obj), f"{where} is not callable"
        assert _is_async(obj) == is_async, (
            f"{where} must {'' if is_async else 'not '}be a coroutine function, as in Curio"
        )
        if inspect.isclass(owner) and not isinstance(attr, (staticmethod, classmethod)):
            obj = attr  # the plain function, with self
    problems = _signature_problems(params, inspect.signature(obj))
    assert not problems, f"{where}{inspect.signature(obj)} vs Curio ({params}): " + "; ".join(problems)


def _cases() -> list[Any]:
    cases = []
    for module, entries in SIGNATURES.items():
        for qualname, spec in entries.items():
            key = f"{module}.{qualname}"
            marks = [_PENDING_MARK] if key in PENDING else []
            cases.append(pytest.param(module, qualname, spec, id=key, marks=marks))
    return cases


@pytest.mark.parametrize("module, qualname, spec", _cases())
def test_signature(module: str, qualname: str, spec: str) -> None:
    _check(module, qualname, spec)


@pytest.mark.parametrize("module", sorted(set(NAMES) | set(DOCUMENTED)))
def test_module_exports_curio_names(module: str) -> None:
    mod = importlib.import_module(module)
    names = NAMES.get(module, [])
    missing = [n for n in names + DOCUMENTED.get(module, []) if not hasattr(mod, n)]
    assert not missing, f"{module} lacks {missing}"
    exported = getattr(mod, "__all__", None)
    if exported is not None or any(n.startswith("_") for n in names):
        # ``from curio.x import *`` must give the same names.
        absent = [n for n in names if n not in (exported or ())]
        assert not absent, f"{module}.__all__ lacks {absent}"


# The modules whose names Curio's package re-exports (``from .x import *``).
PACKAGE_FROM = ["errors", "task", "time", "kernel", "sync", "queue", "workers", "network", "file", "channel", "thread"]


def test_package_and_submodules_share_objects() -> None:
    """``curionet.Queue`` is ``curionet.queue.Queue`` and so on: one
    implementation, reachable under every name Curio uses."""
    import curionet

    for name in PACKAGE_FROM:
        module = f"curionet.{name}"
        mod = importlib.import_module(module)
        for attr in NAMES[module]:
            assert getattr(curionet, attr) is getattr(mod, attr), f"curionet.{attr} is not {module}.{attr}"
    assert set(NAMES["curionet"]) == {n for name in PACKAGE_FROM for n in NAMES[f"curionet.{name}"]}


def test_error_hierarchy() -> None:
    import curionet.errors

    for qualname, bases in ERROR_BASES.items():
        module, _, name = qualname.rpartition(".")
        exc = getattr(importlib.import_module(module), name)
        for base in bases:
            if base in NAMES.get(module, []) + DOCUMENTED.get(module, []):
                expected = getattr(importlib.import_module(module), base)
            else:
                expected = getattr(curionet.errors, base, None) or getattr(builtins, base)
            assert issubclass(exc, expected), f"{qualname} must derive from {base}"


def test_the_signature_check_catches_what_breaks_callers() -> None:
    def f(a: Any, b: Any = 1, *args: Any, c: Any = 2, **kw: Any) -> None: ...

    def g(a: Any, b: Any) -> None: ...

    def h(a: Any, *, z: Any) -> None: ...

    assert _signature_problems("a, b=, *args, c=, **kw", inspect.signature(f)) == []
    assert _signature_problems("a, b=", inspect.signature(f)) == []  # more is fine
    assert _signature_problems("~x, b=", inspect.signature(f)) == []  # positional use only
    assert _signature_problems("x, b=", inspect.signature(f))  # renamed
    assert _signature_problems("a, b=", inspect.signature(g))  # default lost
    assert _signature_problems("a, *, b=", inspect.signature(g))  # default lost
    assert _signature_problems("a, *args", inspect.signature(g))  # *args lost, b would take them
    assert _signature_problems("a, b, **kw", inspect.signature(g))  # **kwargs lost
    assert _signature_problems("a, *, d=", inspect.signature(f))  # keyword missing
    assert _signature_problems("a", inspect.signature(h))  # new required keyword
    from curionet.traps import _read_wait

    assert _is_async(_is_async) is False and _is_async(curionet.sleep) and _is_async(_read_wait)


def test_socket_module_has_every_stdlib_name() -> None:
    import curionet.socket

    missing = [n for n in stdlib_socket.__all__ if not hasattr(curionet.socket, n)]
    assert not missing
    assert set(stdlib_socket.__all__) <= set(curionet.socket.__all__)


def test_ssl_module_has_every_stdlib_name() -> None:
    import curionet.ssl

    public = [n for n in dir(stdlib_ssl) if not n.startswith("_") and not inspect.ismodule(getattr(stdlib_ssl, n))]
    missing = [n for n in public if not hasattr(curionet.ssl, n)]
    assert not missing


# ---------------------------------------------------------------------------
# Behaviour behind the names and signatures above that curionet lacked
# ---------------------------------------------------------------------------


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


_var: contextvars.ContextVar[str] = contextvars.ContextVar("_var", default="unset")


async def _context_child(seen: list[str], ready: Any, go: Any) -> None:
    seen.append(_var.get())  # inherited from the spawner
    _var.set("child")
    await ready.set()
    await go.wait()
    seen.append(_var.get())  # the parent's later set() does not leak in


async def _context_main() -> list[str]:
    _var.set("main")
    seen: list[str] = []
    ready, go = curionet.Event(), curionet.Event()
    async with curionet.TaskGroup() as g:
        await g.spawn(_context_child, seen, ready, go)
        await ready.wait()
        seen.append(_var.get())  # the child's set() did not leak out
        _var.set("main again")
        await go.set()
    task = await curionet.current_task()
    filename, _ = task.where()
    assert filename == __file__
    return seen


def test_context_task_carries_contextvars() -> None:
    from curionet.task import ContextTask

    assert curionet.run(_context_main, taskcls=ContextTask) == ["main", "main", "child"]
    with curionet.Kernel(taskcls=ContextTask) as kernel:
        assert kernel.run(_context_main) == ["main", "main", "child"]
    assert _var.get() == "unset"  # the caller's context is untouched


def test_plain_tasks_share_the_threads_context() -> None:
    """Without ContextTask, tasks run in the caller's context (as in Curio)."""

    async def main() -> None:
        _var.set("changed")

    token = _var.set("before")
    try:
        curionet.run(main)
        assert _var.get() == "changed"
    finally:
        _var.reset(token)


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


async def test_anext_and_spawn_take_curios_keywords() -> None:
    from curionet.file import anext

    async def gen() -> Any:
        yield 1

    agen = gen()
    assert await anext(agen, sentinel="end") == 1
    assert await anext(f=agen, sentinel="end") == "end"
    async with curionet.TaskGroup() as g:
        task = await g.spawn(coro=_child)
    assert task.result == 7
    assert await curionet.disable_cancellation(coro=_child) == 7


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
