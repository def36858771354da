"""Panning the explorer's chart in a real browser (Debian's headless Chromium via
Playwright) against the real app over a real store: the ←/→ buttons move the window by
half its width, refetch it, and put the new window in the URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from live_helpers import make_context
from playwright.sync_api import Page

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.model import Sample, SeriesKey
from edgewatch.web.app import create_app
from edgewatch.web.pages import install_pages
from served_app import serve

pytestmark = pytest.mark.slow


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    ctx, store = make_context(tmp_path)
    try:
        now_ms = int(time.time() * 1000)
        for i in range(60):
            store.append(now_ms - (60 - i) * 60_000, [Sample(SeriesKey.of("pan_probe"), i)])
        assert store.commit()
        app = create_app(ctx)
        install_pages(app)
        with serve(app) as base:
            yield base
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


def window(page: Page) -> tuple[int, int]:
    box = page.locator("#explore-chart")
    return int(box.get_attribute("data-start") or 0), int(box.get_attribute("data-end") or 0)


def test_pan_buttons_move_the_window_and_the_url(url: str, page: Page) -> None:
    errors = PageErrors(page)
    page.goto(f"{url}/explore?q=pan_probe&range=1h")
    page.wait_for_selector("body[data-ready='1']")
    start, end = window(page)
    assert end - start == 3600
    page.locator("#pan-left").focus()
    page.keyboard.press("Enter")  # keyboard accessible
    page.wait_for_url("**range=custom**")
    query = parse_qs(urlsplit(page.url).query)
    assert query["range"] == ["custom"] and query["q"] == ["pan_probe"]
    assert (int(query["start"][0]), int(query["end"][0])) == (start - 1800, end - 1800)
    page.wait_for_function(
        f"document.getElementById('explore-chart').dataset.end === '{end - 1800}'"
    )
    assert window(page) == (start - 1800, end - 1800)
    page.locator("#pan-right").click()
    page.wait_for_function(f"document.getElementById('explore-chart').dataset.end === '{end}'")
    query = parse_qs(urlsplit(page.url).query)
    assert (int(query["start"][0]), int(query["end"][0])) == (start, end)
    assert errors.messages == []
