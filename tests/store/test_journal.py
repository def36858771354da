"""The head journal: round trips, replay order, hints only ever checked, corrupt blobs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_codec import values_st

from edgewatch.store.codec import CodecError, decode_block, encode_journal
from edgewatch.store.journal import UNKNOWN

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bits(values: np.ndarray) -> np.ndarray:
    return np.where(values == 0.0, 0.0, values).view(np.uint64)


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, 70_000), st.integers(-(2**62), 2**62), values_st),
        max_size=60,
    ),
    st.lists(st.integers(UNKNOWN, 7), min_size=1, max_size=8),
)
def test_round_trip_keeps_each_series_in_append_order(
    rows: list[tuple[int, int, float]], hint_cycle: list[int]
) -> None:
    sid = np.array([r[0] for r in rows], dtype=np.int64)
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    vals = np.array([r[2] for r in rows], dtype=np.float64)
    # Hints are whatever the chunks said, possibly wrong by now: only ever checked.
    hints = np.resize(np.array(hint_cycle, dtype=np.int8), 70_001)
    with np.errstate(over="ignore"):
        block = decode_block(encode_journal(ts, sid, vals, hints))
    order = np.argsort(sid, kind="stable")  # series grouped, each in the order appended
    np.testing.assert_array_equal(np.repeat(block.ids, np.diff(block.starts)), sid[order])
    np.testing.assert_array_equal(block.ts, ts[order])
    np.testing.assert_array_equal(_bits(block.values), _bits(vals[order]))
    assert (np.diff(block.ids) > 0).all()


def _valid() -> bytes:
    rng = np.random.default_rng(4)
    sid = np.tile(np.arange(1, 6), 20)
    ts = np.repeat(np.arange(20) * 1000, 5) + rng.integers(-9, 10, 100)
    vals = np.where(sid % 2 == 0, rng.normal(size=100), np.round(rng.uniform(0, 100, 100), 1))
    hints = np.array([UNKNOWN, 1, -1, 1, -1, 1], dtype=np.int8)
    return encode_journal(ts.astype(np.int64), sid, vals, hints)


def test_every_truncation_raises_codec_error() -> None:
    blob = _valid()
    assert len(decode_block(blob).ts) == 100
    for cut in range(len(blob)):
        with pytest.raises(CodecError):
            decode_block(blob[:cut])


def test_corrupt_bytes_raise_codec_error_or_decode() -> None:
    blob = _valid()
    for pos in range(len(blob)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(blob)
            bad[pos] ^= flip
            try:
                block = decode_block(bytes(bad))
            except CodecError:
                continue
            assert len(block.ts) == len(block.values) == int(block.starts[-1])


def test_empty_journal_round_trips() -> None:
    z = np.zeros(0, dtype=np.int64)
    block = decode_block(encode_journal(z, z, np.zeros(0), np.zeros(1, dtype=np.int8)))
    assert len(block.ids) == 0 and block.starts.tolist() == [0]
