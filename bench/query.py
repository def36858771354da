"""Query engine benchmark: latency of typical dashboard range queries.

Builds a store in a temporary directory with 24 hours of 10 s samples for 50
series of a counter family and 50 of a gauge family (and 7 days of one counter
for the long-range case), then times the engine (no HTTP) on:

- ``rate(bench_requests_total{i="0"}[5m])`` over 24 h at step 60 s (one series)
- ``avg_over_time(bench_temperature{i="0"}[5m])`` over 24 h at step 60 s (one series)
- ``sum by (group) (rate(bench_requests_total[5m]))`` over 24 h at step 60 s (50 series)
- ``rate(bench_week_total[5m])`` over 7 days at step 1 h (one series)

    python bench/query.py               # about a minute on 2 cores
    python bench/query.py --reps 50

Prints p50 and p99 in milliseconds per query and the samples each loaded (the
7-day case reads 1-minute rollups), the issue's target, and as the last line
one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgewatch.config import QueryConfig
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions

STEP_S = 10
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
N_SERIES = 50
GROUPS = 5
END_MS = 1_790_000_040_000  # minute-aligned; the store's clock is pinned here
TARGET_P50_MS = 50.0


def build_store(path: Path, seed: int = 11) -> tuple[int, float]:
    """Fill a store at ``path``; returns (samples written, seconds taken)."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    store = Store.open(path, StoreOptions(), clock=lambda: END_MS / 1000)
    written = 0
    try:
        day = np.arange(END_MS - DAY_MS, END_MS, STEP_S * 1000, dtype=np.int64)
        counters = np.cumsum(rng.poisson(30.0, (len(day), N_SERIES)), axis=0).astype(np.float64)
        gauges = np.round(50 + np.cumsum(rng.normal(0, 0.2, (len(day), N_SERIES)), axis=0), 2)
        c_keys = [
            SeriesKey.of("bench_requests_total", i=str(i), group=str(i % GROUPS))
            for i in range(N_SERIES)
        ]
        g_keys = [
            SeriesKey.of("bench_temperature", i=str(i), group=str(i % GROUPS))
            for i in range(N_SERIES)
        ]
        week = np.arange(END_MS - WEEK_MS, END_MS, STEP_S * 1000, dtype=np.int64)
        week_vals = np.cumsum(rng.poisson(5.0, len(week))).astype(np.float64)
        week_key = SeriesKey.of("bench_week_total", i="0")
        in_day = len(week) - len(day)
        for j, t in enumerate(week.tolist()):
            samples = [Sample(week_key, float(week_vals[j]))]
            if j >= in_day:
                k = j - in_day
                samples += [
                    Sample(key, v) for key, v in zip(c_keys, counters[k].tolist(), strict=True)
                ]
                samples += [
                    Sample(key, v) for key, v in zip(g_keys, gauges[k].tolist(), strict=True)
                ]
            store.append(t, samples)
            written += len(samples)
            # Commit every hour of ticks (the head holds at most max_pending_samples
            # uncommitted) and compact once a day, as the agent's writer would.
            if j % 360 == 359:
                store.commit()
            if j % 8640 == 8639:
                store.maintain()
        store.commit()
        store.maintain()
    finally:
        store.close()
    return written, time.perf_counter() - started


def measure(run: Callable[[], object], reps: int) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, repetitions) of ``run`` after one warm-up call."""
    run()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99, len(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="repetitions per query (>= 20)")
    args = parser.parse_args(argv)
    reps = max(20, args.reps)
    with tempfile.TemporaryDirectory(prefix="edgewatch-bench-query-") as tmp:
        path = Path(tmp) / "data"
        written, build_s = build_store(path)
        print(f"store: {written:,} samples written in {build_s:.1f} s")
        store = Store.open(path, StoreOptions(), clock=lambda: END_MS / 1000)
        try:
            engine = Engine(store, QueryConfig())
            day = (END_MS - DAY_MS, END_MS, 60_000)
            week = (END_MS - WEEK_MS, END_MS, 3_600_000)
            cases = [
                ("rate_1_series_24h", 'rate(bench_requests_total{i="0"}[5m])', day),
                ("avg_over_time_1_series_24h", 'avg_over_time(bench_temperature{i="0"}[5m])', day),
                (
                    "sum_by_rate_50_series_24h",
                    "sum by (group) (rate(bench_requests_total[5m]))",
                    day,
                ),
                ("rate_1_series_7d_step_1h", "rate(bench_week_total[5m])", week),
            ]
            figures: dict[str, float] = {}
            header = f"{'query':60s} {'range':>6s} {'step':>5s} {'p50 ms':>8s} {'p99 ms':>8s}"
            print(f"\n{header} {'n':>4s} {'samples':>9s}")
            for name, expr, (start, end, step) in cases:

                def run(
                    expr: str = expr, start: int = start, end: int = end, step: int = step
                ) -> object:
                    return engine.range(expr, start, end, step)

                p50, p99, n = measure(run, reps)
                loaded = engine.range(expr, start, end, step).samples_loaded
                span = "24h" if end - start == DAY_MS else "7d"
                timing = f"{p50:8.2f} {p99:8.2f} {n:4d} {loaded:9,d}"
                print(f"{expr:60s} {span:>6s} {step // 1000:>4d}s {timing}")
                figures[f"{name}_p50_ms"] = round(p50, 3)
                figures[f"{name}_p99_ms"] = round(p99, 3)
        finally:
            store.close()
    worst = max(figures["rate_1_series_24h_p50_ms"], figures["avg_over_time_1_series_24h_p50_ms"])
    verdict = "met" if worst < TARGET_P50_MS else "MISSED"
    print(
        f"\ntarget: 24 h range query over one series under {TARGET_P50_MS:g} ms p50: "
        f"{worst:.2f} ms ({verdict})"
    )
    figures["store_build_s"] = round(build_s, 2)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
