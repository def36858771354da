"""Rollups (1 min, 1 h) against numpy over the raw samples, before and after they close."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import OpenStore
from store_helpers import BASE_MS, HOUR, KEYS, MINUTE, Clock, fill

from edgewatch.model import Sample
from edgewatch.store import Store, StoreOptions

AGGS = ("avg", "min", "max", "sum", "count", "last")


def _expected(ts: np.ndarray, vals: np.ndarray, width: int, agg: str) -> tuple[list, np.ndarray]:
    buckets = ts // width * width
    out_ts, out = [], []
    for b in np.unique(buckets):
        v = vals[buckets == b]
        out_ts.append(int(b))
        out.append(
            {
                "avg": np.mean,
                "min": np.min,
                "max": np.max,
                "sum": np.sum,
                "count": len,
                "last": lambda x: x[-1],
            }[agg](v)
        )
    return out_ts, np.array(out, dtype=np.float64)


def _run(store: Store, clock: Clock, ts: np.ndarray, rng: np.random.Generator) -> dict:
    """Append, committing and maintaining every 10 minutes of data time."""
    want: dict = {k: ([], []) for k in KEYS}
    step = 10 * MINUTE
    edges = np.arange(ts[0] // step * step, ts[-1] + step, step)
    for lo in edges:
        part = ts[(ts >= lo) & (ts < lo + step)]
        if len(part) == 0:
            continue
        for key, (t, v) in fill(store, KEYS, part, rng).items():
            want[key][0].append(t)
            want[key][1].append(v)
        clock.ms = int(part[-1])
        assert store.commit()
        store.maintain()
    return {k: (np.concatenate(t), np.concatenate(v)) for k, (t, v) in want.items()}


def _check(store: Store, want: dict, start: int, end: int, step: int, resolution: str) -> None:
    width = MINUTE if resolution == "1m" else HOUR
    for agg in AGGS:
        got = {
            d.key: d
            for d in store.read('{__name__!=""}', start, end, step, agg=agg, resolution=resolution)
        }
        for key, (ts, vals) in want.items():
            # Rollup points are whole buckets: every bucket whose start lies in
            # [start floored to the bucket, end], with all of its samples.
            bucket = ts // width * width
            sel = (bucket >= start // width * width) & (bucket <= end)
            exp_ts, exp = _expected(ts[sel], vals[sel], max(width, step), agg)
            assert got[key].ts.tolist() == exp_ts, (key, agg)
            np.testing.assert_allclose(got[key].values, exp, rtol=1e-12, err_msg=f"{key} {agg}")


@pytest.fixture
def filled(open_store: OpenStore, clock: Clock) -> tuple[Store, dict]:
    """2 h 40 min of 4 series at ~10 s: two closed hours of 1-minute rollups, one open."""
    store = open_store()
    rng = np.random.default_rng(20)
    ts = BASE_MS + np.arange(160 * 6) * 10_000 + 3_000
    return store, _run(store, clock, ts, rng)


def test_one_minute_rollups_match_numpy(filled: tuple[Store, dict]) -> None:
    store, want = filled
    rolled = store._conn.execute("SELECT value FROM meta WHERE key='rolled_1m_until'").fetchone()
    assert rolled == (BASE_MS + 2 * HOUR,)  # two hours closed, the rest still open
    assert store._conn.execute("SELECT count(*) FROM rollup_1m").fetchone()[0] == 2 * len(KEYS)
    _check(store, want, BASE_MS, BASE_MS + 3 * HOUR - 1, MINUTE, "1m")
    # A range inside the closed part only, and one inside the open part only.
    _check(store, want, BASE_MS + 30 * MINUTE, BASE_MS + 90 * MINUTE - 1, MINUTE, "1m")
    _check(store, want, BASE_MS + 125 * MINUTE, BASE_MS + 3 * HOUR - 1, MINUTE, "1m")
    # Coarser steps over one-minute rollups: 5-minute points.
    _check(store, want, BASE_MS, BASE_MS + 3 * HOUR - 1, 5 * MINUTE, "1m")


def test_auto_resolution_picks_one_minute_rollups_for_minute_steps(
    filled: tuple[Store, dict],
) -> None:
    store, _ = filled
    auto = store.read("node_load1", BASE_MS, BASE_MS + HOUR, MINUTE, agg="max")[0]
    forced = store.read("node_load1", BASE_MS, BASE_MS + HOUR, MINUTE, agg="max", resolution="1m")
    np.testing.assert_array_equal(auto.ts, forced[0].ts)
    np.testing.assert_array_equal(auto.values, forced[0].values)
    with pytest.raises(ValueError, match="unknown resolution '5m'"):
        store.read("node_load1", BASE_MS, BASE_MS + HOUR, MINUTE, resolution="5m")


def test_one_hour_rollups_match_numpy(filled: tuple[Store, dict]) -> None:
    store, want = filled
    _check(store, want, BASE_MS, BASE_MS + 3 * HOUR - 1, HOUR, "1h")


def test_rollups_survive_a_reopen(
    filled: tuple[Store, dict], open_store: OpenStore, clock: Clock
) -> None:
    store, want = filled
    store.close()
    again = open_store()
    _check(again, want, BASE_MS, BASE_MS + 3 * HOUR - 1, MINUTE, "1m")
    # Keep writing after the reopen: the open hour (rebuilt from chunks) closes correctly.
    rng = np.random.default_rng(21)
    more = _run(again, clock, BASE_MS + 160 * MINUTE + np.arange(40 * 6) * 10_000 + 3_000, rng)
    merged = {
        k: (np.concatenate([want[k][0], more[k][0]]), np.concatenate([want[k][1], more[k][1]]))
        for k in KEYS
    }
    assert again._conn.execute("SELECT count(*) FROM rollup_1m").fetchone()[0] == 3 * len(KEYS)
    _check(again, merged, BASE_MS, BASE_MS + 4 * HOUR - 1, MINUTE, "1m")
    _check(open_store(readonly=True), merged, BASE_MS, BASE_MS + 4 * HOUR - 1, MINUTE, "1m")


def test_one_hour_rollups_written_when_the_day_closes(open_store: OpenStore, clock: Clock) -> None:
    store = open_store()
    rng = np.random.default_rng(22)
    ts = BASE_MS + 22 * HOUR + np.arange(4 * 60) * MINUTE + 7_000  # 22:00 to 02:00 next day
    want = _run(store, clock, ts, rng)
    assert store._conn.execute("SELECT count(*) FROM rollup_1h").fetchone()[0] == len(KEYS)
    _check(store, want, BASE_MS + 22 * HOUR, BASE_MS + 27 * HOUR - 1, HOUR, "1h")
    _check(store, want, BASE_MS + 22 * HOUR, BASE_MS + 27 * HOUR - 1, 3 * HOUR, "1h")
    _check(open_store(readonly=True), want, BASE_MS, BASE_MS + 27 * HOUR - 1, HOUR, "1h")


def test_late_sample_reaches_the_rollups(filled: tuple[Store, dict], clock: Clock) -> None:
    store, want = filled
    late = {
        BASE_MS + 10 * MINUTE + 1_000: 1000.0,  # closed hour: rollup row already written
        BASE_MS + 125 * MINUTE + 1_000: 2000.0,  # open hour, bucket already compacted
    }
    for t, v in late.items():
        store.append(t, [Sample(k, v) for k in KEYS])
    store.commit()
    store.maintain()
    for key in KEYS:
        ts, vals = want[key]
        for t, v in late.items():
            i = int(np.searchsorted(ts, t))
            ts, vals = np.insert(ts, i, t), np.insert(vals, i, v)
        want[key] = (ts, vals)
    # Close the open hour too, then every minute must agree with the raw samples.
    rng = np.random.default_rng(23)
    more = _run(store, clock, BASE_MS + 160 * MINUTE + np.arange(40 * 6) * 10_000 + 3_000, rng)
    for key in KEYS:
        want[key] = tuple(np.concatenate([a, b]) for a, b in zip(want[key], more[key], strict=True))
    _check(store, want, BASE_MS, BASE_MS + 3 * HOUR - 1, MINUTE, "1m")


def test_hourly_reads_survive_raw_retention_within_the_day(
    open_store: OpenStore, clock: Clock
) -> None:
    store = open_store(StoreOptions(raw_retention_s=3600))
    rng = np.random.default_rng(24)
    want = _run(store, clock, BASE_MS + np.arange(4 * 60) * MINUTE + 7_000, rng)
    _check(store, want, BASE_MS, BASE_MS + 4 * HOUR - 1, HOUR, "1h")
