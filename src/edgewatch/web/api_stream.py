"""``GET /api/stream``: each new collection of the live metrics as Server-Sent Events.

Every event is::

    id: 42
    event: samples
    data: {"ts": 1700000000000, "samples": [{"name": "...", "labels": {...}, "value": 0.25}]}

``match`` selectors (any of them) choose the series; the default is what a live
dashboard shows (CPU, memory, disk, network, sensors, load). Non-finite values
are the strings ``"NaN"``, ``"+Inf"`` and ``"-Inf"`` (JSON has no such numbers).
A ``: keepalive`` comment goes out after ``heartbeat`` seconds without data.
``Last-Event-ID`` (or ``last_event_id``) replays the kept events after that id;
a subscriber that falls too far behind gets its stream ended, and resumes. At
most ``MAX_SUBSCRIBERS`` streams are open at once (503 past that), and every
stream ends when the agent stops (``LiveHub.close``). See docs/live.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from edgewatch.live import (
    MAX_SUBSCRIBERS,
    HubFull,
    LiveEvent,
    LiveHub,
    SubscriberLagged,
    Subscription,
)
from edgewatch.model import SeriesKey
from edgewatch.query import BadQuery, QueryError, parse_series_selector
from edgewatch.store.selector import Selector
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody

log = logging.getLogger(__name__)

router = APIRouter()

# What a live dashboard needs (docs/metrics.md): CPU, load, memory, disk, network, sensors.
DEFAULT_MATCH = (
    '{__name__=~"system_cpu_.*|system_memory_.*|system_swap_used_bytes|node_load(1|5|15)'
    "|node_memory_(MemTotal|MemAvailable|SwapTotal)_bytes"
    "|system_filesystem_usage_ratio|node_filesystem_(size|avail)_bytes"
    "|node_disk_(read|written)_bytes_total|node_disk_io_time_seconds_total"
    "|node_network_(receive|transmit)_(bytes|errs|drop)_total|node_network_up"
    "|node_thermal_zone_temp|node_hwmon_(temp_celsius|fan_rpm|in_volts)"
    "|node_cooling_device_cur_state|node_power_supply_.*"
    '|system_(undervoltage|thermal_throttled|frequency_capped)"}',
)
RETRY_MS = 2000
FULL_RETRY_AFTER_S = 10  # Retry-After of the 503 when MAX_SUBSCRIBERS streams are open
MAX_MATCH = 64  # match selectors in one request
DEFAULT_HEARTBEAT = 15.0
_MATCH_CACHE = 20_000
_MEDIA_TYPE = "text/event-stream"


def _selectors(match: Sequence[str]) -> list[Selector]:
    if len(match) > MAX_MATCH:
        raise HTTPException(400, f"more than {MAX_MATCH} match selectors")
    out = []
    for text in match:
        try:
            out.append(parse_series_selector(text))
        except (BadQuery, QueryError, ValueError) as exc:
            raise HTTPException(400, f"bad match selector {text!r}: {exc}") from None
    return out


def _resume_id(header: str | None, param: int | None, hub: LiveHub) -> int | None:
    after = param
    if after is None and header is not None:
        try:
            after = int(header.strip())
        except ValueError:
            after = None  # not an id we sent: start afresh
    if after is not None and (after < 0 or after > hub.last_event_id):
        return None  # ids from before a restart of the agent: start afresh
    return after


@router.get(
    "/api/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "SSE"},
        400: {"model": ErrorBody, "description": "A bad match selector."},
        503: {
            "model": ErrorBody,
            "description": f"{MAX_SUBSCRIBERS} streams open already; see Retry-After.",
        },
    },
    summary="Live samples as Server-Sent Events",
)
async def stream(
    ctx: Annotated[AppContext, Depends(get_context)],
    match: Annotated[
        list[str] | None,
        Query(description="Series selectors; a series is sent when any matches."),
    ] = None,
    heartbeat: Annotated[
        float, Query(ge=1, le=60, description="Seconds without data before a keepalive.")
    ] = DEFAULT_HEARTBEAT,
    last_event_id: Annotated[
        int | None, Query(ge=0, description="Resume after this event id (as Last-Event-ID).")
    ] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    selectors = _selectors(match or DEFAULT_MATCH)
    after = _resume_id(last_event_id_header, last_event_id, ctx.hub)
    try:
        subscription = ctx.hub.open(after)  # the slot is taken now, not when streaming starts
    except HubFull:
        raise HTTPException(
            503,
            f"{ctx.hub.max_subscribers} live streams are open already; retry later",
            headers={"Retry-After": str(FULL_RETRY_AFTER_S)},
        ) from None
    return EventStreamResponse(
        subscription,
        sse_events(subscription, selectors, heartbeat=heartbeat),
        media_type=_MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class EventStreamResponse(StreamingResponse):
    """A StreamingResponse that releases its hub subscription however it ends
    (also when its body never started: a client gone before the first byte)."""

    def __init__(self, subscription: Subscription, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.subscription.close()


async def sse_events(
    events: Subscription, selectors: Sequence[Selector], *, heartbeat: float
) -> AsyncIterator[str]:
    """The stream's text: a retry hint, then events and keepalives until lagged or closed."""
    loop = asyncio.get_running_loop()
    keep = _Filter(selectors)
    pending: asyncio.Task[LiveEvent | None] = asyncio.ensure_future(_next(events))
    try:
        yield f"retry: {RETRY_MS}\n\n"
        last_write = loop.time()
        while True:
            wait = heartbeat - (loop.time() - last_write)
            done, _ = await asyncio.wait({pending}, timeout=max(wait, 0.0))
            if not done:
                last_write = loop.time()
                yield ": keepalive\n\n"
                continue
            try:
                event = pending.result()
            except SubscriberLagged:
                log.info("a live stream subscriber fell behind; its stream ends (it resumes)")
                yield ": lagged; reconnect with Last-Event-ID\n\n"
                return
            if event is None:
                return  # the hub closed: the agent is stopping
            pending = asyncio.ensure_future(_next(events))
            text = format_event(event, keep)
            if text:
                last_write = loop.time()
                yield text
    finally:
        pending.cancel()
        events.close()


async def _next(events: Subscription) -> LiveEvent | None:
    """The next event; None when the subscription ends (the hub closed)."""
    try:
        return await anext(events)
    except StopAsyncIteration:
        return None


class _Filter:
    def __init__(self, selectors: Sequence[Selector]) -> None:
        self._selectors = list(selectors)
        self._memo: dict[SeriesKey, bool] = {}

    def __call__(self, key: SeriesKey) -> bool:
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= _MATCH_CACHE:
                self._memo.clear()
            hit = self._memo[key] = any(s.matches(key) for s in self._selectors)
        return hit


def format_event(event: LiveEvent, keep: _Filter) -> str:
    """One SSE event of the samples ``keep`` lets through; "" when none does."""
    samples = [
        {"name": s.key.name, "labels": dict(s.key.labels), "value": json_number(s.value)}
        for s in event.samples
        if keep(s.key)
    ]
    if not samples:
        return ""
    data = json.dumps({"ts": event.ts_ms, "samples": samples}, separators=(",", ":"))
    return f"id: {event.id}\nevent: samples\ndata: {data}\n\n"


def json_number(value: float) -> float | str:
    """JSON has no NaN or infinities: those become "NaN", "+Inf", "-Inf"."""
    if math.isfinite(value):
        return float(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"
