"""The format-1 block encoder as schema-1 edgewatch wrote it (the store only decodes
format 1 now): the tests write v1 blobs with it to check that old files stay readable."""

from __future__ import annotations

import struct
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import zstandard

from edgewatch.store.codec_v1 import MAGIC_V1, META_V1
from edgewatch.store.transforms import (
    F64,
    FLOAT_MODE,
    I64,
    POW10,
    abs_cost,
    choose_quanta,
    decimals_of,
    deltas_within,
    per_sample,
    reduce_segments,
    second_order,
    segment_starts,
    shuffle,
    zigzag,
)


class _T(NamedTuple):
    ids: I64
    starts: I64
    quanta: I64
    decimals: I64
    mults: I64
    orders: I64
    tick_words: npt.NDArray[np.uint64]
    value_words: npt.NDArray[np.uint64]


def _transform(seg_ids: I64, ts: I64, values: F64, tolerance: float) -> _T:
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
        with np.errstate(over="ignore", invalid="ignore"):
            rounded = np.round(values * POW10[np.maximum(dec_per, 0)])
        rounded[~is_int] = 0.0
        scaled = rounded.astype(np.int64)
        d1 = deltas_within(scaled, starts)
        rest = np.abs(d1)
        rest[starts[:-1]] = 0
        mults = np.maximum(reduce_segments(np.gcd, rest, starts), 1)
        m_per = per_sample(starts, mults)
        first = starts[:-1]
        d1_raw_first = d1[first].copy()
        d1 //= m_per
        d1[first] = d1_raw_first
        d2 = second_order(d1, starts)
        orders = np.where(abs_cost(d2, starts) * 3 < abs_cost(d1, starts) * 2, 2, 1)
        chosen = np.where(per_sample(starts, orders) == 2, d2, d1)
        words[is_int] = zigzag(chosen)[is_int]
    if (~is_int).any():
        bits = values.view(np.uint64)
        xor = bits.copy()
        xor[1:] ^= bits[:-1]
        xor[starts[:-1]] = bits[starts[:-1]]
        words[~is_int] = xor[~is_int]
    return _T(ids, starts, quanta, decimals, mults, orders, zigzag(ddticks), words)


def encode_block_v1(seg_ids: I64, ts: I64, values: F64, *, tolerance: float = 0.0) -> bytes:
    t = _transform(seg_ids, ts, values, tolerance)
    meta = np.empty(len(t.ids), dtype=META_V1)
    meta["id"] = t.ids
    meta["count"] = np.diff(t.starts)
    meta["quantum"] = t.quanta
    meta["decimals"] = t.decimals
    meta["mult"] = t.mults
    meta["order"] = t.orders
    body = meta.tobytes() + shuffle(t.tick_words) + shuffle(t.value_words)
    comp = zstandard.ZstdCompressor(level=1, write_checksum=False)
    return struct.pack("<BII", MAGIC_V1, len(t.ids), len(ts)) + comp.compress(body)
