"""Heartbeat pings are data: accepted ones leave no audit row, refused ones do."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import ADMIN_TOKEN, VIEWER_TOKEN, bearer, client, config, dummy_app, open_ctx

from edgewatch.web.audit import read_audit
from edgewatch.web.auth import install_auth

pytestmark = pytest.mark.anyio


async def test_accepted_heartbeat_pings_are_not_audited_refused_ones_are(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        app = dummy_app(ctx)

        @app.post("/api/heartbeat/{name}")
        @app.post("/api/heartbeat/{name}/{what}")
        async def ping(name: str) -> dict[str, bool]:
            return {"ok": True}

        install_auth(app, ctx, loopback=True)
        async with client(app) as c:
            accepted = [
                await c.post(f"/api/heartbeat/loop{suffix}", headers=bearer(ADMIN_TOKEN))
                for suffix in ("", "/start", "/fail")
            ]
            refused = await c.post("/api/heartbeat/loop", headers=bearer(VIEWER_TOKEN))
            other = await c.post("/api/things", headers=bearer(ADMIN_TOKEN))  # still audited
            rows = read_audit(ctx.reader.path)
    assert [r.status_code for r in accepted] == [200, 200, 200]
    assert refused.status_code == 403
    assert other.status_code == 200
    assert sorted((r.path, r.status) for r in rows) == [
        ("/api/heartbeat/loop", 403),
        ("/api/things", 200),
    ]
