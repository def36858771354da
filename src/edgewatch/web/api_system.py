"""The seed's snapshot endpoints, as the dashboard reads them: ``/api/system``,
``/api/processes`` and ``/api/services``.

They read the latest value of every series from the live hub (memory, no SQLite),
so they are cheap; only ``/api/processes`` reads the store, for the last two CPU
samples of each process name (its CPU share). Field names carry their unit
(``_bytes``, ``_ratio`` 0-1, ``_seconds``, ``_total`` for counters since boot).
Non-finite values are reported as null. The snapshots built from the hub alone
(``/api/system``, ``/api/services``) are in web/snapshots.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from edgewatch.store.reader import Reader
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ERROR_RESPONSES
from edgewatch.web.snapshots import (
    Latest,
    ServicesSnapshot,
    SystemSnapshot,
    as_int,
    services_snapshot,
    system_snapshot,
)

router = APIRouter(prefix="/api", tags=["system"], responses=ERROR_RESPONSES)
Ctx = Annotated[AppContext, Depends(get_context)]

# How far back /api/processes looks for two CPU samples of a process name.
CPU_WINDOW_MS = 5 * 60_000


class SnapshotCache:
    """The JSON of a snapshot, rebuilt only when the hub has a new collection: a
    dashboard polling every second from many tabs costs one build per collection."""

    def __init__(self) -> None:
        self._bodies: dict[str, tuple[int, bytes]] = {}

    def get(self, name: str, event_id: int, build: Callable[[], BaseModel]) -> bytes:
        cached = self._bodies.get(name)
        if cached is None or cached[0] != event_id:
            cached = (event_id, build().model_dump_json().encode("utf-8"))
            self._bodies[name] = cached
        return cached[1]


def _cache(request: Request) -> SnapshotCache:
    cache = getattr(request.app.state, "snapshot_cache", None)
    if cache is None:
        cache = request.app.state.snapshot_cache = SnapshotCache()
    return cache


@router.get("/system", response_model=SystemSnapshot, summary="Current system snapshot")
async def system(ctx: Ctx, request: Request) -> Response:
    hub = ctx.hub
    body = _cache(request).get("system", hub.last_event_id, lambda: system_snapshot(hub.latest()))
    return Response(body, media_type="application/json")


# ------------------------------------------------------------- /api/processes


class ProcessUsage(BaseModel):
    name: str  # the process name (processes) or the configured group (groups)
    count: int | None
    cpu_usage_ratio: float | None  # of one core, over the last two collections
    cpu_seconds_total: float | None
    resident_memory_bytes: float | None
    threads: int | None
    io_read_bytes_total: float | None
    io_write_bytes_total: float | None


class ProcessesSnapshot(BaseModel):
    timestamp: str | None
    processes: list[ProcessUsage]
    groups: list[ProcessUsage]


def _cpu_rates(reader: Reader, metric: str, label: str, now_ms: int) -> dict[str, float]:
    """CPU share of one core per name/group, from the last two stored samples."""
    rates: dict[str, float] = {}
    for data in reader.read(metric, now_ms - CPU_WINDOW_MS, now_ms):
        if len(data.ts) < 2:
            continue
        dt_s = (int(data.ts[-1]) - int(data.ts[-2])) / 1000
        dv = float(data.values[-1]) - float(data.values[-2])
        if dt_s > 0 and dv >= 0 and math.isfinite(dv):
            rates[data.key.label(label)] = round(dv / dt_s, 6)
    return rates


def _usage(lt: Latest, prefix: str, label: str, rates: dict[str, float]) -> list[ProcessUsage]:
    out = []
    for name, count in lt.by(f"{prefix}_num_procs", label).items():
        if label == "name" and not count:
            continue  # a tracked name with no process running now

        def get(what: str, name: str = name) -> float | None:
            return lt.one(f"{prefix}_{what}", **{label: name})

        out.append(
            ProcessUsage(
                name=name,
                count=as_int(count),
                cpu_usage_ratio=rates.get(name),
                cpu_seconds_total=get("cpu_seconds_total"),
                resident_memory_bytes=get("resident_memory_bytes"),
                threads=as_int(get("threads")),
                io_read_bytes_total=get("io_read_bytes_total"),
                io_write_bytes_total=get("io_write_bytes_total"),
            )
        )
    out.sort(key=lambda p: (-(p.cpu_usage_ratio or 0.0), -(p.resident_memory_bytes or 0.0)))
    return out


@router.get("/processes", response_model=ProcessesSnapshot, summary="Top processes by CPU")
async def processes(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most process names listed")] = 20,
) -> ProcessesSnapshot:
    lt = Latest(ctx.hub.latest())
    now_ms = round(time.time() * 1000)

    def rates() -> tuple[dict[str, float], dict[str, float]]:
        names = _cpu_rates(ctx.reader, "system_process_cpu_seconds_total", "name", now_ms)
        groups = _cpu_rates(ctx.reader, "system_process_group_cpu_seconds_total", "group", now_ms)
        return names, groups

    name_rates, group_rates = await run_in_threadpool(rates)
    return ProcessesSnapshot(
        timestamp=lt.stamp(),
        processes=_usage(lt, "system_process", "name", name_rates)[:limit],
        groups=_usage(lt, "system_process_group", "group", group_rates),
    )


# --------------------------------------------------------------- /api/services


@router.get("/services", response_model=ServicesSnapshot, summary="systemd units watched")
async def services(ctx: Ctx, request: Request) -> Response:
    hub = ctx.hub
    body = _cache(request).get(
        "services", hub.last_event_id, lambda: services_snapshot(hub.latest())
    )
    return Response(body, media_type="application/json")
