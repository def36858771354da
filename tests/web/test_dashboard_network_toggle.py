"""The overview's network chart: the total over the interfaces first, one series per
interface behind a "per interface" toggle (aria-pressed), in headless Chromium."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_helpers import make_context
from playwright.sync_api import Page

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.model import Sample, SeriesKey
from edgewatch.web.app import create_app
from edgewatch.web.pages import install_pages
from served_app import serve

pytestmark = pytest.mark.slow

POINTS = 60
STEP_MS = 5_000


def counters(i: int) -> list[Sample]:
    """Point ``i`` of two interfaces' counters, plus lo (never charted)."""
    return [
        Sample(SeriesKey.of(f"node_network_{way}_bytes_total", device=dev), rate * i)
        for dev, rate in (("eth0", 1e6), ("wlan0", 3e5), ("lo", 9e9))
        for way in ("receive", "transmit")
    ]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    ctx, store = make_context(tmp_path)
    try:
        now_ms = int(time.time() * 1000)
        for i in range(POINTS):
            store.append(now_ms - (POINTS - i) * STEP_MS, counters(i))
        assert store.commit()
        app = create_app(ctx)
        install_pages(app)

        @app.post("/test/publish")
        async def publish(body: dict[str, int]) -> dict[str, int]:
            event = ctx.hub.publish(int(time.time() * 1000), counters(body["i"]))
            return {"id": event.id}

        with serve(app) as served:
            yield served
    finally:
        store.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


def live_values(url: str, page: Page, first: int) -> list[float | None]:
    """Publishes three live collections; the chart's last value of each series."""
    before = int(page.locator("#chart-network .chart").get_attribute("data-points") or 0)
    for i in range(first, first + 3):
        httpx.post(f"{url}/test/publish", json={"i": i}, timeout=5).raise_for_status()
        time.sleep(0.05)
    page.wait_for_function(
        "(n) => Number(document.querySelector('#chart-network .chart').dataset.points) >= n",
        arg=before + 3,
    )
    values = page.eval_on_selector(
        "#chart-network .chart", "(box) => box.timeChart.ys.map((c) => c[c.length - 1])"
    )
    return [None if v is None else float(v) for v in values]


def legend(page: Page) -> list[str]:
    labels = page.eval_on_selector(
        "#chart-network .chart", "(box) => [...box.timeChart.labels.values()]"
    )
    return sorted(str(label) for label in labels)


def test_network_shows_the_total_then_each_interface(url: str, page: Page) -> None:
    errors = PageErrors(page)
    page.goto(f"{url}/")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function(
        "() => Number(document.querySelector('#chart-network .chart')?.dataset.points) > 0"
    )
    assert legend(page) == ["total in", "total out"]
    page.locator("#chart-network .u-legend").get_by_text("total in").wait_for()
    page.wait_for_selector("#conn[data-state='live']")
    totals = live_values(url, page, POINTS)
    assert len(totals) == 2 and all(v is not None and v > 0 for v in totals), totals

    toggle = page.get_by_role("button", name="per interface")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.focus()
    page.keyboard.press("Enter")  # keyboard accessible: a native button
    assert toggle.get_attribute("aria-pressed") == "true"
    page.wait_for_function(
        "() => Number(document.querySelector('#chart-network .chart')?.dataset.series) === 4"
    )
    assert legend(page) == ["eth0 in", "eth0 out", "wlan0 in", "wlan0 out"]
    page.locator("#chart-network .u-legend").get_by_text("wlan0 out").wait_for()
    per_interface = live_values(url, page, POINTS + 3)
    assert len(per_interface) == 4 and all(v is not None and v > 0 for v in per_interface)

    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false"
    page.wait_for_function(
        "() => Number(document.querySelector('#chart-network .chart')?.dataset.series) === 2"
    )
    assert legend(page) == ["total in", "total out"]
    assert errors.messages == []
