"""``GET /api/export``: a range query's result as a CSV or JSON download, streamed.

The query runs (in a worker thread) before the response starts, so every error is
a proper JSON error response; the body is then produced one series at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from edgewatch.query import QueryResult, ResultSeries, format_value
from edgewatch.timespec import format_time
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ERROR_RESPONSES
from edgewatch.web.params import check_query, engine_for, range_params

router = APIRouter(prefix="/api", tags=["export"], responses=ERROR_RESPONSES)

CSV_HEADER = ("timestamp", "series", "value")
Format = Literal["csv", "json"]


def series_name(labels: dict[str, str]) -> str:
    """``name{a="1",b="2"}`` (labels sorted), as Prometheus writes a series."""
    name = labels.get("__name__", "")
    rest = sorted((k, v) for k, v in labels.items() if k != "__name__")
    if not rest:
        return name or "{}"
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in rest)
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def csv_chunks(result: QueryResult) -> Iterator[str]:
    """The header line, then one chunk of rows per series."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    yield buffer.getvalue()
    for series in result.series:
        buffer.seek(0)
        buffer.truncate()
        name = series_name(series.labels)
        writer.writerows(
            (format_time(int(t)), name, format_value(float(v)))
            for t, v in zip(series.ts, series.values, strict=True)
        )
        yield buffer.getvalue()


def _series_json(series: ResultSeries) -> str:
    return json.dumps({"metric": series.labels, "values": series.points()}, separators=(",", ":"))


def json_chunks(result: QueryResult) -> Iterator[str]:
    """Prometheus' range query response (a matrix), one series per chunk."""
    yield '{"status":"success","data":{"resultType":"matrix","result":['
    for i, series in enumerate(result.series):
        yield ("," if i else "") + _series_json(series)
    yield "]}}"


@router.get(
    "/export",
    summary="Download a range query's result as CSV or JSON",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "CSV (timestamp, series, value) or a Prometheus matrix in JSON",
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {}},
        }
    },
)
async def export(
    ctx: Annotated[AppContext, Depends(get_context)],
    query: Annotated[str, Query(description="PromQL expression")],
    start: Annotated[str, Query(description="Unix seconds or RFC 3339")],
    end: Annotated[str, Query(description="Unix seconds or RFC 3339")],
    step: Annotated[str, Query(description="Seconds or a duration (15s, 5m)")],
    format: Annotated[Format, Query(description="csv or json")] = "csv",
) -> StreamingResponse:
    expr = check_query(query)
    start_ms, end_ms, step_ms = range_params(ctx, start, end, step)
    engine = engine_for(ctx, None)
    result = await run_in_threadpool(engine.range, expr, start_ms, end_ms, step_ms)
    stamp = f"{format_time(start_ms)}_{format_time(end_ms)}".replace(":", "")
    filename = f"edgewatch-export-{stamp}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "csv":
        return StreamingResponse(
            csv_chunks(result), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(json_chunks(result), media_type="application/json", headers=headers)
