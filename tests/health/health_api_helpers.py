"""The real app over a real store with a real HealthMonitor whose clock the test moves;
driven through httpx's ASGITransport, or served by uvicorn on 127.0.0.1:0."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from edgewatch.config import Config
from edgewatch.health.heartbeat import Heartbeats
from edgewatch.health.model import CheckEnv
from edgewatch.health.runner import HealthMonitor
from edgewatch.live import LiveHub
from edgewatch.model import Sample
from edgewatch.query import Engine
from edgewatch.store import Store
from edgewatch.web import api_checks
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext

BASE_URL = "http://127.0.0.1:8700"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
VIEWER_TOKEN = "viewer-token-0123456789abcdef"


class Clock:
    """A clock the test moves; starts at the real time so the store takes its samples."""

    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def __call__(self) -> float:
        return self.t


@dataclass
class Rig:
    ctx: AppContext
    monitor: HealthMonitor
    beats: Heartbeats | None
    store: Store
    clock: Clock


def config(checks: list[dict[str, Any]], *, tokens: bool = False, **health: Any) -> Config:
    section: dict[str, Any] = {"health": {"checks": checks, **health}}
    if tokens:
        section["auth"] = {
            "tokens": [
                {"name": "ci", "token": ADMIN_TOKEN, "role": "admin"},
                {"name": "grafana", "token": VIEWER_TOKEN, "role": "viewer"},
            ]
        }
    return Config.model_validate(section)


@contextmanager
def rig(tmp_path: Path, cfg: Config, *, heartbeats: bool = True) -> Iterator[Rig]:
    """A started store in tmp_path, a monitor writing its results to it, the context."""
    clock = Clock()
    store = Store.open(tmp_path, clock=clock)
    store.start()
    beats = Heartbeats(clock=clock) if heartbeats else None
    engine = Engine(store, cfg.query)

    def sink(ts_ms: int, samples: Sequence[Sample]) -> None:
        store.append(ts_ms, samples)

    env = CheckEnv(clock=clock, engine=engine, heartbeats=beats)
    monitor = HealthMonitor(cfg.health, env, sink=sink)
    try:
        ctx = AppContext(
            config=cfg,
            reader=store,
            engine=engine,
            hub=LiveHub(),
            data_dir=tmp_path,
            store=store,
            health=monitor,
        )
        yield Rig(ctx, monitor, beats, store, clock)
    finally:
        store.close()


def app_for(ctx: AppContext, *, loopback: bool = True) -> FastAPI:
    """``create_app`` with the health router (added here until create_app includes it)."""
    app = create_app(ctx, loopback=loopback)
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/api/health" not in paths:
        app.include_router(api_checks.router)
    return app


@asynccontextmanager
async def client(app: FastAPI, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, **kwargs) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
