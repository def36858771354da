"""Availability, incidents and MTTR from stored check statuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgewatch.health.availability import availability, from_samples
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

MIN = 60_000
T0 = 1_767_225_600_000


def test_time_weighted_with_gaps_and_incidents() -> None:
    # one sample a minute for 10 minutes: pass x4, fail x2, warn, gap of 5 min, pass x2
    ts = np.array([0, 1, 2, 3, 4, 5, 6, 12, 13], dtype=np.int64) * MIN + T0
    codes = np.array([0, 0, 0, 0, 2, 2, 1, 0, 0], dtype=np.float64)
    a = from_samples("cam", ts, codes, T0, T0 + 14 * MIN, max_gap_ms=2 * MIN)
    # up: minutes 0-4 (4 min) + warn 6-8 (held 2 min, max gap) + 12-14 (2 min) = 8 min
    assert a.up_ms == 8 * MIN
    assert a.down_ms == 2 * MIN  # minutes 4-6
    assert a.no_data_ms == 4 * MIN  # 8-12 beyond the max gap
    assert a.ratio == 0.8
    (incident,) = a.incidents
    assert (incident.start_ms, incident.end_ms) == (T0 + 4 * MIN, T0 + 6 * MIN)
    assert a.mttr_ms == 2 * MIN


def test_an_open_incident_and_nothing_measured() -> None:
    ts = np.array([0, 1], dtype=np.int64) * MIN + T0
    a = from_samples("x", ts, np.array([0.0, 2.0]), T0, T0 + 3 * MIN, max_gap_ms=5 * MIN)
    assert a.incidents[0].end_ms is None and a.mttr_ms is None
    assert a.down_ms == 2 * MIN and a.up_ms == MIN
    empty = from_samples("y", ts[:0], np.zeros(0), T0, T0 + MIN, max_gap_ms=MIN)
    assert empty.ratio is None and empty.no_data_ms == MIN


def test_reads_the_stored_series(tmp_path: Path) -> None:
    store = Store.open(tmp_path, StoreOptions(timestamp_tolerance=0.0))
    key = SeriesKey.of("edgewatch_check_status", check="cam", component="camera", kind="file")
    other = SeriesKey.of("edgewatch_check_status", check="other", component="x", kind="file")
    for i in range(60):  # an hour at 1 min: down for minutes 30..39
        store.append(T0 + i * MIN, [Sample(key, 2.0 if 30 <= i < 40 else 0.0),
                                    Sample(other, 2.0)])  # fmt: skip
    store.commit()
    a = availability(store, "cam", T0, T0 + 60 * MIN, max_gap_ms=2 * MIN)
    store.close()
    assert a.down_ms == 10 * MIN and a.up_ms == 50 * MIN
    assert a.ratio is not None and abs(a.ratio - 50 / 60) < 1e-12
    assert [(i.start_ms - T0) // MIN for i in a.incidents] == [30]


def test_older_than_the_raw_retention_reads_the_minute_rollups(tmp_path: Path) -> None:
    # 3 days of a check at 10 s; raw samples are kept 1 day here, rollups longer.
    day = 1440 * MIN
    end = T0 + 3 * day
    options = StoreOptions(timestamp_tolerance=0.0, raw_retention_s=86_400)
    writer = Store.open(tmp_path, options, clock=lambda: end / 1000)
    key = SeriesKey.of("edgewatch_check_status", check="cam", component="camera", kind="file")
    for i in range(3 * 8640):
        t = T0 + i * 10_000
        down = 600 * MIN <= t - T0 < 660 * MIN  # an hour down on the first day
        writer.append(t, [Sample(key, 2.0 if down else 0.0)])
        if i % 5000 == 0:
            writer.commit()
    writer.commit()
    writer.maintain()  # compaction, rollups, then retention drops day 1 and 2's raw chunks
    writer.close()
    reader = Store.open(tmp_path, readonly=True)
    try:
        raw = reader.read("edgewatch_check_status", T0, end, resolution="raw")[0]
        assert raw.ts[0] > T0 + day  # the first day's raw samples are gone
        a = availability(reader, "cam", T0, end, max_gap_ms=30_000)
    finally:
        reader.close()
    assert a.down_ms == 60 * MIN  # the outage, from rollups, to the minute
    assert a.no_data_ms < 2 * MIN  # the whole period is covered
    assert [(i.start_ms - T0) // MIN for i in a.incidents] == [600]


def test_an_incident_ends_at_most_max_gap_after_its_last_failure() -> None:
    # fail at 0, 10, 20 s, then nothing for an hour, then a pass: the hour is no data,
    # not down time, and the incident lasts as long as the down time says.
    gap = 30_000
    ts = np.array([0, 10_000, 20_000, 20_000 + 60 * MIN], dtype=np.int64) + T0
    codes = np.array([2.0, 2.0, 2.0, 0.0])
    a = from_samples("cam", ts, codes, T0, T0 + 62 * MIN, max_gap_ms=gap)
    (incident,) = a.incidents
    assert (incident.start_ms, incident.end_ms) == (T0, T0 + 20_000 + gap)
    assert a.down_ms == 20_000 + gap == incident.duration_ms(0) == a.mttr_ms
    # Clipped to the period: a run that began before it starts at its start.
    late = from_samples("cam", ts, codes, T0 + 5_000, T0 + 62 * MIN, max_gap_ms=gap)
    assert [(i.start_ms, i.end_ms) for i in late.incidents] == [(T0 + 5_000, T0 + 20_000 + gap)]
    # A run that ended before the period began is not one of its incidents.
    after = from_samples("cam", ts, codes, T0 + 30 * MIN, T0 + 62 * MIN, max_gap_ms=gap)
    assert after.incidents == () and after.down_ms == 0
