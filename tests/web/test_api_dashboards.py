"""Custom dashboards over HTTP, in-process over a real store file, with the real auth
layer (API tokens) in front: CRUD, validation, export/import, roles, audit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import ADMIN_TOKEN, VIEWER_TOKEN, bearer, client, config, open_ctx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from edgewatch.web import api_annotations, api_dashboards, api_device, api_run_check
from edgewatch.web.audit import read_audit
from edgewatch.web.auth import install_auth
from edgewatch.web.context import AppContext
from edgewatch.web.dashboard_store import DashboardStore
from edgewatch.web.errors import install_error_handlers

pytestmark = pytest.mark.anyio
ADMIN = bearer(ADMIN_TOKEN)
VIEWER = bearer(VIEWER_TOKEN)
DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"

CPU = {"title": "CPU", "query": 'system_cpu_usage_ratio{cpu="total"}', "unit": "percent"}
NET = {
    "title": "Network in",
    "query": "rate(node_network_receive_bytes_total[1m])",
    "unit": "bytes_per_second",
    "range": "6h",
}


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    with open_ctx(tmp_path, config(tokens=True)) as ctx:
        yield ctx


def _app(ctx: AppContext) -> FastAPI:
    app = FastAPI()
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(api_dashboards.router)
    install_auth(app, ctx, loopback=False)
    return app


async def _create(c: Any, name: str = "Camera box", panels: Any = None) -> dict[str, Any]:
    r = await c.post("/api/dashboards", json={"name": name, "panels": panels or [CPU, NET]})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_admin_creates_reads_changes_and_deletes_a_dashboard(ctx: AppContext) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        created = await _create(c)
        did = created["id"]
        assert created["name"] == "Camera box"
        assert created["updated_by"] == "ci"
        assert [p["title"] for p in created["panels"]] == ["CPU", "Network in"]
        assert created["panels"][0]["range"] == "1h"  # the default
        listed = (await c.get("/api/dashboards")).json()
        assert [(d["id"], d["name"], d["panels"]) for d in listed] == [(did, "Camera box", 2)]

        # Reorder and rename: the order of the panels is the arrangement.
        r = await c.put(f"/api/dashboards/{did}", json={"name": "Cam", "panels": [NET, CPU]})
        assert r.status_code == 200, r.text
        assert r.json()["updated_ms"] > created["updated_ms"] - 1
        got = (await c.get(f"/api/dashboards/{did}")).json()
        assert got["name"] == "Cam"
        assert [p["title"] for p in got["panels"]] == ["Network in", "CPU"]

        # Stored in the store file: another store over the same file sees it.
        again = DashboardStore(ctx.reader.path).get(did)
        assert again is not None and again.name == "Cam"

        assert (await c.delete(f"/api/dashboards/{did}")).json() == {"deleted": did}
        assert (await c.get(f"/api/dashboards/{did}")).status_code == 404
        assert (await c.delete(f"/api/dashboards/{did}")).status_code == 404
        r = await c.put(f"/api/dashboards/{did}", json={"name": "x", "panels": []})
        assert r.status_code == 404
    actions = [(a.actor, a.method, a.path, a.status) for a in read_audit(ctx.reader.path)]
    assert ("ci", "POST", "/api/dashboards", 200) in actions
    assert ("ci", "PUT", f"/api/dashboards/{did}", 200) in actions
    assert ("ci", "DELETE", f"/api/dashboards/{did}", 200) in actions


async def test_a_query_that_does_not_parse_is_refused_naming_its_panel(ctx: AppContext) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        bad = {"title": "broken", "query": "rate(foo[5m]"}
        r = await c.post("/api/dashboards", json={"name": "x", "panels": [CPU, bad]})
        assert r.status_code == 400
        assert r.json()["error"].startswith("panel 2 (broken): ")
        assert (await c.get("/api/dashboards")).json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "panels": []}, "name"),
        ({"name": "   ", "panels": []}, "name"),
        ({"name": "n" * 101, "panels": []}, "name"),
        ({"name": "x", "panels": [CPU] * 51}, "panels"),
        ({"name": "x", "panels": [{"query": "up + " + "0" * (4097 - 5)}]}, "panels.0.query"),
        ({"name": "x", "panels": [{"query": "up", "unit": "furlongs"}]}, "panels.0.unit"),
        ({"name": "x", "panels": [{"query": "up", "range": "2y"}]}, "panels.0.range"),
        ({"name": "x", "panels": [{"query": "up", "colour": "red"}]}, "panels.0.colour"),
        ({"name": "x", "panels": [{"title": "no query"}]}, "panels.0.query"),
    ],
)
async def test_bounds_are_enforced(ctx: AppContext, body: dict[str, Any], field: str) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        r = await c.post("/api/dashboards", json=body)
        assert r.status_code == 422, r.text
        assert f'invalid parameter "{field}"' in r.json()["error"]


async def test_fifty_panels_and_a_4096_character_query_are_accepted(ctx: AppContext) -> None:
    panels = [CPU] * 49 + [{"query": "up + " + "0" * (4096 - 5)}]
    async with client(_app(ctx), headers=ADMIN) as c:
        created = await _create(c, "n" * 100, panels)
        assert len(created["panels"]) == 50
        assert len(created["panels"][49]["query"]) == 4096


async def test_export_downloads_json_that_imports_back(ctx: AppContext) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        created = await _create(c, "Vision / GPU")
        r = await c.get(f"/api/dashboards/{created['id']}/export")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-disposition"] == (
            'attachment; filename="edgewatch-dashboard-Vision-GPU.json"'
        )
        exported = r.json()
        assert exported == {
            "edgewatch_dashboard": 1,
            "name": "Vision / GPU",
            "panels": created["panels"],
        }
        r = await c.post("/api/dashboards/import", json=exported)
        assert r.status_code == 200, r.text
        imported = r.json()
        assert imported["id"] != created["id"]
        assert (imported["name"], imported["panels"]) == (created["name"], created["panels"])
        # The API's own answer imports too (its id and times are ignored).
        r = await c.post("/api/dashboards/import", json=created)
        assert r.status_code == 200 and r.json()["id"] not in (created["id"], imported["id"])
        assert len((await c.get("/api/dashboards")).json()) == 3
        bad = {**exported, "panels": [{"query": "sum by (x"}]}
        assert (await c.post("/api/dashboards/import", json=bad)).status_code == 400
        wrong = {**exported, "edgewatch_dashboard": 2}
        assert (await c.post("/api/dashboards/import", json=wrong)).status_code == 422
        assert (await c.get("/api/dashboards/nope/export")).status_code == 404


async def test_a_viewer_reads_but_cannot_change_dashboards(ctx: AppContext) -> None:
    app = _app(ctx)
    async with client(app, headers=ADMIN) as c:
        created = await _create(c)
    did = created["id"]
    async with client(app, headers=VIEWER) as c:
        assert (await c.get("/api/dashboards")).status_code == 200
        assert (await c.get(f"/api/dashboards/{did}")).status_code == 200
        assert (await c.get(f"/api/dashboards/{did}/export")).status_code == 200
        for method, path, body in [
            ("POST", "/api/dashboards", {"name": "mine", "panels": []}),
            ("POST", "/api/dashboards/import", {"name": "mine", "panels": []}),
            ("PUT", f"/api/dashboards/{did}", {"name": "mine", "panels": []}),
            ("DELETE", f"/api/dashboards/{did}", None),
        ]:
            r = await c.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
    async with client(app, headers=ADMIN) as c:
        got = (await c.get(f"/api/dashboards/{did}")).json()
        assert got["name"] == "Camera box"
        assert len((await c.get("/api/dashboards")).json()) == 1


async def test_a_read_only_store_refuses_changes(ctx: AppContext) -> None:
    ctx.store = None
    async with client(_app(ctx), headers=ADMIN) as c:
        r = await c.post("/api/dashboards", json={"name": "x", "panels": []})
        assert r.status_code == 503
        assert "read-only" in r.json()["error"]
        assert (await c.get("/api/dashboards")).json() == []


def _routes() -> list[tuple[str, str]]:
    out = []
    for module in (api_dashboards, api_annotations, api_device, api_run_check):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            out += [(method, route.path) for method in sorted(route.methods or ())]
    return out


@pytest.mark.parametrize(("method", "path"), _routes())
def test_the_route_has_a_heading_in_docs_api_md(method: str, path: str) -> None:
    headings = [line for line in DOC.read_text().splitlines() if line.startswith("### ")]
    assert any(f"`{method} {path}`" in h for h in headings), f"{method} {path}"
