"""``edgewatch rules backtest``: alerting rules replayed over a real store's history give
the incidents and notification counts the live evaluator would have produced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgewatch.alerting.backtest import backtest, range_values
from edgewatch.alerting.evaluator import LoadedGroup, RuleEvaluator
from edgewatch.alerting.lifecycle import AlertState
from edgewatch.alerting.rules import parse_rule_file
from edgewatch.commands.rules import rules_group
from edgewatch.config import QueryConfig
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
END_MS = T0_MS + 24 * HOUR_MS

RULES = """
groups:
  - name: temps
    interval: 1m
    rules:
      - alert: HighTemperature
        expr: node_temp > 80
        for: 5m
        labels:
          severity: warning
      - alert: TempLevels
        expr: node_temp > 80
        severities:
          - {severity: warning, expr: node_temp > 80}
          - {severity: critical, expr: node_temp > 96}
      - record: temp:max
        expr: max(node_temp)
      - alert: Broken
        expr: rate(node_temp[5m]) > bogus_metric_that_is_fine
"""


def _temperature(t_ms: int) -> float:
    """50 degrees, above 80 twice (2h-2h30 at 90; 10h-15h at 95 with one 99), and a
    3-minute spike at 20h that is too short for ``for: 5m``."""
    offset = t_ms - T0_MS
    if 2 * HOUR_MS <= offset < 2 * HOUR_MS + 30 * MIN_MS:
        return 90.0
    if offset == 12 * HOUR_MS:
        return 99.0
    if 10 * HOUR_MS <= offset < 15 * HOUR_MS:
        return 95.0
    if 20 * HOUR_MS <= offset < 20 * HOUR_MS + 3 * MIN_MS:
        return 91.0
    return 50.0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("backtest") / "data"
    options = StoreOptions(timestamp_tolerance=0.0, raw_retention_s=400 * 86_400)
    store = Store.open(directory, options, clock=lambda: END_MS / 1000)
    key = SeriesKey.of("node_temp", {"sensor": "cpu"})
    for t in range(T0_MS, END_MS + 1, MIN_MS):
        store.append(t, [Sample(key, _temperature(t))])
    store.close()
    return directory


def _groups() -> list[LoadedGroup]:
    return [LoadedGroup("r.yml", g) for g in parse_rule_file(RULES, file="r.yml").groups]


def _engine(store: Store) -> Engine:
    return Engine(store, QueryConfig(rollup_min_step=0.0, max_points=500))


def test_incidents_and_notifications_of_a_threshold_crossed_twice(data_dir: Path) -> None:
    store = Store.open(data_dir, readonly=True)
    try:
        results = backtest(_groups(), _engine(store), T0_MS, END_MS)
    finally:
        store.close()
    high, levels, broken = results
    assert high.rule == "HighTemperature" and high.error == ""
    spans = [(i.fired_at_ms - T0_MS, i.resolved_at_ms) for i in high.incidents]
    assert spans == [
        (2 * HOUR_MS + 5 * MIN_MS, T0_MS + 2 * HOUR_MS + 30 * MIN_MS),
        (10 * HOUR_MS + 5 * MIN_MS, T0_MS + 15 * HOUR_MS),
    ]
    assert [i.peak for i in high.incidents] == [90.0, 99.0]
    assert high.incidents[0].labels == {
        "sensor": "cpu",
        "severity": "warning",
        "alertname": "HighTemperature",
    }
    # Fired twice, resolved twice, repeated once (4h55m of firing, every 4h).
    assert (high.fired, high.resolved, high.repeats) == (2, 2, 1)
    assert high.notifications == 5
    assert high.near_misses == 1  # the 3-minute spike at 20h went pending only
    # for: 0 fires at once; the 99 moves it to critical and back: two severity changes.
    assert (levels.fired, levels.resolved, levels.severity_changes) == (3, 3, 2)
    assert broken.rule == "Broken" and broken.incidents == () and broken.error == ""


def test_backtest_agrees_with_the_live_evaluator(data_dir: Path) -> None:
    start, end = T0_MS + 90 * MIN_MS, T0_MS + 3 * HOUR_MS
    store = Store.open(data_dir, readonly=True)
    try:
        engine = _engine(store)
        groups = _groups()
        (high, *_) = backtest(groups, engine, start, end)
        evaluator = RuleEvaluator(groups, engine)
        fired: list[int] = []
        resolved: list[int] = []
        for t in range(start, end + 1, MIN_MS):
            evaluator.evaluate_group(groups[0], t)
            for alert in evaluator.alerts():
                if alert.rule != "HighTemperature":
                    continue
                if alert.state is AlertState.FIRING and alert.fired_at_ms not in fired:
                    fired.append(alert.fired_at_ms or 0)
                if alert.state is AlertState.RESOLVED and alert.resolved_at_ms not in resolved:
                    resolved.append(alert.resolved_at_ms or 0)
    finally:
        store.close()
    assert fired == [i.fired_at_ms for i in high.incidents]
    assert resolved == [i.resolved_at_ms for i in high.incidents]


def test_range_values_cover_every_step_in_chunks(data_dir: Path) -> None:
    store = Store.open(data_dir, readonly=True)
    try:
        values = range_values(_engine(store), "node_temp", T0_MS, END_MS, MIN_MS)
    finally:
        store.close()
    ((key, points),) = values.items()
    assert key == (("sensor", "cpu"),)
    assert len(points) == 24 * 60 + 1  # 1441 steps from queries of at most 500 points
    assert points[T0_MS + 12 * HOUR_MS] == 99.0


def test_backtest_command_prints_table_and_json(data_dir: Path, tmp_path: Path) -> None:
    rules = tmp_path / "r.yml"
    rules.write_text(RULES)
    args = ["backtest", str(rules), "--data-dir", str(data_dir), "--until", str(END_MS // 1000),
            "--since", "1d", "--config", str(tmp_path / "none.yaml")]  # fmt: skip
    (tmp_path / "none.yaml").write_text("{}\n")
    result = CliRunner().invoke(rules_group, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "HighTemperature (group temps, every 1m): 2 incidents, 5 notifications "
        "(2 firing, 2 resolved, 1 repeat), 1 pending without firing" in out
    )
    assert "2026-01-01T02:05:00Z  2026-01-01T02:30:00Z  25m" in out
    assert "2026-01-01T15:00:00Z  4h 55m    99" in out
    result = CliRunner().invoke(rules_group, [*args, "--json", "--repeat-interval", "1h"])
    assert result.exit_code == 0, result.output
    high = json.loads(result.output)[0]
    assert high["rule"] == "HighTemperature"
    assert high["repeats"] == 4  # 4h55m of firing, every hour
    assert high["incidents"][1] == {
        "labels": {"sensor": "cpu", "severity": "warning", "alertname": "HighTemperature"},
        "fired_at": "2026-01-01T10:05:00Z",
        "resolved_at": "2026-01-01T15:00:00Z",
        "duration_s": 17700.0,
        "peak": 99.0,
    }


def test_backtest_command_refuses_bad_input(data_dir: Path, tmp_path: Path) -> None:
    rules = tmp_path / "r.yml"
    rules.write_text("groups: [{name: g, rules: [{alert: A, expr: 'up >'}]}]\n")
    result = CliRunner().invoke(rules_group, ["backtest", str(rules), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "invalid expression" in result.output
    rules.write_text(RULES)
    result = CliRunner().invoke(
        rules_group, ["backtest", str(rules), "--data-dir", str(data_dir), "--since", "soon"]
    )
    assert result.exit_code == 2
    assert "'soon' is not a time" in result.output
