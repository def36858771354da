"""What the sender reads from the store when the store moves under it.

A compaction that commits in the middle of a read must not hide a bucket (the
sender's cursor would pass it), and one read of many series must not scan the
whole head once per series.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a chunk boundary
CHUNK_MS = 600_000
KEYS = [SeriesKey.of("ewrace_value", i=str(i)) for i in range(3)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A full 10-minute bucket in the head, and one sample after it: compactable."""
    s = Store.open(
        tmp_path / "data",
        StoreOptions(timestamp_tolerance=0),
        clock=lambda: (T0 + 2 * CHUNK_MS) / 1000,
    )
    for i in range(60):
        s.append(T0 + i * 10_000, [Sample(k, float(i)) for k in KEYS])
    assert s.commit()  # one head row for the bucket: the compaction deletes it
    s.append(T0 + CHUNK_MS + 90_000, [Sample(k, -1.0) for k in KEYS])
    assert s.commit()
    try:
        yield s
    finally:
        s.close()


def _compact_on_first_chunk_fetch(reader: Any, writer: Store) -> list[int]:
    """Make ``reader`` run a compaction of ``writer`` right after its first chunk fetch:
    the moment between reading the chunks and the head rows of a series."""
    fired: list[int] = []
    fetch = reader._packs_of  # a series' chunk rows (packs), bucket by bucket

    def fetch_then_compact(
        buckets: range, sid: int, last_sid: int | None = None
    ) -> list[tuple[int, bytes]]:
        rows: list[tuple[int, bytes]] = fetch(buckets, sid, last_sid)
        if not fired:
            writer.maintain()
            fired.append(writer.stats().compacted_until_ms)
        return rows

    reader._packs_of = fetch_then_compact
    return fired


def test_a_compaction_between_chunk_and_head_reads_hides_no_sample(store: Store) -> None:
    fired = _compact_on_first_chunk_fetch(store, store)
    data = store.read('{__name__="ewrace_value"}', T0, T0 + 2 * CHUNK_MS, resolution="raw")
    assert fired == [T0 + CHUNK_MS]  # the bucket was compacted in the middle of the read
    assert [len(d.ts) for d in data] == [61, 61, 61]
    assert data[0].ts.tolist() == [*range(T0, T0 + CHUNK_MS, 10_000), T0 + CHUNK_MS + 90_000]


def test_a_read_only_reader_racing_a_compaction_hides_no_sample(store: Store) -> None:
    reader = Store.open(store.path, readonly=True)
    try:
        fired = _compact_on_first_chunk_fetch(reader, store)
        data = reader.read('{__name__="ewrace_value"}', T0, T0 + 2 * CHUNK_MS, resolution="raw")
    finally:
        reader.close()
    assert fired == [T0 + CHUNK_MS]
    assert [len(d.ts) for d in data] == [61, 61, 61]


def test_one_read_of_many_series_masks_the_head_once(tmp_path: Path) -> None:
    """The head is grouped once per read (and range), not scanned once per series."""
    s = Store.open(tmp_path / "data", StoreOptions(timestamp_tolerance=0), clock=lambda: T0 / 1000)
    try:
        keys = [SeriesKey.of("ewrace_many", i=str(i)) for i in range(200)]
        ids = np.array([s.series_id(k) for k in keys], dtype=np.int32)
        for t in range(120):
            s.append_ids(T0 + t * 1000, ids, np.arange(200, dtype=np.float64) + t)
        scans = 0
        rows_for = s._head.rows_for

        def counting(sid: int) -> Any:
            nonlocal scans
            scans += 1
            return rows_for(sid)

        s._head.rows_for = counting  # type: ignore[method-assign]
        data = s.read("ewrace_many", T0 + 50_001, T0 + 55_000, resolution="raw")
        assert scans == 0
        assert [d.ts.tolist() for d in data] == [list(range(T0 + 51_000, T0 + 56_000, 1000))] * 200
        got = {d.key: d.values.tolist() for d in data}
        assert got[keys[7]] == [7.0 + t for t in range(51, 56)]
        s.append(T0 + 52_500, [Sample(keys[7], -5.0)])  # the head changed: grouped again
        [d7] = s.read('ewrace_many{i="7"}', T0 + 50_001, T0 + 55_000, resolution="raw")
        assert d7.values.tolist() == [58.0, 59.0, -5.0, 60.0, 61.0, 62.0]
    finally:
        s.close()
