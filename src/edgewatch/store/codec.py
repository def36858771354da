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
from edgewatch.store.codec_transform import Transformed, transform
from edgewatch.store.codec_v1 import MAGIC_V1, decode_v1
from edgewatch.store.journal import MAGIC_J
from edgewatch.store.layout import (
    DEC,
    F_BASED,
    F_DENSE,
    F_LOW,
    F_SPLIT,
    FLOAT_LOW,
    ID,
    MAGIC,
    NFIELDS,
    T0,
)
from edgewatch.store.transforms import (
    F64,
    I64,
    U64,
    per_sample,
    planes,
    reduce_segments,
    segment_starts,
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


class Segments(NamedTuple):
    """What ``encode_segments`` gives: the blobs, and per sample its decimals (FLOAT_MODE
    for float segments) and its timestamp as stored (snapped to its quantum)."""

    blobs: list[tuple[int, bytes]]
    decimals: I64
    ts: I64


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


def _int_counts(t: Transformed) -> I64:
    """Per segment: how many of ``t.words`` are integer words (0 for float segments)."""
    out: I64 = np.diff(t.starts) * (t.meta[:, DEC] > 0)
    return out


def _low_k(t: Transformed, int_words: U64) -> I64:
    """Per segment: the low bits of its integer words (``t.words[t.is_int]``) to pack
    apart (lowbits.py)."""
    return lowbits.choose(int_words, np.concatenate(([0], np.cumsum(_int_counts(t)))))


def _packs(t: Transformed, partition: I64, low_k: I64, pack: tuple[int, int]) -> I64:
    """Per segment, the index of the first segment of its pack (packing.py)."""
    wide = reduce_segments(np.maximum, np.where(t.is_int, t.words, np.uint64(0)), t.starts) > 0
    est = packing.estimate(np.diff(t.starts), t.meta[:, DEC] > 0, low_k, wide)
    return packing.assign(partition, est, *pack)


def _pack_groups(
    t: Transformed,
    groups: I64,
    id_base: I64 | None,
    ms_base: I64 | None,
    level: int,
    low_k: I64,
    int_words: U64,
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
    t = transform(seg_ids, ts, values, tolerance)
    groups = np.zeros(len(t.starts) - 1, dtype=np.int64)
    if len(groups) == 0:
        return bytes((MAGIC, 0)) + _uvarint(0) * 4 + _uvarint(0)
    int_words = t.words[t.is_int]
    return _pack_groups(t, groups, None, None, level, _low_k(t, int_words), int_words)[0]


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
    t = transform(seg_ids, ts, values, tolerance)
    first = t.starts[:-1]
    seg = seg_ids[first] if len(ts) else np.zeros(0, dtype=np.int64)
    groups = seg if group_of is None else group_of(seg)
    int_words = t.words[t.is_int]  # once: the blob packing wants them too
    low_k = _low_k(t, int_words)
    if pack is not None and len(seg):
        groups = seg[_packs(t, groups, low_k, pack)]
    bounds = _group_bounds(groups)
    group_ids = groups[bounds[:-1]]
    id_base = ms_base = None
    if base_of is not None:
        id_base, ms_base = base_of(group_ids)
    blobs = _pack_groups(t, groups, id_base, ms_base, level, low_k, int_words) if len(seg) else []
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
