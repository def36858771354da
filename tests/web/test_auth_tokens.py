"""Bearer API tokens: roles, refusals, error shapes and the audit rows they leave."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import ADMIN_TOKEN, VIEWER_TOKEN, bearer, build_app, client, config, open_ctx

from edgewatch.config.web import ApiToken
from edgewatch.web import auth
from edgewatch.web.audit import read_audit

pytestmark = pytest.mark.anyio


async def test_viewer_token_reads_but_cannot_mutate_and_the_refusal_is_audited(
    tmp_path: Path,
) -> None:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            read = await c.get("/api/system", headers=bearer(VIEWER_TOKEN))
            query = await c.post("/api/v1/query", headers=bearer(VIEWER_TOKEN))
            write = await c.post("/api/things", headers=bearer(VIEWER_TOKEN))
        rows = read_audit(ctx.reader.path)
    assert read.status_code == 200
    assert query.status_code == 200, "Grafana's query POSTs are reads"
    assert write.status_code == 403
    assert write.json() == {"error": "this needs the admin role"}
    assert len(rows) == 1
    row = rows[0]
    assert (row.actor, row.via, row.role, row.method, row.path, row.status) == (
        "grafana",
        "token",
        "viewer",
        "POST",
        "/api/things",
        403,
    )
    assert row.client == "127.0.0.1"


async def test_admin_token_mutates_and_the_change_is_audited(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        async with client(build_app(ctx, loopback=False)) as c:
            push = await c.post("/api/things?token=query-secret", headers=bearer(ADMIN_TOKEN))
            delete = await c.delete("/api/silences/s1", headers=bearer(ADMIN_TOKEN))
            who = await c.get("/api/whoami", headers=bearer(ADMIN_TOKEN))
        rows = read_audit(ctx.reader.path)
    assert push.status_code == 200 and push.json() == {"pushed": True}
    assert delete.status_code == 200
    assert who.json() == {"user": "ci", "role": "admin", "via": "token"}
    assert [(r.method, r.path, r.status, r.actor) for r in rows] == [
        ("DELETE", "/api/silences/s1", 200, "ci"),
        ("POST", "/api/things", 200, "ci"),
    ], "newest first, and the query string (which may hold a secret) is not stored"


async def test_wrong_or_missing_token_is_401_with_a_bearer_challenge(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            wrong = await c.get("/api/system", headers=bearer(ADMIN_TOKEN + "x"))
            missing = await c.get("/api/system")
            prom = await c.get("/api/v1/labels")
            prom_post = await c.post("/api/v1/query", headers=bearer("nope-nope-nope-nope"))
            write = await c.post("/api/things")
            live = await c.get("/livez")
        rows = read_audit(ctx.reader.path)
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid token"}
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert missing.status_code == 401 and missing.json() == {"error": "authentication required"}
    assert prom.status_code == 401
    assert prom.json() == {
        "status": "error",
        "errorType": "unauthorized",
        "error": "authentication required",
    }
    assert prom_post.json()["errorType"] == "unauthorized"
    assert write.status_code == 401
    assert live.status_code == 200, "/livez stays open"
    assert rows == [], "401s (no or bad credentials) change nothing and leave no audit row"


async def test_viewer_mutation_on_prometheus_path_gets_prometheus_forbidden(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        async with client(build_app(ctx, loopback=True)) as c:
            r = await c.delete("/api/v1/admin/tsdb", headers=bearer(VIEWER_TOKEN))
    assert r.status_code == 403
    assert r.json()["errorType"] == "forbidden"


async def test_anonymous_read_when_allowed_but_never_anonymous_writes(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(tokens=True, allow_anonymous_read=True)) as ctx:
        async with client(build_app(ctx, loopback=False)) as c:
            read = await c.get("/api/system")
            who = await c.get("/api/whoami")
            write = await c.post("/api/things")
            bad = await c.get("/api/system", headers=bearer("wrong-token-wrong-token"))
    assert read.status_code == 200
    assert who.json() == {"user": "anonymous", "role": "viewer", "via": "anonymous"}
    assert write.status_code == 401
    assert bad.status_code == 401, "a wrong token is refused, not read as anonymous"


async def test_beyond_loopback_without_any_auth_everything_needs_credentials(
    tmp_path: Path,
) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        async with client(build_app(ctx, loopback=False)) as c:
            read = await c.get("/api/system")
            ready = await c.get("/livez")
    assert read.status_code == 401
    assert ready.status_code == 200


def test_match_token_compares_every_token_without_early_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = [
        ApiToken(name=f"t{i}", token=f"token-number-{i}-abcdefgh", role="viewer") for i in range(4)
    ]
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    found = auth.match_token(tokens, "token-number-0-abcdefgh")
    assert found is not None and found.name == "t0"
    assert len(calls) == 4, "a match on the first token still compares the others"
    assert all(len(a) == len(b) == 32 for a, b in calls), "digests, so lengths never differ"
    calls.clear()
    assert auth.match_token(tokens, "token-number-0-abcdefg") is None  # a prefix
    assert auth.match_token(tokens, "token-number-0-abcdefghi") is None  # longer
    assert auth.match_token(tokens, "") is None
    assert auth.match_token([], "token-number-0-abcdefgh") is None
    assert len(calls) == 12
