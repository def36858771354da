"""Block codec: many series segments of (timestamp, value) encoded in one go.

A *block* is a run of samples sorted by (segment, timestamp) and split into
segments; a chunk is a block of one segment, a head commit is a block of
every series that moved since the last commit. Encoding is vectorised over
the whole block with numpy so its cost per sample stays flat however many
series there are.

Timestamps: each segment picks the coarsest quantum Q (1 min … 1 ms) such
that snapping every timestamp to a multiple of Q moves none of them by more
than ``tolerance`` of the segment's interval; the snapped ticks are stored as
delta-of-delta (zero for a regular series, non-zero around a missed scrape).
With ``tolerance=0`` timestamps are kept exactly.

Values: a segment whose values are all exact decimals with at most
``MAX_DECIMALS`` digits (counters, percentages with one decimal, byte
counts) is stored as scaled integers, delta-coded and zigzagged; anything
else (full-precision floats, NaN, inf) as the XOR of consecutive IEEE
bit patterns. Both streams are byte-plane shuffled, then the whole block is
compressed with zstd. Decoding gives back the values bit for bit (``-0.0``
comes back as ``0.0``). The vectorised transforms live in ``transforms.py``;
this module is the block format around them.
"""

from __future__ import annotations

import itertools
import struct
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import zstandard

from edgewatch.store.transforms import (
    F64,
    FLOAT_MODE,
    I64,
    MAX_DECIMALS,
    POW10,
    abs_cost,
    choose_quanta,
    decimals_of,
    deltas_within,
    first_order,
    per_sample,
    reduce_segments,
    second_order,
    segment_starts,
    shuffle,
    undelta_within,
    unshuffle,
    unzigzag,
    zigzag,
)

MAGIC = 0xE1
# zstd level 1: the transformed streams compress as well at 1 as at 19 (measured on
# the store bench: within 0.5 %), and a level-1 context holds 0.6 MB, not 2.3.
LEVEL = 1
_HEADER = struct.Struct("<BII")  # magic, segments, samples


class CodecError(ValueError):
    """A blob that is not a valid block (corrupt or foreign)."""


class Block(NamedTuple):
    """Decoded block: ``ids[i]`` owns samples ``starts[i]:starts[i+1]``."""

    ids: I64
    starts: I64  # len(ids) + 1 offsets into ts/values
    ts: I64
    values: F64


class _Transformed(NamedTuple):
    ids: I64
    starts: I64
    quanta: I64
    decimals: I64
    mults: I64  # integer segments: the gcd that every delta was divided by
    orders: I64  # integer segments: 1 = deltas, 2 = deltas of deltas
    tick_words: npt.NDArray[np.uint64]
    value_words: npt.NDArray[np.uint64]


def _transform(seg_ids: I64, ts: I64, values: F64, tolerance: float) -> _Transformed:
    n = len(ts)
    starts = segment_starts(seg_ids)
    nseg = len(starts) - 1
    ids = seg_ids[starts[:-1]] if n else np.zeros(0, dtype=np.int64)
    quanta = choose_quanta(ts, starts, tolerance)
    q_per = per_sample(starts, quanta)
    ticks = (ts + q_per // 2) // q_per
    ddticks = second_order(deltas_within(ticks, starts), starts)

    decimals = decimals_of(values, starts)
    dec_per = per_sample(starts, decimals)
    is_int = dec_per != FLOAT_MODE
    words = np.empty(n, dtype=np.uint64)
    mults = np.ones(nseg, dtype=np.int64)
    orders = np.ones(nseg, dtype=np.int64)
    if is_int.any():
        all_int = bool(is_int.all())
        with np.errstate(over="ignore", invalid="ignore"):  # float segments: masked below
            rounded = np.round(values * POW10[np.maximum(dec_per, 0)])
        if not all_int:
            rounded[~is_int] = 0.0
        scaled = rounded.astype(np.int64)
        d1 = deltas_within(scaled, starts)
        # Byte counts in pages, sizes in KiB: divide deltas by their common factor.
        rest = np.abs(d1)
        rest[starts[:-1]] = 0
        mults = np.maximum(reduce_segments(np.gcd, rest, starts), 1)
        m_per = per_sample(starts, mults)
        first = starts[:-1]
        d1_raw_first = d1[first].copy()
        d1 //= m_per
        d1[first] = d1_raw_first
        # Counters at a steady rate: deltas of deltas are smaller.
        d2 = second_order(d1, starts)
        orders = np.where(abs_cost(d2, starts) * 3 < abs_cost(d1, starts) * 2, 2, 1)
        chosen = np.where(per_sample(starts, orders) == 2, d2, d1)
        if all_int:
            words = zigzag(chosen)
        else:
            words[is_int] = zigzag(chosen)[is_int]
    if (~is_int).any():
        bits = values.view(np.uint64)
        xor = bits.copy()
        xor[1:] ^= bits[:-1]
        xor[starts[:-1]] = bits[starts[:-1]]
        words[~is_int] = xor[~is_int]
    return _Transformed(ids, starts, quanta, decimals, mults, orders, zigzag(ddticks), words)


# Per-segment metadata, one packed record each.
_META = np.dtype(
    [
        ("id", "<i8"),
        ("count", "<u4"),
        ("quantum", "<i8"),
        ("decimals", "i1"),
        ("mult", "<i8"),  # integer segments: the gcd every delta was divided by
        ("order", "i1"),  # integer segments: 1 = deltas, 2 = deltas of deltas
    ]
)


def _meta(t: _Transformed) -> npt.NDArray[np.void]:
    meta = np.empty(len(t.ids), dtype=_META)
    meta["id"] = t.ids
    meta["count"] = np.diff(t.starts)
    meta["quantum"] = t.quanta
    meta["decimals"] = t.decimals
    meta["mult"] = t.mults
    meta["order"] = t.orders
    return meta


def _pack(t: _Transformed, meta: npt.NDArray[np.void], first: int, last: int, level: int) -> bytes:
    """Serialise segments first..last-1 of a transformed block."""
    a, b = int(t.starts[first]), int(t.starts[last])
    body = b"".join(
        (
            meta[first:last].tobytes(),
            shuffle(t.tick_words[a:b]),
            shuffle(t.value_words[a:b]),
        )
    )
    return _HEADER.pack(MAGIC, last - first, b - a) + _compressor(level).compress(body)


def encode_block(
    seg_ids: I64, ts: I64, values: F64, *, tolerance: float = 0.0, level: int = LEVEL
) -> bytes:
    """Encode samples sorted by (seg_id, ts) as one blob. ``seg_ids`` is per sample."""
    t = _transform(seg_ids, ts, values, tolerance)
    return _pack(t, _meta(t), 0, len(t.ids), level)


def encode_segments(
    seg_ids: I64,
    ts: I64,
    values: F64,
    *,
    tolerance: float = 0.0,
    level: int = LEVEL,
    group_of: Callable[[I64], I64] | None = None,
) -> tuple[list[tuple[int, bytes]], I64]:
    """Like encode_block, but one blob per segment: ``[(seg_id, blob), ...]``.

    With ``group_of`` (segment ids -> group ids, equal for neighbours), one blob
    per group of consecutive segments: ``[(group_id, blob), ...]``. Also
    returns each sample's decimals (FLOAT_MODE for float segments), which
    rollups reuse to keep their sums exact.
    """
    t = _transform(seg_ids, ts, values, tolerance)
    groups = t.ids if group_of is None else group_of(t.ids)
    bounds = segment_starts(groups)
    meta = _meta(t)
    blobs = [
        (int(groups[a]), _pack(t, meta, int(a), int(b), level))
        for a, b in itertools.pairwise(bounds.tolist())
    ]
    return blobs, per_sample(t.starts, t.decimals)


def decode_block(blob: bytes) -> Block:
    return decode_blocks([blob])


def _parts(
    blob: bytes,
) -> tuple[npt.NDArray[np.void], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    try:
        magic, nseg, n = _HEADER.unpack_from(blob)
    except struct.error as exc:
        raise CodecError("block too short") from exc
    if magic != MAGIC:
        raise CodecError(f"bad block magic {magic:#x}")
    try:
        body = memoryview(_decompressor().decompress(blob[_HEADER.size :]))
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt block: {exc}") from exc
    m = nseg * _META.itemsize
    if len(body) != m + n * 16:
        raise CodecError(f"block length {len(body)} != {m + n * 16}")
    meta = np.frombuffer(body, dtype=_META, count=nseg)
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


def decode_blocks(blobs: Sequence[bytes]) -> Block:
    """Decode several blobs into one Block whose segments follow in blob order.

    The per-sample work runs once over all of them, which is what makes reading
    a week of rollups (168 blobs) cheap.
    """
    parts = [_parts(blob) for blob in blobs]
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return Block(z, np.zeros(1, dtype=np.int64), z, np.zeros(0, dtype=np.float64))
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


# The one module-level object in the store, on purpose: zstd contexts are costly to
# build and not thread-safe, and every reader and writer thread encodes or decodes.
class _Zstd(threading.local):
    """zstd contexts are reusable but not thread-safe: one set per thread."""

    def __init__(self) -> None:
        self.compressors: dict[int, zstandard.ZstdCompressor] = {}
        self.decompressor = zstandard.ZstdDecompressor()


_ZSTD = _Zstd()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    comp = _ZSTD.compressors.get(level)
    if comp is None:
        comp = zstandard.ZstdCompressor(level=level, write_checksum=False)
        _ZSTD.compressors[level] = comp
    return comp


def _decompressor() -> zstandard.ZstdDecompressor:
    return _ZSTD.decompressor
