"""``POST /api/checks/{name}/run``: run one health check now ("run now" on the health
page) and answer its result.

The run goes through the agent's HealthMonitor (``run_once``), exactly as a
scheduled run: the check's timeout, thresholds and retries apply, the result is
recorded and becomes samples, and a remediation due is started. A mutation: it
needs the admin role and gets an audit row (the auth middleware). 404 for an
unknown check (every name, when this agent runs no health checks).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from edgewatch.health.model import CheckResult
from edgewatch.health.runner import HealthMonitor
from edgewatch.timespec import format_time
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody, error_response

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class RunResult(BaseModel):
    name: str
    kind: str
    component: str
    state: str  # pass, warn, fail or unknown: the status reported (after retries)
    observed: str  # what this run saw (retries may not have changed the state yet)
    output: str
    observedValue: float | None
    observedUnit: str
    duration_seconds: float
    time: str
    since: str


def run_result(r: CheckResult) -> RunResult:
    return RunResult(
        name=r.name,
        kind=r.kind,
        component=r.component,
        state=r.status.value,
        observed=r.observed.value,
        output=r.message,
        observedValue=r.value,
        observedUnit=r.unit,
        duration_seconds=r.duration_s,
        time=format_time(r.time_ms),
        since=format_time(r.since_ms),
    )


@router.post(
    "/api/checks/{name}/run",
    response_model=RunResult,
    summary="Run one health check now and return its result",
    responses={404: {"model": ErrorBody, "description": "No check of this name"}},
)
async def run_check(name: str, ctx: Annotated[AppContext, Depends(get_context)]) -> Any:
    monitor = ctx.health
    if not isinstance(monitor, HealthMonitor) or name not in monitor.names():
        return error_response(404, f"no check named {name!r}")
    result = await monitor.run_once(name)
    log.info("health check %s run on demand: %s", name, result.status.value)
    return run_result(result)
