"""A :class:`~edgewatch.health.report.HealthReport` as Markdown or as one HTML page.

The HTML page is self-contained: inline CSS, inline SVG charts (a status timeline
and an availability bar per check and component), no script, no external URL; it
reads offline and prints (colours kept with ``print-color-adjust``). Figures carry
``data-*`` attributes and classes (``avail-period``, ``avail-24h`` ...) so tools
and tests can find them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape

from edgewatch.health.report import HealthReport, Run, Subject, percent, report_json
from edgewatch.timespec import format_time

COLOURS = {
    "pass": "#2e7d32",
    "warn": "#f9a825",
    "fail": "#c62828",
    "unknown": "#9e9e9e",
    "no_data": "#e0e0e0",
    "maintenance": "#78909c",
}
LABELS = {"no_data": "no data"}
# Which state a chart column shows when several share it: problems first.
SHOWN_FIRST = ("fail", "warn", "pass", "unknown", "maintenance", "no_data")
CHART_COLUMNS = 600

CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#212121;margin:2em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:middle}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#616161}.legend span{display:inline-block;margin-right:1em}
.swatch{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.3em}
svg{display:block}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@media print{body{margin:0;font-size:11px}tr{page-break-inside:avoid}}
"""


def fmt_percent(ratio: float | None) -> str:
    value = percent(ratio)
    return "no data" if value is None else f"{value:g}%"


def fmt_duration(ms: float | None) -> str:
    """``2d 3h``, ``1h 30m``, ``5m 10s``, ``42s``; ``-`` for None."""
    if ms is None:
        return "-"
    seconds = round(ms / 1000)
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def _title(report: HealthReport) -> str:
    return f"Health report {format_time(report.start_ms)} to {format_time(report.end_ms)}"


def _windows(report: HealthReport) -> list[str]:
    subjects = report.checks or report.components
    return list(subjects[0].windows) if subjects else []


def _incidents(report: HealthReport) -> list[tuple[str, Subject, int]]:
    """(what, subject, index) of every incident, components first."""
    out: list[tuple[str, Subject, int]] = []
    for what, subjects in (("component", report.components), ("check", report.checks)):
        for s in subjects:
            out.extend((what, s, i) for i in range(len(s.incidents)))
    return out


def _current(report: HealthReport) -> str:
    summary = report.summary
    if summary is None:
        return ""
    score = "-" if summary.score is None else f"{summary.score:g}"
    return f"score {score}, status {summary.status.value}"


# --------------------------------------------------------------------- Markdown


def render_markdown(report: HealthReport) -> str:
    windows = _windows(report)
    lines = [f"# {_title(report)}", ""]
    lines.append(f"Generated {format_time(report.generated_ms)}.")
    if report.summary is not None:
        lines.append(f"Current health: {_current(report)}.")
    if report.maintenance:
        spans = ", ".join(f"{format_time(a)} to {format_time(b)}" for a, b in report.maintenance)
        lines.append(f"Maintenance windows (not counted): {spans}.")
    lines += ["", "Availability = up / (up + down); no data and maintenance are not counted.", ""]
    head = ["Period", *windows, "Incidents", "MTTR", "Down", "No data"]
    lines += ["## Components", ""]
    lines += _md_table(
        ["Component", *head, "Checks"],
        [[c.name, *_md_figures(c, windows), ", ".join(c.checks)] for c in report.components],
    )
    lines += ["", "## Checks", ""]
    lines += _md_table(
        ["Check", "Component", "Kind", *head],
        [[c.name, c.component, c.kind, *_md_figures(c, windows)] for c in report.checks],
    )
    lines += ["", "## Incidents", ""]
    rows = []
    for what, s, i in _incidents(report):
        inc = s.incidents[i]
        end = "ongoing" if inc.end_ms is None else format_time(inc.end_ms)
        duration = fmt_duration(inc.duration_ms(report.end_ms))
        rows.append([f"{what} {s.name}", format_time(inc.start_ms), end, duration, inc.worst.value])
    lines += _md_table(["Subject", "Start", "End", "Duration", "Worst"], rows) if rows else []
    lines += [] if rows else ["No incidents."]
    return "\n".join(lines) + "\n"


def _md_figures(s: Subject, windows: Sequence[str]) -> list[str]:
    return [
        fmt_percent(s.period.ratio),
        *(fmt_percent(s.windows[w].ratio) for w in windows),
        str(len(s.incidents)),
        fmt_duration(s.mttr_ms),
        fmt_duration(s.period.down_ms),
        fmt_duration(s.period.no_data_ms),
    ]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


# ------------------------------------------------------------------------- HTML


def render_html(report: HealthReport) -> str:
    windows = _windows(report)
    title = escape(_title(report))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f'<p class="meta">Generated {escape(format_time(report.generated_ms))}. '
        "Availability = up / (up + down): pass and warn are up, fail is down; "
        "no data, unknown and maintenance are not counted.</p>",
    ]
    if report.summary is not None:
        parts.append(f'<p id="current">Current health: <b>{escape(_current(report))}</b></p>')
    if report.maintenance:
        spans = ", ".join(
            f"{escape(format_time(a))} to {escape(format_time(b))}" for a, b in report.maintenance
        )
        parts.append(f"<p>Maintenance windows (not counted): {spans}</p>")
    parts.append(_legend())
    parts.append("<h2>Components</h2>")
    parts.append(_html_table(report, report.components, windows, "component"))
    parts.append("<h2>Checks</h2>")
    parts.append(_html_table(report, report.checks, windows, "check"))
    parts.append("<h2>Incidents</h2>")
    parts.append(_html_incidents(report))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _legend() -> str:
    items = "".join(
        f'<span><i class="swatch" style="background:{colour}"></i>'
        f"{escape(LABELS.get(state, state))}</span>"
        for state, colour in COLOURS.items()
    )
    return f'<p class="legend">{items}</p>'


def _html_table(
    report: HealthReport, subjects: Sequence[Subject], windows: Sequence[str], what: str
) -> str:
    head = [what.capitalize()]
    head += ["Component", "Kind"] if what == "check" else ["Checks"]
    head += ["Timeline", "", "Period", *windows, "Incidents", "MTTR", "Down", "No data"]
    rows = ["<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    rows.append("</thead><tbody>")
    for s in subjects:
        cells = [f'<td class="name">{escape(s.name)}</td>']
        if what == "check":
            cells += [f"<td>{escape(s.component)}</td>", f"<td>{escape(s.kind)}</td>"]
        else:
            cells.append(f"<td>{escape(', '.join(s.checks))}</td>")
        cells.append(f"<td>{timeline_svg(s.timeline, report.start_ms, report.end_ms)}</td>")
        cells.append(f"<td>{bar_svg(s.period.ratio)}</td>")
        cells.append(f'<td class="num avail-period">{fmt_percent(s.period.ratio)}</td>')
        for w in windows:
            cells.append(f'<td class="num avail-{w}">{fmt_percent(s.windows[w].ratio)}</td>')
        cells += [
            f'<td class="num incidents">{len(s.incidents)}</td>',
            f'<td class="num mttr">{fmt_duration(s.mttr_ms)}</td>',
            f'<td class="num down">{fmt_duration(s.period.down_ms)}</td>',
            f'<td class="num no-data">{fmt_duration(s.period.no_data_ms)}</td>',
        ]
        rows.append(f'<tr data-{what}="{escape(s.name)}">' + "".join(cells) + "</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _html_incidents(report: HealthReport) -> str:
    found = _incidents(report)
    if not found:
        return "<p>No incidents.</p>"
    head = ("Subject", "Start", "End", "Duration", "Worst")
    rows = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"]
    rows.append("<tbody>")
    for what, s, i in found:
        inc = s.incidents[i]
        end = "ongoing" if inc.end_ms is None else format_time(inc.end_ms)
        cells = (
            f"{what} {s.name}",
            format_time(inc.start_ms),
            end,
            fmt_duration(inc.duration_ms(report.end_ms)),
            inc.worst.value,
        )
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _columns(runs: Sequence[Run], start_ms: int, end_ms: int) -> list[tuple[float, float, str]]:
    """(x, width, state) in 0..CHART_COLUMNS; with more runs than columns, one per
    column showing its most telling state."""
    span = end_ms - start_ms
    if len(runs) <= CHART_COLUMNS:
        scale = CHART_COLUMNS / span
        return [
            ((r.start_ms - start_ms) * scale, (r.end_ms - r.start_ms) * scale, r.state)
            for r in runs
        ]
    best: list[int] = [len(SHOWN_FIRST)] * CHART_COLUMNS
    for r in runs:
        first = (r.start_ms - start_ms) * CHART_COLUMNS // span
        last = min(CHART_COLUMNS - 1, (r.end_ms - 1 - start_ms) * CHART_COLUMNS // span)
        rank = SHOWN_FIRST.index(r.state) if r.state in SHOWN_FIRST else len(SHOWN_FIRST) - 1
        for col in range(max(0, first), last + 1):
            best[col] = min(best[col], rank)
    return [(float(c), 1.0, SHOWN_FIRST[min(b, len(SHOWN_FIRST) - 1)]) for c, b in enumerate(best)]


def timeline_svg(runs: Sequence[Run], start_ms: int, end_ms: int) -> str:
    """Coloured bands, one per run of a state, over the period."""
    rects = []
    for x, width, state in _columns(runs, start_ms, end_ms):
        label = escape(LABELS.get(state, state))
        rects.append(
            f'<rect x="{x:.2f}" y="0" width="{width:.2f}" height="16" '
            f'fill="{COLOURS.get(state, COLOURS["unknown"])}"><title>{label}</title></rect>'
        )
    return (
        f'<svg class="timeline" viewBox="0 0 {CHART_COLUMNS} 16" '
        f'width="300" height="16" preserveAspectRatio="none" role="img" '
        f'aria-label="status timeline">{"".join(rects)}</svg>'
    )


def bar_svg(ratio: float | None) -> str:
    """A 100-wide bar: green for the up share, red for the rest; grey with no data."""
    if ratio is None:
        inner = f'<rect width="100" height="8" fill="{COLOURS["no_data"]}"/>'
    else:
        up = ratio * 100
        inner = (
            f'<rect width="100" height="8" fill="{COLOURS["fail"]}"/>'
            f'<rect width="{up:.2f}" height="8" fill="{COLOURS["pass"]}"/>'
        )
    return (
        '<svg class="bar" viewBox="0 0 100 8" width="100" '
        f'height="8" role="img" aria-label="availability">{inner}</svg>'
    )


def render_json(report: HealthReport) -> str:
    return json.dumps(report_json(report), indent=1) + "\n"


RENDERERS: dict[str, Callable[[HealthReport], str]] = {
    "html": render_html,
    "md": render_markdown,
    "json": render_json,
}
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}
