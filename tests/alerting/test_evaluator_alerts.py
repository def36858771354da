"""The rule evaluator over a real store and query engine: alerts fire after ``for``,
resolve, keep firing in the hysteresis band, move severity, and go to nodata."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from evaluator_helpers import MIN_MS, T0_MS, groups, open_store, series

from edgewatch.alerting.evaluator import RuleEvaluator
from edgewatch.alerting.lifecycle import AlertState
from edgewatch.alerting.notice import Notice, NoticeStatus
from edgewatch.alerting.state import AlertStore
from edgewatch.query import Engine
from edgewatch.store import Store

RULES = """
groups:
  - name: temp
    interval: 1m
    rules:
      - alert: HotSensor
        expr: node_temp > 80
        for: 2m
        labels: {severity: warning, team: ops}
        annotations: {summary: too hot}
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path)
    yield store
    store.close()


@pytest.fixture
def state(store: Store) -> Iterator[AlertStore]:
    alerts = AlertStore(store.path)
    yield alerts
    alerts.close()


def run(ev: RuleEvaluator, store: Store, values: list[float], *, start: int = 0,
        sensor: str = "a") -> list[list[Notice]]:  # fmt: skip
    """One sample and one evaluation per minute, from minute ``start``."""
    out = []
    for i, value in enumerate(values, start):
        series(store, T0_MS + i * MIN_MS, {sensor: value})
        out.append(ev.evaluate_group(ev.groups[0], T0_MS + i * MIN_MS))
    return out


def test_alert_fires_after_for_and_resolves(store: Store, state: AlertStore) -> None:
    ev = RuleEvaluator(groups(RULES), Engine(store), state=state,
                       external_url="http://dev:9100/")  # fmt: skip
    got = run(ev, store, [70, 85, 86, 87, 88])
    assert got[0] == [] and got[1] == [] and got[2] == []
    assert [a.state for a in ev.alerts()] == [AlertState.FIRING]
    (notice,) = got[3]
    assert notice.status is NoticeStatus.FIRING
    assert dict(notice.labels) == {
        "alertname": "HotSensor", "sensor": "a", "severity": "warning", "team": "ops"
    }  # fmt: skip
    assert notice.starts_at_ms == T0_MS + 3 * MIN_MS and notice.value == 87
    assert notice.annotations == {"summary": "too hot"}
    assert notice.generator_url == "http://dev:9100/graph?g0.expr=node_temp+%3E+80"
    assert got[4] == [replace(notice, value=88.0)]  # the same alert, its value updated
    ((resolved,),) = run(ev, store, [60], start=5)
    assert resolved.status is NoticeStatus.RESOLVED
    assert resolved.ends_at_ms == T0_MS + 5 * MIN_MS and resolved.value == 60
    assert run(ev, store, [60], start=6) == [[]]
    states = [(h.from_state, h.to_state) for h in state.history(since_ms=0)]
    assert states == [("firing", "resolved"), ("pending", "firing"), ("inactive", "pending")]


def test_pending_alert_goes_back_to_inactive(store: Store) -> None:
    ev = RuleEvaluator(groups(RULES), Engine(store))
    run(ev, store, [85, 86])
    assert [a.state for a in ev.alerts()] == [AlertState.PENDING]
    assert run(ev, store, [50], start=2) == [[]]
    assert ev.alerts() == []


def test_clear_expression_keeps_it_firing_in_the_band(store: Store) -> None:
    rules = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        clear: node_temp < 70
"""
    ev = RuleEvaluator(groups(rules), Engine(store))
    got = run(ev, store, [85, 75, 72, 65])
    assert [n.status for n in got[0]] == [NoticeStatus.FIRING]
    assert [n.status for n in got[1]] == [NoticeStatus.FIRING]
    assert got[2][0].value == 72  # the value in the band comes from the data expression
    assert [n.status for n in got[3]] == [NoticeStatus.RESOLVED]


def test_severities_move_one_alert(store: Store, state: AlertStore) -> None:
    rules = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        severities:
          - {severity: warning, expr: node_temp > 80}
          - {severity: critical, expr: node_temp > 90}
"""
    ev = RuleEvaluator(groups(rules), Engine(store), state=state)
    got = run(ev, store, [85, 95, 85])
    sev = [[n.labels.get("severity") for n in notices] for notices in got]
    assert sev == [["warning"], ["critical"], ["warning"]]
    assert len({n.fingerprint for notices in got for n in notices}) == 1
    kinds = [(h.kind, h.severity) for h in reversed(state.history(since_ms=0))]
    assert kinds == [("state", "warning"), ("severity", "critical"), ("severity", "warning")]
    assert [n.labels["severity"] for n in ev.notices()] == ["warning"]


def test_nodata_when_the_series_stops(store: Store) -> None:
    rules = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        nodata_after: 10m
"""
    ev = RuleEvaluator(groups(rules), Engine(store))
    run(ev, store, [85, 86])
    group = ev.groups[0]
    # no samples after minute 1: the lookback (5m) sees data until minute 5 or 6
    first_nodata = None
    for minute in range(2, 20):
        notices = ev.evaluate_group(group, T0_MS + minute * MIN_MS)
        kinds = sorted(n.labels.get("alertstate", "firing") for n in notices)
        if first_nodata is None and kinds != ["firing"]:
            first_nodata = minute
            assert kinds == ["firing", "nodata"]  # still firing, and the data is missing
            nodata = next(n for n in notices if "alertstate" in n.labels)
            assert nodata.starts_at_ms == T0_MS + minute * MIN_MS
            assert nodata.status is NoticeStatus.FIRING
    assert first_nodata in (15, 16)
    (view,) = ev.alerts()
    assert view.state is AlertState.NODATA
    # data comes back below the threshold: both resolve
    got = run(ev, store, [50], start=20)[0]
    assert sorted((n.labels.get("alertstate", ""), n.status.value) for n in got) == [
        ("", "resolved"),
        ("nodata", "resolved"),
    ]


def test_nodata_before_any_alert(store: Store) -> None:
    rules = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        nodata_after: 5m
        labels: {severity: critical}
"""
    ev = RuleEvaluator(groups(rules), Engine(store))
    group = ev.groups[0]
    early = [ev.evaluate_group(group, T0_MS + m * MIN_MS) for m in range(5)]
    assert early == [[]] * 5
    (notice,) = ev.evaluate_group(group, T0_MS + 5 * MIN_MS)
    assert dict(notice.labels) == {"alertname": "Hot", "severity": "critical",
                                   "alertstate": "nodata"}  # fmt: skip
    assert notice.starts_at_ms == T0_MS + 5 * MIN_MS
    (resolved,) = run(ev, store, [20], start=6)[0]
    assert resolved.status is NoticeStatus.RESOLVED and ev.alerts() == []


def test_flapping_holds_the_notices(store: Store, state: AlertStore) -> None:
    rules = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        flap: {changes: 2, window: 10m}
"""
    ev = RuleEvaluator(groups(rules), Engine(store), state=state)
    got = run(ev, store, [85, 50, 85, 50, 85, 50])
    assert [n.status.value for n in got[0]] == ["firing"]
    assert [n.status.value for n in got[1]] == ["resolved"]
    # the third change starts flapping: what showed before (nothing firing) is held
    assert got[2] == [] and got[3] == [] and got[4] == [] and got[5] == []
    (view,) = ev.alerts()
    assert view.flapping
    kinds = [h.kind for h in state.history(since_ms=0)]
    assert "flapping_started" in kinds
    # steady above the threshold for the whole window: flapping stops, it fires again
    later = run(ev, store, [85] * 12, start=6)
    assert not any(later[:3])
    assert any(n.status is NoticeStatus.FIRING for n in later[-1])
    assert not ev.alerts()[0].flapping
