"""Alert state across restarts (a new AlertStore and evaluator on the same store file),
the write-only-on-change rule, history queries and the history cap."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from evaluator_helpers import MIN_MS, T0_MS, groups, open_store, series

from edgewatch.alerting import state as state_module
from edgewatch.alerting.evaluator import RuleEvaluator
from edgewatch.alerting.lifecycle import Alert, AlertState, Transition, TransitionKind
from edgewatch.alerting.notice import NoticeStatus
from edgewatch.alerting.state import AlertStore, alert_json, alert_of
from edgewatch.query import Engine
from edgewatch.store import Store

RULES = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        for: 1m
      - alert: Warm
        expr: node_temp > 60
        for: 5m
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path)
    yield store
    store.close()


def evaluate(ev: RuleEvaluator, store: Store, minute: int, value: float) -> list[str]:
    series(store, T0_MS + minute * MIN_MS, {"a": value})
    notices = ev.evaluate_group(ev.groups[0], T0_MS + minute * MIN_MS)
    return [f"{n.name}:{n.status.value}" for n in notices]


def test_restart_keeps_firing_without_a_new_transition_and_the_pending_timer(
    store: Store,
) -> None:
    first = AlertStore(store.path)
    ev = RuleEvaluator(groups(RULES), Engine(store), state=first)
    for minute in range(3):
        evaluate(ev, store, minute, 90)
    assert {a.rule: a.state for a in ev.alerts()} == {
        "Hot": AlertState.FIRING, "Warm": AlertState.PENDING
    }  # fmt: skip
    transitions = len(first.history(since_ms=0))
    first.close()

    second = AlertStore(store.path)
    again = RuleEvaluator(groups(RULES), Engine(store), state=second)
    assert [n.name for n in again.notices()] == ["Hot"]  # firing before the first evaluation
    assert evaluate(again, store, 3, 90) == ["Hot:firing"]
    assert len(second.history(since_ms=0)) == transitions  # nothing new: no re-notification
    views = {a.rule: a for a in again.alerts()}
    assert views["Warm"].active_since_ms == T0_MS  # the for timer continues
    assert evaluate(again, store, 4, 90) == ["Hot:firing"]
    assert evaluate(again, store, 5, 90) == ["Hot:firing", "Warm:firing"]
    second.close()


def test_alerts_of_removed_rules_are_dropped_at_load(store: Store) -> None:
    first = AlertStore(store.path)
    ev = RuleEvaluator(groups(RULES), Engine(store), state=first)
    evaluate(ev, store, 0, 90)
    first.close()
    only_hot = RULES.split("      - alert: Warm")[0]
    second = AlertStore(store.path)
    again = RuleEvaluator(groups(only_hot), Engine(store), state=second)
    assert [a.rule for a in again.alerts()] == ["Hot"]
    second.close()
    with sqlite3.connect(store.path) as conn:
        assert [r[0] for r in conn.execute("SELECT rule FROM alerts")] == ["Hot"]


def test_a_steady_alert_is_not_rewritten(store: Store) -> None:
    ticks = iter(range(1_000, 2_000))
    alerts = AlertStore(store.path, clock=lambda: float(next(ticks)))
    ev = RuleEvaluator(groups(RULES), Engine(store), state=alerts)
    for minute in range(12):
        evaluate(ev, store, minute, 90)
    with sqlite3.connect(store.path) as conn:
        written = dict(conn.execute("SELECT rule, updated_ms FROM alerts"))
    # three writes in 12 evaluations (the clock ticks once per write): both new at
    # minute 0, Hot firing at minute 1, Warm firing at minute 5; nothing since
    assert written == {"Hot": 1_001_000, "Warm": 1_002_000}
    assert next(ticks) == 1_003
    alerts.close()


def test_resolve_deletes_the_row_and_history_answers_by_time_and_rule(store: Store) -> None:
    alerts = AlertStore(store.path)
    ev = RuleEvaluator(groups(RULES), Engine(store), state=alerts)
    for minute, value in enumerate([90, 90, 70, 50]):
        evaluate(ev, store, minute, value)
    hot = alerts.history(since_ms=0, rule="Hot")
    assert [(h.time_ms, h.from_state, h.to_state) for h in hot] == [
        (T0_MS + 2 * MIN_MS, "firing", "resolved"),
        (T0_MS + MIN_MS, "pending", "firing"),
        (T0_MS, "inactive", "pending"),
    ]
    assert hot[0].labels == {"alertname": "Hot", "sensor": "a"} and hot[0].value == 70
    window = alerts.history(since_ms=T0_MS + MIN_MS, until_ms=T0_MS + 2 * MIN_MS)
    assert {h.rule for h in window} == {"Hot"}
    assert len(alerts.history(since_ms=0, limit=2)) == 2
    assert [a.state for a in ev.alerts()] == [AlertState.RESOLVED]  # listed a while
    alerts.close()


def test_history_is_capped(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_module, "HISTORY_ROWS", 3)
    alerts = AlertStore(store.path)
    ev = RuleEvaluator(groups(RULES), Engine(store), state=alerts)
    for minute, value in enumerate([90, 90, 50, 90, 90, 50]):
        evaluate(ev, store, minute, value)
    kept = alerts.history(since_ms=0)
    assert len(kept) == 3 and kept[0].time_ms == T0_MS + 5 * MIN_MS
    alerts.close()


def test_the_lifecycle_alert_round_trips_through_json() -> None:
    alert = Alert(
        labels=(("alertname", "Hot"), ("sensor", "a")),
        state=AlertState.FIRING,
        active_since=1.5,
        fired_at=61.5,
        last_value=90.25,
        severity="critical",
        flapping=True,
        transitions=(
            Transition(61.5, AlertState.PENDING, AlertState.FIRING, 90.0, severity="warning"),
            Transition(
                70.0,
                AlertState.FIRING,
                AlertState.FIRING,
                95.0,
                TransitionKind.SEVERITY,
                "critical",
                "warning",
            ),
        ),
        recent=(True, False, True),
        keep_firing_until=100.0,
        evaluated_s=70.0,
        data_seen_s=70.0,
        change_times=(1.5, 61.5),
    )
    assert alert_of(alert_json(alert)) == alert


def test_nothing_is_sent_twice_after_restart_for_a_resolved_alert(store: Store) -> None:
    first = AlertStore(store.path)
    ev = RuleEvaluator(groups(RULES), Engine(store), state=first)
    for minute, value in enumerate([90, 90, 50]):
        evaluate(ev, store, minute, value)
    first.close()
    second = AlertStore(store.path)
    again = RuleEvaluator(groups(RULES), Engine(store), state=second)
    assert again.notices() == []
    assert evaluate(again, store, 3, 50) == []
    assert all(n.status is not NoticeStatus.FIRING for n in again.notices())
    second.close()
