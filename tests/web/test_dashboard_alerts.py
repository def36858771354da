"""The Alerts page in a real browser (Playwright on Debian's headless Chromium) against
the real app with a real AlertingService whose rules fire over a real store: alerts
listed, a silence and an acknowledgement made from the page, label values as text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alerts_helpers import SCRIPT, evaluate, put_temps, start_alerting
from live_helpers import make_context
from playwright.sync_api import Browser, Dialog, Page, expect

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext
from served_app import serve

pytestmark = pytest.mark.slow


@dataclass
class Site:
    url: str
    ctx: AppContext

    def api(self, path: str) -> object:
        response = httpx.get(f"{self.url}{path}", timeout=5)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """HotSensor fires for cpu and for a sensor named like a script tag."""
    ctx, store = make_context(Path(tmp_path_factory.mktemp("alerts-page")))
    service = None
    try:
        put_temps(store, round(time.time() * 1000), {"cpu": 60, SCRIPT: 70})
        service = start_alerting(ctx, store, clock=time.time)
        asyncio.run(evaluate(service))
        with serve(create_app(ctx)) as url:
            yield Site(url, ctx)
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
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def open_alerts(page: Page, site: Site) -> PageErrors:
    errors = PageErrors(page)
    page.goto(f"{site.url}/alerts")
    page.wait_for_selector("body[data-ready='1']")
    return errors


def test_the_page_lists_the_firing_alerts_and_the_rules(site: Site, page: Page) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    errors = open_alerts(page, site)
    rows = page.locator("#active tbody tr")
    expect(rows).to_have_count(4)  # HotSensor x2 firing, WarmSensor x2 pending
    firing = page.locator("#active tbody tr[data-state='firing']")
    expect(firing).to_have_count(2)
    cpu = firing.filter(has_text="sensor=cpu")
    expect(cpu.locator(".badge").first).to_have_text("firing")
    expect(cpu).to_contain_text("critical")
    expect(cpu).to_contain_text("cpu at 60")
    # The label value is shown as text, never run or parsed as HTML.
    expect(firing.get_by_text(f"sensor={SCRIPT}", exact=True)).to_be_visible()
    assert page.locator("#active script").count() == 0
    assert dialogs == []
    # The rules with their health: the failing one says why.
    broken = page.locator("#rules tbody tr[data-health='err']")
    expect(broken).to_have_count(1)
    expect(broken).to_contain_text("many-to-many")
    expect(page.locator("#history tbody tr")).to_have_count(4)
    assert errors.messages == []


def test_silence_from_the_page_creates_a_silence(site: Site, page: Page) -> None:
    errors = open_alerts(page, site)
    row = page.locator("#active tbody tr[data-state='firing']").filter(has_text="sensor=cpu")
    row.get_by_role("button", name="Silence").click()
    dialog = page.locator("#silence-dialog")
    expect(dialog).to_be_visible()
    matchers = page.locator("#silence-matchers").input_value().splitlines()
    assert sorted(matchers) == ['alertname="HotSensor"', 'sensor="cpu"']
    page.fill("#silence-duration", "1h")
    page.fill("#silence-comment", "fan on order")
    dialog.get_by_role("button", name="Create silence").click()
    expect(dialog).to_be_hidden()
    silences = site.api("/api/silences?state=active")
    assert isinstance(silences, list) and len(silences) == 1
    (silence,) = silences
    assert silence["comment"] == "fan on order" and silence["createdBy"] == "anonymous"
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
        ("alertname", "HotSensor"),
        ("sensor", "cpu"),
    }
    # The page shows it, and the alert as silenced.
    listed = page.locator(f"#silences tbody tr[data-silence='{silence['id']}']")
    expect(listed).to_contain_text("fan on order")
    expect(row).to_contain_text("silenced")
    # Expire it from the page.
    listed.get_by_role("button", name="Expire").click()
    expect(listed).to_have_count(0)
    assert site.api("/api/silences?state=active") == []
    assert errors.messages == []


def test_acknowledge_from_the_page(site: Site, page: Page) -> None:
    errors = open_alerts(page, site)
    row = page.locator("#active tbody tr[data-state='firing']").filter(has_text="sensor=cpu")
    row.get_by_role("button", name="Acknowledge").click()
    page.fill("#ack-comment", "replacing the fan")
    page.locator("#ack-dialog").get_by_role("button", name="Acknowledge").click()
    expect(row).to_contain_text("acked by anonymous: replacing the fan")
    alerts = site.api("/api/alerts?state=firing&matcher=sensor%3Dcpu")
    assert isinstance(alerts, list)
    assert [(a["acked_by"], a["ack_comment"]) for a in alerts] == [
        ("anonymous", "replacing the fan")
    ]
    assert errors.messages == []
