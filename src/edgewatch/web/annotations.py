"""Annotations for charts: when alerts fired, when the device booted, when the agent
restarted.

- **Alert periods** come from the alert history (``alert_history``, the state
  changes): a period starts when an alert becomes ``firing`` and ends when it
  leaves that state. A period that began before the window starts at the window's
  start; one still firing has no end. An alert firing throughout the window with
  no change in it is found among the engine's current alerts.
- **Boots** come from ``node_boot_time_seconds``: each distinct value (boot times
  within ``BOOT_TOLERANCE_S`` of each other are one boot: the kernel's figure
  moves a little with clock adjustments) that lies in the window is a boot at that
  time.
- **Agent restarts** come from ``edgewatch_process_start_time_seconds`` (the
  ``self`` collector; read once per process): each distinct value in the window
  is an agent start at that time. Where that series is absent (data from an agent
  before it existed), from ``edgewatch_process_cpu_seconds_total`` instead, the
  agent's own CPU time, which falls back when a new process starts: over the whole
  window, or over its part before the first start time known. A restart within
  ``BOOT_GRACE_MS`` after a boot is that boot, not listed twice.

Windows longer than ``RAW_WINDOW_MS`` are read at a step of about
``TARGET_POINTS`` points (maximum of the boot and start times, minimum of the CPU
time per step): a start time still gives the exact moment, the CPU time places a
restart to within one step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from edgewatch.alerting.state import HistoryEntry
from edgewatch.store.reader import Reader

Kind = Literal["alert", "boot", "restart"]
BOOT_METRIC = "node_boot_time_seconds"
START_METRIC = "edgewatch_process_start_time_seconds"
CPU_METRIC = "edgewatch_process_cpu_seconds_total"
BOOT_TOLERANCE_S = 60.0
BOOT_GRACE_MS = 10 * 60_000
RAW_WINDOW_MS = 2 * 86_400_000
TARGET_POINTS = 2000
MIN_STEP_MS = 60_000
FIRING = "firing"


@dataclass(frozen=True)
class Annotation:
    kind: Kind
    start_ms: int
    end_ms: int | None  # None: still going on (an alert firing now)
    title: str
    severity: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Open:
    start_ms: int
    title: str
    severity: str | None
    labels: Mapping[str, str]


def alert_periods(
    entries: Iterable[HistoryEntry],
    firing_now: Iterable[Any],
    start_ms: int,
    end_ms: int,
) -> list[Annotation]:
    """Firing periods overlapping [start_ms, end_ms].

    ``entries``: the history from ``start_ms`` to now (any order); ``firing_now``:
    the engine's alerts (``AlertView``: fingerprint, labels, state, severity,
    ``fired_at_ms``), used for alerts with no change since ``start_ms``.
    """
    periods: list[Annotation] = []
    opened: dict[str, _Open] = {}
    seen: set[str] = set()
    for e in sorted(entries, key=lambda e: e.time_ms):
        seen.add(e.fingerprint)
        title = e.labels.get("alertname", e.rule)
        current = opened.get(e.fingerprint)
        if e.to_state == FIRING:
            if current is None:
                start = e.time_ms if e.from_state != FIRING else start_ms
                opened[e.fingerprint] = _Open(start, title, e.severity, e.labels)
            elif e.severity:
                current.severity = e.severity  # a severity change while firing
        elif e.from_state == FIRING:
            began = current or _Open(start_ms, title, e.severity, e.labels)
            opened.pop(e.fingerprint, None)
            periods.append(
                Annotation("alert", began.start_ms, e.time_ms, title, began.severity, began.labels)
            )
    for o in opened.values():
        periods.append(Annotation("alert", o.start_ms, None, o.title, o.severity, o.labels))
    for view in firing_now:
        if str(getattr(view, "state", "")) != FIRING or view.fingerprint in seen:
            continue
        begun = view.fired_at_ms if view.fired_at_ms is not None else start_ms
        title = view.labels.get("alertname", view.rule)
        periods.append(Annotation("alert", begun, None, title, view.severity, view.labels))
    return sorted(
        (p for p in periods if p.start_ms <= end_ms and (p.end_ms is None or p.end_ms >= start_ms)),
        key=lambda p: (p.start_ms, p.title),
    )


def _step(start_ms: int, end_ms: int) -> int | None:
    if end_ms - start_ms <= RAW_WINDOW_MS:
        return None
    return max(MIN_STEP_MS, math.ceil((end_ms - start_ms) / TARGET_POINTS))


def boots(reader: Reader, start_ms: int, end_ms: int) -> list[Annotation]:
    """Boots of the device in [start_ms, end_ms], from the boot time series."""
    step = _step(start_ms, end_ms)
    # a boot inside the window is reported by samples after it: read a little past its end
    data = reader.read(BOOT_METRIC, start_ms, end_ms + BOOT_GRACE_MS, step, agg="max")
    values = sorted(
        {float(v) for series in data for v in series.values.tolist() if math.isfinite(v)}
    )
    distinct: list[float] = []
    for v in values:
        if not distinct or v - distinct[-1] > BOOT_TOLERANCE_S:
            distinct.append(v)
    out = []
    for v in distinct:
        ms = round(v * 1000)
        if start_ms <= ms <= end_ms:
            out.append(Annotation("boot", ms, ms, "boot"))
    return out


def restarts(
    reader: Reader, start_ms: int, end_ms: int, boot_times: Sequence[int] = ()
) -> list[Annotation]:
    """Agent restarts in [start_ms, end_ms]: from the agent's start time, or where that
    is absent, from its CPU time falling back."""
    starts, first_ms = _start_times(reader, start_ms, end_ms)
    found = [(t, 0) for t in starts if start_ms <= t <= end_ms]
    if first_ms is None or first_ms > start_ms:  # (part of) the window has no start time
        step = _step(start_ms, end_ms)
        # before the first start known, and before its step (where the CPU time's fall at
        # that very start would be placed)
        until = end_ms if first_ms is None else min(end_ms, first_ms - (step or 0) - 1)
        # read at a step, a restart is placed at the start of its step: maybe before the boot
        found += [(t, step or 0) for t in _cpu_fallbacks(reader, start_ms, until, step)]
    return [
        Annotation("restart", t, t, "agent restart")
        for t, early in sorted(set(found))
        if not any(b - early <= t <= b + BOOT_GRACE_MS for b in boot_times)
    ]


def _start_times(reader: Reader, start_ms: int, end_ms: int) -> tuple[list[int], int | None]:
    """The distinct start times (ms) the agent reported in the window, and the earliest
    of them (None: the series is absent)."""
    step = _step(start_ms, end_ms)
    # a start inside the window is reported by samples after it: read a little past its end
    data = reader.read(START_METRIC, start_ms, end_ms + BOOT_GRACE_MS, step, agg="max")
    starts = sorted(
        {round(v * 1000) for series in data for v in series.values.tolist() if math.isfinite(v)}
    )
    return starts, (starts[0] if starts else None)


def _cpu_fallbacks(reader: Reader, start_ms: int, end_ms: int, step: int | None) -> list[int]:
    """When the agent's CPU time fell back, in [start_ms, end_ms]."""
    if end_ms < start_ms:
        return []
    lookback = step or MIN_STEP_MS  # the sample before the window's first
    data = reader.read(CPU_METRIC, start_ms - lookback, end_ms, step, agg="min")
    times: set[int] = set()
    for series in data:
        ts, values = series.ts.tolist(), series.values.tolist()
        for i in range(1, len(ts)):
            if values[i] < values[i - 1] and start_ms <= ts[i] <= end_ms:
                times.add(int(ts[i]))
    return sorted(times)
