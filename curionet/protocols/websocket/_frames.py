"""The WebSocket frame codec (RFC 6455 section 5): pure functions, no I/O.

:func:`encode_frame` returns the bytes of one frame.  :func:`scan_frames`
cuts the complete frames at the start of a buffer, checking each header the
way wsproto's parser does, and says where it stopped.  Neither awaits
anything nor keeps state between calls: the caller owns the buffer and the
offset, so the same bytes give the same frames however they were split.
Messages (fragments, UTF-8, Close payloads, permessage-deflate) are the next
layer up; ``tests/test_websocket_codec.py`` checks both directions against
wsproto's ``FrameProtocol``.

Discussion: two parsers, one decision.  wsproto parses every frame the slow
way (several objects and payload copies per frame).  The reader's fast path
(:meth:`~._reader._Reader._fast_receive`) runs this scanner with
``whole_messages=True`` while wsproto's parser is idle: it takes only whole,
valid text and binary frames and stops at the first other frame, whose bytes
then go to wsproto, so every control frame, fragment and framing error is
still wsproto's to handle.
"""

from __future__ import annotations

import os
import struct

__all__ = [
    "FrameError",
    "encode_frame",
    "frame_head",
    "scan_frames",
    "OP_CONTINUATION",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: A frame as :func:`scan_frames` returns it: ``(opcode, fin, rsv1, payload)``,
#: the payload unmasked.
Frame = tuple[int, bool, bool, bytes]

_pack_head2 = struct.Struct("!BBH").pack
_pack_head8 = struct.Struct("!BBQ").pack
_XOR_TABLES = [bytes(a ^ b for a in range(256)) for b in range(256)]


class FrameError(Exception):
    """A frame breaks RFC 6455 framing.

    ``code`` is the close code to fail the connection with (1002, as wsproto
    uses for every framing error) and ``offset`` where the frame starts."""

    def __init__(self, reason: str, offset: int, code: int = 1002) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.code = code


def encode_frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bytes | None = None) -> bytes:
    """The bytes of one frame: the header (the shortest length form), then
    *payload*, masked with the 4-byte *mask* if one is given (a client's
    frames must be masked, a server's must not)."""
    if mask is not None:
        return frame_head(opcode, len(payload), fin, rsv1, True) + mask + _unmask(payload, mask)
    return frame_head(opcode, len(payload), fin, rsv1) + payload


def frame_head(opcode: int, length: int, fin: bool = True, rsv1: bool = False, masked: bool = False) -> bytes:
    """The header of a frame with a *length*-byte payload, up to (not
    including) the masking key: what :func:`encode_frame` puts before the
    payload, for a sender that writes header and payload without joining
    them."""
    b0 = opcode | 0x80 if fin else opcode
    if rsv1:
        b0 |= 0x40
    m = 0x80 if masked else 0
    if length < 126:
        return bytes((b0, m | length))
    if length < 65536:
        return _pack_head2(b0, m | 126, length)
    return _pack_head8(b0, m | 127, length)


def scan_frames(data: bytes, pos: int, frames: list[Frame], masked: bool, rsv1_ok: bool = False,
                whole_messages: bool = False) -> tuple[int, int, int]:  # fmt: skip
    """Append the complete frames in ``data[pos:]`` to *frames*.

    *masked* says whether frames must be masked (a server reads masked
    frames, a client unmasked ones); *rsv1_ok* that permessage-deflate is on
    (RSV1 then marks the first frame of a compressed message).

    Returns ``(offset, start, end)``: *offset* is where the first frame not
    taken begins.  If its header is complete but its payload is not,
    *start* and *end* are where its payload starts and will end (``end >
    len(data)``); otherwise both are *offset*.  Raises :class:`FrameError`
    for a frame that breaks RFC 6455, after appending the frames before it;
    the checks run in wsproto's order, each once the bytes it needs are in.

    With *whole_messages*, only unfragmented text and binary frames are
    taken: the scan stops at the first other frame, invalid ones included.
    """
    n = len(data)
    want_mask = 0x80 if masked else 0
    rsv_ok = 0x40 if rsv1_ok else 0
    append = frames.append
    while n - pos >= 2:
        b0 = data[pos]
        b1 = data[pos + 1]
        opcode = b0 & 0x0F
        if whole_messages:
            if (
                not b0 & 0x80
                or (opcode != 1 and opcode != 2)
                or b1 & 0x80 != want_mask
                or (b0 & 0x70 and b0 & 0x70 != rsv_ok)
            ):
                break
        elif opcode > 2:
            if opcode < 8 or opcode > 10:
                raise FrameError(f"reserved opcode {opcode:#x}", pos)
            if not b0 & 0x80:
                raise FrameError("fragmented control frame", pos)
            if b1 & 0x7F > 125:
                raise FrameError("control frame payload over 125 bytes", pos)
        length = b1 & 0x7F
        start = pos + 2
        if length > 125:
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                start = pos + 4
                bad = length < 126
            else:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
                bad = length < 65536 or length >= 1 << 63
            if bad:
                if whole_messages:
                    break
                raise FrameError("payload length not in its shortest form, or over 2**63", pos)
        if not whole_messages:
            rsv = b0 & 0x70
            if rsv and (rsv != rsv_ok or opcode == 0 or opcode > 2):
                raise FrameError("reserved bit set", pos)
            if b1 & 0x80 != want_mask:
                raise FrameError("unmasked frame to a server" if masked else "masked frame to a client", pos)
        if want_mask:
            key = data[start : start + 4]
            start += 4
        end = start + length
        if end > n:
            return pos, start, end
        if want_mask:
            if length > 1024:
                # Unmask from a view: slicing bytes would copy the payload once more.
                with memoryview(data) as view:
                    payload = _unmask(view[start:end], key)
            else:
                payload = _unmask(data[start:end], key)
        else:
            payload = data[start:end] if start or end != n else data
        append((opcode, b0 >= 0x80, b0 & 0x40 != 0, payload))
        pos = end
    return pos, pos, pos


def _unmask(data: bytes | memoryview, key: bytes) -> bytes:
    """XOR *data* with the 4-byte masking *key* (RFC 6455 5.3)."""
    n = len(data)
    if n <= 512:
        # One big-integer XOR: fastest for small payloads (the conversions
        # grow faster than linearly, so not for big ones).
        mask = (key * ((n >> 2) + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")
    # Larger: translate each of the four byte lanes with its own table.
    out = bytearray(data)
    for i in range(4):
        out[i::4] = out[i::4].translate(_XOR_TABLES[key[i]])
    return bytes(out)


def _unmask_in_place(buf: bytearray, start: int, key: bytes) -> None:
    """XOR ``buf[start:]`` with the 4-byte masking *key*, in place."""
    for i in range(4):
        buf[start + i :: 4] = buf[start + i :: 4].translate(_XOR_TABLES[key[i]])


# The one place the masking implementation is chosen: the optional C
# extension (_speedups.c, same contract) when it was built and
# CURIONET_NO_EXTENSIONS is not set, else the pure functions above.
_pure_unmask, _pure_unmask_in_place = _unmask, _unmask_in_place
#: True when the C masking loop is in use.
SPEEDUPS = False
if not os.environ.get("CURIONET_NO_EXTENSIONS"):
    try:
        from ._speedups import unmask as _c_unmask, unmask_in_place as _c_unmask_in_place
    except ImportError:
        pass
    else:
        _unmask, _unmask_in_place = _c_unmask, _c_unmask_in_place  # type: ignore[assignment]
        SPEEDUPS = True
