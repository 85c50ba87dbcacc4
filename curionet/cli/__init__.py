"""The ``python -m curionet`` command line.

Each subcommand is a module in this package exposing ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed arguments,
returning an exit status).  List new modules in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__

SUBCOMMANDS = ["demo", "connect", "monitor", "get", "ws", "ws_echo", "echo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m curionet",
        description="curionet: a Curio-style coroutine kernel with HTTP, WebSocket and Happy Eyeballs.",
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
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
