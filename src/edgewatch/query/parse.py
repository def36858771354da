"""Parsing PromQL with promql-parser, and turning its selectors into store selectors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import promql_parser as pp

from edgewatch.query.anomaly import register_functions
from edgewatch.query.errors import BadQuery
from edgewatch.store.selector import Matcher, Selector, SelectorError

_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}  # by MatchOp name


# The parser recurses in native code: a query nested some thousands deep would
# overflow its stack and kill the process, so shape is checked first.
MAX_QUERY_CHARS = 8192
MAX_NESTING = 128


def parse(expr: str) -> Any:
    if not expr.strip():
        raise BadQuery("empty query")
    check_shape(expr)
    register_functions()  # edgewatch's extension functions (query/anomaly.py)
    try:
        return pp.parse(expr)
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadQuery(f"parse error: {exc}") from None


def check_shape(expr: str) -> None:
    """Refuse queries too long or too deeply nested to parse safely."""
    if len(expr) > MAX_QUERY_CHARS:
        raise BadQuery(f"query longer than {MAX_QUERY_CHARS} characters")
    depth = deepest = 0
    quote = ""
    escaped = False
    for c in expr:
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise BadQuery(f"query nested deeper than {MAX_NESTING} parentheses")


def duration_ms(node: Any, attribute: str) -> int:
    """A node's ``offset`` or ``range`` in milliseconds (0 when absent)."""
    try:  # the parser converts on access, and refuses what a timedelta cannot hold
        value: timedelta | None = getattr(node, attribute)
        return 0 if value is None else int(value / timedelta(milliseconds=1))
    except (OverflowError, ValueError):
        raise BadQuery(f"{attribute} out of range") from None


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
