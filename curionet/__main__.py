"""``python -m curionet``: the command line.

Subcommands live in :mod:`curionet.cli`; each is a small module that registers
its own parser, so new subcommands do not touch this file.
"""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
