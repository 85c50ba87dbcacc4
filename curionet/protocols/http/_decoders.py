"""Incremental decoders for ``Content-Encoding``: gzip, deflate, and br/zstd
when the ``brotli``/``zstandard`` packages are installed.  Pure functions over
bytes, no I/O."""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["Decoder", "make_decoder", "ACCEPT_ENCODING", "DecodingError"]

try:  # optional
    import brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

try:  # optional
    import zstandard  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None


class DecodingError(ValueError):
    """The body could not be decoded as its Content-Encoding says."""


class Decoder:
    """Identity decoder; subclasses decode one encoding incrementally."""

    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class GZipDecoder(Decoder):
    def __init__(self) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, data: bytes) -> bytes:
        try:
            out = self._z.decompress(data)
            # Concatenated gzip members are legal: start a new one.
            while self._z.eof and self._z.unused_data:
                rest = self._z.unused_data
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += self._z.decompress(rest)
            return out
        except zlib.error as exc:
            raise DecodingError(f"invalid gzip body: {exc}") from exc

    def flush(self) -> bytes:
        try:
            return self._z.flush()
        except zlib.error as exc:  # pragma: no cover - flush rarely fails
            raise DecodingError(f"invalid gzip body: {exc}") from exc


class DeflateDecoder(Decoder):
    """``deflate`` is meant to be zlib-wrapped, but servers send raw deflate
    too; the first chunk decides."""

    def __init__(self) -> None:
        self._first = True
        self._z = zlib.decompressobj()

    def decode(self, data: bytes) -> bytes:
        if self._first and data:
            self._first = False
            try:
                return self._z.decompress(data)
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            return self._z.decompress(data)
        except zlib.error as exc:
            raise DecodingError(f"invalid deflate body: {exc}") from exc

    def flush(self) -> bytes:
        try:
            return self._z.flush()
        except zlib.error as exc:  # pragma: no cover
            raise DecodingError(f"invalid deflate body: {exc}") from exc


class BrotliDecoder(Decoder):  # pragma: no cover - needs the optional package
    def __init__(self) -> None:
        self._d: Any = brotli.Decompressor()

    def decode(self, data: bytes) -> bytes:
        try:
            fn = getattr(self._d, "process", None) or self._d.decompress
            return bytes(fn(data))
        except brotli.error as exc:
            raise DecodingError(f"invalid br body: {exc}") from exc


class ZstdDecoder(Decoder):  # pragma: no cover - needs the optional package
    def __init__(self) -> None:
        self._d: Any = zstandard.ZstdDecompressor().decompressobj()

    def decode(self, data: bytes) -> bytes:
        try:
            return bytes(self._d.decompress(data))
        except zstandard.ZstdError as exc:
            raise DecodingError(f"invalid zstd body: {exc}") from exc


class MultiDecoder(Decoder):
    """``Content-Encoding: gzip, br`` means br was applied last: undo it first."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = list(reversed(decoders))

    def decode(self, data: bytes) -> bytes:
        for d in self._decoders:
            data = d.decode(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for d in self._decoders:
            data = d.decode(data) + d.flush()
        return data


_DECODERS: dict[str, type[Decoder]] = {"gzip": GZipDecoder, "x-gzip": GZipDecoder, "deflate": DeflateDecoder}
if brotli is not None:  # pragma: no cover
    _DECODERS["br"] = BrotliDecoder
if zstandard is not None:  # pragma: no cover
    _DECODERS["zstd"] = ZstdDecoder

#: The Accept-Encoding value we send: only what we can decode.
ACCEPT_ENCODING = ", ".join(k for k in ("gzip", "deflate", "br", "zstd") if k in _DECODERS)


def make_decoder(content_encoding: str | None) -> Decoder | None:
    """A decoder for a Content-Encoding header value, or ``None`` for identity
    (unknown encodings are passed through undecoded, as browsers do)."""
    if not content_encoding:
        return None
    names = [v.strip().lower() for v in content_encoding.split(",") if v.strip()]
    decoders = [_DECODERS[n]() for n in names if n in _DECODERS]
    if not decoders:
        return None
    if len(decoders) == 1:
        return decoders[0]
    return MultiDecoder(decoders)
