"""Block format 2, the numbers: samples into per-segment records and words.

``transform`` turns samples sorted by (segment, timestamp) into what the blob
layout (codec.py) packs: per segment its record (count, quantum, first tick,
step, decimals, order, divisor, offset, first value) and per sample its tick
word (delta-of-delta after snapping) and value word (a zigzagged scaled-integer
residual, or the IEEE bits of a float). codec.py says why each step is there.
Work goes in batches of whole segments (``TRANSFORM_BATCH`` samples), so the
temporaries stay small: they are what a compaction would otherwise fault in
again each time.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from edgewatch.store.layout import (
    COUNT,
    DEC,
    FIRST,
    ID,
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
    reduce_segments,
    segment_starts,
    snap,
    zigzag,
)


class Transformed(NamedTuple):
    """What ``transform`` gives: per segment its record, per sample its words."""

    starts: I64
    meta: npt.NDArray[np.int64]  # nseg x NFIELDS, ID and T0 not yet relative
    quanta: I64
    tick_words: U64
    words: U64
    is_int: npt.NDArray[np.bool_]  # per sample
    dec_per: I64
    snapped: I64  # the timestamps as they decode


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


def transform(seg_ids: I64, ts: I64, values: F64, tolerance: float) -> Transformed:
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
    out = Transformed(
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
) -> Transformed:
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
    return Transformed(starts, meta, quanta, tick_words, words, is_int, dec_per, snapped)
