"""Loopback without tokens or users: everybody is an anonymous admin, but no web page
(another origin, or a DNS-rebound host name) may change anything."""

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
        rows = read_audit(ctx.reader.path)
    assert who.json() == {"user": "anonymous", "role": "admin", "via": "anonymous"}
    assert [r.status_code for r in (plain, same, referer, local)] == [200] * 4
    assert [(r.actor, r.via, r.role, r.status) for r in rows] == [
        ("anonymous", "anonymous", "admin", 200)
    ] * 4


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        # DNS rebinding: the page's origin and the Host agree, but the name is not local.
        {"Host": "evil.example:8700", "Origin": "http://evil.example:8700"},
        {"Host": "evil.example:8700"},
    ],
)
async def test_mutation_from_a_web_page_is_refused(tmp_path: Path, headers: dict[str, str]) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            write = await c.post("/api/things", headers=headers)
            read = await c.get("/api/system", headers=headers)
        rows = read_audit(ctx.reader.path)
    assert write.status_code == 403
    assert "refused" in write.json()["error"]
    assert read.status_code == 200, "reads stay open on loopback"
    assert [(r.path, r.status) for r in rows] == [("/api/things", 403)]


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
