"""Block codec (format 2): many series segments of (timestamp, value) encoded in one go.

A *block* is a run of samples sorted by (segment, timestamp) and split into
segments; a chunk is a block of one segment, a head commit is a block of
every series that moved since the last commit, a rollup row a block of five
(min, max, sum, count, last). Encoding is vectorised over the whole block
with numpy so its cost per sample stays flat however many series there are.

A blob is a small header, one record of LEB128 varints per segment (id,
count, quantum, first tick, step, decimals, order, divisor, offset, first
value), the irregular ticks, and up to two zstd frames of byte planes:

- Timestamps: each segment picks the coarsest quantum Q (1 min … 1 ms) such
  that snapping every timestamp to a multiple of Q moves none of them by more
  than ``tolerance`` of the segment's interval. The first tick and the step
  are in the record; what is left is the delta-of-delta, zero for a regular
  series. Those few non-zero ones are stored as (gap, value) varints, or, when
  many are (jittered timestamps kept exactly), as byte planes.
- Values: a segment whose values are all exact decimals with at most
  ``MAX_DECIMALS`` digits (counters, percentages with one decimal, byte
  counts) is stored as scaled integers: deltas divided by their common factor,
  minus their mean (a counter's rate), or deltas of deltas when those are
  smaller; zigzagged. Anything else (full-precision floats, NaN, inf) is the
  IEEE bit pattern as it is; its low six bytes, mantissa noise as often as
  not, go to a frame of their own so that they do not spoil the entropy
  coding of everything else (zstd gives up on a frame of mostly noise and
  stores it raw; measured: 6.7 bytes a sample for noisy floats, against 7.1
  for the XOR of neighbours in one frame).
- Only the byte planes that hold a non-zero byte are stored: a constant,
  regular series is its record and nothing else.

Blobs of chunks and rollups are *based*: their ids and first ticks are stored
relative to what the row key says (``base`` when encoding and decoding), so
a chunk does not spell out its series and time twice. Decoding gives back the
values bit for bit (``-0.0`` comes back as ``0.0``). Format-1 blobs (schema 1
files) are still decoded (``codec_v1.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from edgewatch.store import journal, lowbits, packing
from edgewatch.store.blocks import Block, CodecError, concat_blocks, empty_block, select_segments
from edgewatch.store.codec_read import Keep, decode_v2
from edgewatch.store.codec_v1 import MAGIC_V1, decode_v1
from edgewatch.store.journal import MAGIC_J
from edgewatch.store.layout import (
    COUNT,
    DEC,
    F_BASED,
    F_DENSE,
    F_LOW,
    F_SPLIT,
    FIRST,
    FLOAT_LOW,
    ID,
    MAGIC,
    MULT,
    NFIELDS,
    OFFSET,
    ORDER,
    QIDX,
    STEP,
    T0,
)
from edgewatch.store.transforms import (
    F64,
    FLOAT_MODE,
    I64,
    POW10,
    QUANTA,
    U64,
    decimals_of,
    per_sample,
    planes,
    reduce_segments,
    segment_starts,
    snap,
    varint_encode,
    varint_sizes,
    width_of,
    zigzag,
)
from edgewatch.store.zstd_ctx import LEVEL, compressor, decompressor, decompressor_v1

__all__ = [
    "MAGIC",
    "Block",
    "CodecError",
    "Segments",
    "decode_block",
    "decode_blocks",
    "encode_block",
    "encode_journal",
    "encode_segments",
]

Bases = Callable[[I64], tuple[I64, I64]]  # group ids -> (id base, ms base) per group


class _Transformed(NamedTuple):
    starts: I64
    meta: npt.NDArray[np.int64]  # nseg x NFIELDS, ID and T0 not yet relative
    quanta: I64
    tick_words: U64
    words: U64
    is_int: npt.NDArray[np.bool_]  # per sample
    dec_per: I64
    snapped: I64  # the timestamps as they decode


class Segments(NamedTuple):
    """What ``encode_segments`` gives: the blobs, and per sample its decimals (FLOAT_MODE
    for float segments) and its timestamp as stored (snapped to its quantum)."""

    blobs: list[tuple[int, bytes]]
    decimals: I64
    ts: I64


def _at(arr: I64, idx: I64, ok: npt.NDArray[np.bool_], default: int = 0) -> I64:
    """arr[idx] where ok, else default (idx may run past the end where not ok)."""
    safe = np.where(ok, idx, 0)
    out: I64 = np.where(ok, arr[safe] if len(arr) else default, default)
    return out


TRANSFORM_BATCH = 1 << 15  # samples transformed at once (_transform)


def _diff0(x: I64) -> I64:
    """x[i] - x[i-1], and 0 first: deltas_within without its per-segment fix-up."""
    d = np.empty_like(x)
    d[:1] = 0
    np.subtract(x[1:], x[:-1], out=d[1:])
    return d


def _ticks(
    ts: I64, starts: I64, tolerance: float, meta: npt.NDArray[np.int64]
) -> tuple[I64, U64, I64]:
    first, counts = starts[:-1], np.diff(starts)
    quanta, ticks = snap(ts, starts, tolerance)
    # Deltas and deltas of deltas across the whole array in one call each: the values
    # at a segment's first and second sample, which mix two segments, are not used
    # (the step is read at the second sample) or are overwritten with 0.
    dt = _diff0(ticks)
    two = counts >= 2
    meta[:, QIDX] = np.searchsorted(-QUANTA, -quanta)
    meta[:, T0] = ticks[first]
    meta[:, STEP] = zigzag(_at(dt, first + 1, two)).view(np.int64)
    dd = _diff0(dt)
    dd[first] = 0
    dd[first[two] + 1] = 0
    if len(quanta) and (quanta == quanta[0]).all():
        return quanta, zigzag(dd), ticks * quanta[0]
    return quanta, zigzag(dd), ticks * per_sample(starts, quanta)


def _int_words(
    values: F64,
    starts: I64,
    dec_per: I64,
    is_int: npt.NDArray[np.bool_],
    meta: npt.NDArray[np.int64],
) -> U64:
    first, counts = starts[:-1], np.diff(starts)
    two, three = counts >= 2, counts >= 3
    with np.errstate(over="ignore", invalid="ignore"):  # float segments: masked below
        rounded = np.round(values * POW10[np.maximum(dec_per, 0)])
    rounded[~is_int] = 0.0
    s = rounded.astype(np.int64)
    meta[:, FIRST] = zigzag(s[first]).view(np.int64)
    d1 = _diff0(s)
    d1[first] = 0
    # Byte counts in pages, sizes in KiB: divide deltas by their common factor.
    mults = np.maximum(reduce_segments(np.gcd, np.abs(d1), starts), 1)
    if (mults != 1).any():
        d1 //= per_sample(starts, mults)
    meta[:, MULT] = mults
    # Ranges leaving out what the record holds: the first value (order 1), and the
    # first delta as well (order 2: deltas of deltas).
    t1 = d1.copy()
    t1[first] = _at(d1, first + 1, two)
    lo1, hi1 = reduce_segments(np.minimum, t1, starts), reduce_segments(np.maximum, t1, starts)
    dd = _diff0(d1)  # at first and second samples: overwritten just below
    neutral = _at(dd, first + 2, three)
    dd[first] = neutral
    dd[first[two] + 1] = neutral[two]
    range2 = reduce_segments(np.maximum, dd, starts) - reduce_segments(np.minimum, dd, starts)
    order2 = three & (range2 * 3 < (hi1 - lo1) * 2)
    # Order 1: minus the mean delta (a counter's rate). Order 2: the first delta.
    mean = reduce_segments(np.add, d1.astype(np.float64), starts) / np.maximum(counts - 1, 1)
    offset = np.clip(np.round(mean), lo1, hi1).astype(np.int64)
    offset = np.where(order2, _at(d1, first + 1, two), offset)
    meta[:, ORDER] = np.where(order2, 2, 1)
    meta[:, OFFSET] = zigzag(offset).view(np.int64)
    r = d1 - per_sample(starts, offset)
    if order2.any():
        np.copyto(r, dd, where=per_sample(starts, order2))
    r[first] = 0
    r[first[order2] + 1] = 0
    return zigzag(r)


def _transform(seg_ids: I64, ts: I64, values: F64, tolerance: float) -> _Transformed:
    """Timestamps and values of samples sorted by segment, ready to pack.

    A compaction's bucket of 500 series is 300k samples: transformed at once, its
    dozens of temporary arrays (2.4 MB each) leave the heap after each use and come
    back as fresh pages, and those page faults cost about as much as the work. So
    batches of whole segments (every step is per segment) are transformed one after
    the other into the full-size result, their temporaries reused from the heap and
    in the CPU cache."""
    starts = segment_starts(seg_ids)
    if len(ts) <= TRANSFORM_BATCH:
        return _transform_batch(seg_ids, ts, values, tolerance, starts)
    n, nseg = len(ts), len(starts) - 1
    cuts = np.unique(starts[np.searchsorted(starts, np.arange(0, n, TRANSFORM_BATCH))])
    out = _Transformed(
        starts,
        np.empty((nseg, NFIELDS), dtype=np.int64),
        np.empty(nseg, dtype=np.int64),
        np.empty(n, dtype=np.uint64),
        np.empty(n, dtype=np.uint64),
        np.empty(n, dtype=bool),
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64),
    )
    for a, b in itertools.pairwise([*cuts.tolist(), n]):
        sa, sb = np.searchsorted(starts, [a, b]).tolist()
        part = _transform_batch(
            seg_ids[a:b], ts[a:b], values[a:b], tolerance, starts[sa : sb + 1] - a
        )
        out.meta[sa:sb] = part.meta
        out.quanta[sa:sb] = part.quanta
        for whole, piece in zip(out[3:], part[3:], strict=True):
            whole[a:b] = piece
    return out


def _transform_batch(
    seg_ids: I64, ts: I64, values: F64, tolerance: float, starts: I64
) -> _Transformed:
    n = len(ts)
    nseg = len(starts) - 1
    meta = np.zeros((nseg, NFIELDS), dtype=np.int64)
    first = starts[:-1]
    meta[:, ID] = seg_ids[first] if n else 0
    meta[:, COUNT] = np.diff(starts)
    quanta, tick_words, snapped = _ticks(ts, starts, tolerance, meta)

    decimals = decimals_of(values, starts)
    dec_per = per_sample(starts, decimals)
    is_int = dec_per != FLOAT_MODE
    meta[:, DEC] = decimals + 1
    meta[:, MULT] = 1
    words = np.zeros(n, dtype=np.uint64)
    if is_int.any():
        words = _int_words(values, starts, dec_per, is_int, meta)
    if not is_int.all():
        flt = decimals == FLOAT_MODE
        meta[flt, FIRST] = 0
        meta[flt, ORDER] = 0
        meta[flt, MULT] = 1
        meta[flt, OFFSET] = 0
        words[~is_int] = values[~is_int].view(np.uint64)
    return _Transformed(starts, meta, quanta, tick_words, words, is_int, dec_per, snapped)


def _uvarint(x: int) -> bytes:
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def _zz(x: int) -> int:
    return (x << 1) ^ (x >> 63) if x >= -(1 << 63) else 0


def _group_bounds(groups: I64) -> I64:
    return segment_starts(groups)


def _int_counts(t: _Transformed) -> I64:
    """Per segment: how many of ``t.words`` are integer words (0 for float segments)."""
    out: I64 = np.diff(t.starts) * (t.meta[:, DEC] > 0)
    return out


def _low_k(t: _Transformed) -> I64:
    """Per segment: the low bits of its integer words to pack apart (lowbits.py)."""
    int_counts = _int_counts(t)
    return lowbits.choose(t.words[t.is_int], np.concatenate(([0], np.cumsum(int_counts))))


def _packs(t: _Transformed, partition: I64, low_k: I64, pack: tuple[int, int]) -> I64:
    """Per segment, the index of the first segment of its pack (packing.py)."""
    wide = reduce_segments(np.maximum, np.where(t.is_int, t.words, np.uint64(0)), t.starts) > 0
    est = packing.estimate(np.diff(t.starts), t.meta[:, DEC] > 0, low_k, wide)
    return packing.assign(partition, est, *pack)


def _pack_groups(
    t: _Transformed,
    groups: I64,
    id_base: I64 | None,
    ms_base: I64 | None,
    level: int,
    low_k: I64,
) -> list[bytes]:
    """One blob per run of equal ``groups`` (per segment)."""
    starts, meta = t.starts, t.meta.copy()
    nseg = len(starts) - 1
    gb = _group_bounds(groups)  # segment bounds of each group
    gfirst = gb[:-1]
    ngroups = len(gfirst)
    based = id_base is not None and ms_base is not None
    ids = meta[:, ID]
    prev = np.empty(nseg, dtype=np.int64)
    if nseg:
        prev[1:] = ids[:-1]
        prev[gfirst] = 0 if id_base is None else id_base
    meta[:, ID] = zigzag(ids - prev).view(np.int64)
    if based:
        base_ms = ms_base
    else:  # the group's first sample, in the header
        base_ms = meta[gfirst, T0] * t.quanta[gfirst] if nseg else np.zeros(0, dtype=np.int64)
    assert base_ms is not None
    meta[:, T0] = zigzag(meta[:, T0] - per_sample(gb, base_ms) // t.quanta).view(np.int64)
    flat = meta.reshape(-1).view(np.uint64)
    sizes = varint_sizes(flat)
    meta_bytes = varint_encode(flat, sizes)
    meta_off = np.zeros(nseg + 1, dtype=np.int64)
    np.cumsum(sizes.reshape(nseg, NFIELDS).sum(axis=1), out=meta_off[1:])

    # Sample bounds of the groups; irregular ticks as (gap, word) pairs per group,
    # except in groups with so many that they are stored as planes.
    sb = starts[gb]
    nz = np.flatnonzero(t.tick_words)
    nz_bounds = np.searchsorted(nz, sb)
    dense_group = np.diff(nz_bounds) * 8 > np.diff(sb)
    if dense_group.any() and len(nz):
        nz = nz[~np.repeat(dense_group, np.diff(nz_bounds))]
        nz_bounds = np.searchsorted(nz, sb)
    nz_group = np.searchsorted(sb, nz, side="right") - 1
    gap = nz - np.concatenate(([0], nz[:-1] + 1)) if len(nz) else nz
    if len(nz):
        lead = np.ones(len(nz), dtype=bool)
        lead[1:] = nz_group[1:] != nz_group[:-1]
        gap[lead] = nz[lead] - sb[nz_group[lead]]
    pairs = np.column_stack([gap.astype(np.uint64), t.tick_words[nz]]).reshape(-1)
    pair_sizes = varint_sizes(pairs)
    pair_bytes = varint_encode(pairs, pair_sizes)
    pair_off = np.zeros(len(nz) + 1, dtype=np.int64)
    np.cumsum(pair_sizes.reshape(-1, 2).sum(axis=1), out=pair_off[1:])

    int_words = t.words[t.is_int]
    flt_words = t.words[~t.is_int]
    int_bounds = np.concatenate(([0], np.cumsum(t.is_int)))[sb]
    flt_bounds = sb - int_bounds
    gmax_tick = _group_max(t.tick_words, sb)
    gmax_int = _group_max(np.where(t.is_int, t.words, np.uint64(0)), sb)
    int_counts = _int_counts(t)
    comp = compressor(level)
    out = []
    for g in range(ngroups):
        a, b = int(sb[g]), int(sb[g + 1])
        n = b - a
        s0, s1 = int(gb[g]), int(gb[g + 1])
        z0, z1 = int(nz_bounds[g]), int(nz_bounds[g + 1])
        i0, i1 = int(int_bounds[g]), int(int_bounds[g + 1])
        f0, f1 = int(flt_bounds[g]), int(flt_bounds[g + 1])
        dense = bool(dense_group[g])
        ks = low_k[s0:s1]
        high, low = int_words[i0:i1], b""
        split = bool(ks.any())
        if split:
            kw = lowbits.per_word(ks, int_counts[s0:s1])
            low, high = lowbits.pack(high, kw), high >> kw
            w_i = width_of(int(high.max()))
        else:
            w_i = width_of(int(gmax_int[g]))
        flags = (F_DENSE if dense else 0) | (F_BASED if based else 0) | (w_i << 4)
        flags |= F_LOW if split else 0
        body = []
        if dense:
            w_t = width_of(int(gmax_tick[g]))
            body.append(planes(t.tick_words[a:b], 0, w_t))
            ticks = b""
            tick_field = w_t
        else:
            ticks = pair_bytes[int(pair_off[z0]) : int(pair_off[z1])]
            tick_field = len(ticks)
        body.append(planes(high, 0, w_i))
        frames = []
        if f1 > f0:
            flags |= F_SPLIT
            body.append(planes(flt_words[f0:f1], FLOAT_LOW, 8))
        frame1 = b"".join(body)
        frames.append(comp.compress(frame1) if frame1 else b"")
        if f1 > f0:
            frames.append(comp.compress(planes(flt_words[f0:f1], 0, FLOAT_LOW)))
        meta_part = meta_bytes[int(meta_off[s0]) : int(meta_off[s1])]
        head = [bytes((MAGIC, flags)), _uvarint(s1 - s0), _uvarint(n), _uvarint(len(meta_part))]
        head.append(_uvarint(tick_field))
        if not based:
            head.append(_uvarint(_zz(int(base_ms[g]))))
        if len(frames) > 1:
            head.append(_uvarint(len(frames[0])))
        if split:
            head += [*(_uvarint(int(x)) for x in ks), _uvarint(len(low))]
        out.append(b"".join((*head, meta_part, ticks, low, *frames)))
    return out


def _group_max(words: U64, sb: I64) -> U64:
    if len(words) == 0 or len(sb) < 2:
        return np.zeros(max(len(sb) - 1, 0), dtype=np.uint64)
    out = np.zeros(len(sb) - 1, dtype=np.uint64)
    nonempty = sb[1:] > sb[:-1]
    out[nonempty] = np.maximum.reduceat(words, sb[:-1][nonempty])
    return out


def encode_block(
    seg_ids: I64, ts: I64, values: F64, *, tolerance: float = 0.0, level: int = LEVEL
) -> bytes:
    """Encode samples sorted by (seg_id, ts) as one blob. ``seg_ids`` is per sample."""
    t = _transform(seg_ids, ts, values, tolerance)
    groups = np.zeros(len(t.starts) - 1, dtype=np.int64)
    if len(groups) == 0:
        return bytes((MAGIC, 0)) + _uvarint(0) * 4 + _uvarint(0)
    return _pack_groups(t, groups, None, None, level, _low_k(t))[0]


def encode_segments(
    seg_ids: I64,
    ts: I64,
    values: F64,
    *,
    tolerance: float = 0.0,
    level: int = LEVEL,
    group_of: Callable[[I64], I64] | None = None,
    pack: tuple[int, int] | None = None,
    base_of: Bases | None = None,
) -> Segments:
    """Like encode_block, but one blob per segment: ``[(seg_id, blob), ...]``.

    With ``group_of`` (segment ids -> group ids, equal for neighbours), one blob
    per group of consecutive segments: ``[(group_id, blob), ...]``. With ``pack``
    (target bytes, most segments), the groups (or each segment's own id) are
    partitions cut into packs (packing.py), each a blob keyed by the id of its
    first segment: ``[(first seg_id, blob), ...]``. With
    ``base_of`` (group ids -> the id and the time in ms its row key stands for)
    the blobs are based: decode them with those bases. Also returns each
    sample's decimals (FLOAT_MODE for float segments), which rollups reuse to
    keep their sums exact, and its timestamp as stored, which rollups use so
    that they agree with the raw samples read back.
    """
    t = _transform(seg_ids, ts, values, tolerance)
    first = t.starts[:-1]
    seg = seg_ids[first] if len(ts) else np.zeros(0, dtype=np.int64)
    groups = seg if group_of is None else group_of(seg)
    low_k = _low_k(t)
    if pack is not None and len(seg):
        groups = seg[_packs(t, groups, low_k, pack)]
    bounds = _group_bounds(groups)
    group_ids = groups[bounds[:-1]]
    id_base = ms_base = None
    if base_of is not None:
        id_base, ms_base = base_of(group_ids)
    blobs = _pack_groups(t, groups, id_base, ms_base, level, low_k) if len(seg) else []
    pairs = [(int(g), blob) for g, blob in zip(group_ids.tolist(), blobs, strict=True)]
    return Segments(pairs, t.dec_per, t.snapped)


def decode_block(blob: bytes, base: tuple[int, int] | None = None) -> Block:
    return decode_blocks([blob], None if base is None else [base])


def decode_blocks(
    blobs: Sequence[bytes],
    bases: Sequence[tuple[int, int]] | None = None,
    keep: Keep | None = None,
) -> Block:
    """Decode several blobs into one Block whose segments follow in blob order.

    ``bases``: per blob, the (id, ms) its row key stands for (based blobs need
    it). ``keep``: segment ids -> which segments to decode (one series of a pack):
    the others cost little more than their decompression. Format-1 blobs and head
    journals are decoded too.
    """
    if not blobs:
        return empty_block()
    kinds = [b[0] if len(b) and b[0] in (MAGIC_V1, MAGIC_J) else MAGIC for b in blobs]
    if all(k == MAGIC for k in kinds):
        return decode_v2(blobs, bases, keep)
    parts = []
    for kind, run in itertools.groupby(range(len(blobs)), key=lambda i: kinds[i]):
        idx = list(run)
        sub = [blobs[i] for i in idx]
        if kind == MAGIC_V1:
            parts.append(decode_v1(sub, decompressor_v1()))
        elif kind == MAGIC_J:
            parts += [journal.decode(b, decompressor()) for b in sub]
        else:
            parts.append(decode_v2(sub, None if bases is None else [bases[i] for i in idx]))
    block = concat_blocks(parts)
    return block if keep is None else select_segments(block, np.asarray(keep(block.ids), bool))


def encode_journal(
    ts: I64, sid: npt.NDArray[np.integer], values: F64, hints: npt.NDArray[np.int8]
) -> bytes:
    """A head commit's samples, in any order, as a journal blob (``journal.py``)."""
    return journal.encode(ts, sid, values, hints, compressor(LEVEL))
