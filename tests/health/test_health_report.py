"""Availability reports: a day of history written through a real Store, its figures in
JSON, Markdown and HTML, the ``edgewatch report`` command and ``/api/health/report``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from health_api_helpers import client
from health_report_helpers import (
    CHECKS,
    DAY_MIN,
    END,
    HISTORY,
    INCIDENTS,
    MIN,
    T0,
    config,
    expected_percent,
    write_config,
    write_day,
)

from edgewatch.commands.report import report_cmd
from edgewatch.config import Config
from edgewatch.health.availability import availability
from edgewatch.health.report import HealthReport, build_report, report_json
from edgewatch.health.report_render import render_html, render_markdown
from edgewatch.live import LiveHub
from edgewatch.query import Engine
from edgewatch.store import Store
from edgewatch.web import api_checks
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Store]:
    write_day(tmp_path)
    store = Store.open(tmp_path, readonly=True)
    try:
        yield store
    finally:
        store.close()


def _report(store: Store, **kwargs: Any) -> HealthReport:
    return build_report(store, config().health, T0, END, **kwargs)


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def test_json_figures_match_the_history(day: Store) -> None:
    doc = report_json(_report(day))
    assert doc["period"] == {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-02T00:00:00Z",
        "seconds": 86_400.0,
    }
    checks = _by_name(doc["checks"])
    assert checks["web"]["period"]["availability_percent"] == 97.5
    assert checks["web"]["period"]["down_seconds"] == 36 * 60
    assert checks["frame"]["period"]["availability_percent"] == 98.333
    assert checks["loop"]["period"]["availability_percent"] == 100.0
    assert checks["loop"]["period"]["no_data_seconds"] == 118 * 60
    for name in HISTORY:
        assert checks[name]["period"]["availability_percent"] == expected_percent(name)
        spans = [(i["start"], i["end"]) for i in checks[name]["incidents"]]
        assert len(spans) == len(INCIDENTS[name])
        for (start, end), (lo, hi) in zip(spans, INCIDENTS[name], strict=True):
            assert start == _at(lo) and end == _at(hi)
    assert checks["web"]["mttr_seconds"] == 36 * 60
    assert checks["frame"]["mttr_seconds"] == 12 * 60
    assert checks["loop"]["mttr_seconds"] is None
    # a configured check that never stored anything: no data, not 0 %
    usb = checks["usb-reader"]
    assert usb["stored"] is False and usb["period"]["availability"] is None
    assert usb["period"]["no_data_seconds"] == 86_400
    # the 24 h window is the period; 7 d and 30 d do not fit in a day
    assert list(checks["web"]["windows"]) == ["24h"]
    assert checks["web"]["windows"]["24h"]["availability_percent"] == 97.5
    # the timeline: pass, fail for 36 minutes, pass
    assert [t["state"] for t in checks["web"]["timeline"]] == ["pass", "fail", "pass"]


def test_components_take_the_worst_measured_check(day: Store) -> None:
    components = _by_name(report_json(_report(day))["components"])
    camera = components["camera"]
    assert camera["checks"] == ["frame", "loop"]
    # frame fails 24 min while loop passes; loop's no-data time is measured by frame
    assert camera["period"]["down_seconds"] == 24 * 60
    assert camera["period"]["no_data_seconds"] == 0
    assert camera["period"]["availability_percent"] == round(1416 / 1440 * 100, 3)
    assert [i["duration_seconds"] for i in camera["incidents"]] == [720, 720]
    assert components["network"]["period"]["availability_percent"] == 97.5
    assert components["usb"]["period"]["availability"] is None


def test_figures_agree_with_availability(day: Store) -> None:
    report = _report(day)
    for check in report.checks:
        if not check.stored:
            continue
        a = availability(day, check.name, T0, END, max_gap_ms=3 * MIN)
        assert (check.period.up_ms, check.period.down_ms) == (a.up_ms, a.down_ms)
        assert check.period.no_data_ms == a.no_data_ms
        assert check.incidents == a.incidents


def test_maintenance_is_counted_neither_up_nor_down(day: Store) -> None:
    window = (T0 + 600 * MIN, T0 + 636 * MIN)  # exactly web's outage
    doc = report_json(_report(day, maintenance=[window]))
    web = _by_name(doc["checks"])["web"]
    assert web["period"]["availability_percent"] == 100.0
    assert web["period"]["maintenance_seconds"] == 36 * 60
    assert web["period"]["down_seconds"] == 0
    assert web["incidents"] == []  # the outage lay inside the window
    assert doc["maintenance"] == [{"start": _at(600), "end": _at(636)}]
    # half of frame's noon outage inside a window: the other half still counts
    half = report_json(_report(day, maintenance=[(T0 + 726 * MIN, T0 + 760 * MIN)]))
    frame = _by_name(half["checks"])["frame"]
    assert frame["period"]["down_seconds"] == 18 * 60
    assert frame["period"]["availability_percent"] == round(1388 / 1406 * 100, 3)
    assert len(frame["incidents"]) == 2


def test_windows_that_fit_a_longer_period(day: Store) -> None:
    report = build_report(day, config().health, END - 8 * DAY_MIN * MIN, END)
    web = {c.name: c for c in report.checks}["web"]
    assert list(web.windows) == ["24h", "7d"]
    assert web.windows["24h"].ratio == 1 - 36 / 1440
    assert web.windows["7d"].ratio == web.period.ratio == 1 - 36 / 1440
    assert web.period.no_data_ms == 7 * DAY_MIN * MIN


def test_markdown_shows_the_figures(day: Store) -> None:
    text = render_markdown(_report(day))
    assert text.startswith("# Health report 2026-01-01T00:00:00Z to 2026-01-02T00:00:00Z")
    assert re.search(r"^\| web \| network \| http \| 97\.5% \| 97\.5% \| 1 \| 36m \|", text, re.M)
    assert re.search(r"^\| frame \| camera \| file \| 98\.333% \|", text, re.M)
    assert re.search(r"^\| usb-reader \| usb \| usb \| no data \|", text, re.M)
    assert "| check web | 2026-01-01T10:00:00Z | 2026-01-01T10:36:00Z | 36m | fail |" in text


class _Checker(HTMLParser):
    """Checks that tags nest and close, and collects tags and attribute values."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr", "rect"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.values: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.values.extend(v for _, v in attrs if v)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.values.extend(v for _, v in attrs if v)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()


def test_html_is_well_formed_self_contained_and_has_the_figures(day: Store) -> None:
    page = render_html(_report(day, maintenance=[(T0, T0 + 10 * MIN)]))
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert "script" not in checker.tags and "<script" not in page.lower()
    assert not re.search(r"https?://", page), "the page must not load anything"
    assert not any(v.lower().startswith(("http", "//")) for v in checker.values)
    assert checker.tags.count("svg") == 2 * (4 + 3)  # timeline + bar per check and component
    row = re.search(r'<tr data-check="web">.*?</tr>', page, re.S)
    assert row is not None
    # 10 minutes of maintenance at the start: 36 min down of 1430 measured
    assert '<td class="num avail-period">97.483%</td>' in row.group(0)
    assert 'fill="#c62828"' in row.group(0)  # the red band of the outage


def test_html_escapes_names(tmp_path: Path) -> None:
    from edgewatch.model import Sample, SeriesKey

    store = Store.open(tmp_path)
    key = SeriesKey.of("edgewatch_check_status", check="<b>x</b>", component="c&d", kind="k")
    store.append(T0, [Sample(key, 0.0)])
    store.commit()
    page = render_html(build_report(store, None, T0, T0 + MIN))
    store.close()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page and "c&amp;d" in page


def test_a_long_flapping_timeline_is_bounded() -> None:
    from edgewatch.health.report import Run
    from edgewatch.health.report_render import timeline_svg

    runs = [Run(i, i + 1, "fail" if i % 2 else "pass") for i in range(10_000)]
    svg = timeline_svg(runs, 0, 10_000)
    assert svg.count("<rect") == 600 and "#c62828" in svg


def test_command_writes_each_format(tmp_path: Path) -> None:
    write_day(tmp_path / "data")
    cfg = write_config(tmp_path / "edgewatch.yaml")
    runner = CliRunner()
    base = ["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "--period", "24h"]
    base += ["--end", "2026-01-02T00:00:00Z"]
    for fmt in ("json", "md", "html"):
        out = tmp_path / f"report.{fmt}"
        result = runner.invoke(report_cmd, [*base, "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert "97.5" in out.read_text()
        assert not (tmp_path / f"report.{fmt}.partial").exists()
    doc = json.loads((tmp_path / "report.json").read_text())
    assert _by_name(doc["checks"])["web"]["period"]["availability_percent"] == 97.5
    assert doc["current"] is None  # a past period: no current state
    result = runner.invoke(report_cmd, [*base, "--format", "md", "-o", "-"])
    assert result.exit_code == 0 and "| web | network | http | 97.5% |" in result.output


def test_command_refuses_a_bad_period_and_an_unwritable_file(tmp_path: Path) -> None:
    write_day(tmp_path)
    runner = CliRunner()
    bad = runner.invoke(report_cmd, ["--data-dir", str(tmp_path), "--period", "1s", "-o", "-"])
    assert bad.exit_code == 2 and "must lie between 1m and 400d" in bad.output
    target = tmp_path / "missing-dir" / "r.html"
    cant = runner.invoke(report_cmd, ["--data-dir", str(tmp_path), "-o", str(target)])
    assert cant.exit_code == 2 and f"cannot write {target}" in cant.output


@pytest.mark.anyio
async def test_api_serves_the_report(tmp_path: Path) -> None:
    now_min = int(time.time()) // 60 * 60_000
    write_day(tmp_path, start_ms=now_min - (DAY_MIN - 1) * MIN)
    store = Store.open(tmp_path, readonly=True)
    cfg = config()
    ctx = AppContext(cfg, store, Engine(store, cfg.query), LiveHub(), tmp_path)
    app = create_app(ctx)
    if "/api/health/report" not in {getattr(r, "path", "") for r in app.routes}:
        app.include_router(api_checks.router)
    try:
        async with client(app) as c:
            r = await c.get("/api/health/report", params={"period": "24h", "format": "json"})
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            # the day ends at the last whole minute: the window is off by under a minute,
            # at the start, where every check passed
            web = _by_name(r.json()["checks"])["web"]
            assert web["period"]["down_seconds"] == 36 * 60
            md = await c.get("/api/health/report", params={"period": "24h", "format": "md"})
            assert md.headers["content-type"].startswith("text/markdown")
            assert "| web | network | http |" in md.text
            page = await c.get("/api/health/report?period=24h")
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert '<tr data-check="web">' in page.text
            bad = await c.get("/api/health/report", params={"period": "soon"})
            assert bad.status_code == 400 and bad.json()["error"].startswith(
                'invalid parameter "period"'
            )
            fmt = await c.get("/api/health/report", params={"format": "pdf"})
            assert fmt.status_code == 422 and "error" in fmt.json()
    finally:
        store.close()


def _at(minute: int) -> str:
    from edgewatch.timespec import format_time

    return format_time(T0 + minute * MIN)


def test_report_leaves_a_configured_window_out(tmp_path: Path) -> None:
    write_day(tmp_path / "data")  # web fails 10:00-10:36 on 2026-01-01 (UTC)
    checks = [c | {"interval": 60, "timeout": 5} for c in CHECKS]
    window = {"name": "router swap", "days": ["thu"], "at": "17:00", "duration": "36m",
              "timezone": "Asia/Jakarta"}  # 17:00 in Jakarta is 10:00Z  # fmt: skip
    config = tmp_path / "edgewatch.json"
    config.write_text(json.dumps({"health": {"checks": checks}, "maintenance": [window]}))
    Config.model_validate(json.loads(config.read_text()))
    args = ["--config", str(config), "--data-dir", str(tmp_path / "data"), "--period", "24h",
            "--end", "2026-01-02T00:00:00Z", "--format", "json", "-o", "-"]  # fmt: skip
    result = CliRunner().invoke(report_cmd, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    web = next(c for c in doc["checks"] if c["name"] == "web")
    assert web["period"]["availability_percent"] == 100.0
    assert web["period"]["maintenance_seconds"] == 36 * 60
