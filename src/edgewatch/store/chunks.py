"""A compaction's chunk rows: the head's samples sorted by series, deduplicated, and
encoded as packs (packing.py), one bucket's series together."""

from __future__ import annotations

import numpy as np

from edgewatch.store import schema as sc
from edgewatch.store.codec import encode_segments
from edgewatch.store.packing import PACK_BYTES, PACK_SEGMENTS
from edgewatch.store.transforms import F64, I64


def chunk_bases(rids: I64) -> tuple[I64, I64]:
    return rids, (rids >> sc.ID_BITS) * sc.CHUNK_MS


def sorted_unique(ts: I64, sid: I64, val: F64) -> tuple[I64, I64, F64]:
    """Sort by (sid, ts); of samples with the same (sid, ts) keep the last given."""
    if len(ts) == 0:
        return ts, sid, val
    if int(sid.max()) < 1 << 16 and int(sid.min()) >= 0:
        # The head holds each series' samples in time order, nearly always: a stable
        # radix sort of the 16-bit ids is then the whole sort (~5x faster than below).
        order = np.argsort(sid.astype(np.uint16), kind="stable")
        s_ts, s_sid = ts[order], sid[order]
        same = s_sid[1:] == s_sid[:-1]
        later, earlier = s_ts[1:], s_ts[:-1]  # compared, not subtracted: no temporary
        if not (same & (later < earlier)).any():
            dup = same & (later == earlier)
            if dup.any():
                keep = np.ones(len(order), dtype=bool)
                keep[:-1] = ~dup
                order, s_ts, s_sid = order[keep], s_ts[keep], s_sid[keep]
            return s_ts, s_sid, val[order]
    lo = int(ts.min())
    if int(ts.max()) - lo < 1 << 43 and int(sid.max()) <= sc.MAX_SERIES:
        # One stable sort of a packed key is ~8x faster than lexsort.
        key = (sid << 43) | (ts - lo)
        order = np.argsort(key, kind="stable")
        key = key[order]
        same = key[1:] == key[:-1]
    else:
        order = np.lexsort((ts, sid))
        same = (sid[order][1:] == sid[order][:-1]) & (ts[order][1:] == ts[order][:-1])
    if same.any():
        keep = np.ones(len(order), dtype=bool)
        keep[:-1] = ~same
        order = order[keep]
    return ts[order], sid[order], val[order]


def encode_chunks(
    ts: I64, sid: I64, val: F64, tolerance: float
) -> tuple[list[tuple[int, bytes]], I64, I64]:
    """Chunk rows (packs) of samples sorted by (sid, ts); per sample its decimals and
    its timestamp as stored, in that order."""
    bucket_ids = (ts // sc.CHUNK_MS << sc.ID_BITS) | sid
    # A pack holds one bucket's series: the encoder wants them together. One bucket
    # (the usual compaction) is in that order already.
    order = None
    if len(bucket_ids) > 1 and (bucket_ids[1:] < bucket_ids[:-1]).any():
        order = np.argsort(bucket_ids, kind="stable")
        bucket_ids, ts, val = bucket_ids[order], ts[order], val[order]
    chunks, decimals, stored = encode_segments(
        bucket_ids,
        ts,
        val,
        tolerance=tolerance,
        group_of=lambda ids: ids >> sc.ID_BITS,  # packs never cross a bucket
        pack=(PACK_BYTES, PACK_SEGMENTS),
        base_of=chunk_bases,
    )
    if order is not None:  # back to (sid, ts) order
        back_dec, back_ts = np.empty_like(decimals), np.empty_like(stored)
        back_dec[order], back_ts[order] = decimals, stored
        decimals, stored = back_dec, back_ts
    return chunks, decimals, stored
