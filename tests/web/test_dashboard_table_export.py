"""Table downloads in a real browser (Playwright, Debian's headless Chromium, the real app
on a loopback port over a real store): the processes table's CSV and JSON buttons save
the rows the page shows, the CSV quoted so Python's csv module reads it back."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from live_helpers import make_context
from playwright.sync_api import Browser, Page

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.model import Sample, SeriesKey
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext
from edgewatch.web.pages import install_pages
from served_app import serve

pytestmark = pytest.mark.slow

# Names that need CSV quoting (comma, quote) and one that is user input as HTML.
NAMES = ['worker, "main"', "<b>edge</b>", "python3", "sshd"]
HEADER = ["Name", "Count", "CPU", "Memory", "Threads"]
CPU_POINTS = 30


def process_samples() -> list[Sample]:
    samples = []
    for i, name in enumerate(NAMES):
        samples += [
            Sample(SeriesKey.of("system_process_num_procs", name=name), float(i + 1)),
            Sample(
                SeriesKey.of("system_process_resident_memory_bytes", name=name), 2.0**20 * (i + 1)
            ),
            Sample(SeriesKey.of("system_process_threads", name=name), float(2 * i + 1)),
        ]
    return samples


def build_app(ctx: AppContext) -> FastAPI:
    app = create_app(ctx)
    install_pages(app)

    @app.post("/test/publish")
    async def publish() -> dict[str, int]:
        event = ctx.hub.publish(int(time.time() * 1000), process_samples())
        return {"id": event.id}

    return app


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = Path(tmp_path_factory.mktemp("table-export"))
    ctx, store = make_context(tmp)
    try:
        now_ms = int(time.time() * 1000)
        for i in range(CPU_POINTS):  # the overview's CPU chart: history to download
            cpu = Sample(SeriesKey.of("system_cpu_usage_ratio", cpu="total"), i / 100)
            store.append(now_ms - (CPU_POINTS - i) * 1000, [cpu])
        assert store.commit()
        with serve(build_app(ctx)) as base:
            httpx.post(f"{base}/test/publish", timeout=5).raise_for_status()
            yield base
    finally:
        store.close()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    browser: Browser
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


def shown_rows(page: Page) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        "#procs tbody tr",
        "trs => trs.map(tr => [...tr.children].map(td => td.textContent.trim()))",
    )
    return rows


def download(page: Page, label: str, tmp_path: Path) -> str:
    with page.expect_download() as info:
        page.get_by_role("button", name=label).click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    return target.read_bytes().decode("utf-8")


def test_the_processes_table_downloads_as_csv_and_json(
    url: str, page: Page, tmp_path: Path
) -> None:
    errors = PageErrors(page)
    page.goto(f"{url}/processes")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function(f"document.querySelectorAll('#procs tbody tr').length === {len(NAMES)}")
    shown = shown_rows(page)
    assert sorted(row[0] for row in shown) == sorted(NAMES)

    text = download(page, "Download processes as CSV", tmp_path)
    assert "\r\n" in text  # RFC 4180 line ends
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == HEADER
    assert parsed[1:] == shown  # same rows, same order, same cells

    body = json.loads(download(page, "Download processes as JSON", tmp_path))
    assert [list(row) for row in body] == [HEADER] * len(shown)
    assert [[row[h] for h in HEADER] for row in body] == shown
    assert errors.messages == []


def test_the_health_table_leaves_out_its_run_column(url: str, page: Page, tmp_path: Path) -> None:
    page.goto(f"{url}/health")
    page.wait_for_selector("body[data-ready='1']")
    text = download(page, "Download checks as CSV", tmp_path)
    header = next(csv.reader(io.StringIO(text, newline="")))
    assert header[0] == "Check"
    assert "Run" not in header


def test_a_live_chart_downloads_its_points_as_csv(url: str, page: Page, tmp_path: Path) -> None:
    errors = PageErrors(page)
    page.goto(url)
    page.wait_for_selector("#chart-cpu:not([hidden])")
    points = page.eval_on_selector("#chart-cpu .chart", "box => box.timeChart.points")
    text = download(page, "Download CPU as CSV", tmp_path)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][0] == "time"
    assert len(rows[0]) == 2  # one series, no min/max band columns
    assert len(rows) - 1 == points >= CPU_POINTS - 1  # every point the chart holds
    values = [float(v) for _, v in rows[1:]]
    assert values == sorted(values) and values[-1] == pytest.approx((CPU_POINTS - 1) / 100)
    assert errors.messages == []


@pytest.mark.parametrize(
    ("path", "name", "first_column"),
    [("/dashboards", "dashboards", "Name"), ("/reports", "report", "Check")],
)
def test_the_dashboards_and_report_tables_download_too(
    url: str, page: Page, tmp_path: Path, path: str, name: str, first_column: str
) -> None:
    errors = PageErrors(page)
    page.goto(f"{url}{path}")
    page.wait_for_selector("body[data-ready='1']")
    text = download(page, f"Download {name} as CSV", tmp_path)
    header = next(csv.reader(io.StringIO(text, newline="")))
    assert header[0] == first_column
    assert isinstance(json.loads(download(page, f"Download {name} as JSON", tmp_path)), list)
    assert errors.messages == []
