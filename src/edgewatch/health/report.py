"""Availability reports: per check and per component over a period, from stored history.

A check's time is cut into a *timeline* of runs (pass, warn, fail, unknown, no data,
maintenance) with the rules of :mod:`edgewatch.health.availability`: each stored
status holds until the next one, at most ``max_gap`` (3 x the check's configured
interval, else 3 minutes). Up is pass and warn, down is fail; unknown and no data
count neither way, nor does a *maintenance window* (given by the caller; the config
for them comes with the alerting engine). Availability = up / (up + down).

A component's status at a moment is the worst status, among pass, warn and fail,
of its checks that have one then (a check with no data or unknown does not count
at that moment); its availability is the share of measured time it was pass or
warn. Incidents of a check are runs of ``fail`` samples (as in availability.py); of
a component, runs of time it was down. MTTR is the mean duration of the closed ones.

:func:`report_json` is the JSON form; report_render.py writes Markdown and HTML.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edgewatch.config import parse_duration
from edgewatch.config.health import HealthConfig
from edgewatch.health.availability import Incident, from_samples, status_samples
from edgewatch.health.model import Status
from edgewatch.health.score import HealthSummary
from edgewatch.model import SeriesKey
from edgewatch.store.reader import Reader
from edgewatch.store.selector import Matcher, Selector
from edgewatch.timespec import format_time

STATUS_METRIC = "edgewatch_check_status"
DEFAULT_MAX_GAP_MS = 180_000
GAP_INTERVALS = 3
WINDOWS_MS = {"24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000}
NO_DATA = "no_data"
MAINTENANCE = "maintenance"
STATE_BY_CODE = {0: "pass", 1: "warn", 2: "fail", 3: "unknown"}
UP = frozenset({"pass", "warn"})
RANK = {"pass": 0, "warn": 1, "fail": 2}  # the worst of a component's measured checks
MAX_PERIOD_S = 400 * 86_400


@dataclass(frozen=True)
class Run:
    """A stretch of time in one state: pass, warn, fail, unknown, no_data, maintenance."""

    start_ms: int
    end_ms: int
    state: str


@dataclass(frozen=True)
class Figures:
    """Time in each class over a window; ``ratio`` up / (up + down), None: none measured."""

    start_ms: int
    end_ms: int
    up_ms: int
    down_ms: int
    no_data_ms: int
    maintenance_ms: int

    @property
    def ratio(self) -> float | None:
        measured = self.up_ms + self.down_ms
        return None if measured == 0 else self.up_ms / measured


@dataclass(frozen=True)
class Subject:
    """A check or a component: figures over the period and its windows, incidents, timeline."""

    name: str
    component: str  # its own name for a component
    kind: str  # the check kind; "component" for a component
    period: Figures
    windows: dict[str, Figures]  # "24h", "7d", "30d": those that fit in the period
    incidents: tuple[Incident, ...]
    timeline: tuple[Run, ...]
    checks: tuple[str, ...] = ()  # a component's checks
    stored: bool = True  # False: a configured check with nothing stored in the period

    @property
    def mttr_ms(self) -> float | None:
        closed = [i.duration_ms(0) for i in self.incidents if i.end_ms is not None]
        return None if not closed else sum(closed) / len(closed)


@dataclass(frozen=True)
class HealthReport:
    start_ms: int
    end_ms: int
    generated_ms: int
    checks: tuple[Subject, ...]
    components: tuple[Subject, ...]
    maintenance: tuple[tuple[int, int], ...] = ()
    summary: HealthSummary | None = None  # the current state, when known


def parse_period(text: str) -> int:
    """A report period (``24h``, ``7d``, ``30d``) in milliseconds; raises ValueError."""
    seconds = parse_duration(text)
    if not 60 <= seconds <= MAX_PERIOD_S:
        raise ValueError(f"period {text!r} must lie between 1m and 400d")
    return round(seconds * 1000)


def build_report(
    reader: Reader,
    config: HealthConfig | None,
    start_ms: int,
    end_ms: int,
    *,
    summary: HealthSummary | None = None,
    maintenance: Sequence[tuple[int, int]] = (),
    generated_ms: int | None = None,
) -> HealthReport:
    """The report of [start_ms, end_ms): every check stored then, and every configured one."""
    if end_ms <= start_ms:
        raise ValueError("the report's end is not after its start")
    windows = _merge_windows(maintenance, start_ms, end_ms)
    settings = {c.name: c for c in config.checks} if config is not None else {}
    stored = {k.label("check") for k in reader.series(_selector(None))} - {""}
    checks = []
    for name in sorted(stored | set(settings)):
        setting = settings.get(name)
        gap = round(setting.interval * 1000 * GAP_INTERVALS) if setting else DEFAULT_MAX_GAP_MS
        subject = _check(reader, name, start_ms, end_ms, gap, windows)
        if subject is None and setting is None:
            continue  # stored once, but not in this period
        if subject is None:
            timeline = _overlay((Run(start_ms, end_ms, NO_DATA),), windows)
            subject = _subject(name, "", "", timeline, (), start_ms, end_ms, stored=False)
        if setting is not None:  # the config says which component and kind it is now
            kind = str(getattr(setting, "kind", subject.kind))
            subject = replace(subject, component=setting.component, kind=kind)
        checks.append(subject)
    return HealthReport(
        start_ms=start_ms,
        end_ms=end_ms,
        generated_ms=end_ms if generated_ms is None else generated_ms,
        checks=tuple(checks),
        components=_components(checks, start_ms, end_ms),
        maintenance=windows,
        summary=summary,
    )


def _selector(check: str | None) -> Selector:
    matchers = [Matcher.make("__name__", "=", STATUS_METRIC)]
    if check is not None:
        matchers.append(Matcher.make("check", "=", check))
    return Selector(tuple(matchers))


def _check(
    reader: Reader,
    name: str,
    start_ms: int,
    end_ms: int,
    gap_ms: int,
    windows: tuple[tuple[int, int], ...],
) -> Subject | None:
    selector = _selector(name)
    ts, codes = status_samples(reader, selector, start_ms, end_ms, max_gap_ms=gap_ms)
    if not len(ts):
        return None
    keys = reader.series(selector)  # the labels of its newest series name its component
    latest = keys[-1] if len(keys) == 1 else _newest(reader, selector, keys, start_ms, end_ms)
    timeline = _overlay(_runs(ts, codes, start_ms, end_ms, gap_ms), windows)
    incidents = from_samples(name, ts, codes, start_ms, end_ms, max_gap_ms=gap_ms).incidents
    kept = tuple(
        i
        for i in incidents
        if (i.end_ms is None or i.end_ms > start_ms) and not _inside(i, windows, end_ms)
    )
    return _subject(
        name,
        latest.label("component"),
        latest.label("kind"),
        timeline,
        kept,
        start_ms,
        end_ms,
    )


def _newest(
    reader: Reader, selector: Selector, keys: list[SeriesKey], start_ms: int, end_ms: int
) -> SeriesKey:
    """Of several series of one check (its component or kind changed), the newest."""
    data = [d for d in reader.read(selector, start_ms, end_ms, resolution="raw") if len(d.ts)]
    return max(data, key=lambda d: int(d.ts[-1])).key if data else keys[-1]


def _runs(ts: Any, codes: Any, start_ms: int, end_ms: int, gap_ms: int) -> tuple[Run, ...]:
    """Each sample holds until the next, at most gap_ms; equal neighbours merged, holes
    filled with no_data."""
    held_from = np.clip(ts, start_ms, end_ms)
    held_to = np.clip(np.minimum(np.append(ts[1:], end_ms), ts + gap_ms), start_ms, end_ms)
    keep = held_to > held_from
    held_from, held_to, codes = held_from[keep], held_to[keep], codes[keep]
    out: list[Run] = []
    cursor = start_ms
    if len(held_from):
        new = np.ones(len(held_from), dtype=bool)
        new[1:] = (codes[1:] != codes[:-1]) | (held_from[1:] != held_to[:-1])
        firsts = np.flatnonzero(new)
        lasts = np.append(firsts[1:] - 1, len(held_from) - 1)
        for f, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
            lo, hi = int(held_from[f]), int(held_to[last])
            if lo > cursor:
                out.append(Run(cursor, lo, NO_DATA))
            out.append(Run(lo, hi, STATE_BY_CODE.get(int(codes[f]), "unknown")))
            cursor = hi
    if cursor < end_ms:
        out.append(Run(cursor, end_ms, NO_DATA))
    return tuple(out)


def _merge_windows(
    windows: Sequence[tuple[int, int]], start_ms: int, end_ms: int
) -> tuple[tuple[int, int], ...]:
    """Maintenance windows clipped to the period, sorted, overlaps merged."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted((max(a, start_ms), min(b, end_ms)) for a, b in windows):
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _overlay(runs: Sequence[Run], windows: tuple[tuple[int, int], ...]) -> tuple[Run, ...]:
    """The timeline with maintenance windows cut in."""
    if not windows:
        return tuple(runs)
    pieces = [Run(lo, hi, MAINTENANCE) for lo, hi in windows]
    for run in runs:
        cursor = run.start_ms
        for lo, hi in windows:
            if hi <= cursor or lo >= run.end_ms:
                continue
            if lo > cursor:
                pieces.append(Run(cursor, lo, run.state))
            cursor = max(cursor, hi)
        if cursor < run.end_ms:
            pieces.append(Run(cursor, run.end_ms, run.state))
    return _merged(sorted(pieces, key=lambda r: r.start_ms))


def _merged(runs: Sequence[Run]) -> tuple[Run, ...]:
    out: list[Run] = []
    for run in runs:
        if out and out[-1].state == run.state and out[-1].end_ms == run.start_ms:
            out[-1] = Run(out[-1].start_ms, run.end_ms, run.state)
        elif run.end_ms > run.start_ms:
            out.append(run)
    return tuple(out)


def _inside(incident: Incident, windows: tuple[tuple[int, int], ...], end_ms: int) -> bool:
    end = incident.end_ms if incident.end_ms is not None else end_ms
    return any(lo <= incident.start_ms and end <= hi for lo, hi in windows)


def figures(timeline: Sequence[Run], start_ms: int, end_ms: int) -> Figures:
    """Up, down, no data and maintenance time of ``timeline`` within [start_ms, end_ms)."""
    spent: dict[str, int] = defaultdict(int)
    for run in timeline:
        span = min(run.end_ms, end_ms) - max(run.start_ms, start_ms)
        if span > 0:
            spent[run.state] += span
    up = spent["pass"] + spent["warn"]
    down = spent["fail"]
    maintenance = spent[MAINTENANCE]
    no_data = (end_ms - start_ms) - up - down - maintenance
    return Figures(start_ms, end_ms, up, down, no_data, maintenance)


def _subject(
    name: str,
    component: str,
    kind: str,
    timeline: tuple[Run, ...],
    incidents: tuple[Incident, ...],
    start_ms: int,
    end_ms: int,
    *,
    checks: tuple[str, ...] = (),
    stored: bool = True,
) -> Subject:
    windows = {
        label: figures(timeline, end_ms - span, end_ms)
        for label, span in WINDOWS_MS.items()
        if span <= end_ms - start_ms
    }
    return Subject(
        name=name,
        component=component,
        kind=kind,
        period=figures(timeline, start_ms, end_ms),
        windows=windows,
        incidents=incidents,
        timeline=timeline,
        checks=checks,
        stored=stored,
    )


def _components(checks: Sequence[Subject], start_ms: int, end_ms: int) -> tuple[Subject, ...]:
    members: dict[str, list[Subject]] = defaultdict(list)
    for check in checks:
        members[check.component or "-"].append(check)
    out = []
    for name, subjects in sorted(members.items()):
        timeline = _combine([s.timeline for s in subjects], start_ms, end_ms)
        incidents = tuple(
            Incident(name, r.start_ms, None if r.end_ms >= end_ms else r.end_ms, Status.FAIL)
            for r in timeline
            if r.state == "fail"
        )
        out.append(
            _subject(
                name,
                name,
                "component",
                timeline,
                incidents,
                start_ms,
                end_ms,
                checks=tuple(s.name for s in subjects),
            )
        )
    return tuple(out)


def _combine(timelines: Sequence[Sequence[Run]], start_ms: int, end_ms: int) -> tuple[Run, ...]:
    """At each moment: maintenance, else the worst of the checks' pass/warn/fail, else
    unknown when a check is unknown, else no data."""
    bounds = sorted({start_ms, end_ms} | {r.start_ms for t in timelines for r in t})
    starts = [[r.start_ms for r in t] for t in timelines]
    runs: list[Run] = []
    for lo, hi in itertools.pairwise(bounds):
        states = []
        for timeline, firsts in zip(timelines, starts, strict=True):
            i = bisect.bisect_right(firsts, lo) - 1
            if i >= 0 and timeline[i].end_ms > lo:
                states.append(timeline[i].state)
        runs.append(Run(lo, hi, _worst(states)))
    return _merged(runs)


def _worst(states: Sequence[str]) -> str:
    if MAINTENANCE in states:
        return MAINTENANCE
    measured = [s for s in states if s in RANK]
    if measured:
        return max(measured, key=lambda s: RANK[s])
    return "unknown" if "unknown" in states else NO_DATA


# ------------------------------------------------------------------------- JSON


def percent(ratio: float | None) -> float | None:
    """Availability in percent, rounded to 3 decimals (never 100 unless it is 100)."""
    if ratio is None:
        return None
    value = round(ratio * 100, 3)
    return 99.999 if value == 100 and ratio < 1 else value


def _figures_json(f: Figures) -> dict[str, Any]:
    return {
        "start": format_time(f.start_ms),
        "end": format_time(f.end_ms),
        "availability": f.ratio,
        "availability_percent": percent(f.ratio),
        "up_seconds": f.up_ms / 1000,
        "down_seconds": f.down_ms / 1000,
        "no_data_seconds": f.no_data_ms / 1000,
        "maintenance_seconds": f.maintenance_ms / 1000,
    }


def _subject_json(s: Subject, end_ms: int) -> dict[str, Any]:
    mttr = s.mttr_ms
    out: dict[str, Any] = {"name": s.name}
    if s.kind == "component":
        out["checks"] = list(s.checks)
    else:
        out |= {"component": s.component, "kind": s.kind, "stored": s.stored}
    return out | {
        "period": _figures_json(s.period),
        "windows": {label: _figures_json(f) for label, f in s.windows.items()},
        "incidents": [
            {
                "start": format_time(i.start_ms),
                "end": None if i.end_ms is None else format_time(i.end_ms),
                "duration_seconds": i.duration_ms(end_ms) / 1000,
                "worst": i.worst.value,
                "open": i.end_ms is None,
            }
            for i in s.incidents
        ],
        "mttr_seconds": None if mttr is None else mttr / 1000,
        "timeline": [
            {"start": format_time(r.start_ms), "end": format_time(r.end_ms), "state": r.state}
            for r in s.timeline
        ],
    }


def report_json(report: HealthReport) -> dict[str, Any]:
    summary = report.summary
    current = None
    if summary is not None:
        current = {
            "status": summary.status.value,
            "score": summary.score,
            "components": {
                c.name: {"status": c.status.value, "score": c.score}
                for c in summary.components.values()
            },
        }
    return {
        "period": {
            "start": format_time(report.start_ms),
            "end": format_time(report.end_ms),
            "seconds": (report.end_ms - report.start_ms) / 1000,
        },
        "generated": format_time(report.generated_ms),
        "maintenance": [
            {"start": format_time(lo), "end": format_time(hi)} for lo, hi in report.maintenance
        ],
        "current": current,
        "components": [_subject_json(c, report.end_ms) for c in report.components],
        "checks": [_subject_json(c, report.end_ms) for c in report.checks],
    }
