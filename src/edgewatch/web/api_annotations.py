"""What charts draw besides their data: annotations and alert-rule thresholds.

- ``GET /api/annotations?start=&end=``: alert periods (from the alert history),
  boots (``node_boot_time_seconds``) and agent restarts
  (``edgewatch_process_cpu_seconds_total`` falling back) in a window; times in
  milliseconds. See web/annotations.py.
- ``GET /api/thresholds?metric=NAME`` (repeatable): the simple thresholds of the
  loaded alerting rules (``metric{...} > N``...) on those metrics, with their
  severities. See web/thresholds.py.

Without the alerting engine there are no alert periods and no thresholds; boots and
restarts come from the store either way.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from edgewatch.alerting.state import HistoryEntry
from edgewatch.web import annotations as an
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ERROR_RESPONSES
from edgewatch.web.params import bad_param, parse_time_param
from edgewatch.web.thresholds import thresholds_of

router = APIRouter(tags=["dashboard"], responses=ERROR_RESPONSES)
Ctx = Annotated[AppContext, Depends(get_context)]

DEFAULT_WINDOW_MS = 3_600_000
MAX_WINDOW_MS = 90 * 86_400_000
MAX_HISTORY = 20_000  # state changes read per request
MAX_METRICS = 50


class AnnotationBody(BaseModel):
    kind: an.Kind
    start_ms: int
    end_ms: int | None
    title: str
    severity: str | None
    labels: dict[str, str]


class AnnotationsBody(BaseModel):
    start_ms: int
    end_ms: int
    annotations: list[AnnotationBody]
    truncated: bool  # the alert history had more changes than were read


class ThresholdBody(BaseModel):
    alert: str
    metric: str
    op: str
    value: float
    severity: str | None
    matchers: list[str]


class ThresholdsBody(BaseModel):
    thresholds: list[ThresholdBody]


def _window(start: str | None, end: str | None, now_ms: int) -> tuple[int, int]:
    end_ms = parse_time_param("end", end, now_ms)
    start_ms = parse_time_param("start", start, end_ms - DEFAULT_WINDOW_MS)
    if end_ms < start_ms:
        raise bad_param("end", "end must not be before start")
    if end_ms - start_ms > MAX_WINDOW_MS:
        raise bad_param("start", f"the window may be at most {MAX_WINDOW_MS // 86_400_000} days")
    return start_ms, end_ms


def _history(ctx: AppContext, start_ms: int) -> list[HistoryEntry]:
    service = ctx.alerting
    if service is None:
        return []
    entries: list[HistoryEntry] = service.state.history(since_ms=start_ms, limit=MAX_HISTORY)
    return entries


def _collect(ctx: AppContext, start_ms: int, end_ms: int) -> AnnotationsBody:
    entries = _history(ctx, start_ms)
    firing = ctx.alerting.evaluator.alerts() if ctx.alerting is not None else []
    found = an.alert_periods(entries, firing, start_ms, end_ms)
    boots = an.boots(ctx.reader, start_ms, end_ms)
    found += boots + an.restarts(ctx.reader, start_ms, end_ms, [b.start_ms for b in boots])
    found.sort(key=lambda a: (a.start_ms, a.kind, a.title))
    return AnnotationsBody(
        start_ms=start_ms,
        end_ms=end_ms,
        annotations=[
            AnnotationBody(
                kind=a.kind,
                start_ms=a.start_ms,
                end_ms=a.end_ms,
                title=a.title,
                severity=a.severity,
                labels=dict(a.labels),
            )
            for a in found
        ],
        truncated=len(entries) >= MAX_HISTORY,
    )


@router.get(
    "/api/annotations",
    response_model=AnnotationsBody,
    summary="Alert periods, boots and agent restarts in a window (for charts)",
)
async def get_annotations(
    ctx: Ctx,
    start: Annotated[
        str | None, Query(description="Unix seconds or RFC 3339; default an hour before end.")
    ] = None,
    end: Annotated[str | None, Query(description="Unix seconds or RFC 3339; default now.")] = None,
) -> Any:
    start_ms, end_ms = _window(start, end, round(time.time() * 1000))
    return await asyncio.to_thread(_collect, ctx, start_ms, end_ms)


@router.get(
    "/api/thresholds",
    response_model=ThresholdsBody,
    summary="Thresholds of the alerting rules on some metrics (for charts)",
)
async def get_thresholds(
    ctx: Ctx,
    metric: Annotated[
        list[str] | None,
        Query(max_length=MAX_METRICS, description="Metric names (repeatable); default all."),
    ] = None,
) -> Any:
    service = ctx.alerting
    rules = [] if service is None else [r for g in service.evaluator.groups for r in g.group.rules]
    found = thresholds_of(rules, metric)
    return ThresholdsBody(
        thresholds=[
            ThresholdBody(
                alert=t.alert,
                metric=t.metric,
                op=t.op,
                value=t.value,
                severity=t.severity,
                matchers=[f"{name}{op}{json.dumps(value)}" for name, op, value in t.matchers],
            )
            for t in found
        ]
    )
