"""Packs: several series' chunks of one bucket in one row.

A row of its own per series and bucket costs SQLite about 13 bytes of cell and
record header, the blob about 8 of its own, and, worse, leaves the end of each
4 KiB leaf page unused whenever the next row does not fit in what is left: on
the store bench 0.06 bytes a sample, 6 % of the file. A pack holds the chunks of
consecutive series (by id) until its estimated size reaches ``PACK_BYTES`` or
it holds ``PACK_SEGMENTS`` series. A pack that large spills into overflow pages,
which SQLite fills to the last few bytes, and the few hundred rows a day of
packs leave little to waste. zstd also sees the planes of several series in one
frame, so one Huffman table serves them all.

A pack's row key is its first series' ``(bucket << 20) | id``; the series of a
pack are those from its key up to the next row's key. A reader looks for the
last row at or before ``(bucket << 20) | id``: a file written one series per
row (schema 3 and before) reads the same way.

Measured on the store bench's chunks re-packed (6 hours, 500 series): one row
per series 1.046 bytes a sample (file pages of the chunks table), packs of up
to 16 KB and 8 series 1.002, 16 KB and 32 series 0.971. Reading one series
decodes its whole pack, so ``PACK_SEGMENTS`` bounds what a read of one series
costs: 8 series of 600 samples a bucket.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

PACK_BYTES = 16_000
PACK_SEGMENTS = 8


def assign(partition: I64, est_bytes: I64, target: int, max_segments: int) -> I64:
    """Per segment, the index of the first segment of its pack.

    Segments come in row-key order; a pack never crosses a change of ``partition``
    (a bucket) and closes once it holds ``target`` estimated bytes or
    ``max_segments`` segments."""
    n = len(partition)
    first = np.empty(n, dtype=np.int64)
    start, acc = 0, 0
    part = partition.tolist()
    est = est_bytes.tolist()
    for i in range(n):
        if i and (part[i] != part[i - 1] or acc >= target or i - start >= max_segments):
            start, acc = i, 0
        first[i] = start
        acc += est[i]
    return first


def estimate(
    counts: I64, is_int: npt.NDArray[np.bool_], low_k: I64, wide: npt.NDArray[np.bool_]
) -> I64:
    """A segment's encoded bytes, roughly: enough to place pack boundaries.

    ``low_k``: the low bits the codec packs apart (lowbits.choose), about three bits
    fewer than the words hold; ``wide``: per segment, whether any word is non-zero."""
    record = 16
    int_bits = np.where(wide, low_k + 3, 0)
    est = np.where(is_int, counts * int_bits // 8, counts * 7) + record
    out: I64 = est.astype(np.int64)
    return out
