"""The fleet view's web app: one HTML page (``/``) and its data as JSON (``/api/fleet``).

Every request asks the engine (and Alertmanager) again; nothing is stored or cached.
``?site=NAME`` (page and JSON) narrows the queries themselves to one site.
The page is rendered on the server by an autoescaping Jinja2 template, has no script
at all and refreshes itself with ``<meta http-equiv="refresh">``, so it is served
with a strict Content-Security-Policy (styles from this origin only). A source that
cannot be read is a 502: on the page, its one-line message; in JSON,
``{"error": "...", "detail": null}`` as every edgewatch API answers errors.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from edgewatch.fleet.engine import SourceError, display_url
from edgewatch.fleet.view import STATUS_ORDER, DeviceRow, FleetView, WorstAlert, sort_rows

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
DEFAULT_REFRESH_S = 30


@dataclass(frozen=True)
class _Shown:
    """A row as the page shows it: every value already text."""

    device: str
    site: str
    url: str | None
    status: str
    age_text: str
    last_seen_text: str
    health_text: str
    alert: WorstAlert | None
    more_alerts: int
    cpu_text: str
    memory_text: str
    disk_text: str


def create_fleet_app(
    view: FleetView,
    *,
    refresh_s: int = DEFAULT_REFRESH_S,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template("fleet.html")
    stale_after_s = view.options.stale_after_s
    sources = {
        "prometheus": display_url(view.prom.base_url),
        "alertmanager": None
        if view.alertmanager is None
        else display_url(view.alertmanager.base_url),
    }

    async def page(request: Request) -> Response:
        now = clock()
        site = request.query_params.get("site") or None
        context: dict[str, Any] = {
            "site": site,
            "refresh_s": refresh_s,
            "prometheus": sources["prometheus"],
            "alertmanager": sources["alertmanager"],
            "generated": _rfc3339(now),
            "device_label": view.options.device_label,
            "rows": [],
            "counts": [],
            "error": None,
        }
        status_code = 200
        try:
            rows = sort_rows(await view.rows(site), now, stale_after_s)
        except SourceError as exc:
            log.warning("fleet view: %s", exc)
            context["error"] = str(exc)
            status_code = 502
        else:
            shown = [_shown(r, now, stale_after_s) for r in rows]
            counted = Counter(s.status for s in shown)
            context["rows"] = shown
            context["counts"] = [(s, counted[s]) for s in STATUS_ORDER if counted[s]]
        html = template.render(context)
        return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)

    async def api_fleet(request: Request) -> Response:
        now = clock()
        site = request.query_params.get("site") or None
        try:
            rows = sort_rows(await view.rows(site), now, stale_after_s)
        except SourceError as exc:
            log.warning("fleet view: %s", exc)
            return JSONResponse({"error": str(exc), "detail": None}, status_code=502)
        body = {
            "generated": now,
            "site": site,
            "sources": sources,
            "stale_after_seconds": stale_after_s,
            "devices": [r.to_json(now, stale_after_s) for r in rows],
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def stylesheet(request: Request) -> Response:
        return FileResponse(
            TEMPLATES_DIR / "fleet.css",
            media_type="text/css",
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/api/fleet", api_fleet, methods=["GET"]),
            Route("/fleet.css", stylesheet, methods=["GET"]),
            Route("/livez", healthz, methods=["GET"]),
        ]
    )


def _shown(row: DeviceRow, now: float, stale_after_s: float) -> _Shown:
    return _Shown(
        device=row.device,
        site=row.site,
        url=row.url,
        status=row.status(now, stale_after_s),
        age_text=age_text(row.last_seen, now),
        last_seen_text="" if row.last_seen is None else _rfc3339(row.last_seen),
        health_text="—" if row.health_score is None else f"{row.health_score:g}",
        alert=row.worst_alert,
        more_alerts=max(0, row.active_alerts - 1),
        cpu_text=percent_text(row.cpu_ratio),
        memory_text=percent_text(row.memory_ratio),
        disk_text=percent_text(row.disk_ratio),
    )


def age_text(last_seen: float | None, now: float) -> str:
    """``never``, ``just now``, ``42 s ago``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    if last_seen is None:
        return "never"
    age = now - last_seen
    if age < 1:
        return "just now"
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60)):
        if age >= seconds:
            return f"{int(age // seconds)} {unit} ago"
    return f"{int(age)} s ago"


def percent_text(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.0f} %"


def _rfc3339(seconds: float) -> str:
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=0)
    return stamp.isoformat().replace("+00:00", "Z")
