"""``python -m curionet monitor``: connect to a running program's task monitor
(started by ``run(main, with_monitor=True)``)."""

from __future__ import annotations

import argparse
from typing import Any

from ..monitor import add_client_arguments, run_client


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("monitor", help="connect to the task monitor of a running curionet program")
    add_client_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    return run_client(args.host, args.port, args.command)
