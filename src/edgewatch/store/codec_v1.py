"""The version-1 block format, decode only: files written before schema 2 hold it.

A v1 blob is ``<magic 0xE1, segments u32, samples u32>`` and a zstd frame of
fixed 30-byte segment records, then the byte-plane shuffled tick words
(delta-of-delta) and value words (scaled-integer deltas or IEEE XOR). New
data is written in the v2 format (``codec.py``); v1 rows stay readable until
retention drops them, and compaction rewrites any it merges into.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import zstandard

from edgewatch.store.blocks import Block, CodecError, empty_block
from edgewatch.store.transforms import (
    F64,
    FLOAT_MODE,
    I64,
    MAX_DECIMALS,
    POW10,
    first_order,
    per_sample,
    undelta_within,
    unshuffle,
    unzigzag,
)

MAGIC_V1 = 0xE1
HEADER_V1 = struct.Struct("<BII")  # magic, segments, samples

META_V1 = np.dtype(
    [
        ("id", "<i8"),
        ("count", "<u4"),
        ("quantum", "<i8"),
        ("decimals", "i1"),
        ("mult", "<i8"),  # integer segments: the gcd every delta was divided by
        ("order", "i1"),  # integer segments: 1 = deltas, 2 = deltas of deltas
    ]
)


def _parts(
    blob: bytes, dctx: zstandard.ZstdDecompressor
) -> tuple[npt.NDArray[np.void], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    try:
        magic, nseg, n = HEADER_V1.unpack_from(blob)
    except struct.error as exc:
        raise CodecError("block too short") from exc
    if magic != MAGIC_V1:
        raise CodecError(f"bad block magic {magic:#x}")
    try:
        body = memoryview(dctx.decompress(blob[HEADER_V1.size :]))
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt block: {exc}") from exc
    m = nseg * META_V1.itemsize
    if len(body) != m + n * 16:
        raise CodecError(f"block length {len(body)} != {m + n * 16}")
    meta = np.frombuffer(body, dtype=META_V1, count=nseg)
    if int(meta["count"].sum()) != n:
        raise CodecError(f"block segments hold {int(meta['count'].sum())} samples, header says {n}")
    return meta, unshuffle(body[m : m + n * 8], n), unshuffle(body[m + n * 8 :], n)


def _expand(starts: I64, per_segment: npt.NDArray[np.generic]) -> I64:
    """Per-segment values per sample; a scalar when every segment has the same one."""
    arr = per_segment.astype(np.int64)
    if len(arr) and (arr == arr[0]).all():
        return arr[:1]  # broadcasts like a scalar, no per-sample copy
    return per_sample(starts, arr)


def _int_values(
    words: npt.NDArray[np.uint64], starts: I64, meta: npt.NDArray[np.void], decimals: I64
) -> F64:
    coded = unzigzag(words)
    orders = meta["order"]
    if (orders == 1).all():
        d1 = coded
    elif (orders == 2).all():
        d1 = first_order(coded, starts)
    else:
        d1 = np.where(
            per_sample(starts, orders.astype(np.int64)) == 2, first_order(coded, starts), coded
        )
    mults = _expand(starts, meta["mult"])
    if len(mults) != 1 or mults[0] != 1:
        first = starts[:-1][np.diff(starts) > 0]
        raw_first = d1[first].copy()
        d1 = d1 * mults
        d1[first] = raw_first
    scaled = undelta_within(d1, starts)
    return scaled.astype(np.float64) / POW10[decimals]


def _float_values(words: npt.NDArray[np.uint64], starts: I64) -> F64:
    prefix = np.bitwise_xor.accumulate(words)
    before = np.zeros(len(starts) - 1, dtype=np.uint64)
    before[1:] = prefix[starts[1:-1] - 1]
    return (prefix ^ per_sample(starts, before)).view(np.float64)


def _check_meta(meta: npt.NDArray[np.void]) -> None:
    dec, order = meta["decimals"], meta["order"]
    if (
        ((dec < FLOAT_MODE) | (dec > MAX_DECIMALS)).any()
        or ((order != 1) & (order != 2)).any()
        or (meta["quantum"] < 1).any()
        or (meta["mult"] < 1).any()
    ):
        raise CodecError("corrupt block: segment metadata out of range")


def decode_v1(blobs: Sequence[bytes], dctx: zstandard.ZstdDecompressor) -> Block:
    """Decode v1 blobs into one Block whose segments follow in blob order."""
    parts = [_parts(blob, dctx) for blob in blobs]
    if not parts:
        return empty_block()
    meta = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    _check_meta(meta)
    tick_words = np.concatenate([p[1] for p in parts])
    words = np.concatenate([p[2] for p in parts])
    n = len(words)
    counts = meta["count"].astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    ticks = undelta_within(first_order(unzigzag(tick_words), starts), starts)
    ts = ticks * _expand(starts, meta["quantum"])

    decimals = meta["decimals"].astype(np.int64)
    values = np.empty(n, dtype=np.float64)
    if (decimals != FLOAT_MODE).all():  # the common case: no float segment
        values[:] = _int_values(words, starts, meta, _expand(starts, decimals))
    elif (decimals == FLOAT_MODE).all():
        values[:] = _float_values(words, starts)
    else:
        dec_per = per_sample(starts, decimals)
        is_int = dec_per != FLOAT_MODE
        values[is_int] = _int_values(words, starts, meta, dec_per)[is_int]
        values[~is_int] = _float_values(words, starts)[~is_int]
    return Block(meta["id"].astype(np.int64), starts, ts.astype(np.int64), values)
