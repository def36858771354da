"""Prometheus' HTTP API (``/api/v1/*``), enough for Grafana's Prometheus data source.

Every endpoint answers GET (query string) and POST (form-encoded body, as Grafana
sends; a parameter missing from the body is read from the query string, as
Prometheus does). Responses are ``{"status": "success", "data": ...}``; errors are
Prometheus' ``{"status": "error", "errorType": ..., "error": ...}`` (web/errors.py).
The engine blocks (SQLite + numpy), so queries run in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

import edgewatch
from edgewatch.model import LABEL_NAME_RE, SeriesKey
from edgewatch.query import BadQuery, QueryError, QueryResult, parse_series_selector
from edgewatch.store.selector import Selector
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import PROM_ERROR_RESPONSES
from edgewatch.web.params import (
    MAX_ABS_TIME_MS,
    bad_param,
    check_query,
    engine_for,
    parse_time_param,
    range_params,
)

# The Prometheus release whose HTTP API this one follows (reported by buildinfo so
# Grafana enables the matching features: match[] on /labels, start/end on /series).
PROMETHEUS_API_VERSION = "2.45.0"

router = APIRouter(prefix="/api/v1", tags=["prometheus"], responses=PROM_ERROR_RESPONSES)
Ctx = Annotated[AppContext, Depends(get_context)]


class QueryData(BaseModel):
    resultType: Literal["matrix", "vector", "scalar", "string"]
    result: Any


class QueryResponse(BaseModel):
    status: Literal["success"]
    data: QueryData


class SeriesResponse(BaseModel):
    status: Literal["success"]
    data: list[dict[str, str]]


class NamesResponse(BaseModel):
    status: Literal["success"]
    data: list[str]


class MetricMetadata(BaseModel):
    type: str
    help: str
    unit: str


class MetadataResponse(BaseModel):
    status: Literal["success"]
    data: dict[str, list[MetricMetadata]]


class BuildInfo(BaseModel):
    version: str
    revision: str
    branch: str
    buildUser: str
    buildDate: str
    goVersion: str
    application: str
    applicationVersion: str


class BuildInfoResponse(BaseModel):
    status: Literal["success"]
    data: BuildInfo


# ---------------------------------------------------------------------- responses


def _success(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _result(result: QueryResult) -> JSONResponse:
    return _success(result.to_prometheus())


# ------------------------------------------------------------- series and labels


def _selectors(matches: Iterable[str]) -> list[Selector]:
    out = []
    for text in matches:
        if not text.strip():
            raise bad_param("match[]", "match[] must contain at least one non-empty matcher")
        try:
            out.append(parse_series_selector(text))
        except (QueryError, ValueError) as exc:
            raise bad_param("match[]", str(exc)) from None
    return out


def _matching(ctx: AppContext, selectors: list[Selector]) -> list[SeriesKey]:
    if not selectors:
        return ctx.reader.series()
    keys: set[SeriesKey] = set()
    for sel in selectors:
        keys.update(ctx.reader.series(sel))
    return sorted(keys)


def _label_names(keys: Iterable[SeriesKey]) -> list[str]:
    names: set[str] = set()
    for key in keys:
        names.add("__name__")
        names.update(k for k, _ in key.labels)
    return sorted(names)


def _label_values(keys: Iterable[SeriesKey], name: str) -> list[str]:
    if name == "__name__":
        return sorted({key.name for key in keys})
    return sorted({v for key in keys for k, v in key.labels if k == name})


def _series_labels(key: SeriesKey) -> dict[str, str]:
    return {"__name__": key.name, **dict(key.labels)}


async def _validated_keys(
    ctx: AppContext, matches: list[str], start: str | None, end: str | None
) -> list[SeriesKey]:
    # start/end are checked but do not filter: the series index keeps no time extent
    # (docs/api.md); a series stays known until retention drops its data.
    start_ms = parse_time_param("start", start, -MAX_ABS_TIME_MS)
    end_ms = parse_time_param("end", end, MAX_ABS_TIME_MS)
    if end_ms < start_ms:
        raise bad_param("end", "end timestamp must not be before start time")
    selectors = _selectors(matches)
    return await run_in_threadpool(_matching, ctx, selectors)


def _first(form_value: str | None, request: Request, name: str) -> str | None:
    return form_value if form_value is not None else request.query_params.get(name)


def _all(form_values: list[str] | None, request: Request, name: str) -> list[str]:
    return form_values if form_values else request.query_params.getlist(name)


OptQ = Annotated[str | None, Query()]
OptF = Annotated[str | None, Form()]
MatchQ = Annotated[list[str] | None, Query(alias="match[]", description="Series selector")]
MatchF = Annotated[list[str] | None, Form(alias="match[]")]


# ------------------------------------------------------------------ the endpoints


async def _instant(ctx: AppContext, query: str | None, at: str | None, timeout: str | None) -> Any:
    expr = check_query(query)
    time_ms = parse_time_param("time", at, round(time.time() * 1000))
    engine = engine_for(ctx, timeout)
    return _result(await run_in_threadpool(engine.instant, expr, time_ms))


async def _range(
    ctx: AppContext,
    query: str | None,
    start: str | None,
    end: str | None,
    step: str | None,
    timeout: str | None,
) -> Any:
    expr = check_query(query)
    start_ms, end_ms, step_ms = range_params(ctx, start, end, step)
    engine = engine_for(ctx, timeout)
    return _result(await run_in_threadpool(engine.range, expr, start_ms, end_ms, step_ms))


def _doc(summary: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"summary": summary, "response_model": None, "responses": {200: {"model": model}}}


@router.get("/query", **_doc("Instant query", QueryResponse))
async def query_get(
    ctx: Ctx,
    query: Annotated[str, Query(description="PromQL expression")],
    time: Annotated[str | None, Query(description="Unix seconds or RFC 3339; default now")] = None,
    timeout: Annotated[str | None, Query(description="Evaluation timeout (10s)")] = None,
) -> Any:
    return await _instant(ctx, query, time, timeout)


@router.post("/query", **_doc("Instant query (form body)", QueryResponse))
async def query_post(
    ctx: Ctx,
    request: Request,
    query: OptF = None,
    time: OptF = None,
    timeout: OptF = None,
) -> Any:
    return await _instant(
        ctx,
        _first(query, request, "query"),
        _first(time, request, "time"),
        _first(timeout, request, "timeout"),
    )


@router.get("/query_range", **_doc("Range query", QueryResponse))
async def query_range_get(
    ctx: Ctx,
    query: Annotated[str, Query(description="PromQL expression")],
    start: Annotated[str, Query(description="Unix seconds or RFC 3339")],
    end: Annotated[str, Query(description="Unix seconds or RFC 3339")],
    step: Annotated[str, Query(description="Seconds or a duration (15s, 5m)")],
    timeout: OptQ = None,
) -> Any:
    return await _range(ctx, query, start, end, step, timeout)


@router.post("/query_range", **_doc("Range query (form body)", QueryResponse))
async def query_range_post(
    ctx: Ctx,
    request: Request,
    query: OptF = None,
    start: OptF = None,
    end: OptF = None,
    step: OptF = None,
    timeout: OptF = None,
) -> Any:
    return await _range(
        ctx,
        _first(query, request, "query"),
        _first(start, request, "start"),
        _first(end, request, "end"),
        _first(step, request, "step"),
        _first(timeout, request, "timeout"),
    )


async def _series(ctx: AppContext, matches: list[str], start: str | None, end: str | None) -> Any:
    if not matches:
        raise BadQuery("no match[] parameter provided")
    keys = await _validated_keys(ctx, matches, start, end)
    return _success([_series_labels(k) for k in keys])


@router.get("/series", **_doc("Series matching selectors", SeriesResponse))
async def series_get(ctx: Ctx, match: MatchQ = None, start: OptQ = None, end: OptQ = None) -> Any:
    return await _series(ctx, match or [], start, end)


@router.post("/series", **_doc("Series matching selectors (form body)", SeriesResponse))
async def series_post(
    ctx: Ctx, request: Request, match: MatchF = None, start: OptF = None, end: OptF = None
) -> Any:
    return await _series(
        ctx,
        _all(match, request, "match[]"),
        _first(start, request, "start"),
        _first(end, request, "end"),
    )


async def _labels(ctx: AppContext, matches: list[str], start: str | None, end: str | None) -> Any:
    keys = await _validated_keys(ctx, matches, start, end)
    return _success(_label_names(keys))


@router.get("/labels", **_doc("Label names", NamesResponse))
async def labels_get(ctx: Ctx, match: MatchQ = None, start: OptQ = None, end: OptQ = None) -> Any:
    return await _labels(ctx, match or [], start, end)


@router.post("/labels", **_doc("Label names (form body)", NamesResponse))
async def labels_post(
    ctx: Ctx, request: Request, match: MatchF = None, start: OptF = None, end: OptF = None
) -> Any:
    return await _labels(
        ctx,
        _all(match, request, "match[]"),
        _first(start, request, "start"),
        _first(end, request, "end"),
    )


async def _values(
    ctx: AppContext, name: str, matches: list[str], start: str | None, end: str | None
) -> Any:
    if name != "__name__" and not LABEL_NAME_RE.match(name):
        raise BadQuery(f'invalid label name: "{name}"')
    keys = await _validated_keys(ctx, matches, start, end)
    return _success(_label_values(keys, name))


@router.get("/label/{name}/values", **_doc("Values of one label", NamesResponse))
async def label_values_get(
    ctx: Ctx, name: str, match: MatchQ = None, start: OptQ = None, end: OptQ = None
) -> Any:
    return await _values(ctx, name, match or [], start, end)


@router.post("/label/{name}/values", **_doc("Values of one label (form body)", NamesResponse))
async def label_values_post(
    ctx: Ctx,
    request: Request,
    name: str,
    match: MatchF = None,
    start: OptF = None,
    end: OptF = None,
) -> Any:
    return await _values(
        ctx,
        name,
        _all(match, request, "match[]"),
        _first(start, request, "start"),
        _first(end, request, "end"),
    )


def _metadata(ctx: AppContext, metric: str | None, limit: str | None) -> Any:
    most = -1
    if limit:
        try:
            most = int(limit)
        except ValueError:
            raise bad_param("limit", f'cannot parse "{limit}" to an integer') from None
    families = ctx.families()
    data: dict[str, list[dict[str, str]]] = {}
    for name in sorted(families):
        if metric and name != metric:
            continue
        if 0 <= most <= len(data):
            break
        family = families[name]
        data[name] = [{"type": str(family.type), "help": family.help, "unit": ""}]
    return _success(data)


@router.get("/metadata", **_doc("Metric metadata (type, help)", MetadataResponse))
async def metadata_get(ctx: Ctx, metric: OptQ = None, limit: OptQ = None) -> Any:
    return _metadata(ctx, metric, limit)


@router.post("/metadata", **_doc("Metric metadata (form body)", MetadataResponse))
async def metadata_post(ctx: Ctx, request: Request, metric: OptF = None, limit: OptF = None) -> Any:
    return _metadata(ctx, _first(metric, request, "metric"), _first(limit, request, "limit"))


@router.get("/status/buildinfo", **_doc("Build information", BuildInfoResponse))
async def buildinfo() -> Any:
    return _success(
        {
            "version": PROMETHEUS_API_VERSION,
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
            "application": "edgewatch",
            "applicationVersion": edgewatch.__version__,
        }
    )
