"""``GET /metrics``: the latest value of every series, for a Prometheus to scrape.

The text format 0.0.4 by default; OpenMetrics 1.0 when the Accept header
prefers it. Each sample carries the timestamp of the collection that produced
it (``timestamps=false`` leaves them out); see docs/live.md for why.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from edgewatch.export.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    FamilyMeta,
    render,
    wants_openmetrics,
)
from edgewatch.web.api_push import pushed_metadata
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context

router = APIRouter()


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                TEXT_CONTENT_TYPE: {"schema": {"type": "string"}},
                OPENMETRICS_CONTENT_TYPE: {"schema": {"type": "string"}},
            },
            "description": "Prometheus text 0.0.4, or OpenMetrics 1.0 on Accept.",
        }
    },
    summary="Latest samples in the Prometheus exposition format",
)
async def metrics(
    request: Request,
    ctx: Annotated[AppContext, Depends(get_context)],
    timestamps: Annotated[
        bool, Query(description="Stamp each sample with its collection time (ms).")
    ] = True,
) -> Response:
    openmetrics = wants_openmetrics(request.headers.get("accept"))
    meta: dict[str, FamilyMeta] = pushed_metadata(request)
    meta.update({name: FamilyMeta(f.type.value, f.help) for name, f in ctx.families().items()})
    latest = ctx.hub.latest()  # the hub lives on the loop: copy here, render off it
    body = await asyncio.to_thread(
        render, latest, meta, openmetrics=openmetrics, timestamps=timestamps
    )
    media = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
    return Response(body, media_type=media, headers={"Vary": "Accept"})
