"""The dashboard's HTML pages (Jinja2) and their static assets under ``/static/``.

Every page is a server-rendered shell; its data comes from the JSON API, fetched by
the page's own ES module (``static/js/pages/*.js``). Templates hold no inline script
or style, so the pages are served with a strict Content-Security-Policy: scripts,
styles, fetches and the live stream only from this origin. Values that are user
input (label values, check messages) are inserted by the scripts with
``textContent`` only. See docs/dashboard.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

import edgewatch
from edgewatch.web.auth import current_principal

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

# 'self' only: no inline script or style, no eval, no other origin. uPlot sets
# element styles through the CSSOM (allowed); PNG export draws to a blob: URL.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Page:
    path: str
    name: str  # template and script name
    title: str
    placeholder: bool = False  # in the nav, not built yet


PAGES = (
    Page("/", "overview", "Overview"),
    Page("/explore", "explore", "Metrics"),
    Page("/health", "health", "Health"),
    Page("/processes", "processes", "Processes"),
    Page("/alerts", "alerts", "Alerts"),
    Page("/reports", "reports", "Reports"),
    Page("/dashboards", "dashboards", "Dashboards"),
)


@functools.cache
def _templates() -> Jinja2Templates:
    """The page templates, loaded with Jinja2 when a page is first rendered: an agent
    whose dashboard nobody opens does not keep Jinja2 in memory."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=TEMPLATES_DIR)


router = APIRouter(include_in_schema=False)


def _render(request: Request, page: Page, **extra: object) -> HTMLResponse:
    principal = current_principal(request)
    context = {
        "page": page,
        "pages": PAGES,
        "version": edgewatch.__version__,
        "user": principal.name if principal.via != "anonymous" else "",
        "role": principal.role or "",
        # Whether the agent runs the alerting engine (the alerts page reads its API).
        "alerting": getattr(request.app.state, "ctx", None) is not None
        and request.app.state.ctx.alerting is not None,
        **extra,
    }
    response = _templates().TemplateResponse(request, f"{page.name}.html", context)
    response.headers.update(PAGE_HEADERS)
    return response


def _page_route(page: Page) -> None:
    async def handler(request: Request) -> HTMLResponse:
        return _render(request, page)

    handler.__name__ = f"page_{page.name}"
    router.add_api_route(page.path, handler, methods=["GET"], response_class=HTMLResponse)


for _page in PAGES:
    _page_route(_page)

LOGIN = Page("/login", "login", "Log in")
# One custom dashboard (its panels come from /api/dashboards/{id}); the nav marks Dashboards.
DASHBOARD = Page("/dashboards", "dashboard", "Dashboard")


@router.get("/dashboards/{dashboard_id}", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    dashboard_id: Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
) -> HTMLResponse:
    return _render(request, DASHBOARD, dashboard_id=dashboard_id)


@router.get("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    failed: Annotated[bool, Query()] = False,
    next_: Annotated[str, Query(alias="next", max_length=2048)] = "/",
) -> HTMLResponse:
    # Only a local path: never an open redirect to another site.
    local = next_.startswith("/") and not next_.startswith(("//", "/\\"))
    target = next_ if local else "/"
    return _render(request, LOGIN, failed=failed, next=target)


def install_pages(app: FastAPI) -> None:
    """Add the dashboard's pages and ``/static/`` to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
