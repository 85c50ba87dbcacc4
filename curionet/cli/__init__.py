"""The ``python -m curionet`` command line.

Each subcommand is a module in this package exposing ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed arguments,
returning an exit status).  List new modules in ``SUBCOMMANDS``.

Errors a user can cause are reported as one ``error:`` line on stderr, never
a traceback: a subcommand raises :class:`UsageError` (or ``ValueError``) for
bad input, and :func:`main` maps ``OSError`` (a port in use, an unknown host,
a refused connection) to exit status 1 and bad input to 2, as argparse does.
"""

from __future__ import annotations

import argparse
import importlib
import os
import ssl
import sys
from collections.abc import Sequence

from .. import __version__
from ._usage import UsageError as UsageError, check_port as check_port

SUBCOMMANDS = ["demo", "connect", "monitor", "get", "ws", "ws_echo", "echo"]

EXIT_STATUS = """\
Exit status: 0 on success; 1 when the command failed at run time (a connection
refused, a port in use, an unknown host, a TLS handshake that failed); 2 for
bad usage or input (an unknown option, a malformed URL or port, a file that
cannot be read), with one "error:" line on stderr.  `get` follows curl: 1 for
an HTTP 4xx/5xx response, 2 when the request failed or the input was bad.
"""

# Options naming a file the command reads: checked before it starts, so a
# typo gives "error: --certfile x.pem: No such file or directory".
_INPUT_FILES = ("certfile", "keyfile", "cafile")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m curionet",
        description="curionet: a Curio-style coroutine kernel with HTTP, WebSocket and Happy Eyeballs.",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"curionet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stdout)
        return 0
    try:
        _check_input_files(args)
        if isinstance(getattr(args, "port", None), int):
            check_port(args.port, "--port" if args.command not in ("connect",) else "port")
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (UsageError, ValueError, OverflowError) as exc:
        return _error(str(exc), 2)
    except ssl.SSLError as exc:
        # Loading a certificate or key that is not one (a PEM error).
        return _error(f"TLS: {exc.reason or exc}", 2)
    except OSError as exc:
        return _error(_describe(exc, args), 2 if exc.filename else 1)


def _error(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return status


def _check_input_files(args: argparse.Namespace) -> None:
    for name in _INPUT_FILES:
        path = getattr(args, name, None)
        if path is None:
            continue
        option = "--" + name
        if not os.path.exists(path):
            raise UsageError(f"{option} {path}: No such file or directory")
        if not os.path.isfile(path):
            raise UsageError(f"{option} {path}: not a file")
        if not os.access(path, os.R_OK):
            raise UsageError(f"{option} {path}: Permission denied")


def _describe(exc: OSError, args: argparse.Namespace) -> str:
    """One line for an ``OSError``: the file or the address it concerns, then
    the system's message."""
    reason = exc.strerror or str(exc)
    if exc.filename:
        return f"{exc.filename}: {reason}"
    host, port = getattr(args, "host", None), getattr(args, "port", None)
    if host is not None and port is not None and str(host) not in str(exc):
        where = f"[{host}]" if ":" in str(host) else host
        return f"{where}:{port}: {reason}"
    return str(exc)
