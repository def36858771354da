"""Append, commit, read back: in the writer, from a read-only reader, after a reopen."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import OpenStore
from store_helpers import BASE_MS, KEYS, Clock, assert_series, by_key, fill

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import StoreError, StoreOptions

EXACT = StoreOptions(timestamp_tolerance=0.0)


def test_append_commit_read_round_trip(open_store: OpenStore) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(1)
    ts = BASE_MS + np.arange(120) * 1000 + rng.integers(-40, 40, 120)
    want = fill(store, KEYS, ts, rng)
    # Readable before the commit (the head is in memory)...
    got = by_key(store.read('{__name__=~".+"}', BASE_MS - 1000, BASE_MS + 200_000))
    assert set(got) == set(KEYS)
    for key in KEYS:
        assert_series(got[key], *want[key])
    # ...and after it.
    assert store.commit() is True
    got = by_key(store.read('{__name__=~".+"}', BASE_MS - 1000, BASE_MS + 200_000))
    for key in KEYS:
        assert_series(got[key], *want[key])
    stats = store.stats()
    assert stats.series == len(KEYS)
    assert stats.samples_ingested == len(KEYS) * 120
    assert stats.pending_samples == 0
    assert stats.commits == 1


def test_read_range_is_inclusive_and_selects_by_labels(open_store: OpenStore) -> None:
    store = open_store()
    for i in range(10):
        store.append(BASE_MS + i * 1000, [Sample(k, float(i)) for k in KEYS])
    got = store.read('system_cpu_usage_ratio{cpu="1"}', BASE_MS + 2000, BASE_MS + 5000)
    assert [d.key for d in got] == [KEYS[3]]
    assert got[0].ts.tolist() == [BASE_MS + i * 1000 for i in range(2, 6)]
    assert got[0].values.tolist() == [2.0, 3.0, 4.0, 5.0]
    assert store.read("no_such_metric", BASE_MS, BASE_MS + 10_000) == []
    with pytest.raises(ValueError, match="end is before start"):
        store.read("node_load1", BASE_MS, BASE_MS - 1)
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        store.read("node_load1", BASE_MS, BASE_MS + 1, 1000, agg="median")


def test_series_lists_sorted_and_filtered(open_store: OpenStore) -> None:
    store = open_store()
    store.append(BASE_MS, [Sample(k, 1.0) for k in reversed(KEYS)])
    assert store.series() == sorted(KEYS)
    assert store.series('system_cpu_usage_ratio{cpu!="0"}') == [KEYS[3]]
    store.commit()
    reader = open_store(readonly=True)
    assert reader.series() == sorted(KEYS)


def test_readonly_reader_sees_committed_data_while_writer_is_open(open_store: OpenStore) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(2)
    want = fill(store, KEYS, BASE_MS + np.arange(60) * 1000, rng)
    store.commit()
    reader = open_store(readonly=True)
    got = by_key(reader.read('{__name__!=""}', BASE_MS, BASE_MS + 60_000))
    for key in KEYS:
        assert_series(got[key], *want[key])
    # New series and samples committed later show up in the same reader.
    extra = SeriesKey.of("late_series", x="1")
    store.append(BASE_MS + 61_000, [Sample(extra, 7.5), Sample(KEYS[0], 1.25)])
    assert [d.key for d in reader.read("late_series", BASE_MS, BASE_MS + 70_000)] == []
    store.commit()
    got = by_key(reader.read('{__name__!=""}', BASE_MS, BASE_MS + 70_000))
    assert got[extra].values.tolist() == [7.5]
    assert got[KEYS[0]].ts[-1] == BASE_MS + 61_000
    assert got[KEYS[0]].values[-1] == 1.25
    with pytest.raises(StoreError, match="read-only"):
        reader.append(BASE_MS, [Sample(SeriesKey.of("nope"), 1.0)])


def test_readonly_open_of_missing_store_is_a_clear_error(tmp_path: object) -> None:
    from pathlib import Path

    from edgewatch.store import Store

    with pytest.raises(StoreError, match="no edgewatch store at"):
        Store.open(Path(str(tmp_path)) / "absent", readonly=True)


def test_close_then_reopen_replays_the_head_exactly(open_store: OpenStore) -> None:
    store = open_store(EXACT)
    rng = np.random.default_rng(3)
    ts = BASE_MS + np.arange(300) * 1000 + rng.integers(-300, 300, 300)
    want = fill(store, KEYS, ts, rng)
    store.commit()
    fill(store, KEYS[:1], [BASE_MS + 400_000], rng)  # only in memory: close commits it
    store.close()
    assert store.stats().compacted_until_ms == 0  # nothing was compacted
    again = open_store(EXACT)
    got = by_key(again.read('{__name__=~".*"}', BASE_MS - 1000, BASE_MS + 300_000))
    for key in KEYS:
        assert_series(got[key], *want[key])
    assert len(again.read("node_load1", BASE_MS + 400_000, BASE_MS + 400_000)[0].ts) == 1
    # The reopened writer keeps numbering series after the replayed ones.
    new = SeriesKey.of("brand_new")
    again.append(BASE_MS + 500_000, [Sample(new, 1.0)])
    assert again.series_id(new) == len(KEYS) + 1


def test_same_series_and_timestamp_twice_keeps_the_later_value(open_store: OpenStore) -> None:
    store = open_store()
    key = KEYS[0]
    store.append(BASE_MS, [Sample(key, 1.0)])
    store.append(BASE_MS + 1000, [Sample(key, 2.0)])
    store.append(BASE_MS, [Sample(key, 3.0)])
    assert store.read("node_load1", BASE_MS, BASE_MS + 1000)[0].values.tolist() == [3.0, 2.0]
    store.commit()
    store.append(BASE_MS, [Sample(key, 4.0)])  # a second head row overrides the first
    store.commit()
    assert store.read("node_load1", BASE_MS, BASE_MS + 1000)[0].values.tolist() == [4.0, 2.0]
    reader = open_store(readonly=True)
    assert reader.read("node_load1", BASE_MS, BASE_MS + 1000)[0].values.tolist() == [4.0, 2.0]
    store.close()
    again = open_store()
    assert again.read("node_load1", BASE_MS, BASE_MS + 1000)[0].values.tolist() == [4.0, 2.0]


def test_raw_read_with_step_thins_per_bucket(open_store: OpenStore, clock: Clock) -> None:
    store = open_store()
    vals = np.arange(120, dtype=np.float64) * 0.5
    for i, v in enumerate(vals.tolist()):
        store.append(BASE_MS + i * 1000, [Sample(KEYS[0], v)])
    for agg, fn in (("avg", np.mean), ("min", np.min), ("max", np.max), ("sum", np.sum)):
        got = store.read("node_load1", BASE_MS, BASE_MS + 119_000, 10_000, agg=agg)[0]
        assert got.ts.tolist() == [BASE_MS + i * 10_000 for i in range(12)]
        want = [fn(vals[i * 10 : i * 10 + 10]) for i in range(12)]
        np.testing.assert_allclose(got.values, want, rtol=1e-12)
    got = store.read("node_load1", BASE_MS, BASE_MS + 119_000, 10_000, agg="count")[0]
    assert got.values.tolist() == [10.0] * 12
    got = store.read("node_load1", BASE_MS, BASE_MS + 119_000, 10_000, agg="last")[0]
    assert got.values.tolist() == vals[9::10].tolist()
