"""Rollup rows with min, max and sum stored relative to last (rollup.py, fields 5-7)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.store import rollup as ru
from edgewatch.store.codec import decode_block
from edgewatch.store.schema import ROLLUP_1M_MS, ROLLUP_1M_WINDOW_MS, rollup_base

W = ROLLUP_1M_WINDOW_MS
T0 = 1_790_000_000_000 // W * W


def _rollup(values: np.ndarray, sid: int = 3, per_bucket: int = 60) -> ru.Rollup:
    n = len(values)
    ts = T0 + np.arange(n, dtype=np.int64) * (ROLLUP_1M_MS // per_bucket)
    return ru.from_samples(np.full(n, sid, dtype=np.int64), ts, values, ROLLUP_1M_MS)


def _round_trip(r: ru.Rollup) -> tuple[ru.Rollup, list[tuple[int, bytes]]]:
    rows = ru.encode_rows(r, W)
    back = ru.Rollup.concat([ru.decode([row], int(r.sid[0]), W) for row in rows])
    return back, rows


def _field_codes(rows: list[tuple[int, bytes]]) -> set[int]:
    codes: set[int] = set()
    for rid, blob in rows:
        codes |= set((decode_block(blob, rollup_base(rid, W)).ids % 8).tolist())
    return codes


def _same(a: ru.Rollup, b: ru.Rollup) -> None:
    for name in ("ts", "min", "max", "sum", "n", "last"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


@pytest.mark.parametrize(
    "values",
    [
        np.full(600, 7_740_751_872.0),  # a constant
        np.cumsum(np.full(600, 12_000.0)) + 4.5e11,  # a busy counter
        np.round(np.clip(50 + np.cumsum(np.sin(np.arange(600)) * 1.5), 0, 100), 1),  # percent
        np.round(np.linspace(-3.25, 8.5, 600), 2),  # negative to positive, two decimals
    ],
)
def test_exact_decimals_are_relative_and_round_trip(values: np.ndarray) -> None:
    r = _rollup(values)
    back, rows = _round_trip(r)
    _same(r, back)
    assert _field_codes(rows) == {3, 4, 5, 6, 7}


def test_floats_keep_plain_fields() -> None:
    r = _rollup(np.random.default_rng(1).lognormal(-3.5, 0.3, 300))
    back, rows = _round_trip(r)
    _same(r, back)
    assert _field_codes(rows) == {0, 1, 2, 3, 4}


def test_relative_rows_are_smaller_for_a_constant() -> None:
    r = _rollup(np.full(600, 123.0))
    relative = sum(len(b) for _, b in ru.encode_rows(r, W))
    floats = r._replace(last=r.last + 1e-9)  # not exact decimals any more: plain fields
    plain = sum(len(b) for _, b in ru.encode_rows(floats, W))
    assert relative < plain


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=-(10**9), max_value=10**9), min_size=1, max_size=200),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=1, max_value=60),
)
def test_any_decimals_round_trip(ints: list[int], decimals: int, per_bucket: int) -> None:
    values = np.array(ints, dtype=np.float64) / 10.0**decimals
    r = _rollup(values, per_bucket=per_bucket)
    back, _ = _round_trip(r)
    _same(r, back)
