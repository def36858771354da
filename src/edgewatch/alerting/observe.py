"""From query results to lifecycle observations: one alerting rule, one evaluation.

``observe`` runs a rule's expression (and its ``clear``, ``severities`` and data
expressions when it has them) and turns the result into one ``Observation``
per alert: each series of the result is an active alert; each alert already
tracked whose series is missing is an inactive one. Which series "has data" is
decided by the rule's data expression (see ``data_expression``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from edgewatch.alerting.lifecycle import Observation
from edgewatch.alerting.notice import fingerprint
from edgewatch.alerting.render import TemplateError
from edgewatch.alerting.rules import Rule
from edgewatch.alerting.state import StoredAlert
from edgewatch.model import Labels
from edgewatch.query import BadQuery, Engine, QueryResult
from edgewatch.query.parse import parse

Render = Callable[[str, Mapping[str, str], float | None], str]
"""Expands one template with an alert's labels and value."""

_COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
_SET_OPERATORS = frozenset({"and", "or", "unless"})
_EMPTY_BRACES_RE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{\}")


class RuleError(Exception):
    """A rule whose evaluation failed for a reason of its own (limit, duplicate labels)."""


@dataclass(frozen=True)
class Observed:
    """One alert's observation; ``labels`` and ``annotations`` None: keep the tracked ones."""

    fingerprint: str
    series_labels: dict[str, str]
    labels: dict[str, str] | None
    annotations: dict[str, str] | None
    observation: Observation


def label_key(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def identity(labels: Mapping[str, str]) -> str:
    """The fingerprint of an alert: its labels without ``severity`` (which may move)."""
    return fingerprint({k: v for k, v in labels.items() if k != "severity"})


def vector_of(result: QueryResult) -> list[tuple[dict[str, str], float]]:
    """An instant result as (labels without ``__name__``, value); a scalar is one series."""
    if result.result_type == "scalar":
        return [({}, float(result.value))]
    if result.result_type != "vector":
        raise RuleError(f"the expression gives a {result.result_type}, not a vector")
    return [
        ({k: v for k, v in s.labels.items() if k != "__name__"}, float(s.values[0]))
        for s in result.series
    ]


def values_by_key(result: QueryResult) -> dict[Labels, float]:
    return {label_key(labels): value for labels, value in vector_of(result)}


def data_expression(expr: str) -> str:
    """The part of ``expr`` that says whether data arrives.

    The non-constant side of a top-level comparison (``node_temp > 80``:
    ``node_temp``), the left side when both vary, the left operand of a
    top-level ``and``/``or``/``unless`` searched the same way; else ``expr``.
    """
    node = parse(expr)
    while True:
        while isinstance(node, pp.ParenExpr):
            node = node.expr
        if not isinstance(node, pp.BinaryExpr):
            return expr
        op = str(node.op)
        if op in _SET_OPERATORS:
            node = node.lhs
            continue
        if op not in _COMPARISONS:
            return expr
        side = node.rhs if _is_constant(node.lhs) else node.lhs
        if _is_constant(side):
            return expr
        text = _EMPTY_BRACES_RE.sub(r"\1", str(side))  # the printer writes name{} for name
        try:  # the printer does not escape every string: refuse what does not parse back
            parse(text)
        except BadQuery:
            return expr
        return text


def _is_constant(node: Any) -> bool:
    def visit(n: Any) -> bool:
        return not isinstance(n, pp.VectorSelector | pp.MatrixSelector)

    return bool(pp.walk(node, visit, None))


def observe(
    rule: Rule,
    engine: Engine,
    *,
    query_ms: int,
    time_s: float,
    tracked: Mapping[str, StoredAlert],
    data_expr: str,
    render: Render,
    limit: int = 0,
    external_labels: Mapping[str, str] | None = None,
) -> list[Observed]:
    """One evaluation of alerting rule ``rule`` for each of its alerts, new or tracked.

    An alert's fingerprint covers ``external_labels`` under its own labels, as the
    notices sent carry them: the API, the CLI, acks and the dispatcher name an alert
    by the same id."""
    external = dict(external_labels or {})
    found = vector_of(engine.instant(rule.expr, query_ms))
    if limit and len(found) > limit:
        raise RuleError(f"exceeded limit of {limit} with {len(found)} alerts")
    clear = None if rule.clear is None else values_by_key(engine.instant(rule.clear, query_ms))
    levels = [
        (level.severity, values_by_key(engine.instant(level.expr, query_ms)))
        for level in rule.severities or ()
    ]
    out: dict[str, Observed] = {}
    for series_labels, value in found:
        key = label_key(series_labels)
        severity = _severity(levels, key)
        labels = _alert_labels(rule, series_labels, value, render)
        if severity is not None:
            labels["severity"] = severity
        fp = identity({**external, **labels})
        if fp in out:
            raise RuleError(
                "vector contains metrics with the same labelset after applying alert labels"
            )
        annotations = {name: render(text, labels, value) for name, text in rule.annotations.items()}
        obs = Observation(
            time_s,
            active=True,
            clear=None if clear is None else key in clear,
            severity=severity,
            value=value,
            labels=label_key(_without_severity(labels)),
        )
        out[fp] = Observed(fp, series_labels, labels, annotations, obs)
    missing = [a for fp, a in tracked.items() if fp not in out]
    nodata = rule.nodata_after is not None
    if not (missing or nodata):
        return list(out.values())
    data = values_by_key(engine.instant(data_expr, query_ms))
    for alert in missing:
        key = label_key(alert.series_labels)
        has_data = key in data or (not key and bool(data))
        obs = Observation(
            time_s,
            active=False,
            clear=None if clear is None else key in clear,
            severity=_severity(levels, key),
            value=data.get(key),
            has_data=has_data or not nodata,
            labels=alert.alert.labels,
        )
        out[alert.fingerprint] = Observed(alert.fingerprint, dict(alert.series_labels), None,
                                          None, obs)  # fmt: skip
    if nodata and not data and not out:
        # The data vanished before any alert: one alert with the rule's labels says so.
        labels = _alert_labels(rule, {}, None, render)
        fp = identity({**external, **labels})
        annotations = {
            name: _render_without_value(render, text, labels, data_expr)
            for name, text in rule.annotations.items()
        }
        obs = Observation(time_s, active=False, has_data=False, labels=label_key(labels))
        out[fp] = Observed(fp, {}, labels, annotations, obs)
    return list(out.values())


def _alert_labels(
    rule: Rule, series_labels: Mapping[str, str], value: float | None, render: Render
) -> dict[str, str]:
    labels = dict(series_labels)
    for name, text in rule.labels.items():
        rendered = render(text, series_labels, value)
        if rendered:
            labels[name] = rendered
        else:  # an empty value removes the label, as in Prometheus
            labels.pop(name, None)
    labels["alertname"] = rule.name
    return labels


def _render_without_value(
    render: Render, text: str, labels: Mapping[str, str], data_expr: str
) -> str:
    """An annotation of an alert that has no series: its template may need a value."""
    try:
        return render(text, labels, None)
    except TemplateError:
        return f"no data: {data_expr} returns no series"


def _without_severity(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "severity"}


def _severity(levels: Sequence[tuple[str, Collection[Labels]]], key: Labels) -> str | None:
    """The most severe level (the last) whose result holds the series ``key``."""
    found = None
    for severity, keys in levels:
        if key in keys:
            found = severity
    return found
