"""The auth layer inside the real app (``create_app``): its routers are guarded too."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import ADMIN_TOKEN, BASE_URL, VIEWER_TOKEN, bearer, client, config, open_ctx

from edgewatch.web.app import create_app
from edgewatch.web.audit import read_audit

pytestmark = pytest.mark.anyio
PUSH = {"content": b"app_fps 30\n", "headers": {"content-type": "text/plain"}}


async def test_real_routers_follow_the_token_policy(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        async with client(create_app(ctx, loopback=True)) as c:
            anon = await c.get("/api/system")
            live = await c.get("/livez")
            viewer_read = await c.get("/api/system", headers=bearer(VIEWER_TOKEN))
            viewer_push = await c.post(
                "/api/push",
                content=PUSH["content"],
                headers={**PUSH["headers"], **bearer(VIEWER_TOKEN)},
            )
            admin_push = await c.post(
                "/api/push",
                content=PUSH["content"],
                headers={**PUSH["headers"], **bearer(ADMIN_TOKEN)},
            )
            spec = await c.get("/openapi.json", headers=bearer(VIEWER_TOKEN))
        rows = read_audit(ctx.reader.path)
    assert anon.status_code == 401
    assert live.status_code == 200
    assert viewer_read.status_code == 200
    assert viewer_push.status_code == 403
    assert admin_push.status_code < 300, admin_push.text
    # The refused push is audited; the accepted one is data and is not.
    assert [(r.actor, r.status) for r in rows] == [("grafana", 403)]
    assert {"/api/login", "/api/logout", "/api/whoami"} <= set(spec.json()["paths"])


async def test_real_app_on_loopback_refuses_a_foreign_page(tmp_path: Path) -> None:
    with open_ctx(tmp_path, config()) as ctx:
        async with client(create_app(ctx, loopback=True)) as c:
            foreign = await c.post(
                "/api/push",
                content=PUSH["content"],
                headers={**PUSH["headers"], "Origin": "http://evil.example"},
            )
            local = await c.post(
                "/api/push",
                content=PUSH["content"],
                headers={**PUSH["headers"], "Origin": BASE_URL},
            )
    assert foreign.status_code == 403
    assert local.status_code < 300, local.text
