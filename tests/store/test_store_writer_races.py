"""The writer under stress: appends during a commit, failing compactions, writer errors,
clock steps and non-canonical keys. Each test injects the fault through a Store subclass
that wraps a real step (the SQLite file stays real)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from store_helpers import BASE_MS, Clock

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions
from edgewatch.store.codec import decode_block

KEY = SeriesKey.of("m")


def _head_samples(path: Path) -> int:
    conn = sqlite3.connect(path / "edgewatch.db")
    try:
        return sum(len(decode_block(b).ts) for (b,) in conn.execute("SELECT data FROM head"))
    finally:
        conn.close()


class Racing(Store):
    """Runs ``during`` inside the next write transaction, as another thread would."""

    during: Callable[[], None] | None = None
    fail: int = 0  # how many of the next transactions fail like a full disk

    def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> bool:
        if self.during is not None:
            during, self.during = self.during, None
            during()
        if self.fail:
            self.fail -= 1

            def full(conn: sqlite3.Connection) -> None:
                raise sqlite3.OperationalError("database or disk is full")

            return super()._transaction(full)
        return super()._transaction(work)


def test_appends_during_a_commit_at_the_cap_never_mark_unwritten_rows_committed(
    data_dir: Path, clock: Clock
) -> None:
    store = Racing.open(data_dir, StoreOptions(max_pending_samples=100), clock=clock)
    for i in range(100):
        store.append(BASE_MS + i * 1000, [Sample(KEY, float(i))])
    store.during = lambda: [
        store.append(BASE_MS + i * 1000, [Sample(KEY, float(i))]) for i in range(100, 110)
    ]
    assert store.commit()
    dropped = store.stats().dropped_samples
    assert dropped == 10  # the newest rows went, not the ones being written
    store.close()
    reopened = Store.open(data_dir, clock=clock)
    got = reopened.read("m", BASE_MS, BASE_MS + 10**6)[0]
    assert got.values.tolist() == [float(i) for i in range(100)]
    reopened.close()


def test_a_failing_compaction_does_not_write_the_head_again(data_dir: Path, clock: Clock) -> None:
    store = Racing.open(data_dir, StoreOptions(), clock=clock)
    n = 900
    for i in range(n):
        store.append(BASE_MS + i * 1000, [Sample(KEY, float(i))])
    assert store.commit()
    clock.ms = BASE_MS + n * 1000
    for _ in range(3):  # compaction fails, the commits in between succeed
        store.fail = 1
        store.maintain()
        assert store.commit()
        assert _head_samples(data_dir) == n
    store.maintain()  # the disk has room again
    assert store.stats().compacted_until_ms > BASE_MS
    got = store.read("m", BASE_MS, BASE_MS + 10**6)[0]
    assert got.values.tolist() == [float(i) for i in range(n)]
    store.close()


def test_writer_errors_are_logged_once_and_the_writer_keeps_going(
    data_dir: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Store):
        calls = 0

        def maintain(self) -> None:
            Broken.calls += 1
            raise RuntimeError("boom")

    store = Broken.open(data_dir, StoreOptions(commit_interval_s=0.02), clock=clock)
    store.append(BASE_MS, [Sample(KEY, 1.0)])
    with caplog.at_level(logging.ERROR, logger="edgewatch.store.store"):
        store.start()
        deadline = time.monotonic() + 5
        while Broken.calls < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        store.close()
    assert Broken.calls >= 5
    assert store.write_errors >= 5
    assert len([r for r in caplog.records if "writer error" in r.getMessage()]) == 1


def test_late_samples_after_a_backward_clock_step_are_merged_at_most_every_interval(
    data_dir: Path, clock: Clock
) -> None:
    merges: list[int] = []

    class Counting(Store):
        def _write_chunks(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            merges.append(1)
            return super()._write_chunks(*args, **kwargs)

    store = Counting.open(data_dir, StoreOptions(), clock=clock)
    for i in range(1500):
        store.append(BASE_MS + i * 1000, [Sample(KEY, float(i))])
    clock.ms = BASE_MS + 1500 * 1000
    store.commit()
    store.maintain()
    assert len(merges) == 1
    # The clock steps back an hour: every new sample is older than what is compacted.
    for tick in range(20):
        store.append(BASE_MS - 3_600_000 + tick * 1000, [Sample(KEY, -1.0)])
        store.commit()
        store.maintain()
    assert len(merges) == 2  # one late merge, then the rest wait
    got = store.read("m", BASE_MS - 3_600_000, BASE_MS + 10**7)[0]
    assert len(got.ts) == 1500 + 20  # waiting samples are readable from the head
    store.close()


def test_a_key_with_unsorted_labels_keeps_its_series_across_restarts(
    data_dir: Path, clock: Clock
) -> None:
    raw = SeriesKey("m", (("b", "2"), ("a", "1")))  # not built with SeriesKey.of
    store = Store.open(data_dir, clock=clock)
    store.append(BASE_MS, [Sample(raw, 1.0)])
    store.close()
    store = Store.open(data_dir, clock=clock)
    store.append(BASE_MS + 1000, [Sample(raw, 2.0)])
    store.close()
    store = Store.open(data_dir, readonly=True, clock=clock)
    (data,) = store.read('m{a="1",b="2"}', BASE_MS, BASE_MS + 10_000)
    assert data.values.tolist() == [1.0, 2.0]
    assert len(store.series()) == 1
    store.close()


def test_pending_cap_drops_in_batches_not_per_append(data_dir: Path, clock: Clock) -> None:
    store = Store.open(data_dir, StoreOptions(max_pending_samples=1000), clock=clock)
    for i in range(1001):
        store.append(BASE_MS + i * 1000, [Sample(KEY, float(i))])
    assert store.stats().dropped_samples == 100  # a tenth of the cap at once
    for i in range(1001, 1050):
        store.append(BASE_MS + i * 1000, [Sample(KEY, float(i))])
    assert store.stats().dropped_samples == 100  # room left: nothing more dropped
    got = store.read("m", BASE_MS, BASE_MS + 10**7)[0]
    assert got.values[0] == 100.0 and len(got.ts) == 950
    assert np.all(np.diff(got.ts) > 0)
    store.close()
