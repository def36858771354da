"""The latest value of every series in the Prometheus text format 0.0.4 or OpenMetrics 1.0.

Input is what the live hub keeps (``SeriesKey -> (ts_ms, value)``) plus the
metadata of each metric name (``FamilyMeta``: type and help). Types are
``counter``, ``gauge``, ``info`` (edgewatch's label-carrying value 1) and
``untyped`` (pushed metrics that said nothing, or histogram/summary parts).

- Text 0.0.4: ``info`` is written as ``gauge`` (the format has no info type),
  a counter whose name lacks ``_total`` as ``untyped`` (as node_exporter does);
  timestamps are integer milliseconds.
- OpenMetrics 1.0: a counter ``x_total`` is the family ``x``; an info series
  ``x_info`` of value 1 is the info family ``x``; anything that cannot follow
  those rules (a counter without ``_total``, a family name taken by another
  series) is written as ``unknown`` (or ``gauge`` for info) under its full
  name. Timestamps are seconds with millisecond decimals; the body ends in
  ``# EOF``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from itertools import groupby
from typing import NamedTuple

from edgewatch.model import SeriesKey

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Latest = Mapping[SeriesKey, tuple[int, float]]


class FamilyMeta(NamedTuple):
    type: str  # counter | gauge | info | untyped
    help: str


def wants_openmetrics(accept: str | None) -> bool:
    """True when the Accept header prefers OpenMetrics to the text format.

    Media ranges are weighed by their ``q``; ties go to OpenMetrics (what a
    Prometheus server asks for first). No header, or ``*/*``: the text format.
    """
    best_om = 0.0
    best_text = 0.0
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == "application/openmetrics-text":
            best_om = max(best_om, q)
        elif media in ("text/plain", "text/*"):
            best_text = max(best_text, q)
    return best_om > 0 and best_om >= best_text


def render(
    latest: Latest, meta: Mapping[str, FamilyMeta], *, openmetrics: bool, timestamps: bool = True
) -> str:
    if openmetrics:
        return render_openmetrics(latest, meta, timestamps=timestamps)
    return render_text(latest, meta, timestamps=timestamps)


def render_text(latest: Latest, meta: Mapping[str, FamilyMeta], *, timestamps: bool = True) -> str:
    """The text exposition format 0.0.4, one family per metric name, sorted."""
    out: list[str] = []
    for name, keys in _by_name(latest):
        fam = meta.get(name)
        kind = _text_type(name, fam)
        out.append(f"# HELP {name} {_escape_help_text(_help(name, fam))}\n")
        out.append(f"# TYPE {name} {kind}\n")
        for key in keys:
            ts, value = latest[key]
            stamp = f" {ts}" if timestamps else ""
            out.append(f"{_series(key)} {format_value(value)}{stamp}\n")
    return "".join(out)


def render_openmetrics(
    latest: Latest, meta: Mapping[str, FamilyMeta], *, timestamps: bool = True
) -> str:
    """OpenMetrics 1.0 text, ending in ``# EOF``."""
    groups = list(_by_name(latest))
    names = {name for name, _ in groups}
    used: set[str] = set()
    out: list[str] = []
    for name, keys in groups:
        fam = meta.get(name)
        kind, family = _om_family(name, fam, [latest[k][1] for k in keys])
        if family != name and (family in names or family in used):
            kind, family = ("gauge" if kind == "info" else "unknown"), name
        used.add(family)
        out.append(f"# TYPE {family} {kind}\n")
        out.append(f"# HELP {family} {_escape_help_om(_help(name, fam))}\n")
        for key in keys:
            ts, value = latest[key]
            stamp = f" {ts / 1000:.3f}" if timestamps else ""
            out.append(f"{_series(key)} {format_value(value)}{stamp}\n")
    out.append("# EOF\n")
    return "".join(out)


def _text_type(name: str, fam: FamilyMeta | None) -> str:
    kind = "untyped" if fam is None else fam.type
    if kind == "info":
        return "gauge"
    if kind == "counter" and not name.endswith("_total"):
        return "untyped"  # as node_exporter writes its vmstat counters; promtool lints otherwise
    return kind if kind in ("counter", "gauge") else "untyped"


def _om_family(name: str, fam: FamilyMeta | None, values: list[float]) -> tuple[str, str]:
    kind = "untyped" if fam is None else fam.type
    if kind == "counter":
        if name.endswith("_total") and len(name) > 6:
            return "counter", name[:-6]
        return "unknown", name
    if kind == "info":
        if name.endswith("_info") and len(name) > 5 and all(v == 1.0 for v in values):
            return "info", name[:-5]
        return "gauge", name
    if kind == "gauge":
        return "gauge", name
    return "unknown", name


def _by_name(latest: Latest) -> Iterator[tuple[str, list[SeriesKey]]]:
    for name, keys in groupby(sorted(latest), key=lambda k: k.name):
        yield name, list(keys)


def _help(name: str, fam: FamilyMeta | None) -> str:
    if fam is None or not fam.help:
        return f"{name} (no description given)"
    return fam.help


def _series(key: SeriesKey) -> str:
    if not key.labels:
        return key.name
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in key.labels)
    return f"{key.name}{{{inner}}}"


def escape_label_value(value: str) -> str:
    """Both formats: backslash, double quote and line feed are escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help_text(text: str) -> str:
    # 0.0.4: only backslash and line feed are escaped in HELP.
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_help_om(text: str) -> str:
    # OpenMetrics escapes the double quote in HELP too.
    return escape_label_value(text)


def format_value(value: float) -> str:
    """A float as both formats spell it: ``NaN``, ``+Inf``, ``-Inf``, ints without ``.0``."""
    value = float(value)  # a collector's int too (int has no is_integer before 3.12)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
