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
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


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
    """Per segment: the coarsest timestamp quantum within tolerance (1 = exact).

    A quantum qualifies when snapping moves no timestamp by more than
    ``tolerance`` of the segment's smallest gap and keeps every timestamp
    distinct. Each segment starts from the largest quantum its gaps allow and
    steps down only if that one fails, so a regular series costs one pass.
    """
    nseg = len(starts) - 1
    q = np.ones(nseg, dtype=np.int64)
    if tolerance <= 0 or len(ts) == 0:
        return q
    big = np.iinfo(np.int64).max
    gaps = np.diff(ts, prepend=ts[:1])
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
        qs = np.repeat(quantum, counts)
        snapped = (ts + qs // 2) // qs
        worst = reduce_segments(np.maximum, np.abs(ts - snapped * qs), starts)
        step = np.diff(snapped, prepend=snapped[:1])
        step[starts[:-1]] = 1
        distinct = reduce_segments(np.minimum, step, starts) > 0
        ok = pending & (worst <= allowed) & distinct
        q[ok] = quantum[ok]
        pending &= ~ok
        pick[pending] += 1
        pending &= pick < len(QUANTA) - 1
    return q


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
    per = np.full(len(values), MAX_DECIMALS + 1, dtype=np.int64)
    # -0.0 is stored as 0.0: equal in every comparison a query makes.
    finite = np.isfinite(values)
    per[~finite] = FLOAT_MODE
    idx = np.flatnonzero(finite)
    vals = values[idx]
    with np.errstate(over="ignore", invalid="ignore"):
        for d in range(MAX_DECIMALS + 1):
            if len(idx) == 0:
                break
            ok = exact_at(vals, POW10[d])
            per[idx[ok]] = d
            idx, vals = idx[~ok], vals[~ok]  # only the unresolved go round again
        seg = reduce_segments(np.maximum, per, starts)
        has_float = reduce_segments(np.minimum, per, starts) == FLOAT_MODE
        seg = np.where((seg > MAX_DECIMALS) | has_float, FLOAT_MODE, seg).astype(np.int64)
        mixed = reduce_segments(np.minimum, per, starts) != seg  # some value needed fewer decimals
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
