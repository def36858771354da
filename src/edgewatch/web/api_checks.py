"""The health API: ``/api/health`` (IETF health+json with the score), one check with
its history, and the heartbeat pings.

- ``GET /api/health``: ``application/health+json``; 200 while pass or warn, 503 on
  fail. ``status`` is pass, warn or fail (an unknown check counts as warn there;
  its own ``state`` says unknown).
- ``GET /api/health/checks/{name}``: the latest result and 24 h of
  ``edgewatch_check_status`` from the store.
- ``GET /api/health/report?period=7d&format=html|md|json``: the availability report
  (health/report.py), as ``edgewatch report`` writes it.
- ``POST /api/heartbeat/{name}`` (``/start``, ``/fail``): a ping for a configured
  heartbeat check. A mutation: an admin's when auth is configured.

See docs/health.md.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

import edgewatch
from edgewatch.health.model import CheckResult, Status
from edgewatch.health.report import build_report, parse_period
from edgewatch.health.report_render import MEDIA_TYPES, RENDERERS
from edgewatch.health.runner import HealthMonitor
from edgewatch.health.score import HealthSummary
from edgewatch.maintenance import intervals
from edgewatch.timespec import format_time
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody, error_response

router = APIRouter(tags=["health"])

HEALTH_JSON = "application/health+json"
HISTORY_S = 86_400
HISTORY_STEP_S = 60
STATUS_BY_CODE = {s.code: s for s in Status}
IetfStatus = Literal["pass", "warn", "fail"]
StateName = Literal["pass", "warn", "fail", "unknown"]


class HealthJSONResponse(JSONResponse):
    media_type = HEALTH_JSON


class CheckEntry(BaseModel):
    """One check in IETF health+json form (``status``), with edgewatch's own ``state``."""

    componentId: str
    componentType: str
    status: IetfStatus
    state: StateName
    observedValue: float | None
    observedUnit: str
    time: str
    since: str
    output: str
    critical: bool


class ComponentEntry(BaseModel):
    status: StateName
    score: float | None
    weight: float
    blocked_by: list[str]
    checks: list[str]


class LossEntry(BaseModel):
    check: str
    component: str
    status: StateName
    points: float


class HealthBody(BaseModel):
    status: IetfStatus
    version: str
    description: str
    time: str
    output: str
    checks: dict[str, list[CheckEntry]]
    score: float | None
    components: dict[str, ComponentEntry]
    explanation: list[LossEntry]
    capped_by: list[str]


class HistoryPoint(BaseModel):
    time: str
    status: StateName


class CheckDetail(BaseModel):
    name: str
    kind: str
    component: str
    result: CheckEntry | None
    history: list[HistoryPoint]


class Ok(BaseModel):
    ok: bool


def ietf(status: Status) -> IetfStatus:
    if status is Status.PASS:
        return "pass"
    return "fail" if status is Status.FAIL else "warn"


def _entry(r: CheckResult) -> CheckEntry:
    return CheckEntry(
        componentId=r.name,
        componentType=r.kind,
        status=ietf(r.status),
        state=r.status.value,
        observedValue=r.value,
        observedUnit=r.unit,
        time=format_time(r.time_ms),
        since=format_time(r.since_ms),
        output=r.message,
        critical=r.critical,
    )


def _output(summary: HealthSummary) -> str:
    if summary.capped_by:
        return f"critical check failing: {', '.join(summary.capped_by)}"
    worst = [loss.check for loss in summary.losses[:3]]
    return f"pulled down by: {', '.join(worst)}" if worst else ""


def health_body(monitor: HealthMonitor | None, now_ms: int) -> HealthBody:
    """The /api/health document for ``monitor``'s latest results."""
    results = monitor.results() if monitor is not None else {}
    summary = monitor.summary() if monitor is not None else None
    checks = {f"{r.component}:{r.name}": [_entry(r)] for r in results.values()}
    components = {}
    if summary is not None:
        components = {
            name: ComponentEntry(
                status=c.status.value,
                score=c.score,
                weight=c.weight,
                blocked_by=list(c.blocked_by),
                checks=list(c.checks),
            )
            for name, c in summary.components.items()
        }
    return HealthBody(
        status=ietf(summary.status) if summary is not None else "pass",
        version=edgewatch.__version__,
        description="edgewatch",
        time=format_time(now_ms),
        output=_output(summary) if summary is not None else "",
        checks=checks,
        score=summary.score if summary is not None else None,
        components=components,
        explanation=[
            LossEntry(check=x.check, component=x.component, status=x.status.value, points=x.points)
            for x in (summary.losses if summary is not None else [])
        ],
        capped_by=list(summary.capped_by) if summary is not None else [],
    )


def _monitor(ctx: AppContext) -> HealthMonitor | None:
    monitor: HealthMonitor | None = ctx.health
    return monitor


def _now_ms(monitor: HealthMonitor | None) -> int:
    return round((monitor.env.clock() if monitor is not None else time.time()) * 1000)


@router.get(
    "/api/health",
    response_model=HealthBody,
    response_class=HealthJSONResponse,
    summary="Health of the device: checks, components and score (application/health+json)",
    responses={
        200: {"description": "pass or warn"},
        503: {"model": HealthBody, "description": "fail"},
    },
)
async def health(ctx: Annotated[AppContext, Depends(get_context)]) -> Response:
    monitor = _monitor(ctx)
    body = health_body(monitor, _now_ms(monitor))
    return Response(
        content=body.model_dump_json(),
        media_type=HEALTH_JSON,
        status_code=503 if body.status == "fail" else 200,
    )


@router.get(
    "/api/health/checks/{name}",
    response_model=CheckDetail,
    summary="One check: its latest result and 24 h of status history",
    responses={404: {"model": ErrorBody, "description": "No such check"}},
)
async def check_detail(
    name: str, ctx: Annotated[AppContext, Depends(get_context)]
) -> CheckDetail | JSONResponse:
    monitor = _monitor(ctx)
    settings = _settings(monitor, name)
    if monitor is None or settings is None:
        return error_response(404, f"no check named {name!r}")
    now_ms = _now_ms(monitor)
    result = monitor.results().get(name)
    history = await asyncio.to_thread(_history, ctx, name, now_ms)
    return CheckDetail(
        name=name,
        kind=getattr(settings, "kind", ""),
        component=settings.component,
        result=_entry(result) if result is not None else None,
        history=history,
    )


def _settings(monitor: HealthMonitor | None, name: str) -> Any:
    if monitor is None:
        return None
    return next((c for c in monitor.config.checks if c.name == name), None)


def _history(ctx: AppContext, name: str, now_ms: int) -> list[HistoryPoint]:
    """``edgewatch_check_status{check=name}`` over 24 h, a point a minute (worst first
    when the check's labels changed and two series cover one minute)."""
    start_ms = now_ms - HISTORY_S * 1000
    expr = f'edgewatch_check_status{{check="{name}"}}'
    result = ctx.engine.range(expr, start_ms, now_ms, HISTORY_STEP_S * 1000)
    points: dict[int, Status] = {}
    for series in result.series:
        for ts, value in zip(series.ts.tolist(), series.values.tolist(), strict=True):
            status = STATUS_BY_CODE.get(int(value), Status.UNKNOWN)
            seen = points.get(ts)
            if seen is None or status.severity > seen.severity:
                points[ts] = status
    return [HistoryPoint(time=format_time(t), status=points[t].value) for t in sorted(points)]


@router.get(
    "/api/health/report",
    response_class=Response,
    summary="Availability report of the checks and components (HTML, Markdown or JSON)",
    responses={
        200: {
            "description": "The report",
            "content": {media.split(";")[0]: {} for media in MEDIA_TYPES.values()},
        },
        400: {"model": ErrorBody, "description": "Bad period"},
    },
)
async def health_report(
    ctx: Annotated[AppContext, Depends(get_context)],
    period: Annotated[str, Query(description="Time covered, ending now: 24h, 7d, 30d...")] = "7d",
    fmt: Annotated[Literal["html", "md", "json"], Query(alias="format")] = "html",
) -> Response:
    try:
        period_ms = parse_period(period)
    except ValueError as exc:
        return error_response(400, f'invalid parameter "period": {exc}')
    monitor = _monitor(ctx)
    now_ms = _now_ms(monitor)
    summary = monitor.summary() if monitor is not None else None

    def render() -> str:
        start_ms = now_ms - period_ms
        report = build_report(
            ctx.reader,
            ctx.config.health,
            start_ms,
            now_ms,
            summary=summary,
            maintenance=intervals(ctx.config.maintenance, start_ms, now_ms),
        )
        return RENDERERS[fmt](report)

    text = await asyncio.to_thread(render)
    return Response(content=text, media_type=MEDIA_TYPES[fmt])


PING_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No heartbeat check of this name"},
    503: {"model": ErrorBody, "description": "Heartbeats are not received here"},
}


async def _ping(ctx: AppContext, name: str, kind: str) -> Ok | JSONResponse:
    monitor = _monitor(ctx)
    settings = _settings(monitor, name)
    if monitor is None or settings is None or getattr(settings, "kind", "") != "heartbeat":
        return error_response(404, f"no heartbeat check named {name!r}")
    heartbeats = monitor.env.heartbeats
    if heartbeats is None:
        return error_response(503, "heartbeats are not received here")
    heartbeats.ping(name, kind, now=monitor.env.clock())
    return Ok(ok=True)


@router.post(
    "/api/heartbeat/{name}",
    response_model=Ok,
    summary="Heartbeat ping: the job or loop of a heartbeat check succeeded",
    responses=PING_RESPONSES,
)
async def heartbeat(name: str, ctx: Annotated[AppContext, Depends(get_context)]) -> Any:
    return await _ping(ctx, name, "success")


@router.post(
    "/api/heartbeat/{name}/start",
    response_model=Ok,
    summary="Heartbeat ping: a run of the job started",
    responses=PING_RESPONSES,
)
async def heartbeat_start(name: str, ctx: Annotated[AppContext, Depends(get_context)]) -> Any:
    return await _ping(ctx, name, "start")


@router.post(
    "/api/heartbeat/{name}/fail",
    response_model=Ok,
    summary="Heartbeat ping: the job failed",
    responses=PING_RESPONSES,
)
async def heartbeat_fail(name: str, ctx: Annotated[AppContext, Depends(get_context)]) -> Any:
    return await _ping(ctx, name, "fail")
