"""Packs: several series' chunks of one bucket in one row (store/packing.py)."""

from __future__ import annotations

import numpy as np
from conftest import OpenStore
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import BASE_MS, BUCKET, Clock, assert_series, by_key, fill

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, packing
from edgewatch.store import schema as sc
from edgewatch.store.codec import decode_block, decode_blocks, encode_segments

ALL = '{__name__=~".+"}'


def _bases(rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rids, (rids >> sc.ID_BITS) * sc.CHUNK_MS


KEYS = [SeriesKey.of("bench_series", n=str(i)) for i in range(40)]


def _two_buckets(open_store: OpenStore, clock: Clock) -> tuple[Store, dict]:
    store = open_store()
    rng = np.random.default_rng(4)
    # Two buckets, and three minutes more: the data's "now" is past both and the grace.
    # Committed a minute at a time, as the agent does: the head rows of the compacted
    # buckets are then gone from the head table.
    ts = BASE_MS + np.arange(0, 2 * BUCKET + 3 * 60_000, 10_000)
    want: dict = {}
    for minute in np.array_split(ts, len(ts) // 6):
        for key, (t, v) in fill(store, KEYS, minute, rng).items():
            old = want.get(key, (np.zeros(0, np.int64), np.zeros(0)))
            want[key] = (np.concatenate([old[0], t]), np.concatenate([old[1], v]))
        clock.ms = int(minute[-1])
        assert store.commit()
        store.maintain()
    assert store.stats().compacted_until_ms == BASE_MS + 2 * BUCKET
    return store, want


def _one_row_per_series(
    store: Store, bucket: int, seg: np.ndarray, ts: np.ndarray, vals: np.ndarray
) -> None:
    """Replace a bucket's rows by one row per series, as schema 3 wrote them before packs."""
    rows, _, _ = encode_segments(seg, ts, vals, base_of=_bases)
    conn = store._conn
    conn.execute("BEGIN")
    conn.execute(
        "DELETE FROM chunks WHERE id >= ? AND id < ?",
        (bucket << sc.ID_BITS, (bucket + 1) << sc.ID_BITS),
    )
    conn.executemany("INSERT INTO chunks(id, data) VALUES (?, ?)", rows)
    conn.execute("COMMIT")


def test_many_series_share_few_rows_and_read_back(open_store: OpenStore, clock: Clock) -> None:
    store, want = _two_buckets(open_store, clock)
    rows = store._conn.execute("SELECT id, data FROM chunks ORDER BY id").fetchall()
    assert 2 * 40 // packing.PACK_SEGMENTS <= len(rows) < 2 * len(KEYS)
    seen = []
    for rid, blob in rows:
        ids = decode_block(blob, sc.chunk_base(rid)).ids
        assert ids[0] == rid  # a pack's key is its first series
        assert len(ids) <= packing.PACK_SEGMENTS
        seen += ids.tolist()
    assert len(seen) == len(set(seen)) == 2 * len(KEYS)
    for reader in (store, open_store(readonly=True)):
        got = by_key(reader.read(ALL, BASE_MS, BASE_MS + 3 * BUCKET))
        assert set(got) == set(KEYS)
        for key, (t, v) in want.items():
            assert_series(got[key], t, v)


def test_rows_of_one_series_each_still_read(open_store: OpenStore, clock: Clock) -> None:
    """A bucket written one row per series (schema 3 and before), some series absent."""
    store, want = _two_buckets(open_store, clock)
    bucket = BASE_MS // BUCKET
    sids = {k: store.series_id(k) for k in KEYS}
    kept = [k for i, k in enumerate(KEYS) if i % 3]  # every third series has no row
    seg = np.concatenate([np.full(len(want[k][0]), sc.row_id(bucket, sids[k])) for k in kept])
    ts = np.concatenate([want[k][0] for k in kept])
    vals = np.concatenate([want[k][1] for k in kept])
    sel = ts < BASE_MS + BUCKET
    order = np.lexsort((ts[sel], seg[sel]))
    _one_row_per_series(store, bucket, seg[sel][order], ts[sel][order], vals[sel][order])
    got = by_key(open_store(readonly=True).read(ALL, BASE_MS, BASE_MS + BUCKET - 1))
    assert {k for k, d in got.items() if len(d.ts)} == set(kept)
    for key in kept:
        t, v = want[key]
        assert_series(got[key], t[t < BASE_MS + BUCKET], v[t < BASE_MS + BUCKET])


def test_late_sample_into_a_bucket_of_one_row_per_series(
    open_store: OpenStore, clock: Clock
) -> None:
    """The bucket is rewritten whole, as packs; every series in it is still there."""
    store, want = _two_buckets(open_store, clock)
    conn = store._conn
    bucket = BASE_MS // BUCKET
    sids = {k: store.series_id(k) for k in KEYS}
    first = {k: (t[t < BASE_MS + BUCKET], v[t < BASE_MS + BUCKET]) for k, (t, v) in want.items()}
    seg = np.concatenate([np.full(len(first[k][0]), sc.row_id(bucket, sids[k])) for k in KEYS])
    ts = np.concatenate([first[k][0] for k in KEYS])
    _one_row_per_series(store, bucket, seg, ts, np.concatenate([first[k][1] for k in KEYS]))
    late_ts = BASE_MS + 5_000  # between two samples of the first bucket
    store.append(late_ts, [Sample(KEYS[7], -2.5)])
    assert store.commit()
    store.maintain()
    in_bucket = conn.execute(
        "SELECT count(*) FROM chunks WHERE id >= ? AND id < ?",
        (bucket << sc.ID_BITS, (bucket + 1) << sc.ID_BITS),
    ).fetchone()[0]
    assert in_bucket < len(KEYS)  # packs now
    t, v = want[KEYS[7]]
    i = int(np.searchsorted(t, late_ts))
    want[KEYS[7]] = (np.insert(t, i, late_ts), np.insert(v, i, -2.5))
    got = by_key(open_store(readonly=True).read(ALL, BASE_MS, BASE_MS + 3 * BUCKET))
    for key, (t, v) in want.items():
        assert_series(got[key], t, v)


def test_assign_cuts_at_buckets_bytes_and_segments() -> None:
    partition = np.array([0, 0, 0, 0, 0, 1, 1, 1], dtype=np.int64)
    est = np.array([10, 10, 30, 5, 5, 1, 1, 1], dtype=np.int64)
    # Target 25 bytes, at most 2 segments: [0 1] [2] [3 4] | [5 6] [7]
    assert packing.assign(partition, est, 25, 2).tolist() == [0, 0, 2, 3, 3, 5, 5, 7]
    # No byte limit: segments alone decide, and the bucket change.
    assert packing.assign(partition, est, 10**9, 3).tolist() == [0, 0, 0, 3, 3, 5, 5, 5]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(["noisy", "float", "constant", "jitter", "decimal"]),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=0, max_value=2**32),
    st.data(),
)
def test_decoding_some_series_of_a_pack_equals_decoding_all(
    kinds: list[str], seed: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    n = 120
    bucket = BASE_MS // BUCKET
    parts = []
    for i, kind in enumerate(kinds):
        ts = bucket * BUCKET + np.arange(n, dtype=np.int64) * 5000
        if kind == "jitter":  # timestamps kept to the millisecond: tick planes
            ts = ts + rng.integers(-400, 400, n)
        vals = {
            "noisy": np.cumsum(rng.normal(0, 40, n).round()) * 4096 + 2e9,
            "float": rng.lognormal(-3.5, 0.3, n),
            "constant": np.full(n, 7.0),
            "jitter": np.round(rng.uniform(0, 100, n), 1),
            "decimal": np.round(rng.normal(50, 2, n), 2),
        }[kind]
        parts.append((np.full(n, sc.row_id(bucket, 3 + 2 * i)), ts, vals))
    seg, ts, vals = (np.concatenate(x) for x in zip(*parts, strict=True))
    blobs, _, _ = encode_segments(
        seg, ts, vals, group_of=lambda ids: ids >> sc.ID_BITS, pack=(10**9, 64), base_of=_bases
    )
    assert len(blobs) == 1
    rid, blob = blobs[0]
    full = decode_blocks([blob], [sc.chunk_base(rid)])
    wanted = data.draw(st.sets(st.sampled_from(full.ids.tolist())))
    some = decode_blocks(
        [blob], [sc.chunk_base(rid)], keep=lambda ids: np.isin(ids, sorted(wanted))
    )
    mask = np.isin(full.ids, sorted(wanted))
    assert some.ids.tolist() == full.ids[mask].tolist()
    mine = np.repeat(mask, np.diff(full.starts))
    assert some.ts.tolist() == full.ts[mine].tolist()
    assert some.values.tobytes() == full.values[mine].tobytes()
    assert np.diff(some.starts).tolist() == np.diff(full.starts)[mask].tolist()
    assert full.values.tobytes() == vals.tobytes()  # and the whole pack round-trips


def test_reading_series_together_equals_reading_each_alone(
    open_store: OpenStore, clock: Clock
) -> None:
    store, want = _two_buckets(open_store, clock)
    for reader in (store, open_store(readonly=True)):
        for selector in (ALL, 'bench_series{n=~"1.|3|37"}'):  # all; a few, packs apart
            together = by_key(reader.read(selector, BASE_MS + 5_000, BASE_MS + 2 * BUCKET))
            assert len(together) > 1
            for key, data in together.items():
                alone = reader.read(
                    f'bench_series{{n="{key.labels[0][1]}"}}', BASE_MS + 5_000, BASE_MS + 2 * BUCKET
                )
                assert len(alone) == 1
                assert_series(data, alone[0].ts, alone[0].values)
                t, v = want[key]
                sel = (t >= BASE_MS + 5_000) & (t <= BASE_MS + 2 * BUCKET)
                assert_series(data, t[sel], v[sel])
