"""Format 1 (schema-1 files): its blobs still decode, and a schema-1 store opens, reads
the same, and is upgraded in place when opened for writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from codec_v1_writer import encode_block_v1
from conftest import OpenStore
from hypothesis import HealthCheck, given, settings
from store_helpers import BASE_MS, HOUR, KEYS, MINUTE, Clock, fill
from test_codec import _check_exact, _encode, blocks

from edgewatch.model import SeriesKey
from edgewatch.store import Store, StoreOptions
from edgewatch.store import schema as sc
from edgewatch.store.codec import decode_blocks

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL = '{__name__=~".+"}'


@FAST
@given(blocks())
def test_v1_blobs_decode_bit_exact(block: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    seg_ids, ts, values = block
    with np.errstate(over="ignore"):
        blob = encode_block_v1(seg_ids, ts, values)
    _check_exact(seg_ids, ts, values, blob)


def test_v1_and_v2_blobs_decode_together_in_order() -> None:
    rng = np.random.default_rng(2)
    parts, want = [], []
    for k in range(4):
        ids = np.full(40, k, dtype=np.int64)
        ts = (np.arange(40) * 1000 + k * 10**6).astype(np.int64)
        vals = rng.normal(size=40) if k % 2 else np.cumsum(rng.integers(0, 9, 40)).astype(float)
        parts.append(encode_block_v1(ids, ts, vals) if k in (0, 1, 3) else _encode(ids, ts, vals))
        want.append((ids, ts, vals))
    block = decode_blocks(parts)
    assert block.ids.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(block.ts, np.concatenate([w[1] for w in want]))
    np.testing.assert_array_equal(block.values, np.concatenate([w[2] for w in want]))


def _to_schema_1(path: Path) -> None:
    """Rewrite every blob of a store in format 1 and mark the file schema 1."""
    conn = sqlite3.connect(path)
    tables = {
        "chunks": sc.chunk_base,
        "rollup_1m": lambda rid: sc.rollup_base(rid, sc.ROLLUP_1M_WINDOW_MS),
        "rollup_1h": lambda rid: sc.rollup_base(rid, sc.ROLLUP_1H_WINDOW_MS),
        "head": None,
    }
    for table, base_of in tables.items():
        for rid, blob in conn.execute(f"SELECT id, data FROM {table}").fetchall():
            block = decode_blocks([blob], None if base_of is None else [base_of(rid)])
            ids = np.repeat(block.ids, np.diff(block.starts))
            old = encode_block_v1(ids, block.ts, block.values)
            conn.execute(f"UPDATE {table} SET data = ? WHERE id = ?", (old, rid))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def _reads(store: Store) -> list[tuple[str, SeriesKey, list[int], list[float]]]:
    out = []
    for resolution, step in (("raw", None), ("1m", MINUTE), ("1h", HOUR)):
        for d in store.read(ALL, BASE_MS, BASE_MS + 5 * HOUR, step, resolution=resolution):
            out.append((resolution, d.key, d.ts.tolist(), d.values.tolist()))
    return out


def test_schema_1_store_reads_the_same_and_is_upgraded(
    open_store: OpenStore, data_dir: Path, clock: Clock
) -> None:
    rng = np.random.default_rng(9)
    store = open_store(StoreOptions(timestamp_tolerance=0.0))
    ts = BASE_MS + np.arange(0, 3 * HOUR, 5000)
    for lo in range(0, len(ts), 120):
        fill(store, KEYS, ts[lo : lo + 120], rng)
        clock.ms = int(ts[min(lo + 119, len(ts) - 1)])
        assert store.commit()
        store.maintain()
    store.close()
    db = data_dir / "edgewatch.db"
    before = _reads(open_store(readonly=True))
    assert any(r[0] == "1h" and r[2] for r in before)

    _to_schema_1(db)
    assert _reads(open_store(readonly=True)) == before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1  # read-only: untouched
    conn.close()

    store = open_store(StoreOptions(timestamp_tolerance=0.0))
    assert _reads(store) == before
    # Late samples land in a format-1 chunk: it is merged and rewritten in format 2.
    late = fill(store, KEYS[:1], [BASE_MS + 2500], rng)
    clock.ms = BASE_MS + 4 * HOUR
    assert store.commit()
    store.maintain()
    store._last_late_merge = float("-inf")
    store.maintain()
    (got,) = store.read(KEYS[0].name, BASE_MS + 2500, BASE_MS + 2500)
    assert got.values.tolist() == late[KEYS[0]][1].tolist()
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sc.SCHEMA_VERSION == 3
    conn.close()
