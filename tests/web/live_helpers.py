"""Shared helpers of the live-API tests: a real store, a minimal app, a uvicorn server.

The app holds only the live routers (stream, metrics, push) so these tests do
not depend on the rest of the web app; ``LiveServer`` serves it on an ephemeral
loopback port inside the test's own event loop (the hub is loop-only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

import pytest
import uvicorn
from fastapi import FastAPI

from edgewatch.config import Config
from edgewatch.live import LiveHub
from edgewatch.model import MetricFamily
from edgewatch.query import Engine
from edgewatch.store import Store
from edgewatch.web import api_metrics, api_push, api_stream
from edgewatch.web.context import AppContext

START_TIMEOUT = 10.0


def make_config(**push: object) -> Config:
    """The built-in defaults, with ``push:`` keys overridden."""
    return Config.model_validate({"push": push}) if push else Config()


def make_context(
    tmp_path: Path,
    *,
    config: Config | None = None,
    families: Mapping[str, MetricFamily] | None = None,
    writable: bool = True,
) -> tuple[AppContext, Store]:
    """A context over a real store in ``tmp_path`` (the caller closes the store)."""
    config = config or make_config()
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    store = Store.open(data)
    fams = dict(families or {})
    ctx = AppContext(
        config=config,
        reader=store,
        engine=Engine(store, config.query),
        hub=LiveHub(),
        data_dir=data,
        store=store if writable else None,
        families=lambda: dict(fams),
    )
    return ctx, store


@contextlib.contextmanager
def live_context(
    tmp_path: Path,
    *,
    config: Config | None = None,
    families: Mapping[str, MetricFamily] | None = None,
    writable: bool = True,
) -> Iterator[AppContext]:
    ctx, store = make_context(tmp_path, config=config, families=families, writable=writable)
    try:
        yield ctx
    finally:
        store.close()


def make_app(ctx: AppContext) -> FastAPI:
    app = FastAPI()
    app.state.ctx = ctx
    app.include_router(api_stream.router)
    app.include_router(api_metrics.router)
    app.include_router(api_push.router)
    return app


class LiveServer:
    """``async with LiveServer(app) as srv:`` serves ``app`` at ``srv.url`` on this loop."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self.server.serve())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises the server's error
                raise RuntimeError("uvicorn stopped before it started")
            if loop.time() > deadline:
                raise TimeoutError("uvicorn did not start")
            await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=15)


async def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll ``predicate()`` every 20 ms until true; TimeoutError names ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def peer_binary(name: str) -> str:
    """The path of a peer binary; skip when missing, fail when CI=true."""
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None
    )
    if path is None:
        reason = f"{name} is not installed (Debian package prometheus provides it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return path
