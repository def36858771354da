"""Helpers shared by the store tests (imported by name: tests/store is on sys.path)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import SeriesData, Store

# A realistic epoch, aligned on a day (so on every bucket, window and rollup).
BASE_MS = 1_700_006_400_000
MINUTE = 60_000
HOUR = 3_600_000
BUCKET = 600_000  # raw chunk width


class Clock:
    """Wall clock the test moves by hand (seconds, like time.time)."""

    def __init__(self, ms: int = BASE_MS) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


def fill(
    store: Store,
    keys: Sequence[SeriesKey],
    ts: Sequence[int] | np.ndarray,
    rng: np.random.Generator,
) -> dict[SeriesKey, tuple[np.ndarray, np.ndarray]]:
    """Append one random value per key at each timestamp; return what was appended."""
    ts_arr = np.asarray(ts, dtype=np.int64)
    kinds = ["float", "decimal", "counter"]
    values = {}
    for i, key in enumerate(keys):
        kind = kinds[i % len(kinds)]
        if kind == "float":
            vals = rng.normal(50.0, 10.0, len(ts_arr))
        elif kind == "decimal":
            vals = np.round(rng.uniform(0, 100, len(ts_arr)), 1)
        else:
            vals = np.cumsum(rng.integers(0, 5000, len(ts_arr))).astype(np.float64)
        values[key] = vals
    for j, t in enumerate(ts_arr.tolist()):
        store.append(t, [Sample(k, float(values[k][j])) for k in keys])
    return {k: (ts_arr, values[k]) for k in keys}


def by_key(data: list[SeriesData]) -> dict[SeriesKey, SeriesData]:
    return {d.key: d for d in data}


def assert_series(got: SeriesData, ts: np.ndarray, values: np.ndarray) -> None:
    """Exactly these samples, in order, no duplicates."""
    np.testing.assert_array_equal(got.ts, ts)
    np.testing.assert_array_equal(got.values, values)


KEYS = [
    SeriesKey.of("node_load1"),
    SeriesKey.of("system_cpu_usage_ratio", cpu="0"),
    SeriesKey.of("node_network_receive_bytes_total", device="eth0"),
    SeriesKey.of("system_cpu_usage_ratio", cpu="1"),
]
