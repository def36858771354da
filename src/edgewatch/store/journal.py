"""The head's journal format: what one commit writes, made cheap to encode.

A head row lives until its bucket is compacted (minutes), so it is encoded in
about a third of the numpy calls the chunk format takes, while staying about
as small (a commit's pages are what the SD card receives every interval):

- samples grouped by series (a stable sort of the ids: each series keeps the
  order it was appended in, so replaying a journal gives the head back as it
  was, duplicates and all; compaction keeps the last of two);
- per series one record of varints: id step, count, decimals + 1 (0 = float);
- timestamps exact, as delta-of-delta from the commit's first timestamp;
- values: a series the store already knows to hold decimals (the ``hints``
  its chunks gave, checked again here) as scaled-integer deltas, anything
  else as its IEEE bit pattern;
- the byte planes that hold anything, in one zstd frame.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import zstandard

from edgewatch.store.blocks import Block, CodecError
from edgewatch.store.transforms import (
    F64,
    I64,
    MAX_DECIMALS,
    POW10,
    deltas_within,
    exact_at,
    first_order,
    per_sample,
    planes,
    second_order,
    segment_starts,
    undelta_within,
    unplanes,
    unzigzag,
    varint_decode,
    varint_encode,
    width_of,
    zigzag,
)

MAGIC_J = 0xE3
UNKNOWN = -2  # a hint for a series the chunks have not told about yet: float
NREC = 3


def _uvarint(x: int) -> bytes:
    out = bytearray()
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)
    return bytes(out)


def encode(
    ts: I64,
    sid: npt.NDArray[np.integer],
    values: F64,
    hints: npt.NDArray[np.int8],
    compressor: zstandard.ZstdCompressor,
) -> bytes:
    """One commit's samples (any order) as a journal blob. ``hints[sid]``: the decimals
    the series' last chunk needed, FLOAT_MODE or UNKNOWN (only checked, never trusted)."""
    n = len(ts)
    sid64: I64 = np.asarray(sid, dtype=np.int64)
    if n and int(sid64.min()) >= 0 and int(sid64.max()) < 1 << 16:
        order = np.argsort(sid64.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(sid64, kind="stable")
    sid64, ts, values = sid64[order], ts[order], values[order]
    starts = segment_starts(sid64)
    first = starts[:-1]
    nseg = len(first)
    ids = sid64[first] if n else sid64
    base = int(ts.min()) if n else 0

    tick_words = zigzag(second_order(deltas_within(ts - base, starts), starts))

    known = ids < len(hints)
    dec = np.full(nseg, -1, dtype=np.int64)
    dec[known] = hints[ids[known]]
    dec[(dec > MAX_DECIMALS) | (dec < 0)] = -1
    dec_per = per_sample(starts, dec)
    is_int = dec_per >= 0
    words = values.view(np.uint64).copy()
    if is_int.any():
        scale = POW10[np.maximum(dec_per, 0)]
        with np.errstate(over="ignore", invalid="ignore"):
            ok = exact_at(values, scale)
            bad = np.minimum.reduceat(ok | ~is_int, first) == 0
            if bad.any():  # the hint no longer holds: float this time
                dec[bad] = -1
                dec_per = per_sample(starts, dec)
                is_int = dec_per >= 0
            scaled = np.round(values * scale)
        scaled[~is_int] = 0.0
        words[is_int] = zigzag(deltas_within(scaled.astype(np.int64), starts))[is_int]

    steps = ids.copy()
    steps[1:] -= ids[:-1]
    rec = np.column_stack(
        (zigzag(steps), np.diff(starts).astype(np.uint64), (dec + 1).view(np.uint64))
    )
    records = varint_encode(rec.reshape(-1))
    int_words, flt_words = words[is_int], words[~is_int]
    w_t = width_of(int(tick_words.max())) if n else 0
    w_i = width_of(int(int_words.max())) if len(int_words) else 0
    body = b"".join(
        (planes(tick_words, 0, w_t), planes(int_words, 0, w_i), planes(flt_words, 0, 8))
    )
    zz_base = (base << 1) ^ (base >> 63)
    head = bytes((MAGIC_J, w_t, w_i)) + b"".join(
        _uvarint(x) for x in (n, nseg, zz_base & ((1 << 64) - 1), len(records))
    )
    return head + records + (compressor.compress(body) if body else b"")


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


def decode(blob: bytes, dctx: zstandard.ZstdDecompressor) -> Block:
    buf = memoryview(blob)
    if len(buf) < 3:
        raise CodecError("block too short")
    if buf[0] != MAGIC_J:
        raise CodecError(f"bad block magic {buf[0]:#x}")
    w_t, w_i = buf[1], buf[2]
    if w_t > 8 or w_i > 8:
        raise CodecError("corrupt block: planes out of range")
    pos = 3
    n, pos = _read_uvarint(buf, pos)
    nseg, pos = _read_uvarint(buf, pos)
    zz_base, pos = _read_uvarint(buf, pos)
    rec_len, pos = _read_uvarint(buf, pos)
    if n > 1 << 28 or nseg > n or (n and not nseg) or pos + rec_len > len(buf):
        raise CodecError("corrupt block: bad header")
    base = (zz_base >> 1) ^ -(zz_base & 1)
    rec = varint_decode(np.frombuffer(buf[pos : pos + rec_len], dtype=np.uint8), nseg * NREC)
    if rec is None:
        raise CodecError("corrupt block: bad records")
    rec = rec.reshape(nseg, NREC)
    counts, dec = rec[:, 1], rec[:, 2].astype(np.int64) - 1
    if (counts < 1).any() or (counts > np.uint64(n)).any() or int(counts.sum()) != n:
        raise CodecError("corrupt block: records hold other sample counts than the header")
    if (dec > MAX_DECIMALS).any():
        raise CodecError("corrupt block: decimals out of range")
    starts = np.concatenate(([0], np.cumsum(counts.astype(np.int64)))).astype(np.int64)
    dec_per = per_sample(starts, dec)
    is_int = dec_per >= 0
    ni = int(is_int.sum())
    want = w_t * n + w_i * ni + 8 * (n - ni)
    frame = buf[pos + rec_len :]
    body = b""
    if want:
        try:
            body = dctx.decompress(frame, max_output_size=want)
        except zstandard.ZstdError as exc:
            raise CodecError(f"corrupt block: {exc}") from exc
    elif len(frame):
        raise CodecError("corrupt block: unexpected data")
    if len(body) != want:
        raise CodecError(f"block length {len(body)} != {want}")
    tick_b = np.zeros((n, 8), dtype=np.uint8)
    int_b = np.zeros((ni, 8), dtype=np.uint8)
    flt_b = np.zeros((n - ni, 8), dtype=np.uint8)
    unplanes(body[: w_t * n], n, 0, w_t, tick_b)
    unplanes(body[w_t * n : w_t * n + w_i * ni], ni, 0, w_i, int_b)
    unplanes(body[w_t * n + w_i * ni :], n - ni, 0, 8, flt_b)

    dd = unzigzag(tick_b.view(np.uint64).reshape(n))
    ts = undelta_within(first_order(dd, starts), starts) + base

    values = np.empty(n, dtype=np.float64)
    values[~is_int] = flt_b.view(np.float64).reshape(-1)
    if ni:
        d1 = np.zeros(n, dtype=np.int64)
        d1[is_int] = unzigzag(int_b.view(np.uint64).reshape(-1))
        scaled = undelta_within(d1, starts)
        values[is_int] = (scaled.astype(np.float64) / POW10[np.maximum(dec_per, 0)])[is_int]
    ids = undelta_within(unzigzag(rec[:, 0]), np.array([0, nseg], dtype=np.int64))
    return Block(ids, starts, ts, values)
