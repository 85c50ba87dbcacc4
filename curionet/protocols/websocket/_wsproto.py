"""Every read of ``wsproto``'s private state, in one module.

The reader needs to know whether wsproto's parser is between frames with no
message in progress (only then may the fast path take frames itself), and
how much payload the frame it is in the middle of has announced (to refuse
an oversized message on its header).  wsproto has no public API for either:
:func:`_parser_state` reads its internals, in one place, and answers
:data:`UNKNOWN` (fast path off, no header-time check) on a wsproto where
they are not what it expects.

``_BoundedDeflate`` (``_deflate.py``) extends wsproto's ``PerMessageDeflate``
and shares its compressor and decompressor state; :func:`_deflate_state_ok`
checks that state is where it was, and permessage-deflate is not offered
otherwise.

wsproto 1.3 refuses Close frames with code 1014 ("Bad Gateway", in the
IANA registry since 2012) as an unknown reserved code: :func:`_accept_close_1014`
gives a connection's frame parser a subclass that lets it through.

``tests/test_private_internals.py`` fails loudly when a wsproto release
changes any of this, and ``pyproject.toml`` bounds the wsproto version it
was checked against.
"""

from __future__ import annotations

from wsproto.connection import Connection, ConnectionState
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import Frame, FrameProtocol

#: :func:`_parser_state`: the parser is idle.
IDLE = -1
#: :func:`_parser_state`: this wsproto's internals are not the ones we know.
UNKNOWN = -2

#: PerMessageDeflate attributes _BoundedDeflate reads and writes.
DEFLATE_STATE = ("_compressor", "_decompressor", "_inbound_compressed", "_inbound_is_compressible")


def _parser_state(conn: Connection) -> int:
    """Where wsproto's parser is.

    :data:`IDLE` when the connection is open, the parser is between frames
    with nothing buffered, no message in progress and no event waiting;
    otherwise the payload bytes that the data frame it is in the middle of
    has announced and not yet delivered (0 between frames, or in a control
    frame); :data:`UNKNOWN` if the internals are not there."""
    try:
        proto = conn._proto
        decoder = proto._frame_decoder
        head = decoder.header
        if head is None:
            if (
                conn._state is ConnectionState.OPEN
                and not decoder.buffer.buffer
                and proto._message_decoder.opcode is None
                and not conn._events
            ):
                return IDLE
            return 0
        if head.opcode.iscontrol():
            return 0
        return int(head.payload_len - decoder.payload_consumed)
    except AttributeError:  # pragma: no cover - a wsproto we do not know
        return UNKNOWN


def _deflate_state_ok() -> bool:
    """True if ``PerMessageDeflate`` keeps its state where ``_BoundedDeflate`` expects it."""
    ext = PerMessageDeflate()
    return all(hasattr(ext, name) for name in DEFLATE_STATE)


_BAD_GATEWAY = b"\x03\xf6"  # 1014
_INTERNAL_ERROR = b"\x03\xf3"  # 1011: a code wsproto knows, same checks otherwise


class _FrameProtocol1014(FrameProtocol):
    """wsproto's ``FrameProtocol`` that also accepts Close code 1014."""

    def _process_close(self, frame: Frame) -> Frame:
        payload = frame.payload
        if isinstance(payload, (bytes, bytearray)) and payload[:2] == _BAD_GATEWAY:
            # Let wsproto check the rest (the reason's UTF-8) with a code it
            # knows in its place, then put 1014 back.
            checked = super()._process_close(frame._replace(payload=_INTERNAL_ERROR + payload[2:]))
            reason = checked.payload[1]
            assert isinstance(reason, str)
            return checked._replace(payload=(1014, reason))
        return super()._process_close(frame)


def _accept_close_1014(conn: Connection) -> None:
    """Make *conn*'s parser accept Close frames with code 1014.

    Changes the class of this connection's ``FrameProtocol`` only (no other
    wsproto user is affected); does nothing on a wsproto whose parser is
    not the one we know."""
    proto = getattr(conn, "_proto", None)
    if type(proto) is FrameProtocol and hasattr(FrameProtocol, "_process_close"):
        proto.__class__ = _FrameProtocol1014
