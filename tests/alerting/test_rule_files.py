"""Rule files: Prometheus' format loads unchanged, edgewatch's additions validate,
errors name the file and line, and ``edgewatch rules check`` reports them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgewatch.alerting import load_rule_file, parse_rule_file
from edgewatch.alerting.templates import template_problems
from edgewatch.commands.rules import rules_group
from edgewatch.config import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "prometheus_good.yml"
BAD_EXPR = FIXTURES / "prometheus_bad_expr.yml"
ADDITIONS = FIXTURES / "edgewatch_additions.yml"


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_rule_file(text, file="r.yml")
    return [str(issue) for issue in caught.value.errors]


def _rule(body: str) -> str:
    """A file with one group holding one rule; ``body`` is the rule's keys, 6-space indented."""
    return "groups:\n  - name: g\n    rules:\n      - " + body.strip().replace("\n", "\n        ")


def test_prometheus_rule_file_loads_unchanged() -> None:
    rules = load_rule_file(GOOD)
    assert [g.name for g in rules.groups] == ["node", "vision"]
    node, vision = rules.groups
    assert node.interval == 30.0
    assert vision.interval == 60.0
    assert vision.limit == 10
    record, alert = node.rules
    assert record.record == "instance:node_cpu_busy:rate5m"
    assert not record.is_alerting
    assert record.labels == {"team": "edge"}
    assert alert.name == "HighCPU"
    assert alert.for_ == 300.0
    assert alert.keep_firing_for == 60.0
    assert alert.labels == {"severity": "warning"}
    assert alert.annotations["summary"] == "CPU busy on {{ $labels.instance }}"
    assert vision.rules[0].for_ == 120.0
    assert rules.rule_count == 3


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian package prometheus)")
        pytest.skip("promtool is missing (Debian package prometheus)")
    return path


@pytest.mark.parametrize(("fixture", "accepted"), [(GOOD, True), (BAD_EXPR, False)])
def test_promtool_agrees(fixture: Path, accepted: bool) -> None:
    promtool = _promtool()
    done = subprocess.run(
        [promtool, "check", "rules", str(fixture)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode == 0) is accepted, done.stdout + done.stderr
    if accepted:
        load_rule_file(fixture)
    else:
        with pytest.raises(ConfigError):
            load_rule_file(fixture)


def test_bad_expression_names_file_line_and_path() -> None:
    with pytest.raises(ConfigError) as caught:
        load_rule_file(BAD_EXPR)
    (issue,) = caught.value.errors
    assert issue.file == str(BAD_EXPR)
    assert issue.line == 8
    assert issue.field_path == "groups[0].rules[1].expr"
    assert "unclosed left parenthesis" in issue.message


def test_unknown_function_is_reported() -> None:
    (error,) = _errors(_rule("alert: A\nexpr: nosuchfn(up) > 1"))
    assert error.startswith("r.yml:5: groups[0].rules[0].expr: invalid expression")
    assert "nosuchfn" in error


def test_edgewatch_additions_load() -> None:
    (rule,) = load_rule_file(ADDITIONS).groups[0].rules
    assert rule.clear == "avg_over_time(vision_fps[1m]) > 12"
    assert rule.debounce is not None
    assert (rule.debounce.k, rule.debounce.n) == (3, 5)
    assert rule.flap is not None
    assert (rule.flap.changes, rule.flap.window) == (4, 600.0)
    assert rule.nodata_after == 300.0
    assert rule.severities is not None
    assert [s.severity for s in rule.severities] == ["warning", "critical"]


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("debounce: {k: 6, n: 5}", "debounce", "k (6) must not be more than n (5)"),
        ("debounce: {k: 0, n: 5}", "debounce.k", "greater than or equal to 1"),
        ("debounce: {k: 1, n: 101}", "debounce.n", "less than or equal to 100"),
        ("flap: {changes: 3, window: soon}", "flap.window", "is not a duration"),
        ("clear: up >", "clear", "invalid expression"),
        ("nodata_after: 0s", "nodata_after", "greater than 0"),
        ("for: -5", "for", "greater than or equal to 0"),
        ("severities: [{severity: critical, expr: 'up =='}]", "severities[0].expr", "invalid"),
        (
            "labels: {severity: x}\nseverities: [{severity: critical, expr: up == 0}]",
            "",
            "not both",
        ),
    ],
)
def test_bad_addition_is_placed(body: str, path: str, message: str) -> None:
    (error,) = _errors(_rule(f"alert: A\nexpr: up == 0\n{body}"))
    where = f"groups[0].rules[0].{path}" if path else "groups[0].rules[0]"
    assert error.startswith(f"r.yml:{4 if not path else 6}: {where}: "), error
    assert message in error


def test_recording_rule_cannot_have_alert_keys() -> None:
    (error,) = _errors(_rule("record: job:up:sum\nexpr: sum(up)\nfor: 5m\nclear: up"))
    assert error == (
        "r.yml:4: groups[0].rules[0]: recording rule 'job:up:sum' cannot have: clear, for"
    )


def test_rule_needs_alert_or_record() -> None:
    (error,) = _errors(_rule("expr: up"))
    assert "exactly one of 'alert' or 'record'" in error
    (both,) = _errors(_rule("alert: A\nrecord: b\nexpr: up"))
    assert "exactly one of 'alert' or 'record'" in both


def test_names_must_be_metric_and_label_names() -> None:
    (alert,) = _errors(_rule("alert: High CPU\nexpr: up"))
    assert alert.startswith("r.yml:4: groups[0].rules[0].alert: 'High CPU' is not a valid name")
    (label,) = _errors(_rule("alert: A\nexpr: up\nlabels:\n  bad-name: x"))
    assert label.startswith("r.yml:7: groups[0].rules[0].labels.bad-name: 'bad-name' is not")


def test_duplicate_group_names_point_at_the_second() -> None:
    text = "groups:\n  - name: a\n    rules: []\n  - name: b\n  - name: a\n"
    assert _errors(text) == ["r.yml:5: groups[2].name: group name 'a' is already used by groups[0]"]


def test_unknown_key_is_refused_with_its_line() -> None:
    (error,) = _errors(_rule("alert: A\nexpr: up\nfour: 5m"))
    assert error.startswith("r.yml:6: groups[0].rules[0].four: unknown key 'four'")


def test_template_errors_are_placed() -> None:
    text = _rule("alert: A\nexpr: up\nannotations:\n  summary: '{{ $valu }} on {{ $labels.x'")
    (error,) = _errors(text)
    assert error.startswith("r.yml:7: groups[0].rules[0].annotations.summary: template action")
    assert "never closed" in error


@pytest.mark.parametrize(
    "template",
    [
        "plain text, no actions }}",
        "{{ $value | humanize }} and {{ $labels.instance }}",
        "{{ humanizeDuration $value }} {{ $externalLabels.site }} {{ $externalURL }}",
        '{{ printf "%.2f" $value }} {{ with $x := "}}" }}{{ $x }}{{ end }}',
        '{{ range $i, $s := query "up" }}{{ $i }}{{ $s.Value }}{{ end }}',
        "{{- if gt $value 1e3 -}}big{{- end -}}",
    ],
)
def test_valid_templates_pass(template: str) -> None:
    assert template_problems(template) == []


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ $valu }}", "undefined variable $valu"),
        ("{{ $value | humanise }}", "unknown function 'humanise'"),
        ("{{ $value", "never closed"),
    ],
)
def test_invalid_templates_fail(template: str, message: str) -> None:
    problems = template_problems(template)
    assert len(problems) == 1
    assert message in problems[0]


def test_dollar_brace_is_not_an_environment_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "substituted")
    rules = parse_rule_file(_rule('alert: A\nexpr: up{job=~"${HOST}"}'), file="r.yml")
    assert rules.groups[0].rules[0].expr == 'up{job=~"${HOST}"}'


def test_empty_file_has_no_groups() -> None:
    assert parse_rule_file("", file="r.yml").groups == []


def test_cli_check_prints_counts_for_good_files() -> None:
    result = CliRunner().invoke(rules_group, ["check", str(GOOD), str(ADDITIONS)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{GOOD}: 2 groups, 3 rules",
        f"{ADDITIONS}: 1 group, 1 rule",
    ]


def test_cli_check_reports_each_error_and_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yml"
    result = CliRunner().invoke(rules_group, ["check", str(GOOD), str(BAD_EXPR), str(missing)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [f"{GOOD}: 2 groups, 3 rules"]
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{BAD_EXPR}:8: groups[0].rules[1].expr: invalid expression")
    assert errors[1] == f"{missing}: cannot read rule file: No such file or directory"
    assert "Traceback" not in result.output


def test_examples_in_the_docs_load() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "alerting.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    rule_blocks = [b for b in blocks if b.lstrip().startswith("groups:")]
    assert len(rule_blocks) >= 2
    for index, block in enumerate(rule_blocks):
        rules = parse_rule_file(block, file=f"alerting.md block {index}")
        assert rules.rule_count >= 1


@pytest.mark.parametrize(
    "template",
    ["{{ $valu }}", "{{ $value | humanise }}", "{{ $value", "a }} b", "{{ $value | humanize }}"],
)
def test_promtool_agrees_on_templates(template: str, tmp_path: Path) -> None:
    promtool = _promtool()
    file = tmp_path / "t.yml"
    file.write_text(_rule(f"alert: A\nexpr: up\nannotations:\n  s: '{template}'"))
    done = subprocess.run(
        [promtool, "check", "rules", str(file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        load_rule_file(file)
    except ConfigError:
        accepted = False
    else:
        accepted = True
    assert (done.returncode == 0) is accepted, done.stdout + done.stderr
