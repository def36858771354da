"""Rollups: min, max, sum, count and last of each series per fixed time bucket.

Computed vectorised over a block sorted by (series, timestamp). Rows of a
rollup tier are encoded with the block codec as five segments (one per
field) sharing the bucket timestamps. A segment's id is ``row * 8 + field``.

Rows whose values are exact decimals store min, max and sum relative to last
(fields 5-7: ``last - min``, ``max - last``, ``sum - count * last``), exactly,
in scaled integers: a constant's are all zero and cost a record each, a
counter's ``max - last`` is zero, a gauge's are its spread within the bucket
(measured on the store bench: rollup rows 8 % smaller, 0.010 bytes a raw
sample). Rows of floats keep fields 0-2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from edgewatch.store.blocks import Block, CodecError
from edgewatch.store.codec import decode_blocks, encode_segments
from edgewatch.store.schema import ID_BITS, rollup_base
from edgewatch.store.transforms import (
    F64,
    FLOAT_MODE,
    I64,
    POW10,
    SAFE_SCALED,
    decimals_of,
    per_sample,
    segment_starts,
)

FIELDS = ("min", "max", "sum", "count", "last")  # "count" is the field n
RELATIVE = 5  # field codes 5, 6, 7: min, max and sum relative to last (module docstring)


class Rollup(NamedTuple):
    sid: I64
    ts: I64  # bucket start
    min: F64
    max: F64
    sum: F64
    n: F64
    last: F64

    @property
    def size(self) -> int:
        return len(self.ts)

    def take(self, sel: npt.NDArray[np.bool_] | I64) -> Rollup:
        return Rollup(*(np.asarray(col)[sel] for col in self))  # type: ignore[arg-type]

    @classmethod
    def empty(cls) -> Rollup:
        f = np.zeros(0, dtype=np.float64)
        i = np.zeros(0, dtype=np.int64)
        return cls(i, i, f, f, f, f, f)

    @classmethod
    def concat(cls, parts: list[Rollup]) -> Rollup:
        parts = [p for p in parts if p.size]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))


def _groups(sid: I64, ts: I64, width: int) -> tuple[I64, I64]:
    bucket = ts // width * width
    if len(ts) == 0:
        return bucket, np.zeros(1, dtype=np.int64)
    change = (sid[1:] != sid[:-1]) | (bucket[1:] != bucket[:-1])
    starts = np.concatenate(([0], np.flatnonzero(change) + 1, [len(ts)])).astype(np.int64)
    return bucket, starts


def from_samples(sid: I64, ts: I64, values: F64, width: int, decimals: I64 | None = None) -> Rollup:
    """Rollups of raw samples sorted by (sid, ts); ``decimals`` per sample if known."""
    if len(ts) == 0:
        return Rollup.empty()
    bucket, starts = _groups(sid, ts, width)
    first = starts[:-1]
    sums = np.add.reduceat(values, first)
    # Sums of exact decimals are rounded back to those decimals, so they compress
    # like the raw values instead of as full-precision floats.
    if decimals is None:
        dec = decimals_of(values, starts)
    else:  # a group is exact at the coarsest decimals any of its samples needs
        dec = np.maximum.reduceat(decimals, first)
        dec[np.minimum.reduceat(decimals, first) == FLOAT_MODE] = FLOAT_MODE
    exact = dec != FLOAT_MODE
    sums[exact] = np.round(sums[exact] * 10.0 ** dec[exact]) / 10.0 ** dec[exact]
    return Rollup(
        sid[first],
        bucket[first],
        np.fmin.reduceat(values, first),
        np.fmax.reduceat(values, first),
        sums,
        np.diff(starts).astype(np.float64),
        values[starts[1:] - 1],
    )


def from_rollups(r: Rollup, width: int) -> Rollup:
    """Coarser rollups from finer ones sorted by (sid, ts)."""
    if r.size == 0:
        return r
    bucket, starts = _groups(r.sid, r.ts, width)
    first = starts[:-1]
    return Rollup(
        r.sid[first],
        bucket[first],
        np.fmin.reduceat(r.min, first),
        np.fmax.reduceat(r.max, first),
        np.add.reduceat(r.sum, first),
        np.add.reduceat(r.n, first),
        r.last[starts[1:] - 1],
    )


def _relative_scale(r: Rollup, row: I64) -> F64:
    """Per bucket: 10**decimals where its row is stored relative to last, else 0."""
    bounds = segment_starts(row)
    decs = [decimals_of(col, bounds) for col in (r.min, r.max, r.sum, r.last)]
    dec = np.max(decs, axis=0)
    exact = np.min(decs, axis=0) != FLOAT_MODE
    scale = np.where(exact, POW10[np.maximum(dec, 0)], 0.0)
    per = per_sample(bounds, scale)
    with np.errstate(invalid="ignore", over="ignore"):
        big = np.maximum(np.abs(r.last) * (r.n + 1), np.abs(r.sum)) * per
        fits = np.minimum.reduceat(big < SAFE_SCALED, bounds[:-1])  # count * last too
    return np.where(per_sample(bounds, fits), per, 0.0)


def encode_rows(r: Rollup, window: int) -> list[tuple[int, bytes]]:
    """One blob per (window, series): ``[(row_id, blob), ...]`` sorted by row id.

    Each blob is a block of five segments (min, max, sum, count, last) over
    the bucket timestamps, min, max and sum relative to last where the row's
    values are exact decimals; all rows are transformed in one vectorised pass.
    """
    row = (r.ts // window << ID_BITS) | r.sid
    nf = len(FIELDS)
    lo, hi, total = r.min, r.max, r.sum
    codes = np.tile(np.arange(nf), r.size)
    if r.size:
        scale = _relative_scale(r, row)
        rel = scale > 0
        s = np.where(rel, scale, 1.0)
        last = np.round(r.last * s)
        lo = np.where(rel, (last - np.round(r.min * s)) / s, r.min)
        hi = np.where(rel, (np.round(r.max * s) - last) / s, r.max)
        total = np.where(rel, (np.round(r.sum * s) - r.n * last) / s, r.sum)
        codes = codes.reshape(-1, nf)
        codes[rel, :3] += RELATIVE
        codes = codes.reshape(-1)
    seg = (np.repeat(row, nf) * 8 + codes).astype(np.int64)
    ts = np.repeat(r.ts, nf)
    vals = np.column_stack([lo, hi, total, r.n, r.last]).reshape(-1)
    order = np.lexsort((ts, seg))
    blobs, _, _ = encode_segments(
        seg[order],
        ts[order],
        vals[order],
        group_of=lambda ids: ids // 8,
        base_of=lambda rows: (rows * 8, (rows >> ID_BITS) * window),
    )
    return sorted(blobs)


def decode(rows: Sequence[tuple[int, bytes]], sid: int, window: int) -> Rollup:
    """Rollups of one series from its ``(row id, blob)`` rows, in row order."""
    block = decode_blocks([b for _, b in rows], [rollup_base(rid, window) for rid, _ in rows])
    code = per_sample(block.starts, block.ids % 8)
    vals = block.values
    last, n = vals[code == 4], vals[code == 3]
    ts = block.ts[code == 4]
    cols = []
    for field in range(3):
        plain, relative = code == field, code == field + RELATIVE
        col = vals[plain | relative]
        if len(col) != len(last) or len(n) != len(last):
            raise CodecError("corrupt rollup row: its fields hold other counts")
        if relative.any():
            col = _absolute(field, col, relative[plain | relative], last, n, block, code)
        cols.append(col)
    return Rollup(np.full(len(ts), sid, dtype=np.int64), ts, cols[0], cols[1], cols[2], n, last)


def _absolute(
    field: int, col: F64, rel: npt.NDArray[np.bool_], last: F64, n: F64, block: Block, code: I64
) -> F64:
    """Min, max or sum back from a relative field: exact at the decimals of last and of
    the stored difference, which hold every decimal the original had."""
    seg_dec = block.decimals  # what the codec stored them at: no need to find out again
    if seg_dec is None:
        seg_dec = decimals_of(block.values, block.starts)
    dec = per_sample(block.starts, seg_dec)
    d = np.maximum(dec[code == 4], dec[(code == field) | (code == field + RELATIVE)])
    if (d[rel] == FLOAT_MODE).any():
        raise CodecError("corrupt rollup row: a relative field is not an exact decimal")
    s = POW10[np.maximum(d, 0)]
    base = np.round(last * s)
    diff = np.round(col * s)
    if field == 0:
        back = (base - diff) / s
    elif field == 1:
        back = (base + diff) / s
    else:
        back = (diff + n * base) / s
    out: F64 = np.where(rel, back, col)
    return out
