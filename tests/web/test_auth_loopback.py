"""Loopback without tokens or users: everybody is an anonymous admin, but no web page
(another origin, or a DNS-rebound host name) may read or change anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import add_user, build_app, client, config, open_ctx

from edgewatch.config import Config
from edgewatch.web.audit import read_audit
from edgewatch.web.auth import AuthService, auth_configured
from edgewatch.web.context import AppContext

pytestmark = pytest.mark.anyio


async def test_anonymous_admin_may_mutate_without_origin_or_from_the_same_origin(
    tmp_path: Path,
) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            who = await c.get("/api/whoami")
            plain = await c.post("/api/things")
            same = await c.post("/api/things", headers={"Origin": "http://127.0.0.1:8700"})
            referer = await c.post(
                "/api/things", headers={"Referer": "http://127.0.0.1:8700/dashboard"}
            )
            local = await c.post(
                "/api/things", headers={"Host": "localhost:8700", "Origin": "http://localhost:8700"}
            )
            query = await c.post("/api/v1/query", headers={"Origin": "http://127.0.0.1:8700"})
        rows = read_audit(ctx.reader.path)
    assert who.json() == {"user": "anonymous", "role": "admin", "via": "anonymous"}
    assert [r.status_code for r in (plain, same, referer, local, query)] == [200] * 5
    assert [(r.actor, r.via, r.role, r.status) for r in rows] == [
        ("anonymous", "anonymous", "admin", 200)
    ] * 4


FOREIGN = [
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:9999"},
    {"Origin": "null"},
    # DNS rebinding: the page's origin and the Host agree, but the name is not local.
    {"Host": "evil.example:8700", "Origin": "http://evil.example:8700"},
    {"Host": "evil.example:8700"},
]


@pytest.mark.parametrize("headers", [*FOREIGN, {"Referer": "https://evil.example/page"}])
async def test_mutation_from_a_web_page_is_refused(tmp_path: Path, headers: dict[str, str]) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            write = await c.post("/api/things", headers=headers)
        rows = read_audit(ctx.reader.path)
    assert write.status_code == 403
    assert "refused" in write.json()["error"]
    assert [(r.path, r.status) for r in rows] == [("/api/things", 403)]


@pytest.mark.parametrize("headers", FOREIGN)
async def test_reads_from_a_web_page_are_refused_too(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    """A "simple" form POST of a query needs no CORS preflight, and a DNS-rebound name
    makes a page's reads same-origin: both are refused; reads leave no audit row."""
    with open_ctx(tmp_path, config()) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            read = await c.get("/api/system", headers=headers)
            query = await c.post(
                "/api/v1/query",
                content=b"query=up",
                headers={**headers, "content-type": "application/x-www-form-urlencoded"},
            )
            live = await c.get("/livez", headers=headers)
        rows = read_audit(ctx.reader.path)
    assert read.status_code == 403
    assert "refused" in read.json()["error"]
    assert query.status_code == 403
    assert query.json()["errorType"] == "forbidden"
    assert live.status_code == 200, "/livez stays open"
    assert rows == []


async def test_a_link_from_another_site_still_opens_a_page(tmp_path: Path) -> None:
    """A navigation sends Referer (no Origin): a GET is not refused for it; a POST is."""
    referer = {"Referer": "https://wiki.example/devices"}
    with open_ctx(tmp_path, config()) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            page = await c.get("/api/system", headers=referer)
            query = await c.post("/api/v1/query", headers=referer)
    assert page.status_code == 200
    assert query.status_code == 403


async def test_first_user_or_token_ends_anonymous_access(tmp_path: Path) -> None:
    def uncached(ctx: AppContext) -> AuthService:
        return AuthService(ctx, loopback=True, users_ttl_s=0.0)

    with open_ctx(tmp_path, config()) as ctx:
        async with client(build_app(ctx, loopback=True, service=uncached)) as c:
            before = await c.get("/api/system")
            add_user(tmp_path, "alice", "viewer")
            after = await c.get("/api/system")
    assert before.status_code == 200
    assert after.status_code == 401


def test_auth_configured_reflects_tokens_and_users(tmp_path: Path) -> None:
    db = tmp_path / "edgewatch.db"
    assert not auth_configured(Config(), tmp_path / "missing" / "edgewatch.db")
    with open_ctx(tmp_path, config()):
        assert not auth_configured(Config(), db)
        assert auth_configured(config(tokens=True), db)
        add_user(tmp_path, "alice", "admin")
        assert auth_configured(Config(), db)
        assert auth_configured(Config(), tmp_path), "a data directory works too"
    assert not (tmp_path / "missing").exists(), "asking creates nothing"
