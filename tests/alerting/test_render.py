"""Alert templates execute as Prometheus expands them, sandboxed and bounded, and the
static check of rule files agrees with execution."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from edgewatch.alerting.render import MAX_OUTPUT, TemplateError, render_template
from edgewatch.alerting.templates import template_problems

LABELS = {"instance": "host1.example.com:9100", "job": "node", "mountpoint": "/data"}


def _render(text: str, value: float | None = 1.0) -> str:
    return render_template(
        text,
        labels=LABELS,
        value=value,
        external_labels={"site": "shop-7"},
        external_url="http://edge.local:9090/prefix",
    )


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("{{ $value }}", 0.5, "0.5"),
        ("{{ $value }}", 1e21, "1e+21"),
        ("{{ $value }}", 100.0, "100"),
        ("{{ $value }}", 1234567.0, "1.234567e+06"),
        ("{{ $value }}", 0.00001, "1e-05"),
        ("{{ $value }}", math.nan, "NaN"),
        ("{{ $value }}", -math.inf, "-Inf"),
        ("{{ humanize $value }}", 1234567.0, "1.235M"),
        ("{{ humanize $value }}", 0.00123, "1.23m"),
        ("{{ humanize $value }}", 0.0, "0"),
        ("{{ humanize1024 $value }}", 2048.0, "2ki"),
        ("{{ humanize1024 $value }}", 1048576.0, "1Mi"),
        ("{{ humanizeDuration $value }}", 3725.0, "1h 2m 5s"),
        ("{{ humanizeDuration $value }}", 899.99, "14m 59s"),
        ("{{ humanizeDuration $value }}", 90061.0, "1d 1h 1m 1s"),
        ("{{ humanizeDuration $value }}", 0.5, "500ms"),
        ("{{ humanizeDuration $value }}", 1.5, "1.5s"),
        ("{{ humanizePercentage $value }}", 0.1234, "12.34%"),
        ("{{ humanizePercentage $value }}", 0.1234567, "12.35%"),
        ("{{ humanizeTimestamp $value }}", 1435065584.128, "2015-06-23 13:19:44.128 +0000 UTC"),
        ("{{ $labels.instance }} {{ .Labels.job }} {{ .Value }}", 3.0, "host1.example.com:9100 node 3"),  # noqa: E501
        ("{{ $externalLabels.site }} {{ .ExternalLabels.site }} {{ $externalURL }}", 1.0,
         "shop-7 shop-7 http://edge.local:9090/prefix"),
        ("[{{ $labels.missing }}]", 1.0, "[]"),
        ('{{ printf "%.2f" $value }}%', 12.3456, "12.35%"),
        ('{{ printf "%d" 5 }} {{ printf "%f" 5 }} {{ printf "%5.1f|%-4s|%04d" 2.25 "ab" 7 }}', 1.0,
         "5 %!f(int=5)   2.2|ab  |0007"),
        ('{{ printf "%s is %v (%q)" $labels.job $value "x" }}', 0.25, 'node is 0.25 ("x")'),
        ('{{ printf "%s" }}{{ printf "a" 1 }}', 1.0, "%!s(MISSING)a%!(EXTRA int=1)"),
        ("{{ $labels.instance | stripPort }} {{ stripDomain $labels.instance }}", 1.0,
         "host1.example.com host1:9100"),
        ('{{ stripPort "[::1]:80" }} {{ stripDomain "10.0.0.1:80" }}', 1.0, "::1 10.0.0.1:80"),
        ('{{ reReplaceAll "(.*):(.*)" "${2}-$1" $labels.instance }}', 1.0, "9100-host1.example.com"),  # noqa: E501
        ('{{ if match "^host" $labels.instance }}yes{{ end }}', 1.0, "yes"),
        ('{{ toUpper "ab" }}{{ toLower "CD" }} {{ title "disk full-now" }}', 1.0, "ABcd Disk Full-Now"),  # noqa: E501
        ("{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}", 60.0, "mid"),  # noqa: E501
        ("a {{- if true -}} b {{- end -}} c", 1.0, "abc"),
        ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}", 1.0,
         "instance=host1.example.com:9100,job=node,mountpoint=/data,"),
        ("{{ range $labels }}{{ . }};{{ end }}", 1.0, "host1.example.com:9100;node;/data;"),
        ("{{ with $labels.job }}job {{ . }}{{ else }}none{{ end }}", 1.0, "job node"),
        ("{{ with $labels.nope }}x{{ else }}none{{ end }}", 1.0, "none"),
        ("{{ $x := humanize $value }}{{ $x }}/{{ $x = 2 }}{{ $x }}", 1500.0, "1.5k/2"),
        ('{{ len $labels }} {{ index $labels "job" }} {{ and 1 0 }} {{ or 0 "x" }} {{ not 0 }}', 1.0,  # noqa: E501
         "3 node 0 x true"),
        ('{{ eq $labels.job "x" "node" }} {{ ne 1 2 }} {{ le 2 2 }} {{ lt "a" "b" }}', 1.0,
         "true true true true"),
        ("{{ (humanize $value) | printf \"%s!\" }}", 2000.0, "2k!"),
        ('{{ html "<b>&" }} {{ js "a\'<" }} {{ urlquery "a b/c" }}', 1.0, "&lt;b&gt;&amp; a\\'\\u003C a+b%2Fc"),  # noqa: E501
        ('{{ print 1 2 "x" 3 }}|{{ println "a" 1 }}', 1.0, "1 2x3|a 1\n"),
        ('{{ parseDuration "1h30m" }} {{ toDuration 3725.5 }} {{ pathPrefix }}', 1.0,
         "5400 1h2m5.5s /prefix"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", 1.0, "xy"),
        ("{{ range $i, $v := $labels }}{{ if eq $i \"job\" }}{{ break }}{{ end }}{{ $i }} {{ end }}",  # noqa: E501
         1.0, "instance "),
        ("{{ $value }}", None, "<no value>"),
    ],
)  # fmt: skip
def test_template_renders_like_prometheus(text: str, value: float | None, expected: str) -> None:
    assert _render(text, value) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{{ query "up" }}', "query() is not supported in edgewatch templates"),
        ('{{ with query "up" }}{{ . | first | value }}{{ end }}', "query() is not supported"),
        ("{{ if true }}open", "without {{end}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ $nope }}", "undefined variable '$nope'"),
        ("{{ nosuch 1 }}", 'function "nosuch" not defined'),
        ("{{ $labels.job", "unclosed action"),
        ('{{ template "x" }}', "not supported"),
        ("{{ .Nope }}", "can't evaluate field Nope"),
        ("{{ 1 2 }}", "can't give argument to non-function"),
        ('{{ printf "%999999999d" 1 }}', "width or precision above"),
        ('{{ reReplaceAll "(" "" "x" }}', "bad regular expression"),
        ('{{ humanize "abc" }}', "invalid syntax"),
        ('{{ gt $value "x" }}', "incompatible types"),
        ("{{ humanize }}", "wrong number of args"),
        ("{{ break }}", "outside {{range}}"),
        ("{{ " + "(" * 60 + "1" + ")" * 60 + " }}", "deeper"),
    ],
)  # fmt: skip
def test_bad_template_raises_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=None) as caught:
        _render(text)
    assert message in str(caught.value)


def test_output_and_work_are_bounded() -> None:
    big = "x" * 1000
    nested = "{{ range $a := $labels }}{{ range $labels }}{{ range $labels }}" + big
    with pytest.raises(TemplateError, match="larger than"):
        render_template(
            nested + "{{ end }}{{ end }}{{ end }}",
            labels={f"l{i}": "v" for i in range(30)},
            value=1.0,
        )
    assert len(_render("y" * MAX_OUTPUT)) == MAX_OUTPUT


def test_templates_cannot_reach_python() -> None:
    for text in [
        "{{ .__class__ }}",
        "{{ $labels.__class__ }}",
        '{{ "x".__len__ }}',
        "{{ $value.real }}",
    ]:
        try:
            out = _render(text)
        except TemplateError:
            continue
        assert "class" not in out and "<" not in out, (text, out)


# Typical templates of Prometheus rule packs (node-mixin, kube-prometheus runbooks).
CORPUS = [
    "Filesystem on {{ $labels.device }} at {{ $labels.instance }} has only "
    '{{ printf "%.2f" $value }}% available space left.',
    "{{ $labels.instance }} has been down for more than 5 minutes.",
    "Memory is filling up: {{ $value | humanizePercentage }} used on {{ $labels.instance }}",
    "{{ $labels.job }}/{{ $labels.instance }} has {{ humanize $value }} open files",
    "Disk {{ $labels.device }} will fill in {{ humanizeDuration $value }}",
    "{{ with $labels.mountpoint }}mounted at {{ . }}{{ end }}",
    "{{- if gt $value 90.0 -}} critical {{- else -}} warning {{- end }}",
    "Network interface {{ $labels.device | toUpper }} on {{ $labels.instance | stripPort }}",
    '{{ $labels.instance | reReplaceAll ":[0-9]+" "" }} is {{ humanize1024 $value }}B',
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}",
    'CPU at {{ printf "%.0f" $value }}% on {{ .Labels.instance }} since {{ humanizeTimestamp 0 }}',
    "runbook: {{ $externalURL }}/runbooks/{{ $labels.alertname | toLower }}",
]
BROKEN = [
    "{{ $labels.instance",
    "{{ $undefined }}",
    "{{ humanise $value }}",
    "{{ $value | nosuchfunc }}",
    '{{ printf "%d" $val }}',
]


@pytest.mark.parametrize("text", CORPUS)
def test_static_check_and_execution_agree_on_good_templates(text: str) -> None:
    assert template_problems(text) == []
    _render(text, 42.0)


@pytest.mark.parametrize("text", BROKEN)
def test_static_check_and_execution_agree_on_broken_templates(text: str) -> None:
    assert template_problems(text) != []
    with pytest.raises(TemplateError):
        _render(text)


ORACLE_TEMPLATES = [
    "{{ $value }}",
    "{{ humanize $value }}",
    "{{ humanize1024 $value }}",
    "{{ humanizeDuration $value }}",
    "{{ humanizePercentage $value }}",
    '{{ printf "%.2f|%v|%g|%e" $value $value $value $value }}',
    '{{ if gt $value 1000.0 }}big{{ else }}small{{ end }} {{ $labels.case | printf "%q" }}',
    "{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }} {{ .Value }}",
    '{{ reReplaceAll "^(h[a-z]*)(.*)$" "${1}_$2$$" $labels.instance }} {{ title "ab cd" }}',
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
]
ORACLE_VALUES = ["0", "0.5", "100", "1234567", "0.00123", "1e18", "-3725", "90061.5", "1e-7", "NaN"]


def test_rendering_matches_promtool(tmp_path: Path) -> None:
    """promtool's own template expansion is the oracle: it must accept what we render."""
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is required in CI")
        pytest.skip("promtool (Debian package prometheus) is not installed")
    annotations = {f"a{i}": text for i, text in enumerate(ORACLE_TEMPLATES)}
    rules = {"groups": [{"name": "g", "rules": [
        {"alert": "T", "expr": "m * 1", "annotations": annotations}]}]}  # fmt: skip
    exp_alerts = []
    series = []
    for i, value in enumerate(ORACLE_VALUES):
        labels = {"case": str(i), "instance": "host1.example.com:9100"}
        series.append(
            {"series": f'm{{case="{i}",instance="host1.example.com:9100"}}', "values": value}
        )
        rendered = {
            name: render_template(text, labels=labels, value=float(value))
            for name, text in annotations.items()
        }
        exp_alerts.append({"exp_labels": labels, "exp_annotations": rendered})
    test = {
        "rule_files": ["rules.yml"],
        "tests": [{"interval": "1m", "input_series": series,
                   "alert_rule_test": [{"eval_time": "0m", "alertname": "T", "exp_alerts": exp_alerts}]}],  # noqa: E501
    }  # fmt: skip
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
