"""The low bits of noisy integer words, stored as packed bits outside zstd.

A noisy gauge's or a busy counter's residuals (zigzagged deltas minus the
rate) are spread evenly over their low bits: those bits are noise that no
entropy coder can shrink. Left in the byte planes they spoil zstd's Huffman
table for a 600-sample frame (the table costs more than it saves, so zstd
stores the plane raw: 8 bits a sample for 7.4 bits of information). Packed
apart, ``k`` bits a sample, they cost exactly ``k`` bits, and what is left
(``word >> k``, a handful of values) compresses well.

``k`` per blob is ``bit_length(mean word) - 3``: within 1 % of the best ``k``
found by trying every one, on the store bench's chunks (noisy gauges 1.03 ->
0.97 bytes a sample, busy counters 1.40 -> 1.17). Words that are mostly zero
(constants, slow counters, regular timestamps) get ``k = 0``: nothing changes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

MIN_WORDS = 32  # below this the two header varints cost more than the split saves
SLACK_BITS = 3  # k = bit_length(mean) - SLACK_BITS
MAX_BITS = 56


def choose(words: U64, bounds: I64) -> I64:
    """Bits to split off per group: ``words[bounds[g]:bounds[g + 1]]`` is group ``g``."""
    counts = np.diff(bounds)
    k = np.zeros(len(counts), dtype=np.int64)
    big = counts >= MIN_WORDS
    if not big.any() or len(words) == 0:
        return k
    # Sums in float64: exact enough for a bit length, and no uint64 overflow. The
    # starts of the non-empty groups are each other's ends (empty groups hold nothing).
    nonempty = counts > 0
    sums = np.add.reduceat(words.astype(np.float64), bounds[:-1][nonempty])
    means = sums[big[nonempty]] / counts[big]
    # bit_length(floor(mean)) == floor(log2(mean)) + 1 for mean >= 1.
    with np.errstate(divide="ignore"):
        bits = np.where(means >= 1.0, np.floor(np.log2(np.maximum(means, 1.0))) + 1, 0)
    k[big] = np.clip(bits.astype(np.int64) - SLACK_BITS, 0, MAX_BITS)
    return k


def per_group(words: U64, seg_counts: I64, group_bounds: I64) -> I64:
    """``k`` per group of segments: the smallest ``k`` of its segments that hold integer
    words (``seg_counts``: each segment's count of ``words``, 0 for float segments).

    A rollup row's five fields share one ``k``, and its ``count`` field (zeros) keeps
    that at 0: the fields' scales differ too much for one ``k`` to pay."""
    bounds = np.concatenate(([0], np.cumsum(seg_counts))).astype(np.int64)
    k = choose(words, bounds)
    k[seg_counts == 0] = MAX_BITS + 1  # no say in the group's k
    out: I64 = np.minimum.reduceat(k, group_bounds[:-1])
    out[out > MAX_BITS] = 0
    return out


def pack(words: U64, k: int) -> bytes:
    """The low ``k`` bits of each word, packed least significant bit first."""
    shifts = np.arange(k, dtype=np.uint64)
    bits = ((words[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.reshape(-1), bitorder="little").tobytes()


def packed_size(n: int, k: int) -> int:
    return (n * k + 7) // 8


def unpack(raw: bytes | memoryview, n: int, k: int) -> U64:
    """Inverse of ``pack``: ``n`` words of ``k`` bits (the caller checked the length)."""
    if n == 0 or k == 0:
        return np.zeros(n, dtype=np.uint64)
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=n * k, bitorder="little")
    weights = np.left_shift(np.uint64(1), np.arange(k, dtype=np.uint64))
    out: U64 = bits.reshape(n, k).astype(np.uint64) @ weights
    return out
