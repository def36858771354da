"""Functions of instant vectors and scalars: ``abs``, ``clamp_min``, ``round``,
``time``, ``timestamp``, ``vector``, ``scalar``, ``absent``, ``label_replace``, ..."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from edgewatch.query.errors import BadQuery
from edgewatch.query.types import Labels, Series, Vector, drop_name, make_labels
from edgewatch.store.regex import RegexError, compile_anchored
from edgewatch.store.transforms import F64, I64

_ELEMENTWISE: dict[str, Callable[[F64], F64]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "sgn": np.sign,
}

_CALENDAR = ("minute", "hour", "day_of_month", "day_of_week", "day_of_year", "month", "year",
             "days_in_month")  # fmt: skip

INSTANT_FUNCTIONS = frozenset(
    {*_ELEMENTWISE, "clamp", "clamp_min", "clamp_max", "round", "timestamp", "vector",
     "scalar", "absent", "sort", "sort_desc", "label_replace", "label_join", *_CALENDAR}
)  # fmt: skip


def elementwise(name: str, vector: Vector) -> Vector:
    fn = _ELEMENTWISE[name]
    with np.errstate(all="ignore"):  # exp(1000) is +Inf, ln(-1) NaN: as Prometheus
        return [Series(drop_name(s.labels), fn(s.values), s.ok) for s in vector]


def clamp(vector: Vector, lo: F64 | None, hi: F64 | None) -> Vector:
    out: Vector = []
    for s in vector:
        values, ok = s.values, s.ok
        if lo is not None:
            values = np.where(np.isnan(values), values, np.maximum(values, lo))
        if hi is not None:
            values = np.where(np.isnan(values), values, np.minimum(values, hi))
        if lo is not None and hi is not None:
            ok = ok & ~(hi < lo)
        out.append(Series(drop_name(s.labels), values, ok))
    return out


def round_to(vector: Vector, to_nearest: F64) -> Vector:
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1 / to_nearest
        return [
            Series(drop_name(s.labels), np.floor(s.values * inverse + 0.5) / inverse, s.ok)
            for s in vector
        ]


def scalar_of(vector: Vector, steps: int) -> F64:
    """``scalar(v)``: the single element's value, NaN where there is not exactly one."""
    count = np.zeros(steps, dtype=np.int64)
    value = np.full(steps, np.nan)
    for s in vector:
        count += s.ok
        value = np.where(s.ok, s.values, value)
    return np.where(count == 1, value, np.nan)


def absent(present: np.ndarray, labels: Labels) -> Vector:
    """1 with ``labels`` at the steps where nothing is present."""
    return [Series(labels, np.ones(len(present)), ~present)]


def absent_labels(matchers: list[tuple[str, str, str]]) -> Labels:
    """Labels of ``absent(x{a="b"})``: the equality matchers, the name left out."""
    seen: dict[str, str] = {}
    twice: set[str] = set()
    for label, op, value in matchers:
        if op != "=" or label == "__name__":
            continue
        if label in seen:
            twice.add(label)
        seen[label] = value
    return make_labels((k, v) for k, v in seen.items() if k not in twice)


def label_replace(vector: Vector, dst: str, repl: str, src: str, regex: str) -> Vector:
    try:
        pattern = compile_anchored(regex)
    except RegexError:
        raise BadQuery(f"invalid regular expression in label_replace(): {regex}") from None
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", dst):
        raise BadQuery(f"invalid destination label name in label_replace(): {dst}")
    out: Vector = []
    for s in vector:
        labels = dict(s.labels)
        m = pattern.fullmatch(labels.get(src, ""))
        if m is not None:
            labels[dst] = expand(repl, m)
        out.append(Series(make_labels(labels.items()), s.values, s.ok))
    return out


_TEMPLATE_NAME = re.compile(r"\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)")


def expand(template: str, match: Any) -> str:
    """Go's ``Regexp.ExpandString``, which Prometheus uses: ``$1``, ``${1}``, ``$name``,
    ``${name}`` (a bare name runs as long as it can: ``$1x`` is group ``1x``), ``$$``
    for ``$``; a group that does not exist or did not match gives ``""``."""
    out: list[str] = []
    i = 0
    while i < len(template):
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        if template.startswith("$$", j):
            out.append("$")
            i = j + 2
            continue
        m = _TEMPLATE_NAME.match(template, j + 1)
        if m is None:
            out.append("$")  # malformed: the dollar is plain text
            i = j + 1
            continue
        name = m.group(1) or m.group(2)
        out.append(_group(match, name))
        i = m.end()
    return "".join(out)


def _group(match: Any, name: str) -> str:
    try:
        number = name.isdigit() and not (len(name) > 1 and name[0] == "0")  # as Go
        value = match.group(int(name) if number else name)
    except (IndexError, KeyError, ValueError, TypeError):
        return ""
    return "" if value is None else str(value)


def label_join(vector: Vector, dst: str, sep: str, sources: list[str]) -> Vector:
    out: Vector = []
    for s in vector:
        labels = dict(s.labels)
        labels[dst] = sep.join(labels.get(name, "") for name in sources)
        out.append(Series(make_labels(labels.items()), s.values, s.ok))
    return out


def calendar(name: str, seconds: F64) -> F64:
    """``hour()``, ``day_of_week()``, ... of unix times (UTC)."""
    valid = np.isfinite(seconds) & (np.abs(seconds) < 2.5e11)  # datetime64's years
    with np.errstate(all="ignore"):
        t = np.where(valid, seconds, 0).astype("int64").astype("datetime64[s]")
    days = t.astype("datetime64[D]")
    months = t.astype("datetime64[M]")
    years = t.astype("datetime64[Y]")
    if name == "minute":
        out = (t.astype("datetime64[m]") - t.astype("datetime64[h]")).astype(np.int64)
    elif name == "hour":
        out = (t.astype("datetime64[h]") - days).astype(np.int64)
    elif name == "day_of_month":
        out = (days - months).astype(np.int64) + 1
    elif name == "day_of_week":
        out = (days.astype(np.int64) + 4) % 7  # 1970-01-01 was a Thursday
    elif name == "day_of_year":
        out = (days - years).astype(np.int64) + 1
    elif name == "month":
        out = (months - years).astype(np.int64) + 1
    elif name == "year":
        out = years.astype(np.int64) + 1970
    else:  # days_in_month
        out = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
            np.int64
        )
    return np.where(valid, out.astype(np.float64), np.nan)


def step_seconds(steps: I64) -> F64:
    return steps.astype(np.float64) / 1000
