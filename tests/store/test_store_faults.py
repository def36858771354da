"""Faults: foreign files at the store path, a full disk, the memory cap, the writer thread."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import OpenStore
from store_helpers import BASE_MS, KEYS, Clock, assert_series, by_key, fill

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreCorrupt, StoreError, StoreOptions

LOGGER = "edgewatch.store.store"
ALL = '{__name__=~".+"}'


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("readonly", [False, True])
def test_text_file_at_the_store_path_is_refused_untouched(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "edgewatch.db"
    path.write_bytes(b"hello, this is my shopping list\n" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match=r"not an edgewatch store .*refusing to overwrite"):
        Store.open(tmp_path, readonly=readonly)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edgewatch.db"]


@pytest.mark.parametrize("readonly", [False, True])
def test_sqlite_file_of_another_app_is_refused_untouched(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "edgewatch.db"
    _foreign_sqlite(path)
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match="SQLite database of another application"):
        Store.open(path, readonly=readonly)
    assert path.read_bytes() == before
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT body FROM notes").fetchall() == [("mine",)]
    conn.close()


def test_store_of_a_newer_schema_is_refused(open_store: OpenStore, data_dir: Path) -> None:
    open_store().close()
    conn = sqlite3.connect(data_dir / "edgewatch.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreCorrupt, match="newer edgewatch"):
        Store.open(data_dir)


def test_data_dir_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create data directory"):
        Store.open(blocker / "sub" / "edgewatch.db")


def _fill_disk(store: Store) -> None:
    """SQLite's own limit on the writer's connection: a real 'database or disk is full'."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")


def _free_disk(store: Store) -> None:
    store._conn.execute("PRAGMA max_page_count = 1073741823")


def test_full_disk_keeps_samples_in_memory_logs_once_and_recovers(
    open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(StoreOptions(timestamp_tolerance=0.0))
    rng = np.random.default_rng(40)
    want = fill(store, KEYS, BASE_MS + np.arange(10) * 1000, rng)
    assert store.commit()
    _fill_disk(store)
    caplog.set_level(logging.INFO, logger=LOGGER)
    results = []
    for round_ in range(4):
        # More than the free space left in the head table's page (a few KiB), every round.
        part = fill(store, KEYS, BASE_MS + (10 + np.arange(1000) + round_ * 1000) * 1000, rng)
        for key, (t, v) in part.items():
            want[key] = (np.concatenate([want[key][0], t]), np.concatenate([want[key][1], v]))
        results.append(store.commit())
    assert results == [False] * 4
    stats = store.stats()
    assert stats.write_errors == 4
    assert stats.pending_samples == 4 * 1000 * len(KEYS)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert "database or disk is full" in warnings[0].getMessage()
    # Reads still see everything, from memory.
    got = by_key(store.read(ALL, BASE_MS, BASE_MS + 10**7))
    for key in KEYS:
        assert_series(got[key], *want[key])
    _free_disk(store)
    assert store.commit() is True
    assert store.stats().pending_samples == 0
    assert "resumed" in caplog.records[-1].getMessage()
    store.close()
    got = by_key(open_store(readonly=True).read(ALL, BASE_MS, BASE_MS + 10**7))
    for key in KEYS:
        assert_series(got[key], *want[key])


def test_full_disk_during_compaction_loses_nothing(open_store: OpenStore, clock: Clock) -> None:
    store = open_store(StoreOptions(timestamp_tolerance=0.0))
    rng = np.random.default_rng(41)
    want = fill(store, KEYS, BASE_MS + np.arange(15 * 60) * 1000, rng)  # 15 minutes
    assert store.commit()
    clock.ms = BASE_MS + 15 * 60_000
    _fill_disk(store)
    store.maintain()  # wants to compact the first bucket: refused
    assert store.stats().compacted_until_ms < BASE_MS + 600_000
    assert store.stats().write_errors >= 1
    got = by_key(store.read(ALL, BASE_MS, BASE_MS + 10**6))
    for key in KEYS:
        assert_series(got[key], *want[key])
    _free_disk(store)
    store.commit()
    store.maintain()
    assert store.stats().compacted_until_ms == BASE_MS + 600_000
    store.close()
    got = by_key(open_store().read(ALL, BASE_MS, BASE_MS + 10**6))
    for key in KEYS:
        assert_series(got[key], *want[key])


def test_memory_cap_drops_the_oldest_pending_samples_and_counts_them(
    open_store: OpenStore,
) -> None:
    key = SeriesKey.of("m")
    store = open_store(StoreOptions(max_pending_samples=100))
    for i in range(300):  # never committed: the cap applies
        store.append(BASE_MS + i * 1000, [Sample(key, float(i))])
    assert store.stats().dropped_samples == 200
    assert store.stats().pending_samples == 100
    got = store.read("m", BASE_MS, BASE_MS + 10**6)[0]
    assert got.values.tolist() == [float(i) for i in range(200, 300)]


def test_memory_cap_never_drops_committed_samples(open_store: OpenStore) -> None:
    keys = [SeriesKey.of("m", i=str(i)) for i in range(5)]
    store = open_store(StoreOptions(max_pending_samples=1000, timestamp_tolerance=0.0))
    rng = np.random.default_rng(42)
    want = fill(store, keys, BASE_MS + np.arange(100) * 1000, rng)
    assert store.commit()
    _fill_disk(store)
    more = fill(store, keys, BASE_MS + np.arange(100, 500) * 1000, rng)  # 2000 pending
    assert store.commit() is False
    assert store.stats().dropped_samples == 1000
    assert store.stats().pending_samples == 1000
    for key in keys:  # the 100 committed + the newest 200 per series
        want[key] = tuple(
            np.concatenate([a, b[200:]]) for a, b in zip(want[key], more[key], strict=True)
        )
    _free_disk(store)
    assert store.commit()
    got = by_key(store.read(ALL, BASE_MS, BASE_MS + 10**6))
    for key in keys:
        assert_series(got[key], *want[key])
    store.close()
    got = by_key(open_store().read(ALL, BASE_MS, BASE_MS + 10**6))
    for key in keys:
        assert_series(got[key], *want[key])


def test_writer_thread_commits_in_the_background(open_store: OpenStore, data_dir: Path) -> None:
    store = Store.open(data_dir, StoreOptions(commit_interval_s=0.2))
    keys = [SeriesKey.of("bg", i=str(i)) for i in range(5)]
    store.start()
    store.start()  # a second start is a no-op
    appended = 0
    t0 = time.time()
    try:
        for _ in range(10_000):  # bounded; about 2 s of appends
            now = time.time()
            if now - t0 > 2.0:
                break
            ms = int(now * 1000)
            store.append(ms, [Sample(k, float(appended)) for k in keys])
            appended += 1
            time.sleep(0.005)
        stats = store.stats()
    finally:
        store.close()
    assert stats.commits >= 1, "the writer thread committed on its own"
    assert stats.write_errors == 0
    reader = open_store(readonly=True)
    got = reader.read('{__name__="bg"}', int(t0 * 1000) - 1000, int(time.time() * 1000) + 1000)
    assert len(got) == 5
    assert {len(d.ts) for d in got} == {appended}
    assert got[0].values.tolist() == [float(i) for i in range(appended)]
