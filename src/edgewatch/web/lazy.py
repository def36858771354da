"""The web app, loaded on its first request.

FastAPI, Starlette, the routers and their pydantic models cost the agent ~15 MiB
of memory; a device whose dashboard nobody opens should not pay it. The agent
binds and serves uvicorn at start as before, but hands it a ``LazyApp``: the first
HTTP request imports the web app and builds it (``create_app``) in a worker
thread, so the event loop never blocks on the import, and every later request
goes straight to the built app. Requests that arrive while it is being built
wait for that one build. A build that fails is logged, its requests get a 500 in
the API's error shape, and the next request tries again.

The web app has no startup or shutdown handlers (uvicorn runs it with
``lifespan="off"``); a lifespan scope, should a server send one, is acknowledged
without building anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # starlette is the web app's, imported with it on first use
    from starlette.types import ASGIApp, Receive, Scope, Send

    from edgewatch.web.context import AppContext

log = logging.getLogger(__name__)

PROM_PREFIX = "/api/v1"  # Prometheus' error shape there (web/errors.py)


def web_app_builder(ctx: AppContext, *, loopback: bool) -> Callable[[], ASGIApp]:
    """A function that imports the web app and builds it over ``ctx`` (``create_app``)."""

    def build() -> ASGIApp:
        from edgewatch.web.app import create_app

        return create_app(ctx, loopback=loopback)

    return build


class LazyApp:
    """An ASGI app that builds the real one with ``build`` on the first request."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._building: asyncio.Task[ASGIApp] | None = None

    @property
    def loaded(self) -> bool:
        """True once the real app is built."""
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _acknowledge_lifespan(receive, send)
            return
        app = self._app
        if app is None:
            try:
                app = await self.load()
            except Exception:  # logged once by _built, for every request that waited
                await _refuse(scope, send, "the web app could not be loaded; see the agent's log")
                return
        await app(scope, receive, send)

    async def load(self) -> ASGIApp:
        """The real app, built now unless it already is; one build for concurrent callers."""
        if self._app is not None:
            return self._app
        building = self._building
        if building is None:
            building = self._building = asyncio.create_task(
                asyncio.to_thread(self._build), name="edgewatch-web-load"
            )
            building.add_done_callback(self._built)
        # shield: a client that goes away must not cancel the build the others wait for.
        return await asyncio.shield(building)

    def _built(self, task: asyncio.Task[ASGIApp]) -> None:
        self._building = None
        if task.cancelled():
            log.warning("loading the web app was cancelled; the next request tries again")
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "the web app could not be loaded (the next request tries again): %s: %s",
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            return
        self._app = task.result()
        log.info("web app loaded")


async def _acknowledge_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    """A 500 in the API's error shape (web/errors.py), or a websocket closed 1011."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1011, "reason": "internal error"})
        return
    if scope["type"] != "http":
        return
    path: str = scope.get("path", "")
    if path == PROM_PREFIX or path.startswith(PROM_PREFIX + "/"):
        payload: dict[str, object] = {"status": "error", "errorType": "internal", "error": message}
    else:
        payload = {"error": message, "detail": None}
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
