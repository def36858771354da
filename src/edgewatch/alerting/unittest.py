"""Rule unit tests in ``promtool test rules``' format, run on the real engine.

A test file names rule files and holds test groups: input series in
Prometheus' expanding notation (``1+1x10 _ 3``), alerts expected firing at
given times, and query results expected at given times. Each test group gets
a fresh store in a temporary directory; the series go in, every rule group is
evaluated every ``evaluation_interval`` from 0 up to the last time asked
about (recording rules write back into that store), and what fired is
compared with what was expected. Times start at the Unix epoch, as in promtool.
"""

from __future__ import annotations

import glob
import math
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from edgewatch.alerting.evaluator import LoadedGroup, RuleEvaluator
from edgewatch.alerting.lifecycle import AlertState
from edgewatch.alerting.rules import load_rule_file
from edgewatch.config.loader import parse_yaml_model, read_text_file
from edgewatch.config.units import Duration
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import BadQuery, Engine
from edgewatch.query.parse import matchers_of, parse
from edgewatch.store import Store, StoreOptions

MAX_STEPS = 1_000_000
"""Input points and evaluations per test group above this are refused."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSeries(_Model):
    series: str
    values: str


class ExpAlert(_Model):
    exp_labels: dict[str, str] = Field(default_factory=dict)
    exp_annotations: dict[str, str] = Field(default_factory=dict)


class AlertTestCase(_Model):
    eval_time: Annotated[Duration, Field(ge=0)] = 0.0
    alertname: str
    exp_alerts: list[ExpAlert] = Field(default_factory=list)


class ExpSample(_Model):
    labels: str = ""
    value: float


class PromqlTestCase(_Model):
    expr: str
    eval_time: Annotated[Duration, Field(ge=0)] = 0.0
    exp_samples: list[ExpSample] = Field(default_factory=list)


class TestGroup(_Model):
    name: str = ""
    interval: Annotated[Duration, Field(gt=0)] | None = None
    input_series: list[InputSeries] = Field(default_factory=list)
    alert_rule_test: list[AlertTestCase] = Field(default_factory=list)
    promql_expr_test: list[PromqlTestCase] = Field(default_factory=list)
    external_labels: dict[str, str] = Field(default_factory=dict)
    external_url: str = ""


class UnitTestFile(_Model):
    rule_files: list[str] = Field(default_factory=list)
    evaluation_interval: Annotated[Duration, Field(gt=0)] = 60.0
    group_eval_order: list[str] = Field(default_factory=list)
    tests: list[TestGroup] = Field(default_factory=list)


class SeriesError(ValueError):
    """An input series or expected sample that does not parse; the message says why."""


_NUMBER = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|Inf|NaN)"
_ITEM_RE = re.compile(rf"^(?P<a>{_NUMBER})(?:(?P<op>[-+])(?P<b>{_NUMBER}))?x(?P<n>\d+)$")
_MISSING_RE = re.compile(r"^_(?:x(?P<n>\d+))?$")
Point = float | None
"""One step of an input series: a value, or None for a missing (or stale) sample."""


def expand_values(text: str) -> list[Point]:
    """Prometheus' expanding notation: ``1+2x3`` is ``1 3 5 7``, ``_x2`` two missing,
    ``stale`` a missing sample (edgewatch's store has no staleness markers)."""
    out: list[Point] = []
    for item in text.split():
        missing = _MISSING_RE.match(item)
        if missing:
            out.extend([None] * int(missing.group("n") or 1))
        elif item == "stale":
            out.append(None)
        elif m := _ITEM_RE.match(item):
            a, n = _float(m.group("a")), int(m.group("n"))
            b = _float(m.group("b") or "0") * (-1 if m.group("op") == "-" else 1)
            out.extend(a + i * b for i in range(n + 1))
        elif re.fullmatch(_NUMBER, item):
            out.append(_float(item))
        else:
            raise SeriesError(f"bad value {item!r} in {text!r}; use e.g. '1+1x10 _ 3 stale'")
        if len(out) > MAX_STEPS:
            raise SeriesError(f"series values expand to more than {MAX_STEPS} points")
    return out


def _float(text: str) -> float:
    return float(text)


def parse_series(text: str) -> SeriesKey:
    """``up{job="x"}`` (equality matchers only) as a series key; ``{}``: no labels."""
    if re.fullmatch(r"\s*(?:\{\s*\})?\s*", text):
        return SeriesKey.of("", {})
    try:
        node = parse(text)
        matchers = matchers_of(node)
    except (BadQuery, AttributeError):
        raise SeriesError(f"bad series {text!r}; use e.g. 'up{{job=\"node\"}}'") from None
    if any(op != "=" for _, op, _ in matchers) or getattr(node, "offset", None):
        raise SeriesError(f"bad series {text!r}: only 'label=\"value\"' matchers describe a series")
    labels = {name: value for name, _, value in matchers}
    name = labels.pop("__name__", "")
    return SeriesKey.of(name, labels)


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold."""

    group: str
    what: str
    """``alertname: X, time: 5m`` or ``expr: "..", time: 5m``."""
    expected: str
    got: str


@dataclass(frozen=True)
class FileResult:
    path: Path
    failures: tuple[Failure, ...]
    error: str = ""


def load_test_file(path: Path) -> UnitTestFile:
    """The test file at ``path``; raises ``ConfigError``."""
    text = read_text_file(path, "rule test file")
    return parse_yaml_model(text.replace("${", "$${"), UnitTestFile, file=str(path), environ={})


def rule_groups(test_file: UnitTestFile, base: Path) -> list[LoadedGroup]:
    """The rule groups of ``test_file`` (paths relative to ``base``), in evaluation order."""
    groups: list[LoadedGroup] = []
    for pattern in test_file.rule_files:
        paths = sorted(glob.glob(str(base / pattern))) or [str(base / pattern)]
        for found in paths:
            groups += [LoadedGroup(found, g) for g in load_rule_file(Path(found)).groups]
    order = {name: i for i, name in enumerate(test_file.group_eval_order)}
    unknown = set(order) - {g.group.name for g in groups}
    if unknown:
        raise SeriesError(f"group_eval_order names unknown groups: {sorted(unknown)}")
    return sorted(groups, key=lambda g: order.get(g.group.name, len(order)))


def run_test_file(path: Path, *, log: Callable[[str], None] = lambda _: None) -> FileResult:
    """Run every test group of the test file at ``path``."""
    test_file = load_test_file(path)
    groups = rule_groups(test_file, path.parent)
    failures: list[Failure] = []
    for index, group in enumerate(test_file.tests):
        label = group.name or f"test {index}"
        log(f"  running {label}")
        failures += run_test_group(group, groups, test_file.evaluation_interval, label)
    return FileResult(path, tuple(failures))


def run_test_group(
    test: TestGroup, groups: Sequence[LoadedGroup], evaluation_interval: float, label: str
) -> list[Failure]:
    interval_ms = round((test.interval or evaluation_interval) * 1000)
    eval_ms = round(evaluation_interval * 1000)
    times = [round(t.eval_time * 1000) for t in test.alert_rule_test]
    times += [round(t.eval_time * 1000) for t in test.promql_expr_test]
    last_ms = max(times, default=0)
    if last_ms // eval_ms > MAX_STEPS:
        raise SeriesError(f"{label}: more than {MAX_STEPS} evaluations up to the last eval_time")
    inputs = [(parse_series(s.series), expand_values(s.values)) for s in test.input_series]
    with tempfile.TemporaryDirectory(prefix="edgewatch-ruletest-") as tmp:
        options = StoreOptions(timestamp_tolerance=0.0, raw_retention_s=100 * 365 * 86_400)
        store = Store.open(Path(tmp), options, clock=lambda: 0.0)
        try:
            _load(store, inputs, interval_ms)
            engine = Engine(store)
            evaluator = RuleEvaluator(
                groups,
                engine,
                sink=store.append,
                external_labels=test.external_labels,
                external_url=test.external_url,
            )
            failures = _run_alert_tests(test, groups, evaluator, eval_ms, last_ms, label)
            failures += _run_promql_tests(test, engine, label)
        finally:
            store.close()
    return failures


def _load(store: Store, inputs: list[tuple[SeriesKey, list[Point]]], interval_ms: int) -> None:
    steps = max((len(points) for _, points in inputs), default=0)
    for i in range(steps):
        samples = [
            Sample(key, point)
            for key, points in inputs
            if i < len(points) and (point := points[i]) is not None
        ]
        if samples:
            store.append(i * interval_ms, samples)


def _run_alert_tests(
    test: TestGroup,
    groups: Sequence[LoadedGroup],
    evaluator: RuleEvaluator,
    eval_ms: int,
    last_ms: int,
    label: str,
) -> list[Failure]:
    pending = sorted(test.alert_rule_test, key=lambda t: t.eval_time)
    failures: list[Failure] = []
    ts = 0
    while pending and ts <= last_ms:
        for group in groups:
            evaluator.evaluate_group(group, ts)
        # An eval_time between two evaluations is checked against the earlier one.
        while pending and round(pending[0].eval_time * 1000) < ts + eval_ms:
            case = pending.pop(0)
            failures += _compare_alerts(case, evaluator, label)
        ts += eval_ms
    return failures


def _compare_alerts(case: AlertTestCase, evaluator: RuleEvaluator, label: str) -> list[Failure]:
    got = sorted(
        _alert_text(a.labels, a.annotations)
        for a in evaluator.alerts()
        if a.rule == case.alertname and a.state is AlertState.FIRING
    )
    expected = sorted(
        _alert_text({**e.exp_labels, "alertname": case.alertname}, e.exp_annotations)
        for e in case.exp_alerts
    )
    if got == expected:
        return []
    what = f"alertname: {case.alertname}, time: {_duration(case.eval_time)}"
    return [Failure(label, what, _listing(expected), _listing(got))]


def _run_promql_tests(test: TestGroup, engine: Engine, label: str) -> list[Failure]:
    failures: list[Failure] = []
    for case in test.promql_expr_test:
        what = f"expr: {case.expr!r}, time: {_duration(case.eval_time)}"
        try:
            result = engine.instant(case.expr, round(case.eval_time * 1000))
        except BadQuery as err:
            failures.append(Failure(label, what, "a result", f"error: {err}"))
            continue
        got: list[tuple[dict[str, str], float]]
        if result.result_type == "scalar":
            got = [({}, float(result.value))]
        else:
            got = [(s.labels, float(s.values[0])) for s in result.series]
        expected = []
        for sample in case.exp_samples:
            key = parse_series(sample.labels)
            labels = dict(key.labels) | ({"__name__": key.name} if key.name else {})
            expected.append((labels, sample.value))
        if not _same_samples(expected, got):
            failures.append(Failure(label, what, _samples(expected), _samples(got)))
    return failures


def _same_samples(
    expected: list[tuple[dict[str, str], float]], got: list[tuple[dict[str, str], float]]
) -> bool:
    def norm(items: list[tuple[dict[str, str], float]]) -> list[tuple[str, float]]:
        return sorted((_labels(labels), value) for labels, value in items)

    a, b = norm(expected), norm(got)
    return len(a) == len(b) and all(
        x[0] == y[0] and (x[1] == y[1] or (math.isnan(x[1]) and math.isnan(y[1])))
        for x, y in zip(a, b, strict=True)
    )


def _labels(labels: dict[str, str] | object) -> str:
    assert isinstance(labels, dict)
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def _alert_text(labels: object, annotations: object) -> str:
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    return f"Labels:{_labels(labels)} Annotations:{_labels(annotations)}"


def _listing(items: list[str]) -> str:
    return "\n".join(f"{i}: {item}" for i, item in enumerate(items)) or "(none)"


def _samples(items: list[tuple[dict[str, str], float]]) -> str:
    return _listing([f"{_labels(labels)} {value!r}" for labels, value in sorted(
        items, key=lambda x: _labels(x[0]))])  # fmt: skip


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    parts = [(whole // 3600, "h"), (whole // 60 % 60, "m"), (whole % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)
