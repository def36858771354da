"""Simple thresholds of alerting rules, for drawing on charts.

A rule whose condition is ``metric{...} > N`` (or ``<``, ``>=``, ``<=``, either
way round, in parentheses, the left side of ``unless``, either side of ``or``)
has a threshold N on ``metric``; ``and`` counts only when both of its sides are
simple comparisons (else the simple side is a guard, as in
``predict_linear(...) < 0 and usage > 0.5``). ``avg_over_time``,
``min_over_time``, ``max_over_time`` and ``last_over_time`` of the metric count
too: their values are in the metric's unit. A rule with ``severities`` gives one
threshold per level, with that level's severity; otherwise the severity is the
rule's ``severity`` label. Anything else (rates, arithmetic, ``bool``) has no
simple threshold and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser as pp

from edgewatch.alerting.rules import Rule
from edgewatch.query.errors import BadQuery
from edgewatch.query.parse import matchers_of, parse

COMPARISONS = {">": "<", "<": ">", ">=": "<=", "<=": ">="}  # op -> op with sides swapped
OVER_TIME = frozenset({"avg_over_time", "min_over_time", "max_over_time", "last_over_time"})


@dataclass(frozen=True)
class Threshold:
    alert: str
    metric: str
    op: str  # the alert holds while ``metric op value``
    value: float
    severity: str | None
    matchers: tuple[tuple[str, str, str], ...]  # the selector's label matchers (name left out)


def _unwrap(node: Any) -> Any:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return node


def _selector(node: Any) -> Any | None:
    """The vector selector ``node`` reads in the metric's own unit, or None."""
    node = _unwrap(node)
    if isinstance(node, pp.VectorSelector):
        return node
    if isinstance(node, pp.Call) and node.func.name in OVER_TIME and len(node.args) == 1:
        arg = _unwrap(node.args[0])
        if isinstance(arg, pp.MatrixSelector):
            return arg.vector_selector
    return None


def _number(node: Any) -> float | None:
    node = _unwrap(node)
    return float(node.val) if isinstance(node, pp.NumberLiteral) else None


def comparisons(node: Any) -> Iterator[tuple[Any, str, float]]:
    """(vector selector, op, number) of each simple comparison in a condition."""
    node = _unwrap(node)
    if not isinstance(node, pp.BinaryExpr):
        return
    op = str(node.op)
    if op == "or":
        yield from comparisons(node.lhs)
        yield from comparisons(node.rhs)
        return
    if op == "and":  # only when every part is simple: else a part is a guard, not the limit
        left, right = list(comparisons(node.lhs)), list(comparisons(node.rhs))
        if left and right:
            yield from left + right
        return
    if op == "unless":
        yield from comparisons(node.lhs)
        return
    if op not in COMPARISONS or (node.modifier is not None and node.modifier.return_bool):
        return
    selector, number = _selector(node.lhs), _number(node.rhs)
    if selector is None:  # N < metric: the same as metric > N
        selector, number, op = _selector(node.rhs), _number(node.lhs), COMPARISONS[op]
    if selector is not None and number is not None and selector.name:
        yield selector, op, number


def rule_thresholds(rule: Rule) -> list[Threshold]:
    """The simple thresholds of one rule (none for recording rules)."""
    if not rule.is_alerting:
        return []
    if rule.severities:
        levels: list[tuple[str, str | None]] = [(s.expr, s.severity) for s in rule.severities]
    else:
        levels = [(rule.expr, rule.labels.get("severity"))]
    out = []
    for expr, severity in levels:
        try:
            found = list(comparisons(parse(expr)))
            for selector, op, value in found:
                matchers = tuple(m for m in matchers_of(selector) if m[0] != "__name__")
                out.append(Threshold(rule.name, selector.name, op, value, severity, matchers))
        except BadQuery:  # rules were checked when loaded; an odd selector has no threshold
            continue
    return out


def thresholds_of(rules: Iterable[Rule], metrics: Iterable[str] | None = None) -> list[Threshold]:
    """Thresholds of ``rules`` (on ``metrics`` only, when given), without duplicates."""
    wanted = None if metrics is None else frozenset(metrics)
    seen: set[Threshold] = set()
    out = []
    for rule in rules:
        for t in rule_thresholds(rule):
            if (wanted is None or t.metric in wanted) and t not in seen:
                seen.add(t)
                out.append(t)
    return out
