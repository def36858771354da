"""The low bits of noisy integer words, stored as packed bits outside zstd.

A noisy gauge's or a busy counter's residuals (zigzagged deltas minus the
rate) are spread evenly over their low bits: those bits are noise that no
entropy coder can shrink. Left in the byte planes they spoil zstd's Huffman
table for a 600-sample frame (the table costs more than it saves, so zstd
stores the plane raw: 8 bits a sample for 7.4 bits of information). Packed
apart, ``k`` bits a sample, they cost exactly ``k`` bits, and what is left
(``word >> k``, a handful of values) compresses well.

``k`` per segment is ``bit_length(mean word) - 3``: within 1 % of the best
``k`` found by trying every one, on the store bench's chunks (noisy gauges
1.03 -> 0.97 bytes a sample, busy counters 1.40 -> 1.17). Words that are
mostly zero (constants, slow counters, a counter's ``count`` rollup field) get
``k = 0``: nothing changes for them. The bits of a blob's words follow each
other, word after word, least significant first, each word with its segment's
``k``.
"""

from __future__ import annotations

import itertools

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
    # bit_length(floor(mean)) == floor(log2(mean)) + 1 for mean >= 1; below 1 the
    # clip gives 0 all the same.
    bits = np.floor(np.log2(np.maximum(means, 1.0))).astype(np.int64) + 1
    k[big] = np.clip(bits - SLACK_BITS, 0, MAX_BITS)
    return k


def per_word(k_seg: I64, counts: I64) -> U64:
    """Each word's ``k`` from its segment's (``counts``: the segments' words)."""
    out: U64 = np.repeat(k_seg, counts).astype(np.uint64)
    return out


def _runs(k: U64) -> list[tuple[int, int, int]]:
    """(start, end, k) of each run of words with the same k (a segment's words)."""
    if len(k) == 0:
        return []
    cut = np.flatnonzero(k[1:] != k[:-1]) + 1
    bounds = [0, *cut.tolist(), len(k)]
    return [(a, b, int(k[a])) for a, b in itertools.pairwise(bounds)]


def pack(words: U64, k: U64) -> bytes:
    """The low ``k[i]`` bits of each word ``i``, one after the other, least significant
    bit first."""
    parts = []
    for a, b, kk in _runs(k):
        if kk:  # each word's bits, little-endian: a bit matrix cut to its k columns
            as_bytes = words[a:b].view(np.uint8).reshape(-1, 8)
            bits = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :kk]
            parts.append(bits.reshape(-1))
    if not parts:
        return b""
    return np.packbits(np.concatenate(parts), bitorder="little").tobytes()


def packed_size(k: U64) -> int:
    return (int(k.sum()) + 7) // 8


def unpack(raw: bytes | memoryview, k: U64, want: npt.NDArray[np.bool_] | None = None) -> U64:
    """Inverse of ``pack`` (the caller checked the length); with ``want``, only those
    words (the others may come back 0)."""
    out: U64 = np.zeros(len(k), dtype=np.uint64)
    total = int(k.sum())
    if total == 0:
        return out
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=total, bitorder="little")
    pos = 0
    for a, b, kk in _runs(k):
        end = pos + (b - a) * kk
        if kk and (want is None or want[a:b].any()):
            width = (kk + 7) // 8 * 8
            matrix = np.zeros((b - a, width), dtype=np.uint8)
            matrix[:, :kk] = bits[pos:end].reshape(-1, kk)
            as_bytes = np.zeros((b - a, 8), dtype=np.uint8)
            as_bytes[:, : width // 8] = np.packbits(matrix, axis=1, bitorder="little")
            out[a:b] = as_bytes.view(np.uint64).reshape(-1)
        pos = end
    return out
