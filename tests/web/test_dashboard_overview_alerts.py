"""The Overview answers "what is wrong" first: in a real browser (Playwright on Debian's
headless Chromium) against the real app with a real AlertingService whose rule fires
over a real store, the active alerts come right after the health score, before the
charts, with label values as text; at phone width the alert and health tables read
as cards and nothing overflows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alerts_helpers import SCRIPT, evaluate, put_temps, start_alerting
from live_helpers import make_context
from playwright.sync_api import Browser, Dialog, Page, expect

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store
from edgewatch.web.app import create_app
from served_app import serve

pytestmark = pytest.mark.slow

LONG_VALUE = "a-rather-long-sensor-name-without-any-spaces-in-it-at-all-0123456789"
CPU_POINTS = 30


@dataclass
class Site:
    url: str


def fill_cpu(store: Store, now_ms: int) -> None:
    """A few minutes of CPU so that the overview draws its CPU chart."""
    for i in range(CPU_POINTS):
        key = SeriesKey.of("system_cpu_usage_ratio", cpu="total")
        store.append(now_ms - (CPU_POINTS - i) * 5_000, [Sample(key, 0.3 + (i % 4) / 20)])
    assert store.commit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """HotSensor fires for cpu, for a script-tag sensor and for a long one; WarmSensor
    is pending for the same three."""
    ctx, store = make_context(Path(tmp_path_factory.mktemp("overview-alerts")))
    service = None
    try:
        now_ms = round(time.time() * 1000)
        fill_cpu(store, now_ms)
        put_temps(store, now_ms, {"cpu": 60, SCRIPT: 70, LONG_VALUE: 55})
        service = start_alerting(ctx, store, clock=time.time)
        asyncio.run(evaluate(service))
        with serve(create_app(ctx)) as url:
            yield Site(url)
    finally:
        if service is not None:
            service.close()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def new_page(browser: Browser, width: int, height: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = new_page(browser, 1280, 900)
    try:
        yield page
    finally:
        page.context.close()


def open_page(page: Page, url: str) -> PageErrors:
    errors = PageErrors(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return errors


def test_the_overview_lists_firing_alerts_before_the_charts(site: Site, page: Page) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    errors = open_page(page, f"{site.url}/")
    items = page.locator("#alert-list .alert-item")
    expect(items).to_have_count(6)  # HotSensor x3 firing, then WarmSensor x3 pending
    states = [items.nth(i).get_attribute("data-state") for i in range(6)]
    assert states == ["firing"] * 3 + ["pending"] * 3
    expect(page.locator("#alerts-none")).to_be_hidden()
    expect(page.locator("#alerts-count")).to_have_text("3 firing, 6 in all →")

    cpu = items.filter(has=page.get_by_text("sensor=cpu", exact=True)).first
    expect(cpu).to_have_attribute("data-state", "firing")
    expect(cpu.locator(".alert-name")).to_have_text("HotSensor")
    expect(cpu.locator(".badge").first).to_have_text("critical")
    expect(cpu.locator(".alert-value")).to_have_text("60")
    expect(cpu.locator("time")).to_contain_text("ago")
    assert cpu.locator("a").get_attribute("href") == "/alerts"
    # alertname and severity are the headline, not chips
    expect(cpu.locator(".chip")).to_have_text(["sensor=cpu"])

    # The label value is shown as text, never parsed as HTML nor run.
    expect(page.get_by_text(f"sensor={SCRIPT}", exact=True).first).to_be_visible()
    assert page.locator("#overview-alerts script").count() == 0
    assert dialogs == []

    # What is wrong first: the alerts come after the health score and before the charts.
    page.wait_for_selector("#chart-cpu")
    order = page.evaluate(
        """() => {
          const y = (s) => document.querySelector(s).getBoundingClientRect().top;
          return [y('#score'), y('#overview-alerts'), y('#charts'), y('#chart-cpu')];
        }"""
    )
    assert order == sorted(order) and order[1] < order[2], order
    assert errors.messages == []


def test_the_overview_alerts_follow_the_api_after_a_refresh(site: Site, page: Page) -> None:
    """The list comes from /api/alerts: the same fingerprints in the same order."""
    open_page(page, f"{site.url}/")
    expect(page.locator("#alert-list .alert-item")).to_have_count(6)
    shown = page.eval_on_selector_all(
        "#alert-list .alert-item", "items => items.map((i) => i.dataset.fingerprint)"
    )
    api = page.evaluate(
        "async () => (await (await fetch('/api/alerts?state=firing&state=nodata&state=pending'))"
        ".json()).map((a) => a.fingerprint)"
    )
    assert shown == api and len(set(shown)) == 6


@pytest.mark.parametrize("path", ["/", "/alerts"])
def test_alert_tables_read_as_cards_on_a_phone(site: Site, browser: Browser, path: str) -> None:
    page = new_page(browser, 360, 740)
    try:
        errors = open_page(page, f"{site.url}{path}")
        if path == "/alerts":
            expect(page.locator("#active tbody tr")).to_have_count(6)
            # A row is a card: the alert's name on one line of its own, not letter by letter.
            name = page.locator("#active tbody tr[data-state='firing'] td:first-child strong").first
            box = name.bounding_box()
            assert box is not None and box["height"] < 30, box
            display = page.eval_on_selector("#active tbody tr", "r => getComputedStyle(r).display")
            assert display == "flex"
        else:
            expect(page.locator("#alert-list .alert-item")).to_have_count(6)
            expect(page.get_by_text(f"sensor={LONG_VALUE}", exact=True).first).to_be_visible()
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 360, f"{path} is {scroll_width} px wide"
        assert errors.messages == []
    finally:
        page.context.close()
