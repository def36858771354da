"""The overview's GPU charts in a real browser (Playwright, Debian's headless Chromium, the
real app on a loopback port over a real store): shown only when GPU series have data.

There is no GPU here, and ``/api/push`` refuses built-in metric names, so the NVIDIA
(DCGM names, percent) and Jetson (0-1) series are appended to the store the way their
collectors' samples are (docs/gpu.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from live_helpers import make_context
from playwright.sync_api import Browser, Page

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store
from edgewatch.web.app import create_app
from edgewatch.web.pages import install_pages
from served_app import serve

pytestmark = pytest.mark.slow

POINTS = 30
STEP_MS = 5_000
NVIDIA = {"gpu": "0", "UUID": "GPU-1234", "device": "nvidia0", "modelName": "NVIDIA L4"}


@dataclass
class Site:
    url: str
    store: Store


def append_history(store: Store, samples: list[Sample]) -> None:
    now_ms = int(time.time() * 1000)
    for i in range(POINTS):
        store.append(now_ms - (POINTS - i) * STEP_MS, samples)
    assert store.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = Path(tmp_path_factory.mktemp("gpu"))
    ctx, store = make_context(tmp)
    try:
        append_history(store, [Sample(SeriesKey.of("system_memory_usage_ratio"), 0.5)])
        app = create_app(ctx)
        install_pages(app)
        with serve(app) as url:
            yield Site(url, store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_overview(page: Page, url: str) -> PageErrors:
    errors = PageErrors(page)
    page.goto(f"{url}/")
    page.wait_for_selector("body[data-ready='1']")
    return errors


def chart_values(page: Page, chart_id: str) -> list[float]:
    values: list[float] = page.evaluate(
        f"""() => document.querySelector('#chart-{chart_id} .chart').timeChart.ys
             .flat().filter((v) => v !== null)"""
    )
    return values


def test_gpu_charts_appear_only_with_gpu_data(site: Site, page: Page) -> None:
    errors = open_overview(page, site.url)
    assert page.locator("#chart-memory").is_visible()
    assert page.locator("#chart-gpu").is_hidden()  # no GPU series: no chart
    assert page.locator("#chart-gpu-temperature").is_hidden()

    append_history(
        site.store,
        [
            Sample(SeriesKey.of("DCGM_FI_DEV_GPU_UTIL", **NVIDIA), 42.0),
            Sample(SeriesKey.of("jetson_gpu_load_ratio"), 0.25),
        ],
    )
    open_overview(page, site.url)
    assert page.locator("#chart-gpu").is_visible()
    gpu = page.locator("#chart-gpu .chart")
    assert gpu.get_attribute("data-series") == "2"
    values = set(chart_values(page, "gpu"))
    assert values == {0.42, 0.25}  # NVIDIA's percent as a 0-1 ratio, like Jetson's
    legend = page.locator("#chart-gpu .u-legend").inner_text()
    assert "GPU 0 NVIDIA L4" in legend and "Jetson GPU" in legend
    assert page.locator("#chart-gpu-temperature").is_hidden()  # no temperature yet

    append_history(
        site.store,
        [
            Sample(SeriesKey.of("DCGM_FI_DEV_GPU_TEMP", **NVIDIA), 61.0),
            Sample(SeriesKey.of("jetson_temperature_celsius", zone="gpu-thermal"), 48.5),
            Sample(SeriesKey.of("jetson_temperature_celsius", zone="cpu-thermal"), 52.0),
        ],
    )
    open_overview(page, site.url)
    assert page.locator("#chart-gpu-temperature").is_visible()
    assert set(chart_values(page, "gpu-temperature")) == {61.0, 48.5}  # not the CPU zone
    assert errors.messages == []
