"""Custom dashboards over HTTP: people's own charts, a PromQL query per panel.

- ``GET /api/dashboards``: every dashboard (id, name, number of panels, last change)
- ``POST /api/dashboards``: create one from ``{name, panels}``
- ``GET``/``PUT``/``DELETE /api/dashboards/{id}``: read, replace, delete one
- ``GET /api/dashboards/{id}/export``: the dashboard as a JSON file to download
- ``POST /api/dashboards/import``: create a dashboard from such a file

Bounds: a name of 1-100 characters, at most 50 panels, a query of at most 4,096
characters that the query engine's parser accepts (400 naming the panel when it
does not). Mutations need the admin role and get an audit row (the auth
middleware, by method). Rows live in the ``dashboards`` table of the store file
(web/dashboard_store.py). See docs/dashboard.md.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from edgewatch.query.errors import BadQuery
from edgewatch.query.parse import parse
from edgewatch.timespec import format_time
from edgewatch.web.auth import current_principal
from edgewatch.web.context import AppContext
from edgewatch.web.dashboard_store import (
    Dashboard,
    DashboardNotFound,
    DashboardStore,
    TooManyDashboards,
)
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody, error_response

router = APIRouter(tags=["dashboards"])

MAX_PANELS = 50
MAX_QUERY = 4096
MAX_NAME = 100
MAX_TITLE = 100
EXPORT_FORMAT: Literal[1] = 1
READ_ONLY = "this agent serves a read-only store: dashboards cannot be changed here"
Ctx = Annotated[AppContext, Depends(get_context)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A panel's query does not parse"},
    404: {"model": ErrorBody, "description": "No such dashboard"},
    409: {"model": ErrorBody, "description": "Too many dashboards"},
    503: {"model": ErrorBody, "description": READ_ONLY},
}

Unit = Literal["number", "bytes", "bytes_per_second", "percent", "seconds", "celsius"]
Range = Literal["5m", "15m", "1h", "6h", "24h", "7d", "30d"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]


class Panel(BaseModel):
    """One chart: a PromQL query over a range, drawn in a unit."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TITLE)] = ""
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY)
    ] = Field(description="A PromQL expression (a range query over the panel's range).")
    unit: Unit = Field("number", description="How values are shown.")
    range: Range = Field("1h", description="The time range drawn, ending now.")


class DashboardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    panels: list[Panel] = Field(default_factory=list, max_length=MAX_PANELS)


class DashboardImport(BaseModel):
    """An exported dashboard (other keys, such as its old id, are ignored)."""

    model_config = ConfigDict(extra="ignore")

    edgewatch_dashboard: Literal[1] = EXPORT_FORMAT
    name: Name
    panels: list[Panel] = Field(default_factory=list, max_length=MAX_PANELS)


class DashboardBody(BaseModel):
    id: str
    name: str
    panels: list[Panel]
    updated: str
    updated_ms: int
    updated_by: str


class DashboardSummary(BaseModel):
    id: str
    name: str
    panels: int
    updated: str
    updated_by: str


class DashboardExport(BaseModel):
    edgewatch_dashboard: Literal[1]
    name: str
    panels: list[Panel]


class Deleted(BaseModel):
    deleted: str


async def _store(request: Request, ctx: Ctx) -> DashboardStore:
    """The app's one DashboardStore (its lock makes it the table's one writer)."""
    store = getattr(request.app.state, "dashboard_store", None)
    if not isinstance(store, DashboardStore):
        store = DashboardStore(ctx.reader.path)
        request.app.state.dashboard_store = store
    return store


async def _writable_store(request: Request, ctx: Ctx) -> DashboardStore:
    if ctx.store is None:
        raise HTTPException(503, READ_ONLY)
    return await _store(request, ctx)


Store = Annotated[DashboardStore, Depends(_store)]
WritableStore = Annotated[DashboardStore, Depends(_writable_store)]


def _panels(d: Dashboard) -> list[Panel]:
    return [Panel.model_validate(p) for p in d.body.get("panels", [])]


def _body(d: Dashboard) -> DashboardBody:
    return DashboardBody(
        id=d.id,
        name=d.name,
        panels=_panels(d),
        updated=format_time(d.updated_ms),
        updated_ms=d.updated_ms,
        updated_by=d.updated_by,
    )


def check_queries(panels: list[Panel]) -> None:
    """Raise BadQuery naming the first panel whose query the parser refuses."""
    for number, panel in enumerate(panels, start=1):
        try:
            parse(panel.query)
        except BadQuery as exc:
            raise BadQuery(f"panel {number} ({panel.title or panel.query[:40]}): {exc}") from None


def _stored(panels: list[Panel]) -> dict[str, Any]:
    return {"panels": [p.model_dump() for p in panels]}


def _bad(exc: BadQuery) -> JSONResponse:
    return error_response(400, str(exc))


def _by(request: Request) -> str:
    return current_principal(request).name


@router.get(
    "/api/dashboards",
    response_model=list[DashboardSummary],
    summary="Custom dashboards, by name",
    responses=RESPONSES,
)
async def list_dashboards(store: Store) -> Any:
    found = await asyncio.to_thread(store.list_all)
    return [
        DashboardSummary(
            id=d.id,
            name=d.name,
            panels=len(d.body.get("panels", [])),
            updated=format_time(d.updated_ms),
            updated_by=d.updated_by,
        )
        for d in found
    ]


async def _create(store: DashboardStore, request: Request, name: str, panels: list[Panel]) -> Any:
    try:
        check_queries(panels)
    except BadQuery as exc:
        return _bad(exc)
    try:
        created = await asyncio.to_thread(store.create, name, _stored(panels), by=_by(request))
    except TooManyDashboards as exc:
        return error_response(409, str(exc))
    return _body(created)


@router.post(
    "/api/dashboards",
    response_model=DashboardBody,
    summary="Create a dashboard",
    responses=RESPONSES,
)
async def create_dashboard(body: DashboardIn, request: Request, store: WritableStore) -> Any:
    return await _create(store, request, body.name, body.panels)


@router.post(
    "/api/dashboards/import",
    response_model=DashboardBody,
    summary="Create a dashboard from an exported JSON file",
    responses=RESPONSES,
)
async def import_dashboard(body: DashboardImport, request: Request, store: WritableStore) -> Any:
    return await _create(store, request, body.name, body.panels)


@router.get(
    "/api/dashboards/{dashboard_id}",
    response_model=DashboardBody,
    summary="One dashboard and its panels",
    responses=RESPONSES,
)
async def get_dashboard(dashboard_id: str, store: Store) -> Any:
    found = await asyncio.to_thread(store.get, dashboard_id)
    if found is None:
        return error_response(404, f"no dashboard {dashboard_id!r}")
    return _body(found)


@router.put(
    "/api/dashboards/{dashboard_id}",
    response_model=DashboardBody,
    summary="Replace a dashboard's name and panels",
    responses=RESPONSES,
)
async def put_dashboard(
    dashboard_id: str, body: DashboardIn, request: Request, store: WritableStore
) -> Any:
    try:
        check_queries(body.panels)
    except BadQuery as exc:
        return _bad(exc)
    try:
        changed = await asyncio.to_thread(
            store.replace, dashboard_id, body.name, _stored(body.panels), by=_by(request)
        )
    except DashboardNotFound:
        return error_response(404, f"no dashboard {dashboard_id!r}")
    return _body(changed)


@router.delete(
    "/api/dashboards/{dashboard_id}",
    response_model=Deleted,
    summary="Delete a dashboard",
    responses=RESPONSES,
)
async def delete_dashboard(dashboard_id: str, store: WritableStore) -> Any:
    if not await asyncio.to_thread(store.delete, dashboard_id):
        return error_response(404, f"no dashboard {dashboard_id!r}")
    return Deleted(deleted=dashboard_id)


def export_filename(name: str, dashboard_id: str) -> str:
    """``edgewatch-dashboard-NAME.json``, NAME reduced to letters, digits, ``-`` and ``_``."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or dashboard_id
    return f"edgewatch-dashboard-{slug}.json"


@router.get(
    "/api/dashboards/{dashboard_id}/export",
    response_model=DashboardExport,
    summary="Download a dashboard as JSON (what POST /api/dashboards/import takes)",
    responses=RESPONSES,
)
async def export_dashboard(dashboard_id: str, store: Store) -> Any:
    found = await asyncio.to_thread(store.get, dashboard_id)
    if found is None:
        return error_response(404, f"no dashboard {dashboard_id!r}")
    body = DashboardExport(
        edgewatch_dashboard=EXPORT_FORMAT, name=found.name, panels=_panels(found)
    )
    filename = export_filename(found.name, found.id)
    return JSONResponse(
        body.model_dump(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
