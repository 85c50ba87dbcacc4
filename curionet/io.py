"""Curio's ``curio.io`` module name: the async socket and stream classes.

The classes live in :mod:`curionet.kernel.io`; this module lets Curio code
that does ``from curio.io import Socket`` run with only the import changed.
"""

from .kernel.io import (
    FileStream as FileStream,
    Socket as Socket,
    SocketStream as SocketStream,
    StreamBase as StreamBase,
    WantRead as WantRead,
    WantWrite as WantWrite,
)
