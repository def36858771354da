"""Decoding block format 2 (``codec.py`` says what the format is).

Each blob's header is parsed in Python; everything per sample or per segment
runs once over all the blobs of a read, which is what makes reading a week of
rollups (168 blobs) cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import zstandard

from edgewatch.store import lowbits
from edgewatch.store.blocks import Block, CodecError, empty_block
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
    MAX_SAMPLES,
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
    I64,
    MAX_DECIMALS,
    POW10,
    QUANTA,
    U64,
    per_sample,
    undelta_within,
    unplanes,
    unzigzag,
    varint_decode,
)
from edgewatch.store.zstd_ctx import decompressor

Keep = Callable[[I64], npt.NDArray[np.bool_]]  # segment ids -> which segments to decode


class _Parsed(NamedTuple):
    flags: int
    nseg: int
    n: int
    meta: memoryview
    ticks: memoryview
    tick_field: int
    base_ms: int
    low_k: tuple[int, ...]  # per segment: low bits packed apart (F_LOW), else ()
    low: memoryview
    frames: tuple[memoryview, ...]


def _read_uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    x = shift = 0
    for _ in range(10):
        if pos >= len(buf):
            raise CodecError("block too short")
        byte = buf[pos]
        pos += 1
        x |= (byte & 0x7F) << shift
        if byte < 0x80:
            return x, pos
        shift += 7
    raise CodecError("corrupt block: varint too long")


def _parse(blob: bytes) -> _Parsed:
    buf = memoryview(blob)
    if len(buf) < 2:
        raise CodecError("block too short")
    if buf[0] != MAGIC:
        raise CodecError(f"bad block magic {buf[0]:#x}")
    flags = buf[1]
    if flags >> 4 > 8:
        raise CodecError("corrupt block: unknown flags")
    pos = 2
    nseg, pos = _read_uvarint(buf, pos)
    n, pos = _read_uvarint(buf, pos)
    meta_len, pos = _read_uvarint(buf, pos)
    tick_field, pos = _read_uvarint(buf, pos)
    base_ms = 0
    if not flags & F_BASED:
        zz, pos = _read_uvarint(buf, pos)
        base_ms = (zz >> 1) ^ -(zz & 1)
    f1_len = -1
    if flags & F_SPLIT:
        f1_len, pos = _read_uvarint(buf, pos)
    if n > MAX_SAMPLES or nseg > n or (n and not nseg):
        raise CodecError(f"corrupt block: {nseg} segments of {n} samples")
    low_k: tuple[int, ...] = ()
    low_len = 0
    if flags & F_LOW:
        if nseg > len(buf) - pos:
            raise CodecError("block too short")
        ks = []
        for _ in range(nseg):
            k, pos = _read_uvarint(buf, pos)
            ks.append(k)
        low_len, pos = _read_uvarint(buf, pos)
        if max(ks, default=0) > lowbits.MAX_BITS or not any(ks):
            raise CodecError("corrupt block: low bits out of range")
        low_k = tuple(ks)
    tick_len = 0 if flags & F_DENSE else tick_field
    if flags & F_DENSE and tick_field > 8:
        raise CodecError("corrupt block: tick planes out of range")
    end_meta = pos + meta_len
    end_ticks = end_meta + tick_len
    end_low = end_ticks + low_len
    if end_low > len(buf):
        raise CodecError("block too short")
    rest = buf[end_low:]
    if f1_len >= 0:
        if f1_len > len(rest):
            raise CodecError("block too short")
        frames: tuple[memoryview, ...] = (rest[:f1_len], rest[f1_len:])
    else:
        frames = (rest,)
    return _Parsed(
        flags,
        nseg,
        n,
        buf[pos:end_meta],
        buf[end_meta:end_ticks],
        tick_field,
        base_ms,
        low_k,
        buf[end_ticks:end_low],
        frames,
    )


def _varints(regions: list[memoryview], counts: list[int]) -> U64:
    """Decode LEB128 regions (one per blob) that must hold ``counts`` values each."""
    raw = np.frombuffer(b"".join(regions), dtype=np.uint8)
    total = sum(counts)
    out = varint_decode(raw, total)
    if out is None:
        raise CodecError("corrupt block: bad varints")
    # Each region must end on a value boundary and hold its own count.
    if len(regions) == 1:
        return out
    lens = np.array([len(r) for r in regions], dtype=np.int64)
    ends = np.cumsum(lens)
    term = (raw < 0x80).astype(np.int64)
    nonempty = lens > 0
    held = np.zeros(len(lens), dtype=np.int64)
    if nonempty.any():
        held[nonempty] = np.add.reduceat(term, (ends - lens)[nonempty])
        # A region must end on a value's last byte, or its last value runs into the next.
        if (raw[ends[nonempty] - 1] >= 0x80).any():
            raise CodecError("corrupt block: bad varints")
    if held.tolist() != list(counts):
        raise CodecError("corrupt block: bad varints")
    return out


def _unzz(x: U64) -> I64:
    return unzigzag(x)


def _check_meta(meta: npt.NDArray[np.uint64], parsed: list[_Parsed]) -> None:
    counts = meta[:, COUNT]
    dec, order, mult = meta[:, DEC], meta[:, ORDER], meta[:, MULT]
    is_int = dec > 0
    bad = (
        (counts < 1).any()
        or (meta[:, QIDX] >= len(QUANTA)).any()
        or (dec > MAX_DECIMALS + 1).any()
        or ((order != 1) & (order != 2) & is_int).any()
        or ((order != 0) & ~is_int).any()
        or (mult < 1).any()
        or (mult > np.uint64(1 << 62)).any()
    )
    if bad:
        raise CodecError("corrupt block: segment metadata out of range")
    nsegs = [p.nseg for p in parsed]
    bounds = np.concatenate(([0], np.cumsum(nsegs))).astype(np.int64)
    if counts.max(initial=0) > MAX_SAMPLES:
        raise CodecError("corrupt block: segment metadata out of range")
    per_blob = np.add.reduceat(counts.astype(np.int64), bounds[:-1]) if len(counts) else counts
    want = [p.n for p in parsed if p.nseg]
    if per_blob.tolist() != want:
        raise CodecError("corrupt block: segments hold other sample counts than the header")


def decode_v2(
    blobs: Sequence[bytes], bases: Sequence[tuple[int, int]] | None, keep: Keep | None = None
) -> Block:
    """Format-2 blobs into one Block whose segments follow in blob order; with ``keep``
    (segment ids -> which to keep), only those segments (a pack's one series)."""
    parsed = [_parse(b) for b in blobs]
    base_list = list(bases) if bases is not None else [(0, 0)] * len(blobs)
    if len(base_list) != len(blobs):
        raise ValueError("one base per blob")
    for p in parsed:
        if p.flags & F_BASED and bases is None:
            raise CodecError("based block decoded without its row key")
        if not p.nseg:
            _check_empty(p)
    nonempty = [i for i, p in enumerate(parsed) if p.nseg]
    if not nonempty:
        return empty_block()
    return _assemble([parsed[i] for i in nonempty], [base_list[i] for i in nonempty], keep)


def _check_empty(p: _Parsed) -> None:
    if len(p.meta) or len(p.ticks) or len(p.low) or any(len(f) for f in p.frames):
        raise CodecError("corrupt block: data after an empty block")


def _assemble(parsed: list[_Parsed], base_list: list[tuple[int, int]], keep: Keep | None) -> Block:
    nsegs = np.array([p.nseg for p in parsed], dtype=np.int64)
    ns = np.array([p.n for p in parsed], dtype=np.int64)
    meta = _varints([p.meta for p in parsed], [p.nseg * NFIELDS for p in parsed])
    meta = meta.reshape(-1, NFIELDS)
    _check_meta(meta, parsed)
    n = int(ns.sum())
    seg_bounds = np.concatenate(([0], np.cumsum(nsegs))).astype(np.int64)
    blob_sample0 = np.concatenate(([0], np.cumsum(ns))).astype(np.int64)
    counts = meta[:, COUNT].astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    first = starts[:-1]
    two = counts >= 2

    id_base = np.array(
        [b[0] if p.flags & F_BASED else 0 for p, b in zip(parsed, base_list, strict=True)],
        dtype=np.int64,
    )
    ms_base = np.array(
        [b[1] if p.flags & F_BASED else p.base_ms for p, b in zip(parsed, base_list, strict=True)],
        dtype=np.int64,
    )
    id_steps = _unzz(meta[:, ID])
    id_steps[seg_bounds[:-1]] += id_base
    ids = undelta_within(id_steps, seg_bounds)
    quanta = QUANTA[meta[:, QIDX].astype(np.int64)]
    t0 = per_sample(seg_bounds, ms_base) // quanta + _unzz(meta[:, T0])

    kept = None if keep is None else np.asarray(keep(ids), dtype=bool)
    if kept is not None and kept.all():
        kept = None
    dense = np.array([bool(p.flags & F_DENSE) for p in parsed])
    w_int = np.array([p.flags >> 4 for p in parsed], dtype=np.int64)
    is_int_seg = meta[:, DEC] > 0
    is_int = per_sample(starts, is_int_seg)
    ni_blob = np.add.reduceat(counts * is_int_seg, seg_bounds[:-1])
    nf_blob = ns - ni_blob
    tick_bytes = np.zeros((n, 8), dtype=np.uint8)
    if not dense.all():
        _sparse_ticks(parsed, dense, blob_sample0, n, tick_bytes)
    int_bytes = np.zeros((int(ni_blob.sum()), 8), dtype=np.uint8)
    flt_bytes = np.zeros((int(nf_blob.sum()), 8), dtype=np.uint8)
    io = fo = 0
    dctx = decompressor()
    for k, p in enumerate(parsed):
        ni, nf, nk = int(ni_blob[k]), int(nf_blob[k]), int(ns[k])
        w_t = p.tick_field if dense[k] else 0
        w_i = int(w_int[k])
        want1 = w_t * nk + w_i * ni + (8 - FLOAT_LOW) * nf
        body1 = _frame(p.frames[0], want1, dctx)
        if bool(nf) != (len(p.frames) == 2):
            raise CodecError("corrupt block: float frame missing or unexpected")
        a = int(blob_sample0[k])
        unplanes(body1[: w_t * nk], nk, 0, w_t, tick_bytes[a : a + nk])
        pos = w_t * nk
        unplanes(body1[pos : pos + w_i * ni], ni, 0, w_i, int_bytes[io : io + ni])
        if p.low_k:
            seg = slice(int(seg_bounds[k]), int(seg_bounds[k + 1]))
            want = None if kept is None else np.repeat(kept[seg], (counts * is_int_seg)[seg])
            _join_low(p, int_bytes[io : io + ni], counts[seg] * is_int_seg[seg], want)
        pos += w_i * ni
        if nf:
            unplanes(body1[pos:], nf, FLOAT_LOW, 8, flt_bytes[fo : fo + nf])
            body2 = _frame(p.frames[1], FLOAT_LOW * nf, dctx)
            unplanes(body2, nf, 0, FLOAT_LOW, flt_bytes[fo : fo + nf])
        io += ni
        fo += nf

    if kept is not None:  # only the kept segments from here on: the arithmetic is per sample
        mine = per_sample(starts, kept)
        tick_bytes, int_bytes = tick_bytes[mine], int_bytes[mine[is_int]]
        flt_bytes = flt_bytes[mine[~is_int]]
        meta, counts, ids, quanta, t0 = meta[kept], counts[kept], ids[kept], quanta[kept], t0[kept]
        is_int_seg = is_int_seg[kept]
        starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        first, two, n = starts[:-1], counts >= 2, int(starts[-1])
        is_int = per_sample(starts, is_int_seg)

    # Ticks: first tick and step from the record, the rest delta-of-delta.
    y = unzigzag(tick_bytes.view(np.uint64).reshape(n))
    y[first] = 0
    y[first[two] + 1] = _unzz(meta[two, STEP])
    d = undelta_within(y, starts)
    d[first] = t0
    ts = undelta_within(d, starts) * per_sample(starts, quanta)

    values = np.empty(n, dtype=np.float64)
    if len(int_bytes):
        sel = is_int_seg
        values[is_int] = _int_values(int_bytes.view(np.uint64).reshape(-1), meta[sel], counts[sel])
    if len(flt_bytes):
        if (meta[~is_int_seg, FIRST] != 0).any():
            raise CodecError("corrupt block: segment metadata out of range")
        values[~is_int] = flt_bytes.view(np.float64).reshape(-1)
    return Block(ids, starts, ts, values, meta[:, DEC].astype(np.int64) - 1)


def _join_low(
    p: _Parsed,
    int_bytes: npt.NDArray[np.uint8],
    int_counts: I64,
    want: npt.NDArray[np.bool_] | None,
) -> None:
    """Words = high part (already in ``int_bytes``) << k | the packed low bits, with
    ``k`` per segment (``int_counts``: each segment's integer words); with ``want``,
    only those words."""
    k = lowbits.per_word(np.array(p.low_k, dtype=np.int64), int_counts)
    if len(p.low) != lowbits.packed_size(k):
        raise CodecError("corrupt block: low bits hold another count than the segments")
    words = int_bytes.view(np.uint64).reshape(len(int_bytes))
    has = k > 0
    if ((words[has] >> (np.uint64(64) - k[has])) != 0).any():  # would shift out of 64 bits
        raise CodecError("corrupt block: low bits out of range")
    words <<= k
    words |= lowbits.unpack(p.low, k, want)


def _sparse_ticks(
    parsed: list[_Parsed],
    dense: npt.NDArray[np.bool_],
    blob_sample0: I64,
    n: int,
    tick_bytes: npt.NDArray[np.uint8],
) -> None:
    idx = np.array([i for i in np.flatnonzero(~dense) if len(parsed[i].ticks)], dtype=np.int64)
    if len(idx) == 0:
        return
    regions = [parsed[i].ticks for i in idx]
    terms = [int((np.frombuffer(r, dtype=np.uint8) < 0x80).sum()) for r in regions]
    if any(t % 2 or t == 0 for t in terms):
        raise CodecError("corrupt block: bad tick exceptions")
    pairs = _varints(regions, terms).reshape(-1, 2)
    npairs = np.array(terms, dtype=np.int64) // 2
    bounds = np.concatenate(([0], np.cumsum(npairs))).astype(np.int64)
    steps = pairs[:, 0].astype(np.int64) + 1
    if (pairs[:, 0] > np.uint64(MAX_SAMPLES)).any():
        raise CodecError("corrupt block: bad tick exceptions")
    # First gap counts from the blob's first sample, the others from the last exception.
    steps[bounds[:-1]] += blob_sample0[idx] - 1
    pos = undelta_within(steps, bounds)
    blob_of = np.repeat(idx, npairs)
    if (pos >= blob_sample0[blob_of + 1]).any() or (pos < 0).any():
        raise CodecError("corrupt block: bad tick exceptions")
    tick_bytes.view(np.uint64).reshape(n)[pos] = pairs[:, 1]


def _frame(frame: memoryview, want: int, dctx: zstandard.ZstdDecompressor) -> bytes:
    if want == 0:
        if len(frame):
            raise CodecError("corrupt block: unexpected data")
        return b""
    try:
        # No content size in the frame: a corrupt one cannot ask for a huge buffer.
        body = dctx.decompress(frame, max_output_size=want)
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt block: {exc}") from exc
    if len(body) != want:
        raise CodecError(f"block length {len(body)} != {want}")
    return body


def _int_values(words: U64, meta: npt.NDArray[np.uint64], counts: I64) -> F64:
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    first = starts[:-1]
    two = counts >= 2
    order2 = meta[:, ORDER] == 2
    offset = _unzz(meta[:, OFFSET])
    r = unzigzag(words)
    # Order 1: deltas are r + offset. Order 2: r holds deltas of deltas after the
    # first delta, which is the offset.
    o1 = ~per_sample(starts, order2)
    r[o1] += per_sample(starts, offset)[o1]
    r[first[order2 & two] + 1] = offset[order2 & two]
    r[first] = 0
    d1 = r.copy()
    if order2.any():
        d1[~o1] = undelta_within(r, starts)[~o1]
    mults = meta[:, MULT].astype(np.int64)
    if (mults != 1).any():
        d1 *= per_sample(starts, mults)
    d1[first] = _unzz(meta[:, FIRST])
    scaled = undelta_within(d1, starts)
    decimals = meta[:, DEC].astype(np.int64) - 1
    return scaled.astype(np.float64) / per_sample(starts, POW10[decimals])
