"""Parsing PromQL with promql-parser, and turning its selectors into store selectors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import promql_parser as pp

from edgewatch.query.errors import BadQuery
from edgewatch.store.selector import Matcher, Selector, SelectorError

_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}  # by MatchOp name


def parse(expr: str) -> Any:
    if not expr.strip():
        raise BadQuery("empty query")
    try:
        return pp.parse(expr)
    except (ValueError, TypeError) as exc:
        raise BadQuery(f"parse error: {exc}") from None


def duration_ms(value: timedelta | None) -> int:
    if value is None:
        return 0
    return int(value / timedelta(milliseconds=1))


def matchers_of(node: Any) -> list[tuple[str, str, str]]:
    """A VectorSelector's matchers as (label, op, value), the metric name first."""
    out: list[tuple[str, str, str]] = []
    if node.name:
        out.append(("__name__", "=", node.name))
    for m in node.matchers.matchers:
        out.append((m.name, _OPS[str(m.op).rsplit(".", 1)[-1]], m.value))
    if node.matchers.or_matchers:
        raise BadQuery("'or' inside a selector's braces is not supported")
    return out


def to_selector(node: Any) -> Selector:
    try:
        return Selector(tuple(Matcher.make(*m) for m in matchers_of(node)))
    except SelectorError as exc:
        raise BadQuery(str(exc)) from None


def parse_series_selector(text: str) -> Selector:
    """A series selector as ``/api/v1/series`` takes it: ``up{job="x"}``, ``{__name__=~"a.*"}``."""
    node = parse(text)
    if not isinstance(node, pp.VectorSelector):
        raise BadQuery(f"{text!r} is not a series selector")
    if node.offset is not None or node.at is not None:
        raise BadQuery(f"{text!r}: a series selector takes no offset or @")
    return to_selector(node)
