"""Alerting benchmark, in named sections (``--sections``, default all).

``anomaly``: the anomaly functions on a week of synthetic "normal" data at
10 s resolution, stored in a real store in a temporary directory:

- ``inference_latency_seconds``: a daily pattern plus heavy-tailed noise;
- ``system_cpu_usage_ratio``: a daily pattern, noise, and short bursts near
  100 % (about a dozen a day, 30 s to 2 min: normal for a vision device);
- ``node_thermal_zone_temp``: a daily cycle plus a slow random drift,
  quantised to 0.5 °C as many sensors report it.

For each function (``robust_zscore_over_time(x[1h])``,
``ewma_zscore_over_time(x[1h], 0.01)``), threshold (3, 4, 5) and ``for``
(2m, 0) the rule ``score > threshold`` is evaluated once a minute over the
week: the score by one range query at a 60 s step (the same values instant
evaluations give), the alert by ``edgewatch.alerting.lifecycle.step``. Printed:
alerts fired per day and the fraction of evaluations above the threshold (the
false-positive rate: nothing in the data is an anomaly); then, on a copy of
each signal with 8 injected anomalies (latency +20 ms for 10 min, CPU pegged
for 15 min, temperature +10 °C), the share detected and the median delay from
the anomaly's start to the alert firing. Also the median time of one instant
evaluation of the rule and of the week-long range query.

    python bench/alerting.py                      # about a minute on 2 cores
    python bench/alerting.py --sections anomaly

The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgewatch.alerting.lifecycle import Alert, AlertPolicy, AlertState, Observation, step
from edgewatch.model import SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions

Figures = dict[str, float]

# -- section: anomaly ------------------------------------------------------------------

STEP_MS = 10_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
END_MS = 1_790_000_040_000  # minute-aligned; the store's clock is pinned after it
START_MS = END_MS - WEEK_MS
EVAL_MS = 60_000  # evaluation interval
FORS = (120.0, 0.0)  # the rule's ``for``: 2m, and 0 (fire on the first evaluation)
THRESHOLDS = (3.0, 4.0, 5.0)
INJECTED = 8
DETECT_GRACE_MS = 10 * 60_000  # an alert this long after an anomaly ended still counts
FUNCTIONS = {
    "robust": "robust_zscore_over_time({sel}[1h])",
    "ewma": "ewma_zscore_over_time({sel}[1h], 0.01)",
}


@dataclass(frozen=True)
class Signal:
    name: str  # short name in the figures
    metric: str
    labels: dict[str, str]
    anomaly_ms: int  # duration of an injected anomaly

    def selector(self, variant: str) -> str:
        matchers = ", ".join(f'{k}="{v}"' for k, v in {**self.labels, "variant": variant}.items())
        return f"{self.metric}{{{matchers}}}"


SIGNALS = (
    Signal("latency", "inference_latency_seconds", {"model": "detector"}, 10 * 60_000),
    Signal("cpu", "system_cpu_usage_ratio", {"cpu": "total"}, 15 * 60_000),
    Signal("temp", "node_thermal_zone_temp", {"type": "cpu-thermal", "zone": "0"}, 25 * 60_000),
)


def _normal(signal: str, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(ts)
    phase = 2 * np.pi * (ts - START_MS) / DAY_MS
    if signal == "latency":
        noise = 0.002 * np.clip(rng.standard_t(4, n), -15, 15)
        return np.round(0.050 + 0.012 * np.sin(phase - np.pi / 2) + noise, 5)
    if signal == "cpu":
        cpu = 0.25 + 0.1 * np.sin(phase - np.pi / 2) + rng.normal(0, 0.03, n)
        for start in rng.choice(n, size=12 * 7, replace=False):
            length = int(rng.integers(3, 13))  # 30 s to 2 min
            cpu[start : start + length] = rng.uniform(0.85, 0.98)
        return np.round(np.clip(cpu, 0, 1), 3)
    drift = np.cumsum(rng.normal(0, 0.01, n))
    drift -= np.linspace(drift[0], drift[-1], n)  # a random walk that ends where it began
    temp = 48 + 4 * np.sin(phase - np.pi / 2) + drift + rng.normal(0, 0.15, n)
    return np.round(temp * 2) / 2


def _inject(signal: Signal, values: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Adds ``INJECTED`` anomalies to ``values`` in place; returns their start indices."""
    n, length = len(values), signal.anomaly_ms // STEP_MS
    # One anomaly in each of INJECTED equal slices of the last 6 days, apart from the others.
    edges = np.linspace(n // 7, n, INJECTED + 1).astype(int)
    starts = [int(rng.integers(a, b - 3 * length)) for a, b in itertools.pairwise(edges)]
    for s in starts:
        part = slice(s, s + length)
        if signal.name == "latency":
            values[part] += 0.020
        elif signal.name == "cpu":
            values[part] = np.round(rng.uniform(0.99, 1.0, length), 3)
        else:
            values[part] += np.minimum(np.arange(length) / 30, 1.0) * 10  # +10 °C in 5 min
    return starts


def _build(path: Path, seed: int) -> dict[str, list[int]]:
    """The week's store at ``path``; returns each signal's injected anomaly start times."""
    rng = np.random.default_rng(seed)
    ts = np.arange(START_MS, END_MS, STEP_MS, dtype=np.int64)
    store = Store.open(path, StoreOptions(timestamp_tolerance=0.0), clock=lambda: END_MS / 1000)
    starts: dict[str, list[int]] = {}
    try:
        for signal in SIGNALS:
            normal = _normal(signal.name, ts, rng)
            injected = normal.copy()
            starts[signal.name] = [int(ts[i]) for i in _inject(signal, injected, rng)]
            for variant, values in (("normal", normal), ("injected", injected)):
                key = SeriesKey.of(signal.metric, {**signal.labels, "variant": variant})
                sid = store.series_id(key)
                for a in range(0, len(ts), 8640):  # a day at a time, as the agent would
                    part = slice(a, a + 8640)
                    store.append_ids(ts[part], np.full(len(ts[part]), sid, np.int32), values[part])
                    store.commit()
        store.maintain()
    finally:
        store.close()
    return starts


def _fired_at(times_s: np.ndarray, active: np.ndarray, for_s: float) -> list[float]:
    """Times an alert went to firing, evaluating ``active`` with ``for: <for_s>``."""
    policy = AlertPolicy(for_s=for_s)
    alert: Alert | None = None
    fired: list[float] = []
    for t, on in zip(times_s.tolist(), active.tolist(), strict=True):
        if not on and (alert is None or alert.state == AlertState.INACTIVE):
            continue  # nothing would change: skip the call
        alert, transitions = step(alert, Observation(t, active=on), policy)
        fired += [tr.time_s for tr in transitions if tr.to_state == AlertState.FIRING]
    return fired


def _detection(fired: np.ndarray, starts_ms: list[int], signal: Signal) -> tuple[float, float]:
    """(share of the anomalies an alert fired for, median delay in s from their start)."""
    delays = []
    for s in starts_ms:
        end_s = (s + signal.anomaly_ms + DETECT_GRACE_MS) / 1000
        within = fired[(fired >= s / 1000) & (fired <= end_s)]
        if len(within):
            delays.append(float(within[0]) - s / 1000)
    return len(delays) / len(starts_ms), statistics.median(delays) if delays else float("nan")


def _scores(engine: Engine, expr: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(evaluation times in s, score or NaN, seconds the range query took)."""
    first = START_MS + 3_600_000  # after one full window
    steps = np.arange(first, END_MS + 1, EVAL_MS, dtype=np.int64)
    started = time.perf_counter()
    result = engine.range(expr, first, END_MS, EVAL_MS)
    took = time.perf_counter() - started
    score = np.full(len(steps), np.nan)
    if result.series:
        (series,) = result.series
        score[np.searchsorted(steps, series.ts)] = series.values
    return steps / 1000, score, took


def _instant_ms(engine: Engine, expr: str, rng: np.random.Generator) -> float:
    times = rng.integers(START_MS + 3_600_000, END_MS, 100)
    took = []
    for t in times.tolist():
        started = time.perf_counter()
        engine.instant(expr, int(t))
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def anomaly_section(args: argparse.Namespace) -> Figures:
    figures: Figures = {}
    rng = np.random.default_rng(args.seed + 1)
    with tempfile.TemporaryDirectory(prefix="edgewatch-bench-alerting-") as tmp:
        started = time.perf_counter()
        starts = _build(Path(tmp) / "data", args.seed)
        print(f"store: 3 signals x 2 variants, a week at 10 s, built in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        store = Store.open(Path(tmp) / "data", readonly=True)
        try:
            engine = Engine(store)
            print(f"\n{'signal':8s} {'function':8s} {'thr':>4s} {'for':>4s} {'alerts/day':>10s} "
                  f"{'above %':>8s} {'detected':>9s} {'delay p50':>10s}")  # fmt: skip
            for signal in SIGNALS:
                for fn, template in FUNCTIONS.items():
                    normal_expr = template.format(sel=signal.selector("normal"))
                    times, score, took = _scores(engine, normal_expr)
                    figures[f"anomaly_range_week_s_{fn}_{signal.name}"] = round(took, 3)
                    hit_expr = template.format(sel=signal.selector("injected"))
                    _, hit_score, _ = _scores(engine, hit_expr)
                    for thr in THRESHOLDS:
                        above = np.nan_to_num(score, nan=-np.inf) > thr
                        hit_above = np.nan_to_num(hit_score, nan=-np.inf) > thr
                        for for_s in FORS:
                            per_day = len(_fired_at(times, above, for_s)) / 7
                            fired = np.array(_fired_at(times, hit_above, for_s))
                            detected, delay = _detection(fired, starts[signal.name], signal)
                            key = f"anomaly_{fn}_{signal.name}_t{thr:g}_for{for_s:g}s"
                            figures[f"{key}_alerts_per_day"] = round(per_day, 3)
                            figures[f"{key}_detected_ratio"] = round(detected, 3)
                            figures[f"{key}_delay_s"] = round(delay, 1)
                            print(f"{signal.name:8s} {fn:8s} {thr:4g} {for_s:3g}s {per_day:10.2f} "
                                  f"{100 * above.mean():8.3f} {detected:9.0%} "
                                  f"{delay:9.0f}s")  # fmt: skip
                        key = f"anomaly_{fn}_{signal.name}_t{thr:g}"
                        figures[f"{key}_above_ratio"] = round(float(above.mean()), 6)
            print("\n(false positives: the normal week; detection: 8 injected anomalies each)")
            sel = SIGNALS[0].selector("normal")
            for fn, template in FUNCTIONS.items():
                expr = f"{template.format(sel=sel)} > 4"
                ms = _instant_ms(engine, expr, rng)
                figures[f"anomaly_instant_eval_ms_{fn}"] = round(ms, 3)
                print(f"one instant evaluation of {expr}: {ms:.2f} ms (median of 100)")
            for fn in FUNCTIONS:
                took = figures[f"anomaly_range_week_s_{fn}_latency"]
                print(f"range query over the week at a 60 s step, {fn}: {took:.2f} s")
        finally:
            store.close()
    return figures


# -- main --------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[argparse.Namespace], Figures]] = {
    "anomaly": anomaly_section,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}",
    )
    parser.add_argument("--seed", type=int, default=5, help="seed of the synthetic data")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    figures: Figures = {}
    for name in chosen:
        print(f"== {name} ==")
        figures.update(SECTIONS[name](args))
        print()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
