"""``edgewatch rules test``: promtool's rule unit-test files, run on the real engine,
store and evaluator, agreeing with promtool itself."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgewatch.alerting.unittest import SeriesError, expand_values, parse_series, run_test_file
from edgewatch.commands.rules import rules_group
from edgewatch.model import SeriesKey

FIXTURES = Path(__file__).parent / "fixtures" / "unittest"
GOOD = FIXTURES / "rules_test.yml"
WRONG = FIXTURES / "rules_test_wrong.yml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2+4x3", [-2.0, 2.0, 6.0, 10.0]),
        ("1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
        ("1x4", [1.0] * 5),
        ("1 _x3 stale", [1.0, None, None, None, None]),
        ("_ 3 1e3 -1.5e-1 Inf", [None, 3.0, 1000.0, -0.15, float("inf")]),
        ("1e+3+1x1", [1000.0, 1001.0]),
        ("", []),
    ],
)
def test_expanding_notation(text: str, expected: list[float | None]) -> None:
    assert expand_values(text) == expected


@pytest.mark.parametrize("text", ["1+x3", "abc", "1x", "1+1x-2"])
def test_bad_values_are_refused(text: str) -> None:
    with pytest.raises(SeriesError, match="bad value"):
        expand_values(text)


def test_series_notation() -> None:
    assert parse_series('up{job="x", instance="a:1"}') == SeriesKey.of(
        "up", job="x", instance="a:1"
    )
    assert parse_series('{__name__="up"}') == SeriesKey.of("up")
    assert parse_series("{}") == SeriesKey.of("")
    with pytest.raises(SeriesError, match="only 'label=\"value\"' matchers"):
        parse_series('up{job=~"x"}')


def _promtool() -> str | None:
    found = shutil.which("promtool") or "/usr/bin/promtool"
    if Path(found).exists():
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("promtool is required in CI")
    return None


def test_passing_file_passes_in_edgewatch_and_promtool() -> None:
    result = CliRunner().invoke(rules_group, ["test", str(GOOD)])
    assert result.exit_code == 0, result.output
    assert "SUCCESS" in result.output
    promtool = _promtool()
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    done = subprocess.run(
        [promtool, "test", "rules", GOOD.name],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_wrong_expectations_fail_in_edgewatch_and_promtool() -> None:
    result = CliRunner().invoke(rules_group, ["test", str(WRONG)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "alertname: HighTemperature, time: 3m" in out
    assert "alertname: HighTemperature, time: 7m" in out
    assert 'summary="cpu at 95.0°C"' in out and 'summary="cpu at 95°C"' in out
    assert "expr: 'node_temp_celsius', time: 1m" in out and "75.0" in out
    promtool = _promtool()
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    done = subprocess.run(
        [promtool, "test", "rules", WRONG.name],
        cwd=FIXTURES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr


def test_results_name_every_failed_expectation() -> None:
    result = run_test_file(WRONG)
    assert [f.what for f in result.failures] == [
        "alertname: HighTemperature, time: 3m",
        "alertname: HighTemperature, time: 7m",
        "expr: 'node_temp_celsius', time: 1m",
    ]


def test_recording_rules_and_external_labels_reach_templates(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "groups:\n- name: g\n  rules:\n"
        "  - record: temp:max\n    expr: max(node_temp)\n"
        "  - alert: Hot\n    expr: temp:max > 50\n"
        "    annotations:\n      where: '{{ $externalLabels.site }} {{ $value }}'\n"
    )
    (tmp_path / "t.yml").write_text(
        "rule_files: [r.yml]\nevaluation_interval: 30s\ntests:\n"
        "- interval: 30s\n  external_labels: {site: shop}\n"
        '  input_series:\n  - series: node_temp{s="a"}\n    values: 40 60 60\n'
        "  alert_rule_test:\n  - eval_time: 1m\n    alertname: Hot\n"
        "    exp_alerts:\n    - exp_annotations: {where: shop 60}\n"
    )
    assert run_test_file(tmp_path / "t.yml").failures == ()


def test_unreadable_files_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "t.yml"
    bad.write_text("rule_files: [missing.yml]\ntests: []\n")
    result = CliRunner().invoke(rules_group, ["test", str(bad)])
    assert result.exit_code == 2
    assert "missing.yml" in result.output
    bad.write_text("tests:\n- input_series:\n  - series: 'up'\n    values: 'x y'\n")
    result = CliRunner().invoke(rules_group, ["test", str(bad)])
    assert result.exit_code == 2
    assert "bad value 'x'" in result.output
    bad.write_text("tests:\n- nonsense: 1\n")
    result = CliRunner().invoke(rules_group, ["test", str(bad)])
    assert result.exit_code == 2
    assert "nonsense" in result.output
