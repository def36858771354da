"""Low bits packed apart (store/lowbits.py, flag F_LOW of block format 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.store import lowbits
from edgewatch.store.blocks import CodecError
from edgewatch.store.codec import decode_block, encode_segments
from edgewatch.store.layout import F_LOW


def _noisy(n: int = 600, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A memory gauge in 4 KiB pages moving by ~40 pages a second, and its timestamps."""
    rng = np.random.default_rng(seed)
    vals = 2.0e9 + np.cumsum(rng.normal(0, 40, n).round()) * 4096
    return np.arange(n, dtype=np.int64) * 1000, vals


def _one_blob(ts: np.ndarray, vals: np.ndarray) -> bytes:
    blobs, _, _ = encode_segments(np.zeros(len(ts), dtype=np.int64), ts, vals)
    assert len(blobs) == 1
    return blobs[0][1]


def test_noisy_integers_round_trip_smaller(monkeypatch: pytest.MonkeyPatch) -> None:
    ts, vals = _noisy()
    split = _one_blob(ts, vals)
    assert split[1] & F_LOW
    block = decode_block(split)
    assert block.ts.tolist() == ts.tolist()
    assert block.values.tobytes() == vals.tobytes()
    monkeypatch.setattr(lowbits, "MIN_WORDS", 10**9)  # no split: the format as before
    whole = _one_blob(ts, vals)
    assert not whole[1] & F_LOW
    assert decode_block(whole).values.tobytes() == vals.tobytes()
    assert len(split) < len(whole) - 20  # ~8 bits a sample raw, against ~7.4 split


def test_quiet_series_not_split() -> None:
    ts = np.arange(600, dtype=np.int64) * 1000
    counter = np.cumsum((np.arange(600) % 97 == 0).astype(float))  # a slow error counter
    assert not _one_blob(ts, counter)[1] & F_LOW
    assert not _one_blob(ts, np.full(600, 7.0))[1] & F_LOW


def test_mixed_int_and_float_segments_round_trip() -> None:
    ts, noisy = _noisy(200)
    rng = np.random.default_rng(5)
    floats = rng.lognormal(-3.5, 0.3, 200)
    seg = np.repeat(np.arange(2, dtype=np.int64), 200)
    blobs, _, _ = encode_segments(
        seg, np.tile(ts, 2), np.concatenate([noisy, floats]), group_of=lambda ids: ids * 0
    )
    blob = blobs[0][1]
    assert blob[1] & F_LOW
    block = decode_block(blob)
    assert block.values.tobytes() == np.concatenate([noisy, floats]).tobytes()


def test_low_bits_of_the_wrong_length_are_refused() -> None:
    ts, vals = _noisy()
    blob = bytearray(_one_blob(ts, vals))
    # Header: magic, flags, nseg, n (2 bytes), meta_len, tick_field, base ms (0: one
    # byte, the blob is not based), then k and the length of the low bits.
    k_at = 2 + 1 + 2 + 1 + 1 + 1
    assert 0 < blob[k_at] <= lowbits.MAX_BITS
    blob[k_at] += 1  # one bit more a word than was packed
    with pytest.raises(CodecError, match="low bits"):
        decode_block(bytes(blob))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2**64 - 1),
            st.integers(min_value=0, max_value=lowbits.MAX_BITS),
        ),
        max_size=80,
    ),
    st.booleans(),
)
def test_pack_unpack_inverse(pairs: list[tuple[int, int]], same_k: bool) -> None:
    arr = np.array([w for w, _ in pairs], dtype=np.uint64)
    ks = [pairs[0][1] if same_k else k for _, k in pairs]
    k = np.array(ks, dtype=np.uint64)
    raw = lowbits.pack(arr, k)
    assert len(raw) == lowbits.packed_size(k)
    want = [w & ((1 << kk) - 1) for w, kk in zip(arr.tolist(), ks, strict=True)]
    assert lowbits.unpack(raw, k).tolist() == want


def test_choose_follows_the_mean() -> None:
    words = np.concatenate(
        [np.full(100, 200, dtype=np.uint64), np.zeros(100, dtype=np.uint64), np.ones(5, np.uint64)]
    )
    bounds = np.array([0, 100, 200, 200, 205], dtype=np.int64)  # one empty group
    # mean 200: bit length 8, minus 3; all zeros; empty; too few words to split.
    assert lowbits.choose(words, bounds).tolist() == [5, 0, 0, 0]


def test_rollup_row_fields_get_their_own_k() -> None:
    rng = np.random.default_rng(8)
    n = 60
    ts = np.tile(np.arange(n, dtype=np.int64) * 60_000, 3)
    seg = np.repeat(np.arange(3, dtype=np.int64), n)
    # A noisy field, a constant one (its k is 0) and a noisier one, in one blob.
    vals = np.concatenate(
        [np.cumsum(rng.normal(0, 40, n).round()), np.full(n, 60.0), rng.normal(0, 9e4, n).round()]
    )
    blobs, _, _ = encode_segments(seg, ts, vals, group_of=lambda ids: ids * 0)
    blob = blobs[0][1]
    assert blob[1] & F_LOW
    assert decode_block(blob).values.tobytes() == vals.tobytes()
