"""Recording rules, the ALERTS series, the evaluator's own series, and rules that fail
while the others keep running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from evaluator_helpers import MIN_MS, T0_MS, Sink, groups, open_store, series

from edgewatch.alerting.evaluator import RuleEvaluator
from edgewatch.query import Engine
from edgewatch.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path)
    yield store
    store.close()


def test_recording_rule_writes_a_series_the_engine_reads(store: Store) -> None:
    rules = """
groups:
  - name: rec
    rules:
      - record: sensor:node_temp:max
        expr: max by (sensor) (node_temp)
        labels: {source: rule}
"""
    sink = Sink(store)
    ev = RuleEvaluator(groups(rules), Engine(store), sink=sink)
    series(store, T0_MS, {"a": 40, "b": 50})
    assert ev.evaluate_group(ev.groups[0], T0_MS) == []
    result = Engine(store).instant("sensor:node_temp:max", T0_MS)
    got = {s.labels["sensor"]: (s.labels["source"], float(s.values[0])) for s in result.series}
    assert got == {"a": ("rule", 40.0), "b": ("rule", 50.0)}
    (status,) = ev.rule_status()
    assert status.rules[0].health == "ok" and status.rules[0].kind == "recording"
    assert status.last_evaluation_ms == T0_MS


def test_alerts_series_follow_pending_and_firing(store: Store) -> None:
    rules = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        for: 1m
"""
    sink = Sink(store)
    engine = Engine(store)
    ev = RuleEvaluator(groups(rules), engine, sink=sink)
    for minute in range(3):
        series(store, T0_MS + minute * MIN_MS, {"a": 90})
        ev.evaluate_group(ev.groups[0], T0_MS + minute * MIN_MS)
    written = {
        (t, s.key.label("alertstate")) for t, got in sink.calls for s in got
        if s.key.name == "ALERTS"
    }  # fmt: skip
    assert written == {
        (T0_MS, "pending"), (T0_MS + MIN_MS, "firing"), (T0_MS + 2 * MIN_MS, "firing")
    }  # fmt: skip
    (firing,) = engine.instant('ALERTS{alertstate="firing"}', T0_MS + 2 * MIN_MS).series
    assert firing.labels == {
        "__name__": "ALERTS", "alertname": "Hot", "alertstate": "firing", "sensor": "a"
    }  # fmt: skip
    since = engine.instant('ALERTS_FOR_STATE{alertname="Hot"}', T0_MS + 2 * MIN_MS)
    assert [float(s.values[0]) for s in since.series] == [T0_MS / 1000]


def test_a_failing_rule_is_reported_and_the_others_run(store: Store) -> None:
    rules = """
groups:
  - name: mixed
    limit: 1
    rules:
      - alert: TooMany
        expr: node_temp > 0
      - alert: NotAVector
        expr: '"text"'
      - alert: Fine
        expr: node_temp{sensor="a"} > 0
"""
    sink = Sink(store)
    ev = RuleEvaluator(groups(rules), Engine(store), sink=sink)
    series(store, T0_MS, {"a": 1, "b": 2})
    notices = ev.evaluate_group(ev.groups[0], T0_MS)
    assert [n.name for n in notices] == ["Fine"]
    (group,) = ev.rule_status()
    health = {r.name: (r.health, r.last_error) for r in group.rules}
    assert health == {
        "TooMany": ("err", "exceeded limit of 1 with 2 alerts"),
        "NotAVector": ("err", "the expression gives a string, not a vector"),
        "Fine": ("ok", ""),
    }
    assert {r.name: r.alerts for r in group.rules} == {"TooMany": 0, "NotAVector": 0, "Fine": 1}
    ev.evaluate_group(ev.groups[0], T0_MS + MIN_MS)
    failures = Engine(store).instant("edgewatch_rule_evaluation_failures_total", T0_MS + MIN_MS)
    counts = {s.labels["rule"]: float(s.values[0]) for s in failures.series}
    assert counts == {"TooMany": 2.0, "NotAVector": 2.0, "Fine": 0.0}
    assert {s.labels["rule_group"] for s in failures.series} == {"rules.yml:mixed"}
    assert "edgewatch_rule_group_last_duration_seconds" in sink.names(T0_MS)
    # Floats, as every sample value: /metrics formats them with float methods.
    assert all(type(s.value) is float for _, got in sink.calls for s in got)


def test_unknown_rules_report_unknown_health(store: Store) -> None:
    rules = """
groups:
  - name: one
    interval: 15s
    rules:
      - alert: A
        expr: up == 0
"""
    ev = RuleEvaluator(groups(rules, source="builtin"), Engine(store))
    (group,) = ev.rule_status()
    assert (group.key, group.file, group.interval_s) == ("builtin:one", "builtin", 15.0)
    assert group.rules[0].health == "unknown" and group.rules[0].last_evaluation_ms is None


def test_templates_render_and_a_template_error_fails_the_rule(store: Store) -> None:
    rules = """
groups:
  - name: tmpl
    rules:
      - alert: Hot
        expr: node_temp > 80
        labels: {band: "{{ if gt $value 90.0 }}high{{ else }}raised{{ end }}"}
        annotations:
          summary: "{{ $labels.sensor }} at {{ $value }} on {{ $externalLabels.device }}"
      - alert: Broken
        expr: node_temp > 80
        annotations: {summary: "{{ $labels.sensor | humanize }}"}
"""
    ev = RuleEvaluator(groups(rules), Engine(store), external_labels={"device": "shop-12"})
    series(store, T0_MS, {"a": 95})
    (notice,) = ev.evaluate_group(ev.groups[0], T0_MS)
    assert notice.labels == {"alertname": "Hot", "band": "high", "sensor": "a",
                             "device": "shop-12"}  # fmt: skip
    assert notice.annotations == {"summary": "a at 95 on shop-12"}
    broken = ev.rule_status()[0].rules[1]
    assert broken.health == "err" and "humanize" in broken.last_error
