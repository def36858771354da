"""``POST /api/push``: custom application metrics, in the Prometheus text format or JSON.

All-or-nothing: the body is read (up to ``push.max_body``), parsed and checked
before anything is stored; then the samples are appended to the store, grouped
by timestamp, and published to the live hub (so ``/metrics`` and
``/api/stream`` see them). See docs/live.md for the status codes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from edgewatch.collect.push import (
    NewSeriesLimiter,
    PushBatch,
    PushRejected,
    check_batch,
    parse_json,
    parse_text,
)
from edgewatch.export.exposition import FamilyMeta
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import StoreError
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody

log = logging.getLogger(__name__)

router = APIRouter()


class PushAccepted(BaseModel):
    accepted: int


@dataclass
class PushState:
    """Per-app state of the push endpoint: the new-series limiter and pushed HELP/TYPE."""

    limiter: NewSeriesLimiter
    metadata: dict[str, FamilyMeta] = field(default_factory=dict)


def push_state(request: Request, ctx: AppContext) -> PushState:
    """The app's PushState, made on first use (kept in ``app.state``, never global)."""
    state: PushState | None = getattr(request.app.state, "edgewatch_push", None)
    if state is None:
        state = PushState(NewSeriesLimiter(ctx.config.push.max_new_series_per_minute))
        request.app.state.edgewatch_push = state
    state.limiter.per_minute = ctx.config.push.max_new_series_per_minute  # follows reloads
    return state


def pushed_metadata(request: Request) -> dict[str, FamilyMeta]:
    """HELP/TYPE of pushed metrics seen by this app (for /metrics)."""
    state: PushState | None = getattr(request.app.state, "edgewatch_push", None)
    return {} if state is None else dict(state.metadata)


_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {
        "name": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "value": {
            "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "+Inf", "-Inf"]}]
        },
        "timestamp": {"type": "number", "description": "Unix seconds, or ms when above 1e11."},
        "type": {"type": "string", "enum": ["counter", "gauge", "untyped"]},
        "help": {"type": "string"},
    },
    "additionalProperties": False,
}


@router.post(
    "/api/push",
    response_model=PushAccepted,
    summary="Push custom application metrics",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": _ITEM_SCHEMA}},
            }
        }
    },
    responses={
        400: {
            "model": ErrorBody,
            "description": "A bad line or item (named in the message); nothing stored.",
        },
        404: {"model": ErrorBody, "description": "Push is disabled (push.enabled: false)."},
        413: {
            "model": ErrorBody,
            "description": "Body over push.max_body, or too many series in one request.",
        },
        415: {"model": ErrorBody, "description": "Neither text/plain nor application/json."},
        429: {
            "model": ErrorBody,
            "description": "Too many new series this minute; see Retry-After.",
        },
        503: {"model": ErrorBody, "description": "This server has no writable store."},
    },
)
async def push(request: Request, ctx: Annotated[AppContext, Depends(get_context)]) -> PushAccepted:
    try:
        return await _push(request, ctx)
    except PushRejected as exc:
        headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
        raise HTTPException(exc.status, str(exc), headers=headers) from None


async def _push(request: Request, ctx: AppContext) -> PushAccepted:
    conf = ctx.config.push
    if not conf.enabled:
        raise PushRejected(404, "push is disabled on this agent (push.enabled: false)")
    store = ctx.store
    if store is None:
        raise PushRejected(503, "this server has no writable store; push to the agent")
    kind = _body_kind(request.headers.get("content-type", ""))
    body = await read_limited(request, int(conf.max_body))
    reserved = frozenset(ctx.families())
    # Parsing a large body takes a while: never on the event loop.
    batch, keys = await asyncio.to_thread(
        parse_body,
        kind,
        body,
        now_ms=time.time_ns() // 1_000_000,
        max_series=conf.max_series_per_request,
        reserved=reserved,
    )
    state = push_state(request, ctx)
    state.limiter.admit(sum(1 for k in keys if not store.has_series(k)))
    try:
        for ts_ms, samples in _by_timestamp(batch).items():
            store.append(ts_ms, samples)
            ctx.hub.publish(ts_ms, samples)
    except StoreError as exc:
        log.warning("push: the store refused samples: %s", exc)
        raise PushRejected(503, f"the store refused the samples: {exc}") from None
    _remember(state.metadata, batch)
    return PushAccepted(accepted=len(batch.samples))


def parse_body(
    kind: str, body: bytes, *, now_ms: int, max_series: int, reserved: frozenset[str]
) -> tuple[PushBatch, set[SeriesKey]]:
    """Parse and check a body (blocking, CPU-bound): the batch and its distinct series."""
    if kind == "json":
        batch = parse_json(body, now_ms=now_ms)
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PushRejected(400, f"body is not UTF-8 (byte {exc.start})") from None
        batch = parse_text(text, now_ms=now_ms)
    return batch, check_batch(batch, max_series=max_series, reserved=reserved)


def _body_kind(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media in ("", "text/plain"):
        return "text"
    raise PushRejected(
        415, f"unsupported Content-Type {media!r}: send text/plain (Prometheus text) or JSON"
    )


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) one that says or turns out to be larger than ``limit``."""
    too_big = f"body larger than {limit} bytes (push.max_body)"
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise PushRejected(400, f"bad Content-Length {declared!r}") from None
        if size > limit:
            raise PushRejected(413, too_big)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PushRejected(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def _by_timestamp(batch: PushBatch) -> dict[int, list[Sample]]:
    groups: defaultdict[int, list[Sample]] = defaultdict(list)
    for s in batch.samples:
        groups[s.ts_ms].append(Sample(s.key, s.value))
    return dict(sorted(groups.items()))


def _remember(metadata: dict[str, FamilyMeta], batch: PushBatch) -> None:
    for name, fam in batch.metadata.items():
        # A push that says nothing about a metric keeps what an earlier one said.
        if name not in metadata or fam.type != "untyped" or fam.help:
            metadata[name] = fam
