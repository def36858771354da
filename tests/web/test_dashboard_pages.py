"""The dashboard in a real browser: Playwright drives Debian's headless Chromium against
the real app (API, auth, pages) served by uvicorn on a loopback port, over a real store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from live_helpers import make_context
from playwright.sync_api import Browser, Dialog, Page

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.config import Config
from edgewatch.health.model import CheckEnv
from edgewatch.health.runner import HealthMonitor
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext
from edgewatch.web.pages import PAGES, install_pages
from served_app import serve

pytestmark = pytest.mark.slow

HISTORY_POINTS = 60
STEP_MS = 5_000
PAGE_PATHS = [p.path for p in PAGES]
SCRIPT = "<script>alert(1)</script>"


def system_samples(i: int) -> list[Sample]:
    """Point ``i`` of every series the overview charts."""
    return [
        Sample(SeriesKey.of("system_cpu_usage_ratio", cpu="total"), 0.2 + (i % 7) / 20),
        Sample(SeriesKey.of("system_memory_usage_ratio"), 0.5 + (i % 5) / 50),
        Sample(
            SeriesKey.of(
                "system_filesystem_usage_ratio", device="/dev/sda1", fstype="ext4", mountpoint="/"
            ),
            0.61,
        ),
        Sample(SeriesKey.of("node_network_receive_bytes_total", device="eth0"), 1e6 * i),
        Sample(SeriesKey.of("node_network_transmit_bytes_total", device="eth0"), 2e5 * i),
        Sample(SeriesKey.of("node_thermal_zone_temp", type="cpu-thermal", zone="0"), 45 + i % 3),
    ]


@dataclass
class Site:
    url: str
    ctx: AppContext
    published: int = HISTORY_POINTS

    def publish(self) -> None:
        """One live collection, through the app's own event loop (the hub is loop-only)."""
        response = httpx.post(f"{self.url}/test/publish", json={"i": self.published}, timeout=5)
        response.raise_for_status()
        self.published += 1


def build_app(ctx: AppContext) -> FastAPI:
    app = create_app(ctx)
    install_pages(app)

    @app.post("/test/publish")
    async def publish(body: dict[str, int]) -> dict[str, int]:
        event = ctx.hub.publish(int(time.time() * 1000), system_samples(body["i"]))
        return {"id": event.id}

    return app


def fill(store: Store) -> None:
    now_ms = int(time.time() * 1000)
    for i in range(HISTORY_POINTS):
        store.append(now_ms - (HISTORY_POINTS - i) * STEP_MS, system_samples(i))
    assert store.commit()


def health_config(tmp: Path) -> Config:
    """Two checks: a frame file that exists (pass), a heartbeat never pinged (fail)."""
    frame = tmp / "frame.pgm"
    frame.write_bytes(b"P5 1 1 255 \x80")
    checks = [
        {"kind": "file", "name": "frame", "component": "camera", "path": str(frame)},
        {"kind": "heartbeat", "name": "vision-loop", "component": "vision", "period": 60},
    ]
    return Config.model_validate({"health": {"checks": checks}})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = Path(tmp_path_factory.mktemp("dashboard"))
    ctx, store = make_context(tmp, config=health_config(tmp))
    try:
        fill(store)
        ctx.health = HealthMonitor(
            ctx.config.health, CheckEnv(engine=ctx.engine), sink=store.append
        )
        for name in ("frame", "vision-loop"):
            asyncio.run(ctx.health.run_once(name))
        with serve(build_app(ctx)) as url:
            yield Site(url, ctx)
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


def open_page(page: Page, url: str) -> PageErrors:
    errors = PageErrors(page)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return errors


def test_every_page_loads_without_console_errors(site: Site, page: Page) -> None:
    for path in [*PAGE_PATHS, "/login"]:
        errors = open_page(page, f"{site.url}{path}")
        assert page.locator("h1").first.is_visible(), path
        assert errors.messages == [], f"{path}: {errors.messages}"


def test_pages_carry_a_strict_content_security_policy(site: Site) -> None:
    response = httpx.get(f"{site.url}/", timeout=5)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in response.text.replace("<script src=", "").replace(
        '<script type="module" src=', ""
    )


def test_the_overview_chart_gains_live_points(site: Site, page: Page) -> None:
    open_page(page, f"{site.url}/")
    cpu = page.locator("#chart-cpu .chart")
    page.wait_for_function(
        "() => Number(document.querySelector('#chart-cpu .chart')?.dataset.points) > 0"
    )
    page.wait_for_selector("#conn[data-state='live']")
    before = int(cpu.get_attribute("data-points") or 0)
    for _ in range(3):
        site.publish()
        time.sleep(0.05)
    page.wait_for_function(
        f"() => Number(document.querySelector('#chart-cpu .chart').dataset.points) >= {before + 3}"
    )
    assert page.locator("#chart-network").is_visible()
    assert page.locator("#chart-temperature").is_visible()


def test_the_theme_switch_is_remembered_across_pages(site: Site, page: Page) -> None:
    open_page(page, f"{site.url}/processes")
    assert page.evaluate("document.documentElement.dataset.theme") is None  # follows the system
    page.click("#theme-toggle")  # auto -> dark
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    open_page(page, f"{site.url}/reports")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.locator("#theme-toggle").text_content() == "Theme: dark"


def test_the_health_page_lists_each_check_with_its_status(site: Site, page: Page) -> None:
    open_page(page, f"{site.url}/health")
    rows = page.locator("#checks tbody tr")
    assert rows.count() == 2
    failing = rows.filter(has_text="vision-loop")
    assert failing.locator(".badge").text_content() != "pass"
    assert rows.filter(has_text="frame").locator(".badge").text_content() == "pass"
    assert page.locator("#checks .strip").count() == 2
    # The overview shows the score and the components of the same checks.
    open_page(page, f"{site.url}/")
    assert (page.locator("#score-value").text_content() or "").isdigit()
    assert page.locator("#components tbody tr").count() == 2


@pytest.mark.parametrize("width", [360])
def test_nothing_overflows_a_phone_screen(site: Site, browser: Browser, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 740})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        for path in PAGE_PATHS:
            open_page(page, f"{site.url}{path}")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{path} is {scroll_width} px wide"
    finally:
        context.close()


def test_a_pushed_script_label_renders_as_text(site: Site, page: Page) -> None:
    response = httpx.post(
        f"{site.url}/api/push",
        json=[{"name": "xss_probe", "labels": {"tag": SCRIPT}, "value": 1}],
        timeout=5,
    )
    assert response.status_code == 200, response.text
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_page(page, f"{site.url}/explore?q=xss_probe&range=5m")
    legend = page.locator("#explore-chart .u-legend")
    legend.get_by_text(SCRIPT, exact=False).wait_for()
    assert page.locator("#explore-chart script").count() == 0
    assert dialogs == []
