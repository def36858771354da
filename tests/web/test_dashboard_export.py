"""The metrics explorer in a real browser (Playwright, Debian's headless Chromium, the real
app on a loopback port over a real store): its CSV download holds the rows the API
answers for the same query and range, and a long range keeps a one-sample spike."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from live_helpers import make_context
from playwright.sync_api import Browser, Page

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store
from edgewatch.timespec import format_time
from edgewatch.web.api_export import series_name
from edgewatch.web.app import create_app
from edgewatch.web.pages import install_pages
from served_app import serve

pytestmark = pytest.mark.slow

EXPORT_POINTS = 100
EXPORT_STEP_MS = 5_000
SPIKE_RANGE_S = 6 * 3600
SPIKE_STEP_MS = 5_000
SPIKE_VALUE = 97.0
BASELINE = 1.0


@dataclass
class Site:
    url: str
    spike_ms: int


def fill(store: Store, now_ms: int) -> int:
    """Two export series over the last ~8 minutes; six hours of a flat series with one
    one-sample spike, whose time is returned."""
    append = store.append
    for i in range(EXPORT_POINTS):
        append(
            now_ms - (EXPORT_POINTS - i) * EXPORT_STEP_MS,
            [
                Sample(SeriesKey.of("export_probe", dev="a"), float(i)),
                Sample(SeriesKey.of("export_probe", dev="b"), 1000.0 + i / 4),
            ],
        )
    # Samples at .500 of a second; the spike at .100, followed at .900 of the same second
    # by the baseline: no whole-second evaluation time of a range query lands on it.
    points = SPIKE_RANGE_S * 1000 // SPIKE_STEP_MS
    spike_index = points // 2 + 1
    first_s = now_ms // 1000 - SPIKE_RANGE_S + 60
    spike_ms = 0
    for i in range(points - 20):
        whole_ms = (first_s + i * SPIKE_STEP_MS // 1000) * 1000
        if i == spike_index:
            spike_ms = whole_ms + 100
            append(spike_ms, [Sample(SeriesKey.of("spike_probe", host="x"), SPIKE_VALUE)])
            append(whole_ms + 900, [Sample(SeriesKey.of("spike_probe", host="x"), BASELINE)])
        else:
            append(whole_ms + 500, [Sample(SeriesKey.of("spike_probe", host="x"), BASELINE)])
    assert store.commit()
    return spike_ms


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = Path(tmp_path_factory.mktemp("explore"))
    ctx, store = make_context(tmp)
    try:
        spike_ms = fill(store, int(time.time() * 1000))
        app = create_app(ctx)
        install_pages(app)
        with serve(app) as url:
            yield Site(url, spike_ms)
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_explorer(page: Page, url: str) -> PageErrors:
    errors = PageErrors(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return errors


def api_rows(url: str, params: dict[str, str]) -> list[tuple[str, str, str]]:
    """The rows of the CSV export, built from ``/api/v1/query_range`` for the same query."""
    response = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=10)
    response.raise_for_status()
    rows = []
    for series in response.json()["data"]["result"]:
        name = series_name(series["metric"])
        for t, v in series["values"]:
            rows.append((format_time(round(float(t) * 1000)), name, v))
    return rows


def test_the_csv_download_holds_the_rows_of_the_api(site: Site, page: Page) -> None:
    errors = open_explorer(page, f"{site.url}/explore?q=export_probe&range=15m")
    assert page.locator("#explore-chart .chart, #explore-chart .uplot").count() > 0
    href = page.get_attribute("#dl-csv", "href")
    assert href and href.startswith("/api/export?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    assert query["query"] == "export_probe" and query["format"] == "csv"
    assert int(query["end"]) - int(query["start"]) == 900

    with page.expect_download() as info:
        page.click("#dl-csv")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    path = download.path()
    assert path is not None
    lines = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert lines[0] == ["timestamp", "series", "value"]
    rows = [tuple(r) for r in lines[1:]]

    params = {k: query[k] for k in ("query", "start", "end", "step")}
    expected = api_rows(site.url, params)
    assert len(expected) >= EXPORT_POINTS  # both series, most of their points
    assert {r[1] for r in expected} == {'export_probe{dev="a"}', 'export_probe{dev="b"}'}
    assert sorted(rows) == sorted(expected)
    assert errors.messages == []


def chart_values(page: Page) -> list[float]:
    values: list[float] = page.evaluate(
        """() => document.getElementById('explore-chart').timeChart.ys
             .flat().filter((v) => v !== null)"""
    )
    return values


def test_a_six_hour_range_keeps_a_one_sample_spike(site: Site, page: Page) -> None:
    errors = open_explorer(page, f"{site.url}/explore?q=spike_probe&range=6h")
    href = page.get_attribute("#dl-csv", "href")
    assert href
    query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    step = int(query["step"])
    assert step > SPIKE_STEP_MS // 1000  # thinned: fewer points than samples
    # The plain query at the chart's step misses the spike (the test means something)...
    plain = api_rows(site.url, {k: query[k] for k in ("query", "start", "end", "step")})
    assert plain and all(float(v) == BASELINE for _, _, v in plain)
    # ...the chart keeps it: its min/max band holds the spike's value and the baseline.
    values = chart_values(page)
    assert SPIKE_VALUE in values
    assert BASELINE in values
    assert page.get_attribute("#explore-chart", "data-bands") == "1"
    assert errors.messages == []
