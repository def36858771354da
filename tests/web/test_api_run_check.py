"""``POST /api/checks/{name}/run``: a real HealthMonitor over a real store runs a file
check on demand, behind the real auth layer (API tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import ADMIN_TOKEN, VIEWER_TOKEN, bearer, client, open_ctx
from fastapi import FastAPI

from edgewatch.config import Config
from edgewatch.health.model import CheckEnv
from edgewatch.health.runner import HealthMonitor
from edgewatch.web import api_run_check
from edgewatch.web.audit import read_audit
from edgewatch.web.auth import install_auth
from edgewatch.web.context import AppContext
from edgewatch.web.errors import install_error_handlers

pytestmark = pytest.mark.anyio
ADMIN = bearer(ADMIN_TOKEN)
VIEWER = bearer(VIEWER_TOKEN)


def health_config(frame: Path) -> Config:
    tokens = [
        {"name": "ci", "token": ADMIN_TOKEN, "role": "admin"},
        {"name": "grafana", "token": VIEWER_TOKEN, "role": "viewer"},
    ]
    checks = [{"kind": "file", "name": "frame", "component": "camera", "path": str(frame)}]
    return Config.model_validate({"auth": {"tokens": tokens}, "health": {"checks": checks}})


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    path = tmp_path / "frame.pgm"
    path.write_bytes(b"P5 1 1 255 \x80")
    return path


@pytest.fixture
def ctx(tmp_path: Path, frame: Path) -> Iterator[AppContext]:
    data = tmp_path / "data"
    data.mkdir()
    with open_ctx(data, health_config(frame)) as ctx:
        yield ctx


def _app(ctx: AppContext, *, monitor: bool = True) -> FastAPI:
    if monitor:
        assert ctx.store is not None
        ctx.health = HealthMonitor(
            ctx.config.health, CheckEnv(engine=ctx.engine), sink=ctx.store.append
        )
    app = FastAPI()
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(api_run_check.router)
    install_auth(app, ctx, loopback=False)
    return app


async def test_an_admin_runs_a_check_now_and_gets_its_result(ctx: AppContext, frame: Path) -> None:
    async with client(_app(ctx), headers=ADMIN) as c:
        r = await c.post("/api/checks/frame/run")
        assert r.status_code == 200, r.text
        first = r.json()
        assert (first["name"], first["kind"], first["component"]) == ("frame", "file", "camera")
        assert (first["state"], first["observed"]) == ("pass", "pass")
        assert first["duration_seconds"] >= 0
        frame.unlink()  # the camera stopped writing frames
        second = (await c.post("/api/checks/frame/run")).json()
        assert (second["state"], second["observed"]) == ("fail", "fail")
        assert second["output"] != first["output"]
    # Recorded like a scheduled run: the monitor's latest result, and samples.
    latest = ctx.health.results()["frame"]
    assert latest.status.value == "fail"
    assert ctx.store is not None and ctx.store.commit()
    found = ctx.reader.read('edgewatch_check_status{check="frame"}', 0, latest.time_ms)
    assert [v for series in found for v in series.values.tolist()] == [0.0, 2.0]
    actions = [(a.actor, a.method, a.path, a.status) for a in read_audit(ctx.reader.path)]
    assert actions.count(("ci", "POST", "/api/checks/frame/run", 200)) == 2


async def test_unknown_checks_viewers_and_agents_without_checks(ctx: AppContext) -> None:
    app = _app(ctx)
    async with client(app, headers=ADMIN) as c:
        r = await c.post("/api/checks/nope/run")
        assert (r.status_code, r.json()["error"]) == (404, "no check named 'nope'")
    async with client(app, headers=VIEWER) as c:
        assert (await c.post("/api/checks/frame/run")).status_code == 403
    assert "frame" not in ctx.health.results()  # the viewer's request ran nothing
    async with client(_app(ctx, monitor=False), headers=ADMIN) as c:
        ctx.health = None
        r = await c.post("/api/checks/frame/run")
        assert (r.status_code, r.json()["error"]) == (404, "no check named 'frame'")
