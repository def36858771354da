"""A small FastAPI app with dummy read and write routes, a real store in tmp_path, and
the auth layer installed: what the auth tests drive through httpx's ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from fastapi import FastAPI

from edgewatch.cli import cli
from edgewatch.config import Config
from edgewatch.live import LiveHub
from edgewatch.query import Engine
from edgewatch.store import Store
from edgewatch.web.auth import AuthService, install_auth, install_service
from edgewatch.web.context import AppContext

BASE_URL = "http://127.0.0.1:8700"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
VIEWER_TOKEN = "viewer-token-0123456789abcdef"
PASSWORD = "correct horse battery staple"


def config(*, tokens: bool = False, **auth: Any) -> Config:
    """A config with the two test tokens (``tokens``) and other ``auth:`` keys."""
    section: dict[str, Any] = dict(auth)
    if tokens:
        section["tokens"] = [
            {"name": "ci", "token": ADMIN_TOKEN, "role": "admin"},
            {"name": "grafana", "token": VIEWER_TOKEN, "role": "viewer"},
        ]
    return Config.model_validate({"auth": section})


def dummy_app(ctx: AppContext) -> FastAPI:
    """Routes standing in for the real routers: reads, a query POST, mutations."""
    app = FastAPI()
    app.state.ctx = ctx

    @app.get("/api/system")
    async def system() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/query")
    async def query() -> dict[str, str]:
        return {"status": "success"}

    @app.get("/api/v1/labels")
    async def labels() -> dict[str, Any]:
        return {"status": "success", "data": []}

    @app.post("/api/things")
    async def push() -> dict[str, bool]:
        return {"pushed": True}

    @app.delete("/api/silences/{sid}")
    async def unsilence(sid: str) -> dict[str, str]:
        return {"deleted": sid}

    return app


@contextmanager
def open_ctx(data_dir: Path, cfg: Config) -> Iterator[AppContext]:
    """An AppContext over a real, started store in ``data_dir``; closed afterwards."""
    store = Store.open(data_dir)
    store.start()
    try:
        yield AppContext(
            config=cfg,
            reader=store,
            engine=Engine(store, cfg.query),
            hub=LiveHub(),
            data_dir=data_dir,
            store=store,
        )
    finally:
        store.close()


def build_app(
    ctx: AppContext,
    *,
    loopback: bool,
    service: Callable[[AppContext], AuthService] | None = None,
) -> FastAPI:
    app = dummy_app(ctx)
    if service is None:
        install_auth(app, ctx, loopback=loopback)
    else:
        install_service(app, service(ctx))
    return app


@asynccontextmanager
async def client(app: FastAPI, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, **kwargs) as c:
        yield c


def add_user(data_dir: Path, name: str, role: str, password: str = PASSWORD) -> None:
    """``edgewatch user add NAME --role ROLE --password-stdin`` through the real CLI."""
    result = CliRunner().invoke(
        cli,
        ["user", "add", name, "--role", role, "--password-stdin", "--data-dir", str(data_dir)],
        input=f"{password}\n",
    )
    if result.exit_code != 0:
        raise AssertionError(f"user add failed ({result.exit_code}): {result.output}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
