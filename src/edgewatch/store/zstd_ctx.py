"""zstd contexts for the store's codecs, one set per thread.

The one module-level object in the store, on purpose: zstd contexts are costly to
build and not thread-safe, and every reader and writer thread encodes or decodes.
"""

from __future__ import annotations

import threading

import zstandard

# zstd level 1: the transformed streams compress as well at 1 as at 19 (measured on
# the store bench: within 0.5 %), and a level-1 context holds 0.6 MB, not 2.3.
LEVEL = 1


class _Zstd(threading.local):
    """zstd contexts are reusable but not thread-safe: one set per thread."""

    def __init__(self) -> None:
        self.compressors: dict[int, zstandard.ZstdCompressor] = {}
        # Formats 2 and the journal: frames without magic number or content size
        # (the blob's own header says what to expect: 4-6 bytes a blob saved).
        self.decompressor = zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)
        self.decompressor_v1 = zstandard.ZstdDecompressor()


_ZSTD = _Zstd()


def compressor(level: int = LEVEL) -> zstandard.ZstdCompressor:
    comp = _ZSTD.compressors.get(level)
    if comp is None:
        params = zstandard.ZstdCompressionParameters.from_level(
            level, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_checksum=0, write_content_size=0
        )
        comp = zstandard.ZstdCompressor(compression_params=params)
        _ZSTD.compressors[level] = comp
    return comp


def decompressor() -> zstandard.ZstdDecompressor:
    return _ZSTD.decompressor


def decompressor_v1() -> zstandard.ZstdDecompressor:
    """Format 1: standard frames, magic number and content size included."""
    return _ZSTD.decompressor_v1
