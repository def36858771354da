"""The HTML report of a day of recorded history, opened in headless Chromium, shows
availability figures that match the history (issue 4, "Checked by").

Needs Debian's ``chromium`` (``make test`` installs it with the DEB_PEERS) and the
``playwright`` Python package (test extras); playwright's own browser download is
not used. Skipped when either is missing, except on CI (CI=true), where that fails.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from health_report_helpers import END, HISTORY, T0, config, expected_percent, write_day

from edgewatch.health.report import build_report
from edgewatch.health.report_render import render_html
from edgewatch.store import Store

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.slow


def _need_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not missing:
        return
    reason = f"the browser test needs {' and '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def test_report_in_chromium_shows_the_figures_of_the_history(tmp_path: Path) -> None:
    _need_browser()
    from playwright.sync_api import sync_playwright

    write_day(tmp_path / "data")
    store = Store.open(tmp_path / "data", readonly=True)
    try:
        page_text = render_html(build_report(store, config().health, T0, END))
    finally:
        store.close()
    report = tmp_path / "report.html"
    report.write_text(page_text, encoding="utf-8")

    with sync_playwright() as pw:
        # --no-sandbox: the tests run as root in a container, where Chromium's
        # sandbox cannot start (it refuses to run as root with it); the page is our
        # own file, loaded offline.
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            assert page.title().startswith("Health report 2026-01-01T00:00:00Z")
            shown = {
                name: page.locator(f'tr[data-check="{name}"] td.avail-period').inner_text()
                for name in HISTORY
            }
            usb = page.locator('tr[data-check="usb-reader"] td.avail-period').inner_text()
            camera = page.locator('tr[data-component="camera"] td.avail-period').inner_text()
            incidents = page.locator('tr[data-check="frame"] td.incidents').inner_text()
            timelines = page.locator("svg.timeline").count()
            red_bands = page.locator('tr[data-check="web"] svg.timeline rect[fill="#c62828"]')
            red_width = red_bands.first.bounding_box()
            whole = page.locator('tr[data-check="web"] svg.timeline').bounding_box()
        finally:
            browser.close()

    assert shown == {name: f"{expected_percent(name):g}%" for name in HISTORY}
    assert shown["web"] == "97.5%"
    assert usb == "no data"
    assert camera == f"{round(1416 / 1440 * 100, 3):g}%"
    assert incidents == "2"
    assert timelines == 4 + 3  # every check and component has its chart
    # the outage band is drawn 36/1440 of the timeline's width
    assert red_width is not None and whole is not None
    assert abs(red_width["width"] / whole["width"] - 36 / 1440) < 0.01
    assert requests == [report.as_uri()]  # nothing but the file itself
