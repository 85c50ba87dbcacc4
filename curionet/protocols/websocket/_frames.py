"""The WebSocket frame codec (RFC 6455 section 5): pure functions, no I/O."""

from __future__ import annotations

import struct

_pack_head2 = struct.Struct("!BBH").pack
_pack_head8 = struct.Struct("!BBQ").pack
_XOR_TABLES = [bytes(a ^ b for a in range(256)) for b in range(256)]


def _unmask(data: bytes, key: bytes) -> bytes:
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
