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

``evaluation``: a device's store (62 series: CPU, memory, filesystems, network,
temperatures, services, and 7 pushed application metrics; 6 h at 10 s, written
through ``Store.append``) and 1,000 rules of 12 realistic shapes (instant
thresholds, ``avg_over_time``, ``rate``, ``predict_linear``, ``sum by``, with
``for``, ``clear``, ``severities`` and ``nodata_after``; one in ten fires) in
10 groups, evaluated by the real ``RuleEvaluator`` with a real ``AlertStore`` and
a sink writing into the store. Printed: wall and CPU time of one cycle (every
group once), per rule, and the share of one core at a 60 s interval (target:
a cycle under 1 s); the same for the built-in rule pack at its own intervals.

``latency``: the real agent (``python -m edgewatch run``) with a ``for: 0`` rule
evaluated every second and a route with ``group_wait: 0s`` to a webhook on
loopback here; ``POST /api/push`` crosses the threshold. Printed: the time from
the push to the webhook's arrival (target: under 2 s), and to the resolved
message once the value goes back down; both clocks are this process's
``time.monotonic()``.

    python bench/alerting.py                      # about two minutes on 2 cores
    python bench/alerting.py --sections evaluation,latency

The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import yaml

from edgewatch.alerting.evaluator import LoadedGroup, RuleEvaluator
from edgewatch.alerting.lifecycle import Alert, AlertPolicy, AlertState, Observation, step
from edgewatch.alerting.loading import load_rule_groups
from edgewatch.alerting.rules import parse_rule_file
from edgewatch.alerting.state import AlertStore
from edgewatch.config.alerting import AlertingConfig
from edgewatch.model import Sample, SeriesKey
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


# -- section: evaluation ---------------------------------------------------------------

EVAL_STEP_MS = 10_000  # the collectors' interval
EVAL_HOURS = 6  # history in the store before the first cycle
EVAL_END_MS = 1_790_000_040_000
EVAL_CYCLES = 10  # measured cycles, one a minute of data time (after one warm-up)
EVAL_GROUPS = 10
EVAL_RULES = 1000
EVAL_INTERVAL_S = 60.0  # the interval the CPU share of the 1,000 rules is given at

MOUNTS = (("/", "mmcblk0p2", "ext4"), ("/data", "sda1", "ext4"), ("/boot", "mmcblk0p1", "vfat"))
NICS = ("eth0", "wlan0")
CAMERAS = ("front", "back")


@dataclass(frozen=True)
class Spec:
    """A synthetic series: ``base`` + a daily wave of ``swing`` + noise, or a counter."""

    name: str
    labels: dict[str, str]
    base: float
    swing: float = 0.0
    counter: bool = False  # then ``base`` is the mean rate per second
    noise: float = 0.02  # standard deviation of the noise, relative to ``base``


def _device_specs() -> list[Spec]:
    """About 55 series a device's collectors write, and 7 pushed by an application."""
    s = [Spec("system_cpu_usage_ratio", {"cpu": "total"}, 0.35, 0.15)]
    s += [Spec("system_cpu_usage_ratio", {"cpu": str(c)}, 0.25 + 0.2 * c, 0.1) for c in range(4)]
    s += [Spec("system_memory_usage_ratio", {}, 0.62, 0.05),
          Spec("system_swap_used_bytes", {}, 2.0e7, 1.0e6),
          Spec("node_vmstat_pswpin", {}, 3.0, counter=True),
          Spec("node_vmstat_pswpout", {}, 5.0, counter=True)]  # fmt: skip
    for i, (mount, dev, fs) in enumerate(MOUNTS):
        labels = {"mountpoint": mount, "device": dev, "fstype": fs}
        used = (0.55, 0.91, 0.3)[i]
        s += [Spec("system_filesystem_usage_ratio", labels, used, 0.01),
              Spec("node_filesystem_avail_bytes", labels, (1 - used) * 3.2e10, 4e7 * (i == 1),
                   noise=1e-5),
              Spec("node_filesystem_size_bytes", labels, 3.2e10),
              Spec("node_filesystem_files", labels, 2.0e6),
              Spec("node_filesystem_files_free", labels, (1.7e6, 1.5e5, 1.9e6)[i], 1e3),
              Spec("node_filesystem_readonly", labels, 0.0)]  # fmt: skip
    for nic in NICS:
        labels = {"device": nic}
        s += [Spec("node_network_receive_bytes_total", labels, 2.5e5, counter=True),
              Spec("node_network_transmit_bytes_total", labels, 8.0e5, counter=True),
              Spec("node_network_receive_packets_total", labels, 400, counter=True),
              Spec("node_network_transmit_packets_total", labels, 700, counter=True),
              Spec("node_network_receive_errs_total", labels, 0.5 + 5 * (nic == "wlan0"),
                   counter=True),
              Spec("node_network_transmit_errs_total", labels, 0.1, counter=True),
              Spec("node_network_up", labels, 1.0)]  # fmt: skip
    for zone, kind, temp in ((0, "cpu-thermal", 62.0), (1, "gpu-thermal", 58.0), (2, "PMIC", 45.0)):
        s.append(Spec("node_thermal_zone_temp", {"zone": str(zone), "type": kind}, temp, 6.0))
    s += [Spec("node_disk_read_bytes_total", {"device": "mmcblk0"}, 3e4, counter=True),
          Spec("node_disk_written_bytes_total", {"device": "mmcblk0"}, 9e4, counter=True),
          Spec("node_timex_sync_status", {}, 1.0),
          Spec("node_systemd_unit_state", {"name": "vision.service", "state": "active"}, 1.0),
          Spec("node_systemd_unit_state", {"name": "vision.service", "state": "failed"}, 0.0),
          Spec("node_systemd_service_restart_total", {"name": "vision.service"}, 0.0,
               counter=True),
          Spec("node_systemd_service_restart_total", {"name": "uplink.service"}, 0.001,
               counter=True),
          Spec("edgewatch_samples_ingested_total", {}, 6.0, counter=True)]  # fmt: skip
    s += [Spec("edgewatch_collector_errors_total", {"collector": c}, 0.0, counter=True)
          for c in ("cpu", "memory", "disk")]  # fmt: skip
    for cam in CAMERAS:  # pushed by the application (POST /api/push)
        s += [Spec("vision_fps", {"camera": cam}, 29.0, 2.0),
              Spec("vision_inference_seconds", {"camera": cam, "model": "yolov8n"}, 0.045, 0.01),
              Spec("vision_frames_total", {"camera": cam}, 29.0, counter=True)]  # fmt: skip
    s.append(Spec("vision_queue_depth", {}, 3.0, 2.0))
    return s


def _values(spec: Spec, ts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(ts)
    if spec.counter:
        steps = rng.poisson(max(spec.base, 0.0) * EVAL_STEP_MS / 1000, n).astype(float)
        return np.cumsum(steps)
    wave = spec.swing * np.sin(2 * np.pi * ts / DAY_MS)
    noise = rng.normal(0, abs(spec.base) * spec.noise + 1e-9, n)
    if spec.name == "node_filesystem_avail_bytes" and spec.swing:
        wave = -spec.swing * (ts - ts[0]) / 3_600_000  # /data fills at `swing` bytes an hour
    return np.round(spec.base + wave + noise, 4)


def _rule(i: int) -> dict[str, object]:
    """Rule number ``i``: one of 12 realistic shapes. One rule in ten has its threshold
    below the data (it fires), the others a threshold above it, spread by ``i``."""
    f = (i * 0.6180339887) % 1.0
    m = 0.5 + 0.3 * f if i % 10 == 0 else 1.3 + f  # the threshold over the typical value
    cpu = ("total", "0", "1", "2", "3")[i % 5]
    c_typ = {"total": 0.35, "0": 0.25, "1": 0.45, "2": 0.65, "3": 0.85}[cpu]
    nic = NICS[i % 2]
    mount = MOUNTS[i % 3][0]
    days = 5 + f if i % 10 == 0 else 0.2 + f  # /data runs out in 3 days
    temp = 'node_thermal_zone_temp{type!~"PMIC.*"}'
    cpu_avg = f'avg_over_time(system_cpu_usage_ratio{{cpu="{cpu}"}}[5m])'
    errs = (f'rate(node_network_receive_errs_total{{device="{nic}"}}[5m]) '
            f'/ rate(node_network_receive_packets_total{{device="{nic}"}}[5m])')  # fmt: skip
    shapes: list[dict[str, object]] = [
        {"expr": f'system_cpu_usage_ratio{{cpu="{cpu}"}} > {c_typ * m:.3f}'},
        {"expr": f"{cpu_avg} > {c_typ * m:.3f}", "clear": f"{cpu_avg} < {c_typ * m * 0.9:.3f}",
         "for": "2m"},
        {"expr": f'rate(node_network_receive_bytes_total{{device="{nic}"}}[5m]) > {2.5e5 * m:.0f}'},
        {"expr": f'predict_linear(node_filesystem_avail_bytes{{mountpoint="{mount}"}}[1h], '
                 f"{86400 * days:.0f}) < 0", "for": "10m"},
        {"expr": f"sum by (device) (rate(node_network_transmit_bytes_total[5m])) > {8e5 * m:.0f}"},
        {"expr": f"{temp} > {62 * m:.1f}", "nodata_after": "5m",
         "severities": [{"severity": "warning", "expr": f"{temp} > {62 * m:.1f}"},
                        {"severity": "critical", "expr": f"{temp} > {62 * m + 10:.1f}"}]},
        {"expr": f"system_filesystem_usage_ratio > {0.91 * m:.3f}", "for": "5m"},
        {"expr": f"max_over_time(vision_inference_seconds[5m]) > {0.06 * m:.3f}", "for": "1m"},
        {"expr": f"increase(node_systemd_service_restart_total[15m]) > {1.0 * m:.2f}"},
        {"expr": f"vision_fps < {29 / m:.1f}", "nodata_after": "5m", "for": "1m"},
        {"expr": f"{errs} > {(0.014 if nic == 'wlan0' else 0.00125) * m:.5f}"},
        {"expr": f"system_memory_usage_ratio > {0.62 * m:.3f}",
         "clear": f"system_memory_usage_ratio < {0.62 * m * 0.95:.3f}", "for": "3m"},
    ]  # fmt: skip
    rule: dict[str, object] = {"alert": f"Bench{i:04d}", **shapes[i % len(shapes)]}
    rule["labels"] = {"team": f"t{i % 7}"}
    if "severities" not in rule:
        rule["labels"] = {"severity": "warning", "team": f"t{i % 7}"}
    summary = "{{ $labels.instance }} at {{ $value | humanize }}"
    rule["annotations"] = {"summary": summary} if i % 2 else {"summary": "a fixed text"}
    return rule


def _bench_groups() -> list[LoadedGroup]:
    per = EVAL_RULES // EVAL_GROUPS
    doc = {
        "groups": [
            {"name": f"bench-{g}", "interval": f"{EVAL_INTERVAL_S:g}s",
             "rules": [_rule(g * per + r) for r in range(per)]}
            for g in range(EVAL_GROUPS)
        ]
    }  # fmt: skip
    parsed = parse_rule_file(yaml.safe_dump(doc, sort_keys=False), file="bench-rules.yml")
    return [LoadedGroup("bench-rules.yml", g) for g in parsed.groups]


class _EvalStore:
    """The device's store, the data still to come, and a clock the cycles move."""

    def __init__(self, path: Path, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.now_ms = EVAL_END_MS
        first = EVAL_END_MS - EVAL_HOURS * 3_600_000
        last = EVAL_END_MS + 2 * (EVAL_CYCLES + 2) * 60_000  # two runs of cycles
        self.ts = np.arange(first, last + 1, EVAL_STEP_MS, dtype=np.int64)
        self.specs = _device_specs()
        self.keys = [SeriesKey.of(s.name, s.labels) for s in self.specs]
        self.values = np.stack([_values(s, self.ts, rng) for s in self.specs], axis=1)
        self.written = 0  # rows of ts written
        options = StoreOptions(timestamp_tolerance=0.0)
        self.store = Store.open(path, options, clock=lambda: self.now_ms / 1000)
        self.write_until(EVAL_END_MS)
        self.store.maintain()

    def write_until(self, end_ms: int) -> None:
        """Append every sample up to ``end_ms`` through Store.append, as the agent does."""
        stop = int(np.searchsorted(self.ts, end_ms, side="right"))
        for row in range(self.written, stop):
            samples = [
                Sample(k, float(v)) for k, v in zip(self.keys, self.values[row], strict=True)
            ]
            self.store.append(int(self.ts[row]), samples)
            if row % 60 == 59:
                self.store.commit()
        self.written = stop
        self.store.commit()

    def sink(self, ts_ms: int, samples: Sequence[Sample]) -> None:
        self.store.append(ts_ms, samples)


@dataclass(frozen=True)
class _Cycle:
    wall_s: float
    cpu_s: float
    group_cpu_s: dict[str, float]


def _cycles(
    data: _EvalStore, evaluator: RuleEvaluator, groups: Sequence[LoadedGroup], cycles: int
) -> list[_Cycle]:
    """One warm-up then ``cycles`` timed cycles, each a minute later; every group once each."""
    out: list[_Cycle] = []
    start_ms = data.now_ms
    for n in range(cycles + 1):
        data.now_ms = start_ms + n * 60_000
        data.write_until(data.now_ms)  # the minute of collection before (not timed)
        per_group: dict[str, float] = {}
        wall, cpu = time.perf_counter(), time.process_time()
        for group in groups:
            group_cpu = time.process_time()
            evaluator.evaluate_group(group, data.now_ms)
            per_group[group.key] = time.process_time() - group_cpu
        cycle = _Cycle(time.perf_counter() - wall, time.process_time() - cpu, per_group)
        data.store.commit()
        if n:
            out.append(cycle)
    return out


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def _firing(evaluator: RuleEvaluator) -> tuple[int, int]:
    alerts = evaluator.alerts()
    return sum(a.state is AlertState.FIRING for a in alerts), len(alerts)


def evaluation_section(args: argparse.Namespace) -> Figures:
    figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="edgewatch-bench-eval-") as tmp:
        started = time.perf_counter()
        data = _EvalStore(Path(tmp) / "data", args.seed)
        try:
            print(f"store: {len(data.specs)} series (incl. 7 pushed), {EVAL_HOURS} h at 10 s, "
                  f"built in {time.perf_counter() - started:.1f} s\n")  # fmt: skip
            engine = Engine(data.store)
            # The built-in pack first, over the device's series only (what every device pays).
            figures |= _default_pack(data, engine)
            db = data.store.path
            groups = _bench_groups()
            state = AlertStore(db, clock=lambda: data.now_ms / 1000)
            evaluator = RuleEvaluator(groups, engine, state=state, sink=data.sink)
            try:
                cycles = _cycles(data, evaluator, groups, EVAL_CYCLES)
                firing, active = _firing(evaluator)
            finally:
                state.close()
            unhealthy = sum(r.health != "ok" for g in evaluator.rule_status() for r in g.rules)
            wall = [c.wall_s for c in cycles]
            cpu = [c.cpu_s for c in cycles]
            rules = sum(len(g.group.rules) for g in groups)
            print(f"{rules} rules in {len(groups)} groups, {len(cycles)} cycles "
                  f"(after a warm-up), one a minute of data time:")  # fmt: skip
            print(f"{'per cycle':24s} {'p50':>9s} {'p90':>9s}")
            print(f"{'wall':24s} {statistics.median(wall):8.3f}s {_pct(wall, 90):8.3f}s")
            print(
                f"{'CPU (process_time)':24s} {statistics.median(cpu):8.3f}s {_pct(cpu, 90):8.3f}s"
            )
            per_rule_ms = 1000 * statistics.median(cpu) / rules
            share = statistics.median(cpu) / EVAL_INTERVAL_S
            print(f"per rule: {per_rule_ms:.3f} ms CPU; at a {EVAL_INTERVAL_S:g} s interval: "
                  f"{100 * share:.2f} % of one core (target: a cycle under 1 s)")  # fmt: skip
            print(f"alerts: {firing} firing, {active} not inactive; rules unhealthy: {unhealthy}")
            figures |= {
                "eval_rules": rules,
                "eval_cycle_wall_s_p50": round(statistics.median(wall), 4),
                "eval_cycle_wall_s_p90": round(_pct(wall, 90), 4),
                "eval_cycle_cpu_s_p50": round(statistics.median(cpu), 4),
                "eval_cycle_cpu_s_p90": round(_pct(cpu, 90), 4),
                "eval_rule_cpu_ms_p50": round(per_rule_ms, 4),
                "eval_cpu_share_at_60s": round(share, 5),
                "eval_alerts_firing": firing,
                "eval_rules_unhealthy": unhealthy,
            }
        finally:
            data.store.close()
    return figures


def _default_pack(data: _EvalStore, engine: Engine) -> Figures:
    groups = load_rule_groups(AlertingConfig())
    state = AlertStore(data.store.path, clock=lambda: data.now_ms / 1000)
    evaluator = RuleEvaluator(groups, engine, state=state, sink=data.sink)
    try:
        cycles = _cycles(data, evaluator, groups, EVAL_CYCLES)
        firing, _ = _firing(evaluator)
        names = sorted({a.rule for a in evaluator.alerts() if a.state is AlertState.FIRING})
    finally:
        state.close()
    unhealthy = sum(r.health != "ok" for g in evaluator.rule_status() for r in g.rules)
    rules = sum(len(g.group.rules) for g in groups)
    cpu = [c.cpu_s for c in cycles]
    wall = [c.wall_s for c in cycles]
    # Each group at its own interval: the CPU share is the sum of cost / interval.
    share = statistics.median(
        sum(c.group_cpu_s[g.key] / g.group.interval for g in groups) for c in cycles
    )
    print(f"built-in rule pack: {rules} rules in {len(groups)} groups, every group once a cycle:")
    print(f"{'per cycle':24s} {'p50':>9s} {'p90':>9s}")
    print(f"{'wall':24s} {1000 * statistics.median(wall):7.1f}ms {1000 * _pct(wall, 90):7.1f}ms")
    print(f"{'CPU (process_time)':24s} {1000 * statistics.median(cpu):7.1f}ms "
          f"{1000 * _pct(cpu, 90):7.1f}ms")  # fmt: skip
    print(f"at its intervals (30 s / 1 m): {100 * share:.3f} % of one core, what every "
          f"device pays;\nfiring: {firing} ({', '.join(names)}); "
          f"rules unhealthy: {unhealthy}\n")  # fmt: skip
    return {
        "default_pack_rules": rules,
        "default_pack_cycle_wall_ms_p50": round(1000 * statistics.median(wall), 3),
        "default_pack_cycle_cpu_ms_p50": round(1000 * statistics.median(cpu), 3),
        "default_pack_cycle_cpu_ms_p90": round(1000 * _pct(cpu, 90), 3),
        "default_pack_cpu_share": round(share, 6),
        "default_pack_alerts_firing": firing,
        "default_pack_rules_unhealthy": unhealthy,
    }


# -- section: latency ------------------------------------------------------------------

LAT_TRIALS = 10  # measured trials (after one warm-up)
LAT_WAIT_S = 15.0  # the longest wait for one notification
LAT_START_S = 60.0  # the longest wait for the agent to start
LAT_RULES = """\
groups:
  - name: bench-latency
    interval: 1s
    rules:
      - alert: BenchLatency
        expr: bench_value > 50
        labels: {severity: warning}
        annotations: {summary: "bench_value is {{ $value }}"}
"""
LAT_CONFIG = """\
log_level: info
listen: 127.0.0.1:0
store: {{commit_interval: 10s}}
alerting:
  rule_files: [{rules}]
receivers:
  - name: hook
    webhook: [{{url: "{url}"}}]
  - name: "null"
route:
  receiver: "null"
  routes:
    - matchers: ['alertname="BenchLatency"']
      receiver: hook
      group_by: [alertname]
      group_wait: 0s
      group_interval: 1s
"""
_LISTEN_RE = re.compile(r"dashboard and API on (http://\S+)")


class _Hook:
    """A loopback webhook receiver: when (time.monotonic()) each notification came."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str]] = []  # (arrival, status)
        self._cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = str(json.loads(body).get("status", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with hook._cond:
                    hook.got.append((arrived, status))
                    hook._cond.notify_all()

            def log_message(self, format: str, *args: object) -> None:
                pass  # the bench prints its own figures

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()

    def wait(self, status: str, after: float) -> float:
        """Arrival of the first ``status`` notification after ``after``; raises past a limit."""
        deadline = time.monotonic() + LAT_WAIT_S
        with self._cond:
            while True:
                for arrived, got in self.got:
                    if got == status and arrived > after:
                        return arrived
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {status} notification within {LAT_WAIT_S:g} s")
                self._cond.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _push(base: str, value: float) -> float:
    """POSTs ``bench_value <value>``; returns the time.monotonic() just before sending."""
    request = urllib.request.Request(
        f"{base}/api/push",
        data=f"bench_value {value:g}\n".encode(),
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    sent = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
    return sent


def _start_agent(tmp: Path, hook: _Hook) -> tuple[subprocess.Popen[bytes], str, Path]:
    rules = tmp / "rules.yml"
    rules.write_text(LAT_RULES)
    config = tmp / "edgewatch.yaml"
    config.write_text(LAT_CONFIG.format(rules=json.dumps(str(rules)), url=hook.url))
    log_path = tmp / "agent.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgewatch", "run", "--config", str(config),
             "--data-dir", str(tmp / "data")],
            stdout=log_file, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + LAT_START_S
    while True:
        text = log_path.read_text(errors="replace")
        found = _LISTEN_RE.search(text)
        if found and "alerting:" in text:
            return proc, found.group(1).rstrip("/"), log_path
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
            raise RuntimeError(f"the agent did not start:\n{text}")
        time.sleep(0.05)


def _stop_agent(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def latency_section(args: argparse.Namespace) -> Figures:
    rng = np.random.default_rng(args.seed + 2)
    fire: list[float] = []
    resolve: list[float] = []
    hook = _Hook()
    try:
        with tempfile.TemporaryDirectory(prefix="edgewatch-bench-latency-") as tmp:
            started = time.perf_counter()
            proc, base, log_path = _start_agent(Path(tmp), hook)
            try:
                print(f"agent started in {time.perf_counter() - started:.1f} s ({base}); "
                      f"rule interval 1 s, group_wait 0s, for: 0")  # fmt: skip
                for trial in range(LAT_TRIALS + 1):
                    time.sleep(float(rng.uniform(0.2, 1.2)))  # any phase of the 1 s grid
                    sent = _push(base, 100)
                    fire.append(hook.wait("firing", sent) - sent)
                    time.sleep(float(rng.uniform(0.2, 1.2)))
                    sent = _push(base, 0)
                    resolve.append(hook.wait("resolved", sent) - sent)
                    what = "warm-up" if trial == 0 else f"trial {trial:2d}"
                    print(f"{what}: firing after {fire[-1]:.3f} s, "
                          f"resolved after {resolve[-1]:.3f} s")  # fmt: skip
            except (TimeoutError, OSError) as exc:
                raise RuntimeError(f"{exc}; the agent's log:\n{log_path.read_text()}") from exc
            finally:
                _stop_agent(proc)
    finally:
        hook.close()
    fire, resolve = fire[1:], resolve[1:]  # without the warm-up
    print(f"\n{'push -> webhook':18s} {'p50':>7s} {'p90':>7s} {'max':>7s}")
    for name, values in (("firing", fire), ("resolved", resolve)):
        print(f"{name:18s} {statistics.median(values):6.3f}s {_pct(values, 90):6.3f}s "
              f"{max(values):6.3f}s")  # fmt: skip
    print("(target: firing under 2 s; bounded by the 1 s group interval plus delivery)")
    return {
        "latency_trials": len(fire),
        "latency_firing_s_p50": round(statistics.median(fire), 4),
        "latency_firing_s_p90": round(_pct(fire, 90), 4),
        "latency_firing_s_max": round(max(fire), 4),
        "latency_resolved_s_p50": round(statistics.median(resolve), 4),
        "latency_resolved_s_max": round(max(resolve), 4),
    }


# -- main --------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[argparse.Namespace], Figures]] = {
    "anomaly": anomaly_section,
    "evaluation": evaluation_section,
    "latency": latency_section,
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
