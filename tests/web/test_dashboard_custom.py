"""Custom dashboards, chart thresholds and the time zone switch in a real browser:
Playwright drives Debian's headless Chromium against the real app (API, auth, pages)
served by uvicorn on a loopback port, over a real store and a real alerting engine."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alerts_helpers import alerting_config, start_alerting
from live_helpers import make_context
from playwright.sync_api import Browser, Page

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.health.model import CheckEnv
from edgewatch.health.runner import HealthMonitor
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext
from served_app import serve

pytestmark = pytest.mark.slow

RULES = """
groups:
  - name: device
    rules:
      - alert: MemoryPressure
        expr: system_memory_usage_ratio > 0.9
        labels: {severity: warning}
"""
CPU_QUERY = 'system_cpu_usage_ratio{cpu="total"}'
MEMORY_QUERY = "system_memory_usage_ratio"


@dataclass
class Site:
    url: str
    ctx: AppContext
    frame: Path  # the file the health check "frame" wants


def fill(store: Store) -> None:
    """Two hours of CPU and memory, a point a minute."""
    now_ms = int(time.time() * 1000)
    for i in range(120):
        store.append(
            now_ms - (120 - i) * 60_000,
            [
                Sample(SeriesKey.of("system_cpu_usage_ratio", cpu="total"), 0.2 + (i % 7) / 20),
                Sample(SeriesKey.of("system_memory_usage_ratio"), 0.5 + (i % 5) / 50),
            ],
        )
    assert store.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = Path(tmp_path_factory.mktemp("custom"))
    frame = tmp / "frame.pgm"
    frame.write_bytes(b"P5 1 1 255 \x80")
    check = {"kind": "file", "name": "frame", "component": "camera", "path": str(frame)}
    ctx, store = make_context(tmp, config=alerting_config(health={"checks": [check]}))
    service = None
    try:
        fill(store)
        service = start_alerting(ctx, store, clock=time.time, config=ctx.config, rules=RULES)
        ctx.health = HealthMonitor(
            ctx.config.health, CheckEnv(engine=ctx.engine), sink=store.append
        )
        asyncio.run(ctx.health.run_once("frame"))
        with serve(create_app(ctx)) as url:
            yield Site(url, ctx, frame)
    finally:
        if service is not None:
            service.close()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # A zone 5 h 30 min from UTC, so that "browser" and "UTC" times differ.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Asia/Kolkata", accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_page(page: Page, url: str) -> PageErrors:
    errors = PageErrors(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return errors


def panel_titles(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#panels .chart-card h3").all_text_contents()]


def test_a_dashboard_made_in_the_page_is_saved_exported_and_imported(
    site: Site, page: Page, tmp_path: Path
) -> None:
    errors = open_page(page, f"{site.url}/dashboards")
    page.fill("#new-name", "Shop box")
    page.click("#create-form button[type=submit]")
    page.wait_for_url("**/dashboards/*?edit=1")
    page.wait_for_selector("#editor:not([hidden])")
    dashboard_url = page.url.split("?")[0]

    page.click("#add-panel")
    page.click("#add-panel")
    rows = page.locator("#panel-list > li")
    assert rows.count() == 2
    rows.nth(0).locator("input").fill("CPU")
    rows.nth(0).locator("textarea").fill(CPU_QUERY)
    rows.nth(0).locator("select.unit").select_option("percent")
    rows.nth(1).locator("input").fill("Memory")
    rows.nth(1).locator("textarea").fill(MEMORY_QUERY)
    rows.nth(1).locator("select.unit").select_option("percent")
    rows.nth(1).locator("select.range").select_option("6h")
    page.get_by_role("button", name="Move panel 2 up").click()  # Memory first
    assert page.locator("#panel-list > li").nth(0).locator("input").input_value() == "Memory"
    page.click("#save")
    page.wait_for_selector("#editor[hidden]", state="attached")
    assert panel_titles(page) == ["Memory", "CPU"]

    page.goto(dashboard_url)
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("h1").text_content() == "Shop box"
    assert panel_titles(page) == ["Memory", "CPU"]
    page.wait_for_function(
        "() => Number(document.querySelector('#panel-1 .chart')?.dataset.points) > 0"
    )
    # The memory panel draws MemoryPressure's threshold; the CPU panel has none.
    page.wait_for_selector("#panel-1 .chart[data-thresholds='1']")
    assert page.evaluate(
        "document.querySelector('#panel-1 .chart').timeChart.thresholds[0].value"
    ) == pytest.approx(0.9)
    assert page.locator("#panel-2 .chart").get_attribute("data-thresholds") == "0"

    with page.expect_download() as info:
        page.click("#export")
    saved = tmp_path / "exported.json"
    info.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert info.value.suggested_filename == "edgewatch-dashboard-Shop-box.json"
    assert exported["name"] == "Shop box"
    assert [(p["title"], p["query"], p["range"]) for p in exported["panels"]] == [
        ("Memory", MEMORY_QUERY, "6h"),
        ("CPU", CPU_QUERY, "1h"),
    ]

    open_page(page, f"{site.url}/dashboards")
    assert page.locator("#dashboards tbody tr").count() == 1
    page.set_input_files("#import-file", str(saved))
    page.click("#import-form button[type=submit]")
    page.wait_for_url(
        lambda url: url.split("?")[0] not in (dashboard_url, f"{site.url}/dashboards")
    )
    page.wait_for_selector("body[data-ready='1']")
    assert panel_titles(page) == ["Memory", "CPU"]
    listed = httpx.get(f"{site.url}/api/dashboards", timeout=5).json()
    assert sorted(d["name"] for d in listed) == ["Shop box", "Shop box"]
    assert errors.messages == []


def test_rule_thresholds_are_drawn_on_overview_and_explorer_charts(site: Site, page: Page) -> None:
    errors = open_page(page, f"{site.url}/explore?q={MEMORY_QUERY}&range=6h")
    page.wait_for_selector("#explore-chart[data-thresholds='1']")
    chart = "document.querySelector('#explore-chart').timeChart"
    assert page.evaluate(f"{chart}.thresholds.map((t) => [t.alert, t.severity, t.value])") == [
        ["MemoryPressure", "warning", 0.9]
    ]
    # The y range takes the threshold in, though the data stays below 0.6.
    assert page.evaluate(f"{chart}.plot.scales.y.max") >= 0.9
    assert "MemoryPressure warning > 90 %" in (page.locator(".chart-notes").text_content() or "")
    open_page(page, f"{site.url}/")
    page.wait_for_selector("#chart-memory .chart[data-thresholds='1']")
    assert page.locator("#chart-cpu .chart").get_attribute("data-thresholds") == "0"
    assert errors.messages == []


def _hours(labels: list[str]) -> list[int]:
    """The hour of each time label of uPlot's axis (``5:30pm``), dates left out."""
    out = []
    for label in labels:
        first = label.split("\n")[0]
        if ":" in first:
            out.append(int(first.split(":")[0]))
    return out


def _expected_hours(splits: list[float], zone: dt.tzinfo) -> list[int]:
    return [(dt.datetime.fromtimestamp(s, zone).hour % 12) or 12 for s in splits]


def test_the_time_zone_switch_moves_chart_axes_to_utc(site: Site, page: Page) -> None:
    errors = open_page(page, f"{site.url}/explore?q={CPU_QUERY}&range=1h")
    page.wait_for_function("() => document.querySelector('#explore-chart')?.timeChart?.plot")
    axis = "document.querySelector('#explore-chart').timeChart.plot.axes[0]"
    kolkata = dt.timezone(dt.timedelta(hours=5, minutes=30))
    splits = page.evaluate(f"{axis}._splits")
    assert _hours(page.evaluate(f"{axis}._values")) == _expected_hours(splits, kolkata)
    assert page.locator("#tz-toggle").text_content() == "Time: browser"

    page.click("#tz-toggle")  # -> device
    page.wait_for_function("() => document.body.dataset.timezone === 'device'")
    page.click("#tz-toggle")  # -> UTC
    page.wait_for_function("() => document.body.dataset.timezone === 'utc'")
    assert page.locator("#tz-toggle").text_content() == "Time: UTC"
    page.wait_for_selector("#explore-chart[data-timezone='utc']")
    splits = page.evaluate(f"{axis}._splits")
    assert _hours(page.evaluate(f"{axis}._values")) == _expected_hours(splits, dt.UTC)
    assert _expected_hours(splits, dt.UTC) != _expected_hours(splits, kolkata)

    # Remembered: another page opens in UTC, and table times follow it.
    open_page(page, f"{site.url}/dashboards")
    assert page.locator("#tz-toggle").text_content() == "Time: UTC"
    assert page.evaluate("localStorage.getItem('edgewatch.timezone')") == "utc"
    assert errors.messages == []


def test_run_now_on_the_health_page_shows_the_result(site: Site, page: Page) -> None:
    errors = open_page(page, f"{site.url}/health")
    row = page.locator("#checks tbody tr").filter(has_text="frame")
    assert row.locator(".badge").text_content() == "pass"
    site.frame.unlink()  # the camera stops writing frames: the next run fails
    page.get_by_role("button", name="Run frame now").click()
    result = page.locator("#run-result[data-status='fail']")
    result.wait_for()
    assert (result.text_content() or "").startswith("frame: fail (this run: fail, ")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#checks tbody tr .badge')]"
        ".some((b) => b.textContent === 'fail')"
    )
    assert site.ctx.health.results()["frame"].status.value == "fail"
    # /api/health answers 503 while the health fails (by design): the browser logs it.
    unexpected = [m for m in errors.messages if "503" not in m or "/api/health'" not in m]
    assert unexpected == []
