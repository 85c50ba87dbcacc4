"""permessage-deflate (RFC 7692) with a bound on the decompressed size."""

from __future__ import annotations

import zlib
from typing import Any

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

from ._wsproto import _deflate_state_ok

_DEFLATE_STATE_OK = _deflate_state_ok()


class _BoundedDeflate(PerMessageDeflate):
    """``PerMessageDeflate`` that never inflates more than the message limit.

    wsproto inflates each chunk of payload in one call; a few KiB of
    compressed zeros would become hundreds of MiB before anyone could look at
    the size.  Here each call gets an output limit of what is left of
    ``max_message_size`` and an overrun closes with 1009.  The lengths the
    frame headers of a message announce are checked too, as each header is
    parsed: more than ``max_message_size`` uncompressed, or than
    :func:`_deflate_bound` of it compressed, closes with 1009 before any of
    the payload is read.
    """

    def __init__(self, max_size: int | None = None, *, window_bits: int = 12, mem_level: int = 5,
                 level: int = 3, **params: Any) -> None:  # fmt: skip
        super().__init__(**params)
        if not 9 <= window_bits <= 15 or not 1 <= mem_level <= 9 or not -1 <= level <= 9:
            raise ValueError("window_bits must be 9..15, mem_level 1..9 and level -1..9")
        self._max_size = max_size
        self._inflated = 0
        self._claimed = 0  # payload bytes the headers of this message announced
        self._control = False
        self._per_frame = False  # a streamed message: the limit is per frame
        # Our compressor may always use a smaller window than negotiated
        # (RFC 7692 7.1.2); 12 bits and memLevel 5 keep it ~8x smaller than
        # zlib's defaults, which matters with many connections.  Level 3,
        # not zlib's 6: deflate is most of a compressing server's CPU time,
        # and on JSON, logs, prose and source code level 3 compressed about
        # 1.5-2x faster for 6-14% more bytes (benchmarks/deflate_levels.py).
        self._window_bits = window_bits
        self._mem_level = mem_level
        self._level = level

    def _make_compressor(self, client: bool) -> Any:
        bits = self.client_max_window_bits if client else self.server_max_window_bits
        return zlib.compressobj(self._level, zlib.DEFLATED, -min(bits, self._window_bits), self._mem_level)

    def frame_outbound(self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool) -> tuple[RsvBits, bytes]:
        if opcode.iscontrol():
            return (rsv, data)
        if self._compressor is None and opcode in (Opcode.TEXT, Opcode.BINARY):
            self._compressor = self._make_compressor(proto.client)
        if fin:
            return super().frame_outbound(proto, opcode, rsv, data, fin)
        # A fragment that is not the last: wsproto would keep its deflate
        # output in the compressor until the last fragment, so a message
        # streamed in fragments would arrive all at once at the end.  A sync
        # flush pushes out everything so far; its empty-block marker is
        # valid in the middle of a message (RFC 7692 7.2.1 strips only the
        # final one).
        if opcode is not Opcode.CONTINUATION:
            rsv = RsvBits(True, rsv[1], rsv[2])
        compressor = self._compressor
        assert compressor is not None
        return (rsv, compressor.compress(bytes(data)) + compressor.flush(zlib.Z_SYNC_FLUSH))

    # wsproto 1.3 lets a control frame that arrives between the fragments of
    # a compressed message reset the message's "compressed" flag, and the
    # remaining fragments then come out still deflated.  Control frames are
    # kept out of the per-message state here.
    def frame_inbound_header(self, proto: Any, opcode: Opcode, rsv: RsvBits, payload_length: int) -> Any:
        if opcode.iscontrol():
            self._control = True
            return CloseReason.PROTOCOL_ERROR if rsv.rsv1 else RsvBits(True, False, False)
        self._control = False
        result = super().frame_inbound_header(proto, opcode, rsv, payload_length)
        limit = self._max_size
        if limit is None or isinstance(result, CloseReason):
            return result
        if opcode is not Opcode.CONTINUATION:
            self._claimed = 0
        self._claimed += payload_length
        if self._claimed > (_deflate_bound(limit) if self._inbound_compressed else limit):
            return CloseReason.MESSAGE_TOO_BIG
        return result

    def _reset_size(self) -> None:
        """Start counting the size of the message afresh (receive_streaming)."""
        self._inflated = 0
        self._claimed = 0

    def _inflate(self, data: bytes) -> bytes | CloseReason:
        d = self._decompressor
        assert d is not None
        limit = self._max_size
        try:
            if limit is None:
                out = d.decompress(data)
            else:
                out = d.decompress(data, limit - self._inflated + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if limit is not None and (self._inflated > limit or d.unconsumed_tail):
            return CloseReason.MESSAGE_TOO_BIG
        return out

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> bytes | CloseReason:
        if self._control or not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        return self._inflate(data)

    def frame_inbound_complete(self, proto: Any, fin: bool) -> bytes | CloseReason | None:
        if not fin or self._control:
            if self._per_frame and not self._control:
                self._reset_size()
            return None
        compressed = self._inbound_compressed and self._inbound_is_compressible
        self._inbound_compressed = None
        if not compressed:
            self._inflated = 0
            return None
        out = self._inflate(b"\x00\x00\xff\xff")
        self._inflated = 0
        if isinstance(out, CloseReason):
            return out
        no_takeover = self.server_no_context_takeover if proto.client else self.client_no_context_takeover
        if no_takeover:
            self._decompressor = None
        return out

    # Whole-message helpers for the fast path; they keep the same state
    # (compressor, decompressor, context takeover) as wsproto's hooks.
    def inflate_message(self, client: bool, payload: bytes) -> bytes | CloseReason:
        if self._decompressor is None:
            bits = self.server_max_window_bits if client else self.client_max_window_bits
            self._decompressor = zlib.decompressobj(-bits)
        self._inflated = 0
        out = self._inflate(payload)
        if isinstance(out, CloseReason):
            return out
        tail = self._inflate(b"\x00\x00\xff\xff")
        self._inflated = 0
        if isinstance(tail, CloseReason):
            return tail
        if self.server_no_context_takeover if client else self.client_no_context_takeover:
            self._decompressor = None
        return out + tail if tail else out

    def deflate_message(self, client: bool, payload: bytes) -> bytes:
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = self._make_compressor(client)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if self.client_no_context_takeover if client else self.server_no_context_takeover:
            self._compressor = None
        return data[:-4]


def _deflate_bound(size: int) -> int:
    """The most payload bytes a compressed message of *size* bytes may take.

    Deflate makes incompressible data a little bigger; this is zlib's
    conservative ``deflateBound`` (any window and memory level) plus room
    for the flush marker, so a message of exactly ``max_message_size``
    bytes is never refused for its compressed length."""
    return size + ((size + 7) >> 3) + ((size + 63) >> 6) + 64


def _deflate_extension(compression: Any, max_size: int | None) -> list[Any]:
    """The extensions to offer (client) or accept (server): permessage-deflate
    if *compression* asks for it and this wsproto keeps its deflate state
    where :class:`_BoundedDeflate` expects it."""
    if not compression or not _DEFLATE_STATE_OK:
        return []
    params = dict(compression) if isinstance(compression, dict) else {}
    return [_BoundedDeflate(max_size, **params)]
