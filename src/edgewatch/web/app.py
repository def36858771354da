"""The FastAPI app factory: every router, JSON errors everywhere, then auth."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

import edgewatch
from edgewatch.web import (
    api_alerts,
    api_annotations,
    api_checks,
    api_dashboards,
    api_device,
    api_export,
    api_health,
    api_metrics,
    api_prom,
    api_push,
    api_run_check,
    api_silences,
    api_stream,
    api_system,
)
from edgewatch.web.auth import install_auth
from edgewatch.web.context import AppContext
from edgewatch.web.errors import install_error_handlers
from edgewatch.web.pages import install_pages

GZIP_MIN_BYTES = 4096
DESCRIPTION = """\
edgewatch's HTTP API: Prometheus-compatible queries under `/api/v1`, the
dashboard's snapshots, export, live stream, push ingest and health probes.
See docs/api.md."""


def create_app(ctx: AppContext, *, loopback: bool = True) -> FastAPI:
    """The web app over ``ctx``; ``loopback``: served on a loopback address only
    (auth may then let requests through without credentials)."""
    app = FastAPI(
        title="edgewatch",
        version=edgewatch.__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    for module in (
        api_health,
        api_checks,
        api_prom,
        api_system,
        api_export,
        api_stream,
        api_metrics,
        api_push,
        api_silences,
        api_alerts,
        api_dashboards,
        api_annotations,
        api_device,
        api_run_check,
    ):
        app.include_router(module.router)
    install_pages(app)  # the dashboard's HTML pages and /static
    install_auth(app, ctx, loopback=loopback)
    # Chart history and exports shrink ~10x (a phone on the shop's Wi-Fi); small
    # snapshots stay plain (not worth the CPU), and the live stream is never
    # compressed (Starlette leaves text/event-stream alone).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=5)
    return app
