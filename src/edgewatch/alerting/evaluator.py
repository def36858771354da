"""The rule evaluator: each group's rules against the query engine, every interval.

``RuleEvaluator.evaluate_group(group, now_ms)`` runs the group's rules in
order. A recording rule's result is written through the sink under the rule's
``record`` name. An alerting rule's result becomes one observation per alert
(``observe``), each applied to the alert's lifecycle (``lifecycle.step``); the
alerts' changes and transitions are persisted (``AlertStore``) in one
transaction, the ``ALERTS``/``ALERTS_FOR_STATE`` series and the evaluator's own
figures go through the sink, and the group's notices are returned: every
alert firing or in ``nodata``, and those resolved in this evaluation.

A rule that fails (query error or timeout, template error, ``limit``
exceeded) is marked unhealthy with its error, counted, and its alerts stay
as they were; the other rules run. Nothing here reads a clock for its logic:
the evaluation time comes in (durations use a timer, for reporting only).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import quote_plus

from edgewatch.alerting.lifecycle import Alert, AlertPolicy, AlertState, Transition, rebase, step
from edgewatch.alerting.notice import Notice
from edgewatch.alerting.observe import RuleError, data_expression, observe, vector_of
from edgewatch.alerting.render import render_template
from edgewatch.alerting.rules import Rule, RuleGroup
from edgewatch.alerting.state import AlertStore, StoredAlert
from edgewatch.alerting.visible import is_idle, visible_notices
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine

log = logging.getLogger(__name__)

Sink = Callable[[int, Sequence[Sample]], None]
FAILURES_METRIC = "edgewatch_rule_evaluation_failures_total"
DURATION_METRIC = "edgewatch_rule_group_last_duration_seconds"
_SHOWN = (AlertState.PENDING, AlertState.FIRING, AlertState.NODATA)


@dataclass(frozen=True)
class LoadedGroup:
    """A rule group and where it came from."""

    source: str
    """The rule file's path, or ``builtin`` for the default rule pack."""
    group: RuleGroup

    @property
    def key(self) -> str:
        """The group's unique id: ``SOURCE:NAME``."""
        return f"{self.source}:{self.group.name}"


@dataclass(frozen=True)
class AlertView:
    """One alert that is not inactive, as the API and the CLI show it."""

    rule: str
    group: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: AlertState
    severity: str | None
    value: float | None
    active_since_ms: int | None
    fired_at_ms: int | None
    resolved_at_ms: int | None
    flapping: bool


@dataclass(frozen=True)
class RuleStatus:
    name: str
    kind: str
    """``alerting`` or ``recording``."""
    query: str
    health: str
    """``ok``, ``err`` (``last_error`` says why) or ``unknown`` (not evaluated yet)."""
    last_error: str
    last_evaluation_ms: int | None
    duration_s: float
    alerts: int


@dataclass(frozen=True)
class GroupStatus:
    key: str
    name: str
    file: str
    interval_s: float
    last_evaluation_ms: int | None
    duration_s: float
    rules: tuple[RuleStatus, ...]


@dataclass
class _RuleRuntime:
    key: str
    rule: Rule
    policy: AlertPolicy | None
    data_expr: str
    alerts: dict[str, StoredAlert] = field(default_factory=dict)
    health: str = "unknown"
    last_error: str = ""
    last_evaluation_ms: int | None = None
    duration_s: float = 0.0
    failures: int = 0


@dataclass
class _GroupRuntime:
    loaded: LoadedGroup
    rules: list[_RuleRuntime]
    last_evaluation_ms: int | None = None
    duration_s: float = 0.0
    dirty: bool = False
    """The last write failed: the next one writes every alert of the group."""


@dataclass
class _Changes:
    upserts: list[StoredAlert] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    history: list[tuple[StoredAlert, Transition]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


class RuleEvaluator:
    def __init__(
        self,
        groups: Sequence[LoadedGroup],
        engine: Engine,
        *,
        state: AlertStore | None = None,
        sink: Sink | None = None,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.groups = list(groups)
        self.engine = engine
        self.state = state
        self.sink = sink
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url.rstrip("/")
        self._timer = timer
        self._runtime: dict[str, _GroupRuntime] = {}
        self._restored: set[tuple[str, str]] = set()  # alerts loaded, not yet evaluated
        self._clock_warned = False
        for loaded in self.groups:
            if loaded.key in self._runtime:
                raise ValueError(f"rule group {loaded.key!r} is loaded twice")
            self._runtime[loaded.key] = _GroupRuntime(loaded, _rule_runtimes(loaded))
        if state is not None:
            self._restore(state)

    def _restore(self, state: AlertStore) -> None:
        rules = {r.key: r for g in self._runtime.values() for r in g.rules if r.policy}
        for saved in state.load(rules):
            rules[saved.rule_key].alerts[saved.fingerprint] = saved
            self._restored.add((saved.rule_key, saved.fingerprint))
        count = sum(len(r.alerts) for r in rules.values())
        if count:
            log.info("alerts: restored %d alerts from %s", count, state.path)

    # ------------------------------------------------------------------ evaluation

    def evaluate_group(self, group: LoadedGroup, now_ms: int) -> list[Notice]:
        """Evaluate every rule of ``group`` at ``now_ms``; the group's notices after it."""
        runtime = self._runtime.get(group.key)
        if runtime is None:
            raise ValueError(f"unknown rule group {group.key!r}")
        started = self._timer()
        query_ms = now_ms - round(group.group.query_offset * 1000)
        changes = _Changes()
        for rr in runtime.rules:
            rule_started = self._timer()
            try:
                if rr.policy is not None:
                    self._alerting(runtime, rr, rr.policy, query_ms, now_ms, changes)
                else:
                    changes.samples.extend(self._recording(rr, query_ms, group.group.limit))
            except Exception as exc:  # one rule's failure must not stop the others
                self._failed(runtime, rr, exc)
                changes.notices.extend(n for a in rr.alerts.values() for n in self._visible(a))
            else:
                rr.health, rr.last_error = "ok", ""
            rr.last_evaluation_ms = now_ms
            rr.duration_s = self._timer() - rule_started
        self._save(runtime, changes)
        runtime.last_evaluation_ms = now_ms
        runtime.duration_s = self._timer() - started
        changes.samples.extend(self._alerts_series(runtime))
        changes.samples.extend(self._own_series(runtime))
        self._emit(now_ms, changes.samples)
        return changes.notices

    def _alerting(
        self,
        runtime: _GroupRuntime,
        rr: _RuleRuntime,
        policy: AlertPolicy,
        query_ms: int,
        now_ms: int,
        ch: _Changes,
    ) -> None:
        time_s = now_ms / 1000
        observed = observe(
            rr.rule,
            self.engine,
            query_ms=query_ms,
            time_s=time_s,
            tracked=rr.alerts,
            data_expr=rr.data_expr,
            render=self._render,
            limit=runtime.loaded.group.limit,
            external_labels=self.external_labels,
        )
        kept: dict[str, StoredAlert] = {}
        for o in observed:
            old = rr.alerts.get(o.fingerprint)
            before = None if old is None else self._as_of(rr.key, old, time_s)
            alert, transitions = step(before, o.observation, policy)
            if o.labels is not None:
                labels, annotations = dict(o.labels), dict(o.annotations or {})
            elif old is not None:
                labels, annotations = dict(old.labels), dict(old.annotations)
            else:  # pragma: no cover - observe gives labels to every new alert
                raise RuleError(f"alert {o.fingerprint} has no labels")
            if rr.rule.severities is not None:
                labels.pop("severity", None)
                if alert.severity is not None:
                    labels["severity"] = alert.severity
            new = StoredAlert(
                rule_key=rr.key,
                group_key=runtime.loaded.key,
                rule=rr.rule.name,
                fingerprint=o.fingerprint,
                series_labels=o.series_labels,
                labels=labels,
                annotations=annotations,
                alert=alert,
                held=None if old is None else old.held,
            )
            shown = () if old is None else self._visible(old)
            new, notices = visible_notices(new, shown, now_ms, self._notice_base(new))
            ch.notices.extend(notices)
            ch.history.extend((new, t) for t in transitions)
            if is_idle(alert, policy, time_s, has_data=o.observation.has_data):
                if old is not None:
                    ch.deletes.append((rr.key, o.fingerprint))
                continue
            kept[o.fingerprint] = new
            if old is None or runtime.dirty or old.persisted_form() != new.persisted_form():
                ch.upserts.append(new)
        rr.alerts = kept

    def _as_of(self, rule_key: str, old: StoredAlert, now_s: float) -> Alert:
        """The lifecycle state to step from at ``now_s``.

        Restored from the file, an alert counts its missing data from the restart, not
        from its last saved change (a steady alert is not rewritten): a restart is not
        a data gap. After the wall clock stepped back (NTP correcting a board without
        a real-time clock), its times are brought back to now instead of the rule
        failing until the clock catches up.
        """
        alert = old.alert
        if (rule_key, old.fingerprint) in self._restored:
            self._restored.discard((rule_key, old.fingerprint))
            seen = alert.data_seen_s
            alert = replace(alert, data_seen_s=now_s if seen is None else max(seen, now_s))
        if alert.evaluated_s is not None and now_s < alert.evaluated_s:
            if not self._clock_warned:
                log.warning(
                    "alerts: the clock stepped back %.0f s; alert timers restart from now",
                    alert.evaluated_s - now_s,
                )
                self._clock_warned = True
            alert = rebase(alert, now_s)
        return alert

    def _recording(self, rr: _RuleRuntime, query_ms: int, limit: int) -> list[Sample]:
        found = vector_of(self.engine.instant(rr.rule.expr, query_ms))
        if limit and len(found) > limit:
            raise RuleError(f"exceeded limit of {limit} with {len(found)} series")
        samples: dict[SeriesKey, Sample] = {}
        for labels, value in found:
            key = SeriesKey.of(rr.rule.name, {**labels, **rr.rule.labels})
            if key in samples:
                raise RuleError(
                    "vector contains metrics with the same labelset after applying rule labels"
                )
            samples[key] = Sample(key, value)
        return list(samples.values())

    def _failed(self, runtime: _GroupRuntime, rr: _RuleRuntime, exc: Exception) -> None:
        message = str(exc) or type(exc).__name__
        rr.failures += 1
        if rr.health != "err" or rr.last_error != message:
            log.warning("rule %s of group %s failed: %s", rr.rule.name, runtime.loaded.key, message)
        rr.health, rr.last_error = "err", message

    def _save(self, runtime: _GroupRuntime, ch: _Changes) -> None:
        if self.state is None:
            return
        try:
            self.state.save(ch.upserts, ch.deletes, ch.history)
        except (sqlite3.Error, OSError) as exc:
            if not runtime.dirty:
                log.error("alerts: cannot save the alerts of %s: %s", runtime.loaded.key, exc)
            runtime.dirty = True
        else:
            runtime.dirty = False

    def _emit(self, now_ms: int, samples: Sequence[Sample]) -> None:
        if self.sink is None or not samples:
            return
        try:
            self.sink(now_ms, samples)
        except Exception:  # the store's trouble is reported by the store; keep evaluating
            log.exception("alerts: cannot write %d rule samples", len(samples))

    def _alerts_series(self, runtime: _GroupRuntime) -> list[Sample]:
        """``ALERTS`` and ``ALERTS_FOR_STATE`` of the group's pending, firing and nodata alerts."""
        out: list[Sample] = []
        for rr in runtime.rules:
            for a in rr.alerts.values():
                if a.alert.state not in _SHOWN:
                    continue
                out.append(Sample(SeriesKey.of("ALERTS", a.labels, alertstate=a.alert.state), 1.0))
                if a.alert.active_since is not None:
                    key = SeriesKey.of("ALERTS_FOR_STATE", a.labels)
                    out.append(Sample(key, a.alert.active_since))
        return out

    def _own_series(self, runtime: _GroupRuntime) -> list[Sample]:
        group = runtime.loaded.key
        out = [
            Sample(
                SeriesKey.of(FAILURES_METRIC, rule_group=group, rule=rr.rule.name),
                float(rr.failures),
            )
            for rr in runtime.rules
        ]
        out.append(Sample(SeriesKey.of(DURATION_METRIC, rule_group=group), runtime.duration_s))
        return out

    # ------------------------------------------------------------------ templates, notices

    def _render(self, text: str, labels: Mapping[str, str], value: float | None) -> str:
        if "{{" not in text:
            return text
        rendered: str = render_template(
            text,
            labels=labels,
            value=value,
            external_labels=self.external_labels,
            external_url=self.external_url,
        )
        return rendered

    def _notice_base(self, a: StoredAlert) -> Notice:
        """The alert's notice before state: labels (external ones under its own), link."""
        url = ""
        if self.external_url:
            expr = self._rule(a).rule.expr
            url = f"{self.external_url}/graph?g0.expr={quote_plus(expr)}"
        labels = {**self.external_labels, **a.labels}
        return Notice(labels=labels, annotations=dict(a.annotations), generator_url=url)

    def _visible(self, a: StoredAlert) -> tuple[Notice, ...]:
        if a.held is not None:
            return a.held
        _, notices = visible_notices(replace(a, held=None), (), None, self._notice_base(a))
        return tuple(notices)

    def _rule(self, a: StoredAlert) -> _RuleRuntime:
        return next(r for r in self._runtime[a.group_key].rules if r.key == a.rule_key)

    # ------------------------------------------------------------------ views

    def notices(self) -> list[Notice]:
        """Every alert now firing or in nodata, as notices (for the dispatcher at start-up)."""
        return [
            n
            for g in self._runtime.values()
            for r in g.rules
            for a in r.alerts.values()
            for n in self._visible(a)
        ]

    def alerts(self) -> list[AlertView]:
        """Every alert that is not inactive."""
        return [
            _view(a)
            for g in self._runtime.values()
            for r in g.rules
            for a in r.alerts.values()
            if a.alert.state is not AlertState.INACTIVE
        ]

    def rule_status(self) -> list[GroupStatus]:
        """Per group and rule: health, last error, last evaluation and its duration."""
        return [
            GroupStatus(
                key=g.loaded.key,
                name=g.loaded.group.name,
                file=g.loaded.source,
                interval_s=g.loaded.group.interval,
                last_evaluation_ms=g.last_evaluation_ms,
                duration_s=g.duration_s,
                rules=tuple(
                    RuleStatus(
                        name=r.rule.name,
                        kind="alerting" if r.rule.is_alerting else "recording",
                        query=r.rule.expr,
                        health=r.health,
                        last_error=r.last_error,
                        last_evaluation_ms=r.last_evaluation_ms,
                        duration_s=r.duration_s,
                        alerts=sum(
                            a.alert.state is not AlertState.INACTIVE for a in r.alerts.values()
                        ),
                    )
                    for r in g.rules
                ),
            )
            for g in self._runtime.values()
        ]


def _rule_runtimes(loaded: LoadedGroup) -> list[_RuleRuntime]:
    out: list[_RuleRuntime] = []
    seen: dict[str, int] = {}
    for rule in loaded.group.rules:
        seen[rule.name] = seen.get(rule.name, 0) + 1
        suffix = "" if seen[rule.name] == 1 else f"#{seen[rule.name]}"
        key = f"{loaded.key}/{rule.name}{suffix}"
        policy = rule.policy() if rule.is_alerting else None
        data_expr = data_expression(rule.expr) if rule.is_alerting else rule.expr
        out.append(_RuleRuntime(key, rule, policy, data_expr))
    return out


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _view(a: StoredAlert) -> AlertView:
    alert = a.alert
    return AlertView(
        rule=a.rule,
        group=a.group_key,
        fingerprint=a.fingerprint,
        labels=dict(a.labels),
        annotations=dict(a.annotations),
        state=alert.state,
        severity=alert.severity or a.labels.get("severity"),
        value=alert.last_value,
        active_since_ms=_ms(alert.active_since),
        fired_at_ms=_ms(alert.fired_at),
        resolved_at_ms=_ms(alert.resolved_at),
        flapping=alert.flapping,
    )
