"""Rollups: min, max, sum, count and last of each series per fixed time bucket.

Computed vectorised over a block sorted by (series, timestamp). Rows of a
rollup tier are encoded with the block codec as five segments (one per
field) sharing the bucket timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from edgewatch.store.codec import decode_blocks, encode_segments
from edgewatch.store.schema import ID_BITS, rollup_base
from edgewatch.store.transforms import F64, FLOAT_MODE, I64, decimals_of

FIELDS = ("min", "max", "sum", "count", "last")  # "count" is the field n


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


def encode_rows(r: Rollup, window: int) -> list[tuple[int, bytes]]:
    """One blob per (window, series): ``[(row_id, blob), ...]`` sorted by row id.

    Each blob is a block of five segments (min, max, sum, count, last) over
    the bucket timestamps; all rows are transformed in one vectorised pass.
    """
    row = (r.ts // window << ID_BITS) | r.sid
    nf = len(FIELDS)
    seg = (np.repeat(row, nf) * 8 + np.tile(np.arange(nf), r.size)).astype(np.int64)
    ts = np.repeat(r.ts, nf)
    vals = np.column_stack([r.min, r.max, r.sum, r.n, r.last]).reshape(-1)
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
    nseg = len(block.ids)
    field = np.repeat(np.arange(nseg) % len(FIELDS), np.diff(block.starts))
    cols = [block.values[field == i] for i in range(len(FIELDS))]
    ts = block.ts[field == 0]
    return Rollup(np.full(len(ts), sid, dtype=np.int64), ts, *cols)
