"""The private state of h11 and wsproto that curionet's fast paths read.

curionet reads a few internals of its two protocol libraries, each in one
guarded place, and bounds their versions in ``pyproject.toml``.  This file
checks, on the installed versions, that every one of them is still there,
with the type and the meaning the code relies on.  Each failure says which
fast path to re-check before raising the version bound:

* ``curionet/protocols/websocket/_wsproto.py`` (``_parser_state``): whether
  wsproto's parser is idle, and what the frame it is in announced;
* ``curionet/protocols/websocket/_deflate.py`` (``_BoundedDeflate``): the
  compressor and decompressor state it shares with ``PerMessageDeflate``;
* ``curionet/protocols/http/_fastpath.py``: h11's header grammar
  (``h11._abnf``);
* ``curionet/protocols/http/_headers.py`` (``Headers._from_h11``): h11's
  ``_full_items``, the header list with names as sent.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections import deque
from importlib.metadata import version

import h11
import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameDecoder, FrameProtocol, Opcode

from curionet.protocols.websocket._deflate import _BoundedDeflate
from curionet.protocols.websocket._wsproto import DEFLATE_STATE, IDLE, _deflate_state_ok, _parser_state

WSPROTO = f"wsproto {version('wsproto')}"
H11 = f"h11 {version('h11')}"
PARSER = "the WebSocket fast path's parser check (curionet/protocols/websocket/_wsproto.py, _parser_state)"
DEFLATE = "the WebSocket deflate fast path (curionet/protocols/websocket/_deflate.py, _BoundedDeflate)"
HTTP_GRAMMAR = "the HTTP fast path's header grammar (curionet/protocols/http/_fastpath.py, h11._abnf)"
HTTP_HEADERS = "HTTP response headers (curionet/protocols/http/_headers.py, Headers._from_h11)"


def check(ok: bool, library: str, what: str, path: str) -> None:
    if not ok:
        pytest.fail(f"{library} changed {what}: re-check {path} before allowing this version", pytrace=False)


def masked(b0: int, payload: bytes, length: int | None = None) -> bytes:
    """A client's frame (masked with a zero key, so the payload reads as is)."""
    n = len(payload) if length is None else length
    head = bytes((b0, 0x80 | n)) if n < 126 else struct.pack("!BBH", b0, 0xFE, n)
    return head + b"\0\0\0\0" + payload


# ---------------------------------------------------------------------------
# wsproto: the parser state
# ---------------------------------------------------------------------------


def test_wsproto_connection_internals():
    conn = Connection(ConnectionType.SERVER)
    proto = getattr(conn, "_proto", None)
    check(isinstance(proto, FrameProtocol), WSPROTO, "Connection._proto (the FrameProtocol)", PARSER)
    check(getattr(conn, "_state", None) is ConnectionState.OPEN, WSPROTO, "Connection._state", PARSER)
    check(conn.state is conn._state, WSPROTO, "Connection._state (no longer what .state returns)", PARSER)
    check(isinstance(getattr(conn, "_events", None), deque), WSPROTO, "Connection._events (a deque)", PARSER)
    decoder = getattr(proto, "_frame_decoder", None)
    check(isinstance(decoder, FrameDecoder), WSPROTO, "FrameProtocol._frame_decoder", PARSER)
    check(getattr(decoder, "header", 0) is None, WSPROTO, "FrameDecoder.header (None between frames)", PARSER)
    buffer = getattr(getattr(decoder, "buffer", None), "buffer", None)
    check(isinstance(buffer, bytearray), WSPROTO, "FrameDecoder.buffer.buffer (a bytearray)", PARSER)
    check(isinstance(getattr(decoder, "payload_consumed", None), int), WSPROTO, "FrameDecoder.payload_consumed", PARSER)
    message = getattr(proto, "_message_decoder", None)
    check(getattr(message, "opcode", 0) is None, WSPROTO, "FrameProtocol._message_decoder.opcode", PARSER)
    check(_parser_state(conn) == IDLE, WSPROTO, "the idle parser's state", PARSER)


def test_wsproto_parser_state_through_a_message():
    conn = Connection(ConnectionType.SERVER)
    decoder = conn._proto._frame_decoder
    # Half a frame header: buffered, not parsed.
    conn.receive_data(b"\x02")
    check(bytes(decoder.buffer.buffer) == b"\x02", WSPROTO, "FrameDecoder.buffer.buffer (unparsed bytes)", PARSER)
    check(_parser_state(conn) == 0, WSPROTO, "the parser state with bytes buffered", PARSER)
    # The rest of a first fragment announcing 5000 bytes, 100 of them here
    # (wsproto parses them when its events are read).
    conn.receive_data(masked(0x02, b"x" * 100, length=5000)[1:])
    events = list(conn.events())
    check([type(e) for e in events] == [BytesMessage], WSPROTO, "its events", PARSER)
    head = decoder.header
    check(head is not None and head.opcode is Opcode.BINARY, WSPROTO, "FrameDecoder.header.opcode", PARSER)
    check(head.payload_len == 5000 and decoder.payload_consumed == 100, WSPROTO,
          "FrameDecoder.header.payload_len / payload_consumed", PARSER)  # fmt: skip
    check(_parser_state(conn) == 4900, WSPROTO, "the parser state in a frame", PARSER)
    # The frame ends, the message does not (FIN was clear).
    conn.receive_data(b"x" * 4900)
    list(conn.events())
    check(decoder.header is None, WSPROTO, "FrameDecoder.header (None after a frame)", PARSER)
    check(conn._proto._message_decoder.opcode is Opcode.BINARY, WSPROTO, "MessageDecoder.opcode (mid-message)", PARSER)
    check(_parser_state(conn) == 0, WSPROTO, "the parser state between fragments", PARSER)
    # A control frame's header claims nothing towards the message.
    conn.receive_data(masked(0x89, b"", length=10) + b"12345")
    check(_parser_state(conn) == 0, WSPROTO, "FrameDecoder.header.opcode.iscontrol()", PARSER)
    conn.receive_data(b"67890" + masked(0x80, b"end"))
    list(conn.events())
    check(_parser_state(conn) == IDLE, WSPROTO, "the parser state after a message", PARSER)
    # A Close: the state leaves OPEN, and the fast path with it.
    conn.receive_data(masked(0x88, struct.pack("!H", 1000)))
    check([type(e) for e in conn.events()] == [CloseConnection], WSPROTO, "its Close event", PARSER)
    check(conn._state is ConnectionState.REMOTE_CLOSING, WSPROTO, "Connection._state after a Close", PARSER)
    check(_parser_state(conn) == 0, WSPROTO, "the parser state after a Close", PARSER)


def test_wsproto_events_queue():
    # EOF is the one event wsproto queues without parsing.
    conn = Connection(ConnectionType.SERVER)
    conn.receive_data(None)
    check(len(conn._events) == 1, WSPROTO, "Connection._events (events not yet read)", PARSER)
    check(_parser_state(conn) == 0, WSPROTO, "the parser state with an event waiting", PARSER)


# ---------------------------------------------------------------------------
# wsproto: PerMessageDeflate's state, shared with _BoundedDeflate
# ---------------------------------------------------------------------------


def test_permessage_deflate_state_is_where_bounded_deflate_keeps_it():
    ext = PerMessageDeflate()
    for name in DEFLATE_STATE:
        check(hasattr(ext, name) and getattr(ext, name) is None, WSPROTO, f"PerMessageDeflate.{name}", DEFLATE)
    check(_deflate_state_ok(), WSPROTO, "PerMessageDeflate's state", DEFLATE)


def _pair() -> tuple[Connection, _BoundedDeflate, Connection, _BoundedDeflate]:
    """A client and a server Connection, each with a negotiated _BoundedDeflate."""
    client_ext, server_ext = _BoundedDeflate(None), _BoundedDeflate(None)
    client_ext.finalize("permessage-deflate")
    server_ext.accept("permessage-deflate")
    return (Connection(ConnectionType.CLIENT, [client_ext]), client_ext,
            Connection(ConnectionType.SERVER, [server_ext]), server_ext)  # fmt: skip


def test_deflate_context_is_shared_between_wsproto_and_the_fast_path():
    # The fast path (deflate_message / inflate_message) and wsproto's hooks
    # must use one compressor and one decompressor: with context takeover,
    # each message is compressed against the ones before it, whichever
    # path sent or read them.
    client, client_ext, server, server_ext = _pair()
    text = b"the same words again and again " * 20
    sent = []
    for i in range(4):
        if i % 2 == 0:  # wsproto compresses
            data = client.send(BytesMessage(data=text))
            check(isinstance(client_ext._compressor, type(zlib.compressobj())), WSPROTO,
                  "PerMessageDeflate._compressor (set by frame_outbound)", DEFLATE)  # fmt: skip
        else:  # the fast path compresses, with the same compressor
            payload = client_ext.deflate_message(True, text)
            data = bytes((0xC2, 0x80 | len(payload))) + b"\0\0\0\0" + payload
        sent.append(data)
    # The later messages are back-references into the earlier ones.
    check(
        len(sent[3]) - 6 < (len(sent[0]) - 6) // 2, WSPROTO, "PerMessageDeflate._compressor (context not kept)", DEFLATE
    )
    for i, data in enumerate(sent):
        if i % 2 == 0:  # wsproto inflates
            server.receive_data(data)
            events = list(server.events())
            check([e.data for e in events] == [text], WSPROTO, "PerMessageDeflate's inbound hooks", DEFLATE)
            check(isinstance(server_ext._decompressor, type(zlib.decompressobj())), WSPROTO,
                  "PerMessageDeflate._decompressor (set by frame_inbound_header)", DEFLATE)  # fmt: skip
            check(server_ext._inbound_compressed is None, WSPROTO,
                  "PerMessageDeflate._inbound_compressed (None between messages)", DEFLATE)  # fmt: skip
        else:  # the fast path inflates, with the same decompressor
            payload = data[6:]
            check(server_ext.inflate_message(False, payload) == text, WSPROTO,
                  "PerMessageDeflate._decompressor (context not kept)", DEFLATE)  # fmt: skip


def test_deflate_inbound_flags_mid_message():
    _, _, server, server_ext = _pair()
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = (comp.compress(b"hello " * 50) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]
    server.receive_data(masked(0x42, body[:10]))  # first fragment, RSV1, FIN clear
    data = b"".join(e.data for e in server.events())
    check(server_ext._inbound_compressed is True, WSPROTO, "PerMessageDeflate._inbound_compressed", DEFLATE)
    check(server_ext._inbound_is_compressible is True, WSPROTO, "PerMessageDeflate._inbound_is_compressible", DEFLATE)
    server.receive_data(masked(0x89, b"ping"))  # a control frame between fragments
    server.receive_data(masked(0x80, body[10:]))
    data += b"".join(e.data for e in server.events() if isinstance(e, BytesMessage))
    check(data == b"hello " * 50, WSPROTO, "PerMessageDeflate's state around a control frame", DEFLATE)


# ---------------------------------------------------------------------------
# h11
# ---------------------------------------------------------------------------


def test_h11_abnf_grammar():
    try:
        from h11 import _abnf
    except ImportError:
        pytest.fail(f"{H11} has no h11._abnf: re-check {HTTP_GRAMMAR}", pytrace=False)
    for name in ("header_field", "method", "request_target", "status_line"):
        check(isinstance(getattr(_abnf, name, None), str), H11, f"h11._abnf.{name} (a regex string)", HTTP_GRAMMAR)
    head = re.compile(f"(?:{_abnf.status_line})\r\n(?:(?:{_abnf.header_field})\r\n)*".encode("ascii"))
    check(bool(head.fullmatch(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b c\r\n")), H11,
          "h11._abnf.status_line / header_field (an ordinary head no longer matches)", HTTP_GRAMMAR)  # fmt: skip
    check(not head.fullmatch(b"HTTP/1.1 200 OK\r\nBad Header: x\r\n"), H11,
          "h11._abnf.header_field (a space in a name now matches)", HTTP_GRAMMAR)  # fmt: skip
    check(bool(re.fullmatch(_abnf.method, "GET")) and not re.fullmatch(_abnf.method, "G T"), H11,
          "h11._abnf.method", HTTP_GRAMMAR)  # fmt: skip
    check(bool(re.fullmatch(_abnf.request_target, "/a?b=c")) and not re.fullmatch(_abnf.request_target, "/a b"),
          H11, "h11._abnf.request_target", HTTP_GRAMMAR)  # fmt: skip


def test_h11_headers_full_items():
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Thing: a\r\nContent-Length: 0\r\n\r\n")
    event = conn.next_event()
    assert isinstance(event, h11.Response)
    full = getattr(event.headers, "_full_items", None)
    check(isinstance(full, list), H11, "Headers._full_items (a list)", HTTP_HEADERS)
    check(full[:2] == [(b"Content-Type", b"content-type", b"text/plain"), (b"X-Thing", b"x-thing", b"a")], H11,
          "Headers._full_items (no longer (name as sent, lower name, value) triples)", HTTP_HEADERS)  # fmt: skip
