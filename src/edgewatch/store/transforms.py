"""Vectorised transforms the block codec is made of, each over many segments at once.

A segment is a run of samples of one series; ``starts`` holds the offset of
each segment's first sample plus the total, so ``starts[i]:starts[i+1]`` is
segment ``i``. Every function here works on all segments in one pass of numpy
operations, which keeps the cost per sample flat however many series a block has.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
G = TypeVar("G", bound=np.generic)

MAX_DECIMALS = 6
FLOAT_MODE = -1
QUANTA = np.array(
    [60_000, 30_000, 15_000, 10_000, 5_000, 1_000, 500, 250, 100, 50, 10, 5, 2, 1], dtype=np.int64
)
POW10 = 10.0 ** np.arange(MAX_DECIMALS + 1)
EXACT_LIMIT = float(2**53)  # integers up to this are exact in a float64
SAFE_SCALED = float(2**50)  # below this, exact at d decimals implies exact at more


def segment_starts(seg_ids: I64) -> I64:
    """Offsets where a new segment begins in an array sorted by segment id."""
    if len(seg_ids) == 0:
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(seg_ids[1:] != seg_ids[:-1]) + 1
    return np.concatenate(([0], change, [len(seg_ids)])).astype(np.int64)


def per_sample(starts: I64, per_segment: npt.NDArray[G]) -> npt.NDArray[G]:
    return np.repeat(per_segment, np.diff(starts))


def reduce_segments(ufunc: np.ufunc, arr: npt.NDArray[G], starts: I64) -> npt.NDArray[G]:
    out: npt.NDArray[G] = ufunc.reduceat(arr, starts[:-1])
    return out


def zigzag(x: I64) -> npt.NDArray[np.uint64]:
    out = np.left_shift(x, 1)
    out ^= x >> 63
    return out.view(np.uint64)


def unzigzag(z: npt.NDArray[np.uint64]) -> I64:
    return ((z >> np.uint64(1)).view(np.int64)) ^ -((z & np.uint64(1)).view(np.int64))


def shuffle(words: npt.NDArray[np.uint64]) -> bytes:
    """Byte planes, least significant first: zstd then sees runs of zeros."""
    return np.ascontiguousarray(words.view(np.uint8).reshape(-1, 8).T).tobytes()


def unshuffle(raw: bytes | memoryview, n: int) -> npt.NDArray[np.uint64]:
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(8, n)
    return np.ascontiguousarray(planes.T).view(np.uint64).reshape(n)


def deltas_within(x: I64, starts: I64) -> I64:
    """x[i] - x[i-1] inside each segment; the first element of a segment is kept raw."""
    d = np.empty_like(x)
    if len(x):
        d[0] = x[0]
        np.subtract(x[1:], x[:-1], out=d[1:])
        d[starts[:-1]] = x[starts[:-1]]
    return d


def undelta_within(d: I64, starts: I64) -> I64:
    x = np.cumsum(d)
    if len(d):
        # Undo the carry-over from earlier segments.
        seg_base = x[starts[:-1]] - d[starts[:-1]]
        x -= per_sample(starts, seg_base)
    return x


def choose_quanta(ts: I64, starts: I64, tolerance: float) -> I64:
    """Per segment: the coarsest timestamp quantum within tolerance (1 = exact)."""
    return snap(ts, starts, tolerance)[0]


def snap(ts: I64, starts: I64, tolerance: float) -> tuple[I64, I64]:
    """Per segment the coarsest timestamp quantum within tolerance (1 = exact), and per
    sample its tick (the timestamp snapped, in quanta).

    A quantum qualifies when snapping moves no timestamp by more than
    ``tolerance`` of the segment's smallest gap and keeps every timestamp
    distinct. Each segment starts from the largest quantum its gaps allow and
    steps down only if that one fails, so a regular series costs one pass.
    """
    nseg = len(starts) - 1
    q = np.ones(nseg, dtype=np.int64)
    if tolerance <= 0 or len(ts) == 0:
        return q, ts.copy()
    ticks = ts
    big = np.iinfo(np.int64).max
    gaps = np.empty_like(ts)
    np.subtract(ts[1:], ts[:-1], out=gaps[1:])
    gaps[starts[:-1]] = big  # segment starts have no gap
    min_gap = reduce_segments(np.minimum, gaps, starts)
    allowed = np.where(min_gap == big, 0, min_gap * tolerance)
    ascending = QUANTA[::-1]
    # Index into QUANTA (descending) of the largest quantum <= min_gap * (1 + 2 tol).
    limit = np.where(min_gap == big, 0, min_gap * (1 + 2 * tolerance))
    pick = len(QUANTA) - np.searchsorted(ascending, limit, side="right")
    pending = pick < len(QUANTA) - 1
    counts = np.diff(starts)
    for _ in range(len(QUANTA)):
        if not pending.any():
            break
        quantum = QUANTA[np.minimum(pick, len(QUANTA) - 1)]
        if (quantum == quantum[0]).all():  # one divisor: numpy divides by a scalar fast
            qs: I64 | np.int64 = quantum[0]
            snapped = (ts + qs // 2) // qs
        else:
            qs = np.repeat(quantum, counts)
            snapped = (ts + qs // 2) // qs
        moved = snapped * qs
        np.subtract(ts, moved, out=moved)
        worst = reduce_segments(np.maximum, np.abs(moved, out=moved), starts)
        step = np.empty_like(snapped)
        np.subtract(snapped[1:], snapped[:-1], out=step[1:])
        step[starts[:-1]] = 1
        distinct = reduce_segments(np.minimum, step, starts) > 0
        ok = pending & (worst <= allowed) & distinct
        q[ok] = quantum[ok]
        if ok.all():
            ticks = snapped
        elif ok.any():
            if ticks is ts:  # copied only when some segments keep their timestamps
                ticks = ts.copy()
            took = np.repeat(ok, counts)
            ticks[took] = snapped[took]
        pending &= ~ok
        pick[pending] += 1
        pending &= pick < len(QUANTA) - 1
    return q, ts.copy() if ticks is ts else ticks


def decimals_of(values: F64, starts: I64) -> I64:
    """Per segment: fewest decimals representing every value exactly, or FLOAT_MODE.

    A segment's decimals are the most any of its values needs. A value exact at
    fewer decimals stays exact at more as long as it scales to under 2**50 (the
    rounding error stays under a quarter); segments with larger values are
    checked again at their scale (a large integer beside a fine decimal may no
    longer fit the 53 bits a float64 holds exactly).
    """
    nseg = len(starts) - 1
    if len(values) == 0:
        return np.zeros(nseg, dtype=np.int64)
    # -0.0 is stored as 0.0: equal in every comparison a query makes.
    with np.errstate(over="ignore", invalid="ignore"):
        # Most values are integers: the first round takes them all without a gather.
        # NaN and inf are never exact: they end as MAX_DECIMALS + 1, a float segment.
        ok = exact_int(values)
        per = np.where(ok, 0, MAX_DECIMALS + 1)
        idx = np.flatnonzero(~ok)
        vals = values[idx]
        for d in range(1, MAX_DECIMALS + 1):
            if len(idx) == 0:
                break
            ok = exact_at(vals, POW10[d])
            per[idx[ok]] = d
            idx, vals = idx[~ok], vals[~ok]  # only the unresolved go round again
        seg = reduce_segments(np.maximum, per, starts)
        fewest = reduce_segments(np.minimum, per, starts)
        seg = np.where((seg > MAX_DECIMALS) | (fewest == FLOAT_MODE), FLOAT_MODE, seg)
        mixed = fewest != seg  # some value needed fewer decimals
        big = reduce_segments(np.fmax, np.abs(values), starts) * POW10[np.maximum(seg, 0)]
        recheck = np.flatnonzero(mixed & (seg != FLOAT_MODE) & (big >= SAFE_SCALED))
        if len(recheck):
            scale = POW10[per_sample(starts, seg)]
            fits = exact_at(values, scale)
            bad = reduce_segments(np.minimum, fits.astype(np.int8), starts) == 0
            seg[recheck[bad[recheck]]] = FLOAT_MODE
    return seg


def exact_at(values: F64, scale: npt.NDArray[np.floating[Any]] | float) -> npt.NDArray[np.bool_]:
    scaled = values * scale
    exact: npt.NDArray[np.bool_] = (np.abs(scaled) < EXACT_LIMIT) & (
        np.round(scaled) / scale == values
    )
    return exact


def exact_int(values: F64) -> npt.NDArray[np.bool_]:
    """``exact_at(values, 1.0)`` without the multiply and divide by one (the same result:
    both are exact)."""
    exact: npt.NDArray[np.bool_] = (np.abs(values) < EXACT_LIMIT) & (np.round(values) == values)
    return exact


def second_order(d1: I64, starts: I64) -> I64:
    """Deltas of first-order deltas; a segment's first value stays raw, its second plain."""
    dd = deltas_within(d1, starts)
    if len(d1):
        second = starts[:-1] + 1
        second = second[second < starts[1:]]
        dd[second] = d1[second]
    return dd


def first_order(dd: I64, starts: I64) -> I64:
    """Inverse of second_order."""
    if len(dd):
        second = starts[:-1] + 1
        has = second < starts[1:]
        dd = dd.copy()
        dd[second[has]] -= dd[starts[:-1][has]]
    return undelta_within(dd, starts)


def abs_cost(x: I64, starts: I64) -> I64:
    """Per segment: the largest |x| leaving out each segment's first (raw) value."""
    cost = np.abs(x)
    cost[starts[:-1]] = 0
    return reduce_segments(np.maximum, cost, starts)


U64 = npt.NDArray[np.uint64]
SEVEN = np.uint64(7)


def varint_sizes(v: U64) -> I64:
    """Bytes the LEB128 of each value takes."""
    nb = np.ones(len(v), dtype=np.int64)
    x = v >> SEVEN
    while x.any():
        nb += x != 0
        x >>= SEVEN
    return nb


def varint_encode(v: U64, nb: I64 | None = None) -> bytes:
    """LEB128 of each value, all at once: 7 bits a byte, the high bit says 'more'.
    ``nb``: their sizes, if already known (``varint_sizes``)."""
    if len(v) == 0:
        return b""
    if nb is None:
        if int(v.max()) < 0x80:  # ids, counts, flags of a record: nearly always one byte each
            return v.astype(np.uint8).tobytes()
        nb = varint_sizes(v)
    ends = np.cumsum(nb)
    if int(ends[-1]) == len(v):  # one byte each
        return v.astype(np.uint8).tobytes()
    k = np.arange(int(ends[-1]), dtype=np.uint64) - np.repeat(ends - nb, nb).astype(np.uint64)
    more = k < np.repeat(nb - 1, nb).astype(np.uint64)
    out = ((np.repeat(v, nb) >> (k * np.uint64(7))) & np.uint64(0x7F)) | (
        more.astype(np.uint64) << np.uint64(7)
    )
    return out.astype(np.uint8).tobytes()


def varint_decode(raw: npt.NDArray[np.uint8], count: int) -> U64 | None:
    """Exactly ``count`` LEB128 values filling ``raw``; None if it does not hold that."""
    if count == 0:
        return np.zeros(0, dtype=np.uint64) if len(raw) == 0 else None
    ends = np.flatnonzero(raw < 0x80)
    if len(ends) != count or ends[-1] != len(raw) - 1:
        return None
    starts = np.empty(count, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if int(lengths.max()) > 10:
        return None
    shift = (np.arange(len(raw), dtype=np.int64) - np.repeat(starts, lengths)) * 7
    parts = (raw & 0x7F).astype(np.uint64) << shift.astype(np.uint64)
    out: U64 = np.add.reduceat(parts, starts)
    return out


def width_of(max_word: int) -> int:
    """Bytes needed for an unsigned word up to ``max_word`` (0 for zero)."""
    return (max_word.bit_length() + 7) // 8


def planes(words: U64, lo: int, hi: int) -> bytes:
    """Byte planes ``lo`` to ``hi - 1`` of the words, least significant first."""
    if hi <= lo or len(words) == 0:
        return b""
    as_bytes = words.view(np.uint8).reshape(-1, 8)[:, lo:hi]
    return np.ascontiguousarray(as_bytes.T).tobytes()


def unplanes(raw: bytes | memoryview, n: int, lo: int, hi: int, out: npt.NDArray[np.uint8]) -> None:
    """Inverse of ``planes``: write them into ``out`` (n x 8 bytes, zeroed)."""
    if hi > lo and n:
        out[:, lo:hi] = np.frombuffer(raw, dtype=np.uint8).reshape(hi - lo, n).T
