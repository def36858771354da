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
    EXACT_LIMIT,
    F64,
    I64,
    MAX_DECIMALS,
    POW10,
    first_order,
    per_sample,
    planes,
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
    the series' last chunk needed, FLOAT_MODE or UNKNOWN (only checked, never trusted).

    A commit is a few thousand samples, so the cost is the number of numpy calls, not
    their length: the steps below are fused where that saves calls (each is noted)."""
    n = len(ts)
    if n == 0:  # the header: magic, two widths, four zero varints
        return bytes((MAGIC_J, 0, 0, 0, 0, 0, 0))
    sid = np.asarray(sid)
    if int(sid.min()) >= 0 and int(sid.max()) < 1 << 16:
        order = np.argsort(sid.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(sid, kind="stable")
    s_sid, ts, values = sid[order], ts[order], values[order]
    # (np.diff with append= or prepend= costs ten plain subtractions of this size.)
    change = np.flatnonzero(s_sid[1:] != s_sid[:-1])
    starts = np.empty(len(change) + 2, dtype=np.int64)
    starts[0], starts[-1] = 0, n
    np.add(change, 1, out=starts[1:-1])
    first, counts = starts[:-1], starts[1:] - starts[:-1]
    nseg = len(first)
    ids = s_sid[first].astype(np.int64)
    base = int(ts.min())

    # Delta-of-delta within each series; a series' first timestamp raw (from base), its
    # second as a plain delta. Deltas taken across series boundaries are overwritten.
    d1 = np.empty_like(ts)
    d1[0] = 0
    np.subtract(ts[1:], ts[:-1], out=d1[1:])
    dd = np.empty_like(ts)
    dd[0] = 0
    np.subtract(d1[1:], d1[:-1], out=dd[1:])
    second = first[counts >= 2] + 1
    dd[second] = d1[second]
    dd[first] = ts[first] - base
    tick_words = zigzag(dd)

    known = ids < len(hints)
    dec = np.full(nseg, -1, dtype=np.int64)
    dec[known] = hints[ids[known]]
    dec[(dec > MAX_DECIMALS) | (dec < 0)] = -1
    words = values.view(np.uint64).copy()
    is_int = np.zeros(n, dtype=bool)
    if (dec >= 0).any():
        dec_per = np.repeat(dec, counts)
        is_int = dec_per >= 0
        scale = POW10[np.maximum(dec_per, 0)]
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = values * scale  # exact_at, keeping the rounded values for below
            rounded = np.round(scaled)
            ok = (np.abs(scaled) < EXACT_LIMIT) & (rounded / scale == values)
            ok |= ~is_int
            bad = np.minimum.reduceat(ok, first) == 0
            if bad.any():  # the hint no longer holds: float this time
                dec[bad] = -1
                is_int = np.repeat(dec, counts) >= 0
        rounded[~is_int] = 0.0
        ints = rounded.astype(np.int64)
        d = np.empty_like(ints)
        d[0] = 0
        np.subtract(ints[1:], ints[:-1], out=d[1:])
        d[first] = ints[first]
        np.copyto(words, zigzag(d), where=is_int)

    rec = np.empty((nseg, NREC), dtype=np.uint64)
    steps = ids.copy()
    steps[1:] -= ids[:-1]
    rec[:, 0] = zigzag(steps)
    rec[:, 1] = counts
    rec[:, 2] = (dec + 1).view(np.uint64)
    records = varint_encode(rec.reshape(-1))
    int_words, flt_words = words[is_int], words[~is_int]
    w_t = width_of(int(tick_words.max()))
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
