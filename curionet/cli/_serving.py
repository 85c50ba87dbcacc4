"""What the server subcommands (``echo``, ``ws-echo``) share: run a server
under :func:`curionet.serve` on ``--host``/``--port`` with ``--workers``
and ``--grace``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..supervisor import _reserve_port, serve


def serve_on_port(args: Any, target: Callable[..., Any], target_args: tuple[Any, ...],
                  banner: Callable[[int], None]) -> int:  # fmt: skip
    """Run ``target(args.host, port, *target_args)`` in ``args.workers``
    processes and return the exit status.

    The parent binds the port first: a port in use or an unknown host is
    reported before any worker starts, and port 0 becomes one port that
    every worker shares.  ``banner(port)`` runs once every worker is up."""
    holder = _reserve_port(args.host, args.port)
    port = holder.getsockname()[1]
    try:
        serve(target, args.host, port, *target_args, workers=args.workers, grace=args.grace,
              on_ready=lambda: banner(port))  # fmt: skip
    except RuntimeError as e:  # a worker failed to start (it printed why)
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        holder.close()
    return 0
