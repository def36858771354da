"""Compaction through maintain(): chunk + head reads, late samples, overrides, reopen."""

from __future__ import annotations

import numpy as np
from conftest import OpenStore
from store_helpers import BASE_MS, BUCKET, KEYS, MINUTE, Clock, assert_series, by_key, fill

from edgewatch.model import Sample
from edgewatch.store import Store, StoreOptions
from edgewatch.store.codec import decode_block
from edgewatch.store.schema import chunk_base

EXACT = StoreOptions(timestamp_tolerance=0.0)
ALL = '{__name__=~".+"}'


def _jittered(rng: np.random.Generator, minutes: int, every_ms: int = 5000) -> np.ndarray:
    n = minutes * MINUTE // every_ms
    return BASE_MS + np.arange(n) * every_ms + rng.integers(-200, 200, n)


def _write_over_time(store: Store, clock: Clock, ts: np.ndarray, rng: np.random.Generator) -> dict:
    """Append like the agent does: commit and maintain every minute of data time."""
    want: dict = {}
    for minute_ts in np.array_split(ts, max(1, len(ts) // 12)):
        part = fill(store, KEYS, minute_ts, rng)
        for key, (t, v) in part.items():
            old = want.get(key, (np.zeros(0, np.int64), np.zeros(0)))
            want[key] = (np.concatenate([old[0], t]), np.concatenate([old[1], v]))
        clock.ms = int(minute_ts[-1])
        assert store.commit()
        store.maintain()
    return want


def _check_all(store: Store, want: dict, start: int, end: int) -> None:
    got = by_key(store.read(ALL, start, end))
    assert set(got) == set(want)
    for key, (ts, vals) in want.items():
        assert_series(got[key], ts, vals)


def _assert_one_pack_a_bucket(store: Store, buckets: int) -> None:
    """The four small series of a bucket share one pack: one row a bucket, four segments."""
    rows = store._conn.execute("SELECT id, data FROM chunks ORDER BY id").fetchall()
    assert len(rows) == buckets
    for rid, blob in rows:
        ids = decode_block(blob, chunk_base(rid)).ids
        assert len(ids) == len(KEYS)
        assert (ids >> 20 == rid >> 20).all()  # one bucket's series only


def test_reads_across_chunks_and_head_are_complete_and_ordered(
    open_store: OpenStore, clock: Clock
) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(10)
    ts = _jittered(rng, 35)
    want = _write_over_time(store, clock, ts, rng)
    # Three 10-minute buckets were compacted (the fourth is still in the head).
    assert store.stats().compacted_until_ms == BASE_MS + 3 * BUCKET
    _assert_one_pack_a_bucket(store, 3)
    _check_all(store, want, BASE_MS - BUCKET, BASE_MS + 40 * MINUTE)
    # A range ending inside the compacted part, and one straddling the boundary.
    got = store.read("node_load1", BASE_MS + 5 * MINUTE, BASE_MS + 31 * MINUTE)[0]
    sel = (want[KEYS[0]][0] >= BASE_MS + 5 * MINUTE) & (want[KEYS[0]][0] <= BASE_MS + 31 * MINUTE)
    assert_series(got, want[KEYS[0]][0][sel], want[KEYS[0]][1][sel])
    reader = open_store(EXACT, readonly=True)
    _check_all(reader, want, BASE_MS - BUCKET, BASE_MS + 40 * MINUTE)


def test_compacted_store_reopens_with_everything(open_store: OpenStore, clock: Clock) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(11)
    want = _write_over_time(store, clock, _jittered(rng, 25), rng)
    store.close()
    again = open_store(EXACT)
    _check_all(again, want, BASE_MS - MINUTE, BASE_MS + 30 * MINUTE)
    assert again.stats().compacted_until_ms == BASE_MS + 2 * BUCKET


def test_default_tolerance_snaps_jitter_within_two_percent(
    open_store: OpenStore, clock: Clock
) -> None:
    store = open_store()
    rng = np.random.default_rng(12)
    ts = BASE_MS + np.arange(240) * 5000 + rng.integers(-100, 100, 240)
    want = _write_over_time(store, clock, ts, rng)
    got = by_key(store.read(ALL, BASE_MS - MINUTE, BASE_MS + 30 * MINUTE))
    for key, (t, v) in want.items():
        assert len(got[key].ts) == len(t)
        assert np.abs(got[key].ts - t).max() <= 0.02 * np.diff(t).min()
        np.testing.assert_array_equal(got[key].values, v)


def test_late_samples_are_merged_into_compacted_chunks(open_store: OpenStore, clock: Clock) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(13)
    want = _write_over_time(store, clock, _jittered(rng, 35), rng)
    late_ts = BASE_MS + 7 * MINUTE + 2_345  # inside the first, compacted bucket
    store.append(late_ts, [Sample(k, -1.5) for k in KEYS])
    assert store.commit()
    store.maintain()
    for key in KEYS:
        t, v = want[key]
        i = int(np.searchsorted(t, late_ts))
        want[key] = (np.insert(t, i, late_ts), np.insert(v, i, -1.5))
    _check_all(store, want, BASE_MS - BUCKET, BASE_MS + 40 * MINUTE)
    _assert_one_pack_a_bucket(store, 3)
    _check_all(open_store(EXACT, readonly=True), want, BASE_MS - MINUTE, BASE_MS + 40 * MINUTE)
    store.close()
    _check_all(open_store(EXACT), want, BASE_MS - MINUTE, BASE_MS + 40 * MINUTE)


def test_later_value_wins_over_a_compacted_one(open_store: OpenStore, clock: Clock) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(14)
    want = _write_over_time(store, clock, _jittered(rng, 35), rng)
    t, v = want[KEYS[1]]
    store.append(int(t[3]), [Sample(KEYS[1], 123.25)])
    v = v.copy()
    v[3] = 123.25
    want[KEYS[1]] = (t, v)
    # Visible at once, after commit, after compaction, and after a reopen.
    _check_all(store, want, BASE_MS - BUCKET, BASE_MS + 40 * MINUTE)
    store.commit()
    store.maintain()
    _check_all(store, want, BASE_MS - BUCKET, BASE_MS + 40 * MINUTE)
    store.close()
    _check_all(open_store(EXACT), want, BASE_MS - BUCKET, BASE_MS + 40 * MINUTE)


def test_late_sample_is_readable_before_the_next_maintain(
    open_store: OpenStore, clock: Clock
) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(15)
    _write_over_time(store, clock, _jittered(rng, 35), rng)
    late_ts = BASE_MS + 2 * MINUTE + 500
    store.append(late_ts, [Sample(KEYS[0], 99.0)])
    store.commit()
    got = store.read("node_load1", late_ts, late_ts)[0]
    assert got.values.tolist() == [99.0]


def test_readonly_reader_sees_new_head_rows_after_compaction(
    open_store: OpenStore, clock: Clock
) -> None:
    store = open_store(EXACT)
    reader = open_store(EXACT, readonly=True)
    key = KEYS[0]
    for i in range(10):  # bucket 0, one head row
        store.append(BASE_MS + i * MINUTE, [Sample(key, float(i))])
    store.commit()
    assert len(reader.read("node_load1", BASE_MS, BASE_MS + 3 * BUCKET)[0].ts) == 10
    for i in range(10, 12):  # in memory only: moves the store's "now" past the bucket
        store.append(BASE_MS + i * MINUTE, [Sample(key, float(i))])
    clock.ms = BASE_MS + 11 * MINUTE
    store.maintain()  # compacts bucket 0 and deletes the only head row
    assert store._conn.execute("SELECT count(*) FROM head").fetchone()[0] == 0
    store.append(BASE_MS + 12 * MINUTE, [Sample(key, 12.0)])
    store.commit()  # the head row that gets rowid 1 again
    got = reader.read("node_load1", BASE_MS, BASE_MS + 3 * BUCKET)[0]
    assert got.values.tolist() == [float(i) for i in range(13)]
