"""Every read of ``wsproto``'s private state, in one module.

The fast paths (see :mod:`._reader`) need to know whether wsproto's parser
is between frames with no message in progress, and how much payload the
frame it is in the middle of has announced.  wsproto has no public API for
either, so these functions read its internals.  :func:`_fast_path_ok` is the
guard: it runs once per connection and turns the fast paths off when the
attributes are not there; ``tests/test_private_internals.py`` fails loudly
when a wsproto release changes them, and ``pyproject.toml`` bounds the
wsproto version these reads were checked against.
"""

from __future__ import annotations

from wsproto.connection import Connection, ConnectionState

from ._deflate import _BoundedDeflate


def _fast_path_ok(conn: Connection) -> bool:
    """True if this wsproto exposes the parser state the fast path checks."""
    try:
        proto = conn._proto
        decoder = proto._frame_decoder
        _ = (decoder.header, decoder.buffer.buffer, proto._message_decoder.opcode, proto._outbound_opcode)
        _ = conn._events
        extensions = proto.extensions
    except AttributeError:  # pragma: no cover - a wsproto we do not know
        return False
    return all(isinstance(e, _BoundedDeflate) for e in extensions)


def _idle(conn: Connection) -> bool:
    """wsproto's parser is between frames with no message in progress."""
    proto = conn._proto
    decoder = proto._frame_decoder
    return (
        conn._state is ConnectionState.OPEN
        and decoder.header is None
        and not decoder.buffer.buffer
        and proto._message_decoder.opcode is None
        and not conn._events
    )


def _unread_claim(conn: Connection) -> int:
    """Payload bytes that the data frame wsproto is in the middle of has
    announced and not yet delivered (0 between frames and for control
    frames)."""
    try:
        decoder = conn._proto._frame_decoder
        head = decoder.header
        if head is None or head.opcode.iscontrol():
            return 0
        return int(head.payload_len - decoder.payload_consumed)
    except AttributeError:  # pragma: no cover - a wsproto we do not know
        return 0
