"""Backtesting alerting rules: replay them over stored history, count what they would send.

Each expression of a rule (``expr``, ``clear``, each severity's, and the data
expression when ``nodata_after`` is set) is evaluated with one range query per
chunk of at most ``max_points`` steps, at the rule group's interval -- not one
instant query per step. The values of each series, step by step, are fed to
the same lifecycle (``lifecycle.step`` with the rule's policy) the live
evaluator uses, so ``for``, ``keep_firing_for``, hysteresis, debounce, flap
detection, severities and nodata behave as they would have.

Alerts are told apart by the labels of their series; notifications are counted
per alert, before the dispatcher's grouping: one when it fires, one when it
resolves, one per severity change or nodata, and one per ``repeat_interval``
while it keeps firing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from edgewatch.alerting.evaluator import LoadedGroup
from edgewatch.alerting.lifecycle import (
    Alert,
    AlertPolicy,
    AlertState,
    Observation,
    TransitionKind,
    step,
)
from edgewatch.alerting.observe import data_expression, label_key
from edgewatch.alerting.render import TemplateError, render_template
from edgewatch.alerting.rules import Rule
from edgewatch.alerting.visible import is_idle
from edgewatch.model import Labels
from edgewatch.query import Engine, QueryError

DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0
Values = dict[Labels, dict[int, float]]
"""Per series (labels without ``__name__``): value by step time (ms)."""


@dataclass(frozen=True)
class Incident:
    """One time an alert fired: until ``resolved_at_ms`` (None: still firing at the end)."""

    labels: Mapping[str, str]
    fired_at_ms: int
    resolved_at_ms: int | None
    peak: float | None

    def duration_s(self, end_ms: int) -> float:
        return ((self.resolved_at_ms or end_ms) - self.fired_at_ms) / 1000


@dataclass(frozen=True)
class RuleBacktest:
    """What one alerting rule would have done between ``start_ms`` and ``end_ms``."""

    rule: str
    group: str
    interval_s: float
    start_ms: int
    end_ms: int
    incidents: tuple[Incident, ...] = ()
    fired: int = 0
    resolved: int = 0
    repeats: int = 0
    severity_changes: int = 0
    nodata: int = 0
    near_misses: int = 0
    """Alerts that went pending and back to inactive without firing."""
    error: str = ""

    @property
    def notifications(self) -> int:
        return self.fired + self.resolved + self.repeats + self.severity_changes + self.nodata


@dataclass
class _Tracked:
    alert: Alert
    incident: int | None = None  # index into incidents while firing
    last_sent_s: float = 0.0


@dataclass
class _Run:
    incidents: list[Incident] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def backtest(
    groups: Sequence[LoadedGroup],
    engine: Engine,
    start_ms: int,
    end_ms: int,
    *,
    repeat_interval_s: float = DEFAULT_REPEAT_INTERVAL_S,
) -> list[RuleBacktest]:
    """Replay every alerting rule of ``groups`` over ``[start_ms, end_ms]``."""
    if end_ms < start_ms:
        raise ValueError("the end of a backtest must not be before its start")
    if repeat_interval_s <= 0:
        raise ValueError(f"repeat interval must be positive, got {repeat_interval_s}")
    out: list[RuleBacktest] = []
    for loaded in groups:
        step_ms = max(1, round(loaded.group.interval * 1000))
        first = -(-start_ms // step_ms) * step_ms  # evaluations at multiples of the interval
        offset_ms = round(loaded.group.query_offset * 1000)
        for rule in loaded.group.rules:
            if not rule.is_alerting:
                continue
            base = RuleBacktest(
                rule.name, loaded.group.name, loaded.group.interval, start_ms, end_ms
            )
            try:
                run = _replay(rule, engine, first, end_ms, step_ms, offset_ms, repeat_interval_s)
            except (QueryError, TemplateError, ValueError) as exc:
                out.append(replace(base, error=str(exc) or type(exc).__name__))
                continue
            out.append(
                replace(
                    base,
                    incidents=tuple(run.incidents),
                    fired=run.counts.get("fired", 0),
                    resolved=run.counts.get("resolved", 0),
                    repeats=run.counts.get("repeats", 0),
                    severity_changes=run.counts.get("severity", 0),
                    nodata=run.counts.get("nodata", 0),
                    near_misses=run.counts.get("near_miss", 0),
                )
            )
    return out


def range_values(
    engine: Engine, expr: str, start_ms: int, end_ms: int, step_ms: int, offset_ms: int = 0
) -> Values:
    """``expr`` at every step of ``[start_ms, end_ms]``, in as few range queries as
    the engine's ``max_points`` allows; keyed by the step's time (before the offset)."""
    out: Values = {}
    if end_ms < start_ms:
        return out
    chunk = max(1, engine.limits.max_points - 1) * step_ms
    lo = start_ms
    while lo <= end_ms:
        hi = min(end_ms, lo + chunk)
        result = engine.range(expr, lo - offset_ms, hi - offset_ms, step_ms)
        for series in result.series:
            key = label_key({k: v for k, v in series.labels.items() if k != "__name__"})
            points = out.setdefault(key, {})
            for t, v in zip(series.ts.tolist(), series.values.tolist(), strict=True):
                points[int(t) + offset_ms] = float(v)
        lo = hi + step_ms
    return out


def _replay(
    rule: Rule,
    engine: Engine,
    first_ms: int,
    end_ms: int,
    step_ms: int,
    offset_ms: int,
    repeat_s: float,
) -> _Run:
    def values(expr: str) -> Values:
        return range_values(engine, expr, first_ms, end_ms, step_ms, offset_ms)

    policy = rule.policy()
    active = values(rule.expr)
    clear = None if rule.clear is None else values(rule.clear)
    levels = [(level.severity, values(level.expr)) for level in rule.severities or ()]
    data = values(data_expression(rule.expr)) if rule.nodata_after is not None else None
    tracked: dict[Labels, _Tracked] = {}
    run = _Run()
    for t_ms in range(first_ms, end_ms + 1, step_ms):
        keys = [k for k, points in active.items() if t_ms in points]
        keys += [k for k in tracked if k not in keys]
        for key in keys:
            value = active.get(key, {}).get(t_ms)
            has_data = True
            if value is None and data is not None:
                value = data.get(key, {}).get(t_ms)
                has_data = value is not None or (not key and any(t_ms in p for p in data.values()))
            obs = Observation(
                t_ms / 1000,
                active=key in active and t_ms in active[key],
                clear=None if clear is None else t_ms in clear.get(key, {}),
                severity=_severity(levels, key, t_ms),
                value=value,
                has_data=has_data,
                labels=key,
            )
            _apply(rule, policy, tracked, key, obs, run, repeat_s)
    return run


def _apply(
    rule: Rule,
    policy: AlertPolicy,
    tracked: dict[Labels, _Tracked],
    key: Labels,
    obs: Observation,
    run: _Run,
    repeat_s: float,
) -> None:
    entry = tracked.get(key)
    alert, transitions = step(None if entry is None else entry.alert, obs, policy)
    entry = entry or _Tracked(alert)
    entry.alert = alert
    tracked[key] = entry
    for tr in transitions:
        if tr.kind is TransitionKind.SEVERITY:
            run.add("severity")
            entry.last_sent_s = tr.time_s
        elif tr.kind is not TransitionKind.STATE:
            continue
        elif tr.to_state is AlertState.FIRING and entry.incident is None:
            run.add("fired")
            entry.incident = len(run.incidents)
            entry.last_sent_s = tr.time_s
            labels = _labels(rule, dict(key), tr.value)
            run.incidents.append(Incident(labels, round(tr.time_s * 1000), None, tr.value))
        elif tr.to_state is AlertState.RESOLVED and entry.incident is not None:
            run.add("resolved")
            old = run.incidents[entry.incident]
            run.incidents[entry.incident] = Incident(
                old.labels, old.fired_at_ms, round(tr.time_s * 1000), old.peak
            )
            entry.incident = None
        elif tr.to_state is AlertState.NODATA:
            run.add("nodata")
        elif tr.from_state is AlertState.PENDING and tr.to_state is AlertState.INACTIVE:
            run.add("near_miss")
    if entry.incident is not None and alert.state is AlertState.FIRING:
        old = run.incidents[entry.incident]
        if obs.value is not None and not math.isnan(obs.value):
            peak = obs.value if old.peak is None else max(old.peak, obs.value)
            run.incidents[entry.incident] = Incident(
                old.labels, old.fired_at_ms, old.resolved_at_ms, peak
            )
        if obs.time_s - entry.last_sent_s >= repeat_s:
            run.add("repeats")
            entry.last_sent_s = obs.time_s
    if entry.incident is None and is_idle(alert, policy, obs.time_s, has_data=obs.has_data):
        del tracked[key]


def _labels(rule: Rule, series: dict[str, str], value: float | None) -> dict[str, str]:
    labels = dict(series)
    for name, text in rule.labels.items():
        rendered = render_template(text, labels=series, value=value) if "{{" in text else text
        if rendered:
            labels[name] = rendered
        else:
            labels.pop(name, None)
    labels["alertname"] = rule.name
    return labels


def _severity(levels: Sequence[tuple[str, Values]], key: Labels, t_ms: int) -> str | None:
    found = None
    for severity, values in levels:
        if t_ms in values.get(key, {}):
            found = severity
    return found
