"""``edgewatch alerts list|history`` read what the evaluator saved in the store file."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner, Result
from evaluator_helpers import MIN_MS, groups, open_store, series

from edgewatch.alerting.evaluator import RuleEvaluator
from edgewatch.alerting.state import AlertStore
from edgewatch.commands.alerts import alerts_group
from edgewatch.query import Engine

RULES = """
groups:
  - name: temp
    rules:
      - alert: Hot
        expr: node_temp > 80
        for: 1m
        labels: {severity: critical}
      - alert: Warm
        expr: node_temp > 60
        for: 10m
"""


def fill(tmp_path: Path, values: list[float]) -> int:
    """Evaluate one minute apart, ending now; return the first evaluation's time."""
    start_ms = round(time.time() * 1000) - (len(values) - 1) * MIN_MS
    store = open_store(tmp_path)
    state = AlertStore(store.path)
    try:
        ev = RuleEvaluator(groups(RULES), Engine(store), state=state)
        for i, value in enumerate(values):
            series(store, start_ms + i * MIN_MS, {"a": value})
            ev.evaluate_group(ev.groups[0], start_ms + i * MIN_MS)
    finally:
        state.close()
        store.close()
    return start_ms


def run(tmp_path: Path, *args: str) -> Result:
    runner = CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_DATA_DIR": None})
    return runner.invoke(alerts_group, [*args, "--data-dir", str(tmp_path / "data")])


def test_history_table_and_json(tmp_path: Path) -> None:
    fill(tmp_path, [90, 90, 50])
    table = run(tmp_path, "history", "--since", "1h")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["TIME", "ALERT", "CHANGE", "VALUE", "SEVERITY", "LABELS"]
    changes = [(line.split()[1], " ".join(line.split()[2:5])) for line in lines[1:]]
    assert ("Hot", "firing -> resolved") in changes and ("Hot", "pending -> firing") in changes
    assert len(lines) == 1 + 5  # Hot: 3 changes, Warm: pending then inactive
    only = json.loads(run(tmp_path, "history", "--rule", "Hot", "--json").output)
    assert [(e["from"], e["to"]) for e in only] == [
        ("firing", "resolved"), ("pending", "firing"), ("inactive", "pending")
    ]  # fmt: skip
    assert only[0]["labels"] == {"alertname": "Hot", "sensor": "a", "severity": "critical"}
    assert only[0]["value"] == 50 and only[0]["severity"] == "critical"


def test_list_shows_the_current_alerts(tmp_path: Path) -> None:
    fill(tmp_path, [90, 90])
    table = run(tmp_path, "list")
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line.split() for line in table.output.splitlines()[1:]}
    assert rows["Hot"][1:4] == ["firing", "critical", "90"]
    assert rows["Warm"][1] == "pending"
    data = json.loads(run(tmp_path, "list", "--json").output)
    assert {a["rule"]: a["state"] for a in data} == {"Hot": "firing", "Warm": "pending"}


def test_errors_are_one_line(tmp_path: Path) -> None:
    missing = run(tmp_path, "history")
    assert missing.exit_code == 2 and "no edgewatch store at" in missing.output
    fill(tmp_path, [50])
    bad = run(tmp_path, "history", "--since", "soon")
    assert bad.exit_code == 2 and "--since" in bad.output
    assert run(tmp_path, "history").output.startswith("no alert state changes in the last 7d")
