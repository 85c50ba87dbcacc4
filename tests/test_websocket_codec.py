"""The WebSocket frame codec (``_frames``) against wsproto's ``FrameProtocol``.

Streams of frames are generated (text, binary and control frames; FIN and
fragmented messages; RSV1 on compressed messages when permessage-deflate is
on; payload lengths on both sides of 125/126, 65535/65536; masked for a
server, unmasked for a client) and sometimes corrupted (reserved opcodes and
bits, fragmented or oversized control frames, lengths not in their shortest
form, the wrong masking).  The bytes are built here, not by the codec, then
cut into random chunks and fed to both parsers:

* ``scan_frames`` (the caller keeping the buffer, as the reader does) gives
  frames or a :class:`FrameError`; the message layer below (continuations,
  UTF-8, inflating, Close payloads, what wsproto's ``MessageDecoder`` and
  extension hooks do) turns them into what wsproto reports;
* wsproto's ``FrameProtocol`` gives frames in pieces or ``ParseFailed``.

Both must agree on every frame and on the close code of the first error.
``encode_frame``'s output must read back as the same frames in wsproto and
in ``scan_frames``; and the whole-message mode the fast path uses must take
a prefix of the frames, stopping exactly at the first frame that is not a
whole text or binary message.
"""

from __future__ import annotations

import codecs
import itertools
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed

from curionet.protocols.websocket._deflate import _BoundedDeflate
from curionet.protocols.websocket._frames import FrameError, encode_frame, scan_frames

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
# Codes a Close frame may carry that wsproto accepts.
CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 4999]
BOUNDARY_SIZES = [125, 126, 127, 65535, 65536]


# ---------------------------------------------------------------------------
# Building the bytes (independently of the codec)
# ---------------------------------------------------------------------------


def xor(data: bytes, key: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, itertools.cycle(key)))


def raw_frame(b0: int, payload: bytes, key: bytes | None, form: int = 0, mask_bit: bool | None = None) -> bytes:
    """One frame: first byte *b0*; *form* 0 writes the length in its
    shortest form, 2 or 8 in that many bytes (even when shorter would do);
    *mask_bit* overrides the mask bit (masking a frame with no key, or the
    other way round, is a corruption)."""
    n = len(payload)
    bit = (key is not None) if mask_bit is None else mask_bit
    m = 0x80 if bit else 0
    if form == 8 or n > 65535:
        head = struct.pack("!BBQ", b0, m | 127, n)
    elif form == 2 or n > 125:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = bytes((b0, m | n))
    if key is None:
        return head + payload
    return head + key + xor(payload, key)


# ---------------------------------------------------------------------------
# Generated streams
# ---------------------------------------------------------------------------

sizes = st.one_of(st.integers(0, 130), st.sampled_from(BOUNDARY_SIZES))


@st.composite
def payloads(draw, text: bool) -> bytes:
    size = draw(sizes)
    if size <= 130:
        if text:
            return draw(st.text(max_size=size)).encode("utf-8")
        return draw(st.binary(min_size=size, max_size=size))
    fill = draw(st.sampled_from("aé☃𝄞")) if text else chr(draw(st.integers(0, 255)))
    data = (fill * size).encode("utf-8") if text else fill.encode("latin-1") * size
    return data[:size] if not text else data


@st.composite
def control_frame(draw) -> tuple[int, bool, bool, bytes]:
    opcode = draw(st.sampled_from([PING, PONG, PING, PONG, CLOSE]))
    if opcode == CLOSE:
        if draw(st.booleans()):
            payload = b""
        else:
            reason = draw(st.text(max_size=20)).encode("utf-8")[:100]
            payload = struct.pack("!H", draw(st.sampled_from(CLOSE_CODES))) + reason
    else:
        payload = draw(st.binary(max_size=125))
    return (opcode, True, False, payload)


@st.composite
def message_frames(draw, compressor) -> list[tuple[int, bool, bool, bytes]]:
    """The frames of one data message, control frames possibly between
    its fragments; compressed (RSV1 on its first frame) if *compressor*."""
    opcode = draw(st.sampled_from([TEXT, BINARY]))
    data = draw(payloads(opcode == TEXT))
    compressed = compressor is not None and draw(st.booleans())
    if compressed:
        data = (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    frames = []
    for i, piece in enumerate(pieces):
        if i and draw(st.integers(0, 4)) == 0:
            frames.append(draw(control_frame()))
        last = i == len(pieces) - 1
        frames.append((opcode if i == 0 else 0, last, compressed and i == 0, piece))
    return frames


@st.composite
def streams(draw, client: bool | None = None, deflate: bool | None = None):
    """``(client, deflate, frames, wire, chunks)``: *frames* as built
    ``(opcode, fin, rsv1, payload)`` and the bytes a peer sends, maybe
    corrupted, cut into *chunks*."""
    client = draw(st.booleans()) if client is None else client
    deflate = draw(st.booleans()) if deflate is None else deflate
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15) if deflate else None
    frames: list[tuple[int, bool, bool, bytes]] = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 3)) == 0:
            frames.append(draw(control_frame()))
        else:
            frames.extend(draw(message_frames(compressor)))
    wire = []
    corrupt = draw(st.integers(-1, len(frames) - 1)) if draw(st.integers(0, 2)) == 0 else -1
    for i, (opcode, fin, rsv1, payload) in enumerate(frames):
        key = None if client else draw(st.binary(min_size=4, max_size=4))
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        form, mask_bit = 0, None
        if i == corrupt:
            kind = draw(st.sampled_from(["opcode", "fin", "rsv", "mask", "form", "control size"]))
            if kind == "opcode":
                b0 = (b0 & 0xF0) | draw(st.integers(0, 15))
            elif kind == "fin":
                b0 ^= 0x80
            elif kind == "rsv":
                b0 ^= draw(st.sampled_from([0x40, 0x20, 0x10]))
            elif kind == "mask":
                mask_bit = client  # a client gets a masked frame, a server an unmasked one
                key = None
            elif kind == "form":
                form = draw(st.sampled_from([2, 8]))
            else:
                b0 = 0x80 | draw(st.sampled_from([PING, PONG, CLOSE]))
                payload = bytes(draw(st.integers(126, 200)))
        wire.append(raw_frame(b0, payload, key, form, mask_bit))
    data = b"".join(wire)
    # Cuts anywhere, and cuts in or next to the frame headers.
    cuts = set(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    offset = 0
    for piece in wire:
        if draw(st.booleans()):
            cuts.add(min(len(data), offset + draw(st.integers(0, 14))))
        offset += len(piece)
    points = sorted(cuts | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points) if b > a]
    return client, deflate, frames, data, chunks


# ---------------------------------------------------------------------------
# The two readings
# ---------------------------------------------------------------------------


def _extension(client: bool) -> _BoundedDeflate:
    # The extension the connection uses (no size limit here): wsproto's own
    # PerMessageDeflate lets a control frame between the fragments of a
    # compressed message switch decompression off (see _deflate.py).
    ext = _BoundedDeflate(None)
    if client:
        ext.finalize("permessage-deflate")
    else:
        ext.accept("permessage-deflate")
    return ext


def wsproto_reading(client: bool, deflate: bool, chunks: list[bytes]):
    """wsproto's frames, one entry per frame on the wire (its pieces joined):
    ``(opcode, payload, fin)``, a Close as ``(8, (code, reason), True)``;
    and the close code of the error that stopped it, or ``None``."""
    proto = FrameProtocol(client, [_extension(client)] if deflate else [])
    out, parts = [], []
    try:
        for chunk in chunks:
            proto.receive_bytes(chunk)
            for frame in proto.received_frames():
                if frame.opcode is Opcode.CLOSE:
                    code, reason = frame.payload
                    out.append((CLOSE, (int(code), reason), True))
                    continue
                parts.append(frame.payload)
                if frame.frame_finished:
                    joined = "".join(parts) if isinstance(parts[0], str) else b"".join(parts)
                    out.append((int(frame.opcode), joined, frame.message_finished))
                    parts = []
    except ParseFailed as exc:
        return out, int(exc.code)
    return out, None


def codec_frames(client: bool, deflate: bool, chunks: list[bytes]):
    """``scan_frames`` over a buffer that grows chunk by chunk: the frames
    and the FrameError's close code (or ``None``)."""
    buf, pos, frames = b"", 0, []
    try:
        for chunk in chunks:
            buf += chunk
            pos, _, _ = scan_frames(buf, pos, frames, not client, deflate)
    except FrameError as exc:
        return frames, exc.code
    return frames, None


def _close_payload(payload: bytes) -> tuple[int, str] | int:
    """A Close frame's (code, reason) as wsproto reads it, or its error code."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        return 1002
    code = struct.unpack("!H", payload[:2])[0]
    known = code in {int(c) for c in CloseReason}
    if not 1000 <= code <= 4999 or code in (1005, 1006, 1015) or (code <= 2999 and not known):
        return 1002
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return 1007


def message_layer(frames, error: int | None, deflate: bool):
    """What wsproto makes of these frames above the framing, in its order:
    the deflate extension inflates a message that began with RSV1 (one
    context across messages), then the continuation rules, then incremental
    UTF-8 for text; a Close ends it.  Returns the frames as
    :func:`wsproto_reading` does and the set of close codes wsproto may
    stop with (``{None}``: none).

    One case has two answers: a frame that breaks the continuation rules
    while the extension is inflating a message.  wsproto inflates the
    frame's first piece before its message decoder refuses the frame, so
    the result depends on where the stream was cut: 1007 if that piece is
    not valid deflate data, else 1002."""
    out = []
    opcode = None
    decoder = None
    inflating = None  # the extension's view: None between messages
    inflater = zlib.decompressobj(-15)
    for op, fin, rsv1, payload in frames:
        if op == CLOSE:
            close = _close_payload(payload)
            if isinstance(close, int):
                return out, {close}
            out.append((CLOSE, close, True))
            return out, {None}
        if op >= 8:
            out.append((op, payload, True))
            continue
        misplaced = (opcode is None) != (op != 0)  # a continuation with no message, or a new message inside one
        if deflate and inflating is None:
            inflating = rsv1
        if misplaced:
            return out, {1002, 1007} if inflating else {1002}
        if opcode is None:
            opcode = op
            decoder = codecs.getincrementaldecoder("utf-8")() if op == TEXT else None
        data = payload
        try:
            if inflating:
                data = inflater.decompress(payload)
                if fin:
                    data += inflater.decompress(b"\x00\x00\xff\xff")
            if decoder is not None:
                data = decoder.decode(data, fin)
        except (zlib.error, UnicodeDecodeError):
            return out, {1007}
        out.append((opcode, data, fin))
        if fin:
            opcode = None
            inflating = None
    return out, {error}


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams())
def test_scan_frames_reads_what_wsproto_reads(stream):
    client, deflate, _, data, chunks = stream
    frames, error = codec_frames(client, deflate, chunks)
    expected, codes = message_layer(frames, error, deflate)
    got, code = wsproto_reading(client, deflate, chunks)
    assert got == expected and code in codes
    # However the bytes were split, the result is that of one scan.
    whole: list = []
    try:
        scan_frames(data, 0, whole, not client, deflate)
        whole_error = None
    except FrameError as exc:
        whole_error = exc.code
    assert (whole, whole_error) == (frames, error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stream=streams(), key=st.binary(min_size=4, max_size=4))
def test_encode_frame_is_read_back_by_wsproto_and_scan_frames(stream, key):
    client, deflate, frames, _, _ = stream
    # The peer of a client is a server: its frames are not masked.
    mask = None if client else key
    data = b"".join(encode_frame(op, payload, fin, rsv1, mask) for op, fin, rsv1, payload in frames)
    expected, codes = message_layer(frames, None, deflate)
    assert wsproto_reading(client, deflate, [data]) == (expected, None) and codes == {None}
    scanned: list = []
    try:
        assert scan_frames(data, 0, scanned, not client, deflate) == (len(data), len(data), len(data))
    except FrameError as exc:  # a generated message-level error is not a framing one
        pytest.fail(f"encode_frame wrote a frame scan_frames refuses: {exc}")
    assert scanned == frames


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams())
def test_whole_messages_mode_takes_a_prefix_and_stops_at_the_first_other_frame(stream):
    client, deflate, _, data, _ = stream
    taken: list = []
    pos, start, end = scan_frames(data, 0, taken, not client, deflate, True)
    assert start == end == pos  # the stream holds no incomplete frame
    assert all(fin and op in (TEXT, BINARY) for op, fin, _, _ in taken)
    # From pos on, a full scan reads the rest of what a scan from 0 reads.
    everything: list = []
    rest: list = []
    try:
        scan_frames(data, 0, everything, not client, deflate)
        error = None
    except FrameError as exc:
        error = exc.code
    try:
        scan_frames(data, pos, rest, not client, deflate)
        rest_error = None
    except FrameError as exc:
        rest_error = exc.code
    assert taken + rest == everything and rest_error == error
    if rest:
        op, fin, _, _ = rest[0]
        assert not (fin and op in (TEXT, BINARY))
    if pos < len(data) and not rest:
        assert error is not None  # it stopped at an invalid frame


def test_every_first_byte_is_read_as_wsproto_reads_it():
    # FIN, RSV1-3 and all sixteen opcodes, with and without deflate, on
    # an empty frame and on one whose payload is over 125 bytes.
    for b0 in range(256):
        for deflate in (False, True):
            for payload in (b"", b"x" * 126):
                chunks = [raw_frame(b0, payload, b"abcd")]
                frames, error = codec_frames(False, deflate, chunks)
                expected, codes = message_layer(frames, error, deflate)
                got, code = wsproto_reading(False, deflate, chunks)
                assert got == expected and code in codes, (hex(b0), deflate, len(payload))


def test_scan_frames_reports_an_incomplete_frame_with_its_payload_span():
    frame = raw_frame(0x82, bytes(70000), b"abcd")
    frames: list = []
    assert scan_frames(frame[:20], 0, frames, True) == (0, 14, 14 + 70000)
    assert scan_frames(frame[:9], 0, frames, True) == (0, 0, 0)  # the 8-byte length is not all there
    assert frames == []
    assert scan_frames(frame, 0, frames, True) == (len(frame), len(frame), len(frame))
    assert frames == [(BINARY, True, False, bytes(70000))]


@pytest.mark.parametrize(
    ("wire", "masked", "rsv1_ok", "reason"),
    [
        (b"\x83\x00", False, False, "reserved opcode"),
        (b"\x09\x00", False, False, "fragmented control frame"),
        (b"\x89\x7e\x00\x7e", False, False, "control frame payload over 125 bytes"),
        (b"\x82\x7e\x00\x7d", False, False, "shortest form"),
        (b"\x82\x7f" + struct.pack("!Q", 65535), False, False, "shortest form"),
        (b"\x82\x7f" + struct.pack("!Q", 1 << 63), False, False, "over 2**63"),
        (b"\xc2\x00", False, False, "reserved bit"),
        (b"\xc0\x00", False, True, "reserved bit"),  # RSV1 on a continuation
        (b"\xc9\x00", False, True, "reserved bit"),  # RSV1 on a control frame
        (b"\xa2\x00", False, True, "reserved bit"),  # RSV2
        (b"\x82\x80abcd", False, False, "masked frame to a client"),
        (b"\x82\x00", True, False, "unmasked frame to a server"),
    ],
)
def test_frame_errors_say_what_is_wrong(wire, masked, rsv1_ok, reason):
    frames: list = []
    good = raw_frame(0x81, b"ok", b"abcd" if masked else None)
    with pytest.raises(FrameError) as info:
        scan_frames(good + wire, 0, frames, masked, rsv1_ok)
    assert reason in info.value.reason
    assert info.value.code == 1002 and info.value.offset == len(good)
    assert frames == [(TEXT, True, False, b"ok")]
    # The whole-message mode stops there instead.
    assert scan_frames(good + wire, 0, [], masked, rsv1_ok, True)[0] == len(good)


def test_encode_frame_uses_the_shortest_length_form():
    for n, head in [(0, 1), (125, 1), (126, 3), (65535, 3), (65536, 9)]:
        assert len(encode_frame(BINARY, bytes(n))) == 1 + head + n
        assert len(encode_frame(BINARY, bytes(n), mask=b"abcd")) == 1 + head + 4 + n
    assert encode_frame(TEXT, b"hi", fin=False, rsv1=True) == b"\x41\x02hi"
    assert encode_frame(PING, b"", mask=b"\x00\x00\x00\x00") == b"\x89\x80\x00\x00\x00\x00"
