"""Login and roles in the dashboard: with dashboard users, a browser opening a page
without a session is sent to the login form and back; a viewer logged in through the
real form sees no mutating control on any page and is refused (403) when it mutates
anyway; an admin sees them. Playwright drives Debian's headless Chromium against the
real app (with a real AlertingService whose rule fires) on a loopback port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alerts_helpers import evaluate, put_temps, start_alerting
from auth_helpers import PASSWORD, add_user
from live_helpers import make_context
from playwright.sync_api import Browser, Page, expect

from browser import TIMEOUT_MS, PageErrors, chromium
from edgewatch.web.app import create_app
from edgewatch.web.pages import PAGES
from edgewatch.web.sessions import CSRF_COOKIE, CSRF_HEADER
from served_app import serve

PAGE_PATHS = [p.path for p in PAGES]
# Words naming controls that change something (silences, acks, mutes, checks, dashboards);
# the explorer's "Run" runs a query (a read), "run now" runs a health check.
MUTATING = frozenset(
    {"silence", "acknowledge", "ack", "mute", "expire", "save", "delete", "edit", "new"}
    | {"add", "import", "create", "remove", "rename"}
)
SILENCE = {
    "matchers": [{"name": "alertname", "value": "HotSensor", "isRegex": False, "isEqual": True}],
    "endsAt": "2099-01-01T00:00:00Z",
    "createdBy": "viewer",
    "comment": "a viewer tries",
}


@dataclass
class Site:
    url: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """HotSensor fires; users ``vera`` (viewer) and ``adam`` (admin) exist."""
    ctx, store = make_context(Path(tmp_path_factory.mktemp("dashboard-auth")))
    service = None
    try:
        put_temps(store, round(time.time() * 1000), {"cpu": 60})
        service = start_alerting(ctx, store, clock=time.time)
        asyncio.run(evaluate(service))
        add_user(ctx.data_dir, "vera", "viewer")
        add_user(ctx.data_dir, "adam", "admin")
        with serve(create_app(ctx)) as url:
            yield Site(url)
    finally:
        if service is not None:
            service.close()
        store.close()


def test_a_browser_without_a_session_is_sent_to_the_login_page(site: Site) -> None:
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with httpx.Client(base_url=site.url, timeout=5) as c:
        page = c.get("/alerts?since=24h", headers=html)
        api = c.get("/api/alerts", headers=html)
        script = c.get("/alerts", headers={"accept": "application/json"})
        login = c.get("/login", headers=html)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Falerts%3Fsince%3D24h"
    # API clients (and anything not asking for HTML) keep the 401 JSON.
    assert api.status_code == 401 and api.json() == {"error": "authentication required"}
    assert script.status_code == 401
    assert login.status_code == 200


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


def log_in(page: Page, site: Site, user: str, path: str) -> None:
    """Open ``path``, get sent to the login form, log in through it, land on ``path``."""
    page.goto(f"{site.url}{path}")
    expect(page).to_have_url(f"{site.url}/login?next={path.replace('/', '%2F')}")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}{path}")
    page.wait_for_selector("body[data-ready='1']")


def visible_mutating_controls(page: Page) -> list[str]:
    """Visible buttons (and submit inputs) whose name says they change something, and
    visible ``admin-only`` elements."""
    found: list[str] = []
    for control in page.locator("button, input[type=submit], [role=button]").all():
        if not control.is_visible():
            continue
        text = control.text_content() or control.get_attribute("value") or ""
        name = text.replace("…", "").strip().lower()
        if "run now" in name or MUTATING & set(name.split()):
            found.append(name)
    found.extend(
        f"admin-only {el.evaluate('e => e.outerHTML.slice(0, 80)')}"
        for el in page.locator(".admin-only").all()
        if el.is_visible()
    )
    return found


@pytest.mark.slow
def test_a_viewer_sees_no_mutating_control_and_cannot_mutate(site: Site, page: Page) -> None:
    errors = PageErrors(page)
    log_in(page, site, "vera", "/alerts")
    assert page.locator("body").get_attribute("data-role") == "viewer"
    expect(page.locator(".user")).to_have_text("vera · viewer")
    # The firing alert is listed, without its Silence / Acknowledge buttons.
    firing = page.locator("#active tbody tr[data-state='firing']").filter(has_text="sensor=cpu")
    expect(firing).to_have_count(1)
    # The page builds its buttons for every role; CSS hides them from viewers.
    buttons = firing.locator("button")
    assert buttons.count() == 2
    assert [b.text_content() for b in buttons.all() if b.is_visible()] == []
    for path in PAGE_PATHS:
        page.goto(f"{site.url}{path}")
        page.wait_for_selector("body[data-ready='1']")
        assert visible_mutating_controls(page) == [], path
    # The server refuses anyway: a silence POSTed with the session and its CSRF token.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    refused = page.request.post(
        f"{site.url}/api/silences",
        data=SILENCE,
        headers={CSRF_HEADER: cookies[CSRF_COOKIE], "origin": site.url},
    )
    assert refused.status == 403
    assert refused.json() == {"error": "this needs the admin role"}
    assert errors.messages == []


@pytest.mark.slow
def test_an_admin_sees_the_silence_button(site: Site, page: Page) -> None:
    errors = PageErrors(page)
    log_in(page, site, "adam", "/alerts")
    assert page.locator("body").get_attribute("data-role") == "admin"
    firing = page.locator("#active tbody tr[data-state='firing']").filter(has_text="sensor=cpu")
    expect(firing.get_by_role("button", name="Silence")).to_be_visible()
    expect(firing.get_by_role("button", name="Acknowledge")).to_be_visible()
    expect(page.locator("#mute-open")).to_be_visible()
    # The same probe the viewer's test trusts finds them for an admin.
    found = visible_mutating_controls(page)
    assert {"silence", "acknowledge", "mute all"} <= set(found), found
    assert errors.messages == []
