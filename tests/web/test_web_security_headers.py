"""The dashboard's security headers and CSRF defences, on the real app (every router,
auth, pages) over a real store, driven in-process through httpx's ASGITransport:
every HTML page carries the strict CSP and the no-sniff / no-frame headers, holds no
inline script or style, and a mutation by session cookie needs the CSRF token; the
login form refuses a POST from another origin (login CSRF)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from auth_helpers import BASE_URL, PASSWORD, add_user
from live_helpers import make_context

from edgewatch.web.app import create_app
from edgewatch.web.pages import PAGES
from edgewatch.web.sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE

pytestmark = pytest.mark.anyio

HTML_PATHS = [p.path for p in PAGES] + ["/login"]
# Script attributes that would run code without a <script src>: on* handlers, javascript: URLs.
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


@asynccontextmanager
async def app_client(tmp_path: Path, *, users: bool) -> AsyncIterator[httpx.AsyncClient]:
    ctx, store = make_context(tmp_path)
    try:
        if users:
            add_user(ctx.data_dir, "alice", "admin")
        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            yield c
    finally:
        store.close()


def directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.mark.parametrize("path", HTML_PATHS)
async def test_every_page_has_a_strict_csp_and_no_inline_code(tmp_path: Path, path: str) -> None:
    async with app_client(tmp_path, users=False) as c:
        response = await c.get(path, headers={"accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = directives(response.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["base-uri"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    html = response.text
    assert INLINE_SCRIPT.findall(html) == []
    assert INLINE_HANDLER.findall(html) == []
    assert "<style" not in html and " style=" not in html
    assert "javascript:" not in html.lower()


async def test_the_login_form_posts_to_the_login_api_with_a_local_next(tmp_path: Path) -> None:
    async with app_client(tmp_path, users=True) as c:
        page = await c.get("/login", params={"next": "/alerts?x=1"})
        evil = await c.get("/login", params={"next": "//evil.example/"})
    assert 'action="/api/login"' in page.text and 'method="post"' in page.text
    assert 'name="next" value="/alerts?x=1"' in page.text
    assert 'name="next" value="/"' in evil.text  # never an open redirect


async def test_a_form_login_from_another_origin_is_refused(tmp_path: Path) -> None:
    form = {"username": "alice", "password": PASSWORD, "next": "/alerts"}
    async with app_client(tmp_path, users=True) as c:
        foreign = await c.post("/api/login", data=form, headers={"origin": "http://evil.example"})
        referred = await c.post(
            "/api/login", data=form, headers={"referer": "http://evil.example/x"}
        )
        assert c.cookies.get(SESSION_COOKIE) is None
        logout = await c.post("/api/logout", headers={"origin": "http://evil.example"})
        local = await c.post("/api/login", data=form, headers={"origin": BASE_URL})
    assert foreign.status_code == 403
    assert foreign.json() == {"error": "cross-origin request refused"}
    assert SESSION_COOKIE not in foreign.headers.get("set-cookie", "")
    assert referred.status_code == 403
    assert logout.status_code == 403
    assert local.status_code == 303 and local.headers["location"] == "/alerts"
    assert SESSION_COOKIE in local.headers["set-cookie"]


async def test_a_session_mutation_needs_the_csrf_token_of_its_session(tmp_path: Path) -> None:
    silence = {
        "matchers": [{"name": "alertname", "value": "Hot", "isRegex": False, "isEqual": True}],
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "alice",
        "comment": "csrf probe",
    }
    async with app_client(tmp_path, users=True) as c:
        login = await c.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = c.cookies[CSRF_COOKIE]
        missing = await c.post("/api/silences", json=silence)
        wrong = await c.post("/api/silences", json=silence, headers={CSRF_HEADER: "x" + token})
        right = await c.post("/api/silences", json=silence, headers={CSRF_HEADER: token})
    assert missing.status_code == 403
    assert missing.json() == {"error": "missing or wrong X-CSRF-Token header"}
    assert wrong.status_code == 403
    # Past auth: this app runs no alerting engine, so the silences API answers itself.
    assert right.status_code not in (401, 403), right.text
