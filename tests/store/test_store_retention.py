"""Retention by age and by size: oldest data goes first, with a log line; rollups stay."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import OpenStore
from store_helpers import BASE_MS, BUCKET, HOUR, MINUTE, Clock, fill

from edgewatch.model import SeriesKey
from edgewatch.store import Store, StoreOptions

LOGGER = "edgewatch.store"


def _run(store: Store, clock: Clock, keys: list[SeriesKey], ts: np.ndarray) -> None:
    rng = np.random.default_rng(30)
    for lo in range(0, len(ts), 60):
        part = ts[lo : lo + 60]
        fill(store, keys, part, rng)
        clock.ms = int(part[-1])
        assert store.commit()
        store.maintain()


def _chunk_buckets(store: Store) -> list[int]:
    rows = store._conn.execute("SELECT DISTINCT id >> 20 FROM chunks ORDER BY 1").fetchall()
    return [r[0] * BUCKET - BASE_MS for r in rows]


def test_raw_retention_drops_old_chunks_and_logs_but_rollups_stay(
    open_store: OpenStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    keys = [SeriesKey.of("m", i=str(i)) for i in range(3)]
    store = open_store(StoreOptions(raw_retention_s=1800))
    caplog.set_level(logging.INFO, logger=LOGGER)
    ts = BASE_MS + np.arange(150 * 6) * 10_000  # 2 h 30 min at 10 s
    _run(store, clock, keys, ts)
    now = int(ts[-1])
    # Only chunks whose 10-minute bucket reaches into the last 30 minutes are left.
    left = _chunk_buckets(store)
    assert left and min(left) >= (now - 1_800_000) // BUCKET * BUCKET - BASE_MS
    assert min(left) <= now - 1_800_000 - BASE_MS
    drops = [r for r in caplog.records if "store retention: dropped" in r.getMessage()]
    assert drops, caplog.text
    assert all("chunks rows" in r.getMessage() for r in drops)
    assert "raw samples older than" in drops[0].getMessage()
    # Raw reads of the early part are empty; its 1-minute rollups are all there.
    assert len(store.read("m", BASE_MS, BASE_MS + HOUR)[0].ts) == 0
    minute = store.read("m", BASE_MS, BASE_MS + 2 * HOUR - 1, MINUTE, agg="count")[0]
    assert minute.values.tolist() == [6.0] * 120
    assert minute.ts.tolist() == [BASE_MS + i * MINUTE for i in range(120)]


def test_rollup_retention_drops_old_rollup_rows(open_store: OpenStore, clock: Clock) -> None:
    keys = [SeriesKey.of("m")]
    store = open_store(StoreOptions(raw_retention_s=7200, rollup_1m_retention_s=7200))
    _run(store, clock, keys, BASE_MS + np.arange(5 * 60) * MINUTE)
    hours = [
        r[0] * HOUR - BASE_MS
        for r in store._conn.execute("SELECT id >> 20 FROM rollup_1m ORDER BY 1").fetchall()
    ]
    assert hours == [2 * HOUR, 3 * HOUR]


def test_size_cap_drops_the_oldest_raw_data_first(
    open_store: OpenStore, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    keys = [SeriesKey.of("noise", i=str(i)) for i in range(40)]
    unlimited = StoreOptions(max_bytes=0)
    store = open_store(unlimited)
    caplog.set_level(logging.INFO, logger=LOGGER)
    ts = BASE_MS + np.arange(200 * 6) * 10_000  # 3 h 20 min at 10 s, 40 noisy series
    _run(store, clock, keys, ts)
    before = _chunk_buckets(store)
    full = store.used_bytes()
    store.close()
    cap = full * 2 // 3
    capped = open_store(StoreOptions(max_bytes=cap))
    capped.maintain()
    assert capped.used_bytes() <= cap
    after = _chunk_buckets(capped)
    assert after, "only part of the raw data had to go"
    assert after == before[len(before) - len(after) :], "the newest chunks are kept"
    assert len(after) < len(before)
    assert any("size cap" in r.getMessage() for r in caplog.records), caplog.text
    # Rollups of the dropped raw hours are still there.
    minute = capped.read("noise", BASE_MS, BASE_MS + HOUR - 1, MINUTE, agg="count")[0]
    assert minute.values.tolist() == [6.0] * 60
