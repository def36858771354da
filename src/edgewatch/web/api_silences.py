"""Silences, the global mute and acknowledgements over HTTP.

- ``GET /api/silences`` (``?state=active|pending|expired``), ``GET /api/silences/{id}``
- ``POST /api/silences``: create (or, with ``id``, update) a silence; its author is
  the caller (an anonymous loopback caller may name itself with ``createdBy``)
- ``DELETE /api/silences/{id}``: expire it
- ``POST /api/mute``: silence every alert for a ``duration``
- ``POST``/``DELETE /api/alerts/{fingerprint}/ack``: acknowledge, or withdraw it
- ``GET /api/alerts/ack?t=TOKEN``: the signed link of a notification. It changes
  nothing (mail scanners follow links): it answers a small page whose form POSTs
- ``POST /api/alerts/ack`` (form: ``t``, optional ``name`` and ``comment``), which
  acknowledges the link's alerts as ``link:NAME``. The token is the credential:
  the auth layer lets this path through without a login, and this route writes
  its audit row itself.

Mutations need the admin role (the auth middleware) and get an audit row. While
the alerting engine is not running every route answers 503. See docs/silences.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from edgewatch.alerting.ack_link import (
    PAGE_HEADERS,
    AckLinks,
    BadAckLink,
    confirm_form,
    page,
    paragraph,
)
from edgewatch.alerting.acks import Ack, AckError, AckStore
from edgewatch.alerting.matchers import MatcherError, parse_matchers
from edgewatch.alerting.silences import (
    Silence,
    SilenceError,
    SilenceNotFound,
    SilenceStore,
    matcher_from_dict,
)
from edgewatch.config import parse_duration
from edgewatch.timespec import format_time, parse_time
from edgewatch.web.audit import AuditLog, AuditRow
from edgewatch.web.auth import current_principal
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody, error_response

log = logging.getLogger(__name__)
router = APIRouter(tags=["silences"])

NOT_RUNNING = "alerting is not running"
MAX_FORM = 16_384
Ctx = Annotated[AppContext, Depends(get_context)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid silence or acknowledgement"},
    404: {"model": ErrorBody, "description": "No such silence or acknowledgement"},
    503: {"model": ErrorBody, "description": NOT_RUNNING},
}


class MatcherBody(BaseModel):
    """A matcher in Alertmanager's v2 shape."""

    name: str
    value: str
    isRegex: bool = False
    isEqual: bool = True


class SilenceStatus(BaseModel):
    state: Literal["active", "pending", "expired"]


class SilenceBody(BaseModel):
    id: str
    status: SilenceStatus
    matchers: list[MatcherBody]
    startsAt: str
    endsAt: str
    createdAt: str
    updatedAt: str
    createdBy: str
    comment: str


class SilenceRequest(BaseModel):
    id: str | None = Field(None, description="Update this silence instead of creating one.")
    matchers: list[str | MatcherBody] = Field(
        description="Matchers: strings such as 'job=~\"cam.*\"' or Alertmanager objects."
    )
    startsAt: str | None = Field(None, description="Start (RFC 3339, or now, -5m); default now.")
    endsAt: str | None = Field(None, description="End (RFC 3339); or give duration.")
    duration: str | None = Field(None, description="Length from the start, e.g. 2h.")
    comment: str = Field(description="Why (required).")
    createdBy: str | None = Field(
        None, description="Author; only taken from anonymous (loopback) callers."
    )


class MuteRequest(BaseModel):
    duration: str = Field(description="How long every alert stays silent, e.g. 30m.")
    comment: str = Field(description="Why (required).")
    createdBy: str | None = Field(None, description="Author for anonymous (loopback) callers.")


class AckRequest(BaseModel):
    comment: str = Field("", description="What is being done about it.")


class AckBody(BaseModel):
    fingerprint: str
    ackedBy: str
    comment: str
    ackedAt: str


class AckedBody(BaseModel):
    acked: list[AckBody]


def _silence_body(s: Silence, now_ms: int) -> SilenceBody:
    return SilenceBody(
        id=s.id,
        status=SilenceStatus(state=s.state(now_ms)),
        matchers=[MatcherBody.model_validate(m.to_dict()) for m in s.matchers],
        startsAt=format_time(s.starts_ms),
        endsAt=format_time(s.ends_ms),
        createdAt=format_time(s.created_ms),
        updatedAt=format_time(s.updated_ms),
        createdBy=s.created_by,
        comment=s.comment,
    )


def _ack_body(a: Ack) -> AckBody:
    return AckBody(
        fingerprint=a.fingerprint,
        ackedBy=a.acked_by,
        comment=a.comment,
        ackedAt=format_time(a.acked_ms),
    )


def _acks(ctx: AppContext) -> AckStore | None:
    store = getattr(ctx, "acks", None)
    return store if isinstance(store, AckStore) else None


async def _silence_store(ctx: Ctx) -> SilenceStore:
    store = getattr(ctx, "silences", None)
    if not isinstance(store, SilenceStore):
        raise HTTPException(503, NOT_RUNNING)
    return store


async def _ack_store(ctx: Ctx) -> AckStore:
    store = _acks(ctx)
    if store is None:
        raise HTTPException(503, NOT_RUNNING)
    return store


Silences = Annotated[SilenceStore, Depends(_silence_store)]
Acks = Annotated[AckStore, Depends(_ack_store)]


def _author(request: Request, given: str | None) -> str:
    principal = current_principal(request)
    if principal.via == "anonymous" and given and given.strip():
        return given.strip()
    return principal.name


# ------------------------------------------------------------------ silences


@router.get(
    "/api/silences",
    response_model=list[SilenceBody],
    summary="Silences, newest start first (optionally of one state)",
    responses=RESPONSES,
)
async def list_silences(
    store: Silences,
    state: Annotated[Literal["active", "pending", "expired"] | None, Query()] = None,
) -> Any:
    silences = await asyncio.to_thread(store.list, state=state)
    now = store.now_ms()
    return [_silence_body(s, now) for s in silences]


@router.get(
    "/api/silences/{silence_id}",
    response_model=SilenceBody,
    summary="One silence",
    responses=RESPONSES,
)
async def get_silence(silence_id: str, store: Silences) -> Any:
    found = await asyncio.to_thread(store.get, silence_id)
    if found is None:
        return error_response(404, f"no silence {silence_id!r}")
    return _silence_body(found, store.now_ms())


def _parse_silence(body: SilenceRequest, now_s: float) -> tuple[list[Any], int, int]:
    matchers = []
    for item in body.matchers:
        if isinstance(item, str):
            try:
                matchers.extend(parse_matchers(item))
            except MatcherError as exc:
                raise SilenceError(str(exc)) from None
        else:
            matchers.append(matcher_from_dict(item.model_dump()))
    try:
        start = parse_time(body.startsAt, now=now_s) if body.startsAt else round(now_s * 1000)
        if (body.endsAt is None) == (body.duration is None):
            raise SilenceError("give either endsAt or duration")
        if body.endsAt is not None:
            end = parse_time(body.endsAt, now=now_s)
        else:
            end = start + round(parse_duration(body.duration) * 1000)
    except (ValueError, OverflowError) as exc:
        raise SilenceError(str(exc)) from None
    return matchers, start, end


@router.post(
    "/api/silences",
    response_model=SilenceBody,
    summary="Create a silence (or update the one named by id)",
    responses=RESPONSES,
)
async def post_silence(body: SilenceRequest, request: Request, store: Silences) -> Any:
    author = _author(request, body.createdBy)
    try:
        matchers, start, end = _parse_silence(body, store.clock())
        if body.id:
            silence = await asyncio.to_thread(
                store.update,
                body.id,
                matchers=matchers,
                starts_ms=start if body.startsAt else None,
                ends_ms=end,
                comment=body.comment,
            )
        else:
            silence = await asyncio.to_thread(
                store.create,
                matchers,
                starts_ms=start,
                ends_ms=end,
                created_by=author,
                comment=body.comment,
            )
    except SilenceNotFound:
        return error_response(404, f"no silence {body.id!r}")
    except SilenceError as exc:
        return error_response(400, str(exc))
    return _silence_body(silence, store.now_ms())


@router.delete(
    "/api/silences/{silence_id}",
    response_model=SilenceBody,
    summary="Expire a silence now",
    responses={**RESPONSES, 409: {"model": ErrorBody, "description": "Already expired"}},
)
async def expire_silence(silence_id: str, store: Silences) -> Any:
    try:
        silence = await asyncio.to_thread(store.expire, silence_id)
    except SilenceNotFound:
        return error_response(404, f"no silence {silence_id!r}")
    except SilenceError as exc:
        return error_response(409, str(exc))
    return _silence_body(silence, store.now_ms())


@router.post(
    "/api/mute",
    response_model=SilenceBody,
    summary='Mute every alert for a duration (a silence on alertname=~".+")',
    responses=RESPONSES,
)
async def mute(body: MuteRequest, request: Request, store: Silences) -> Any:
    author = _author(request, body.createdBy)
    try:
        seconds = parse_duration(body.duration)
        silence = await asyncio.to_thread(
            store.mute, seconds, created_by=author, comment=body.comment
        )
    except (SilenceError, ValueError, OverflowError) as exc:
        return error_response(400, str(exc))
    return _silence_body(silence, store.now_ms())


# ------------------------------------------------------------------ acknowledgements


@router.post(
    "/api/alerts/{fingerprint}/ack",
    response_model=AckBody,
    summary="Acknowledge an alert (stops its escalation until it resolves)",
    responses=RESPONSES,
)
async def ack(
    fingerprint: str, request: Request, store: Acks, body: AckRequest | None = None
) -> Any:
    by = current_principal(request).name
    try:
        done = await asyncio.to_thread(
            store.ack, fingerprint, by=by, comment=body.comment if body else ""
        )
    except AckError as exc:
        return error_response(400, str(exc))
    return _ack_body(done)


@router.delete(
    "/api/alerts/{fingerprint}/ack",
    response_model=AckBody,
    summary="Withdraw an alert's acknowledgement",
    responses=RESPONSES,
)
async def unack(fingerprint: str, store: Acks) -> Any:
    found = await asyncio.to_thread(store.get, fingerprint)
    if found is None or not await asyncio.to_thread(store.unack, fingerprint):
        return error_response(404, f"alert {fingerprint[:64]!r} is not acknowledged")
    return _ack_body(found)


# ------------------------------------------------------------------ the signed link


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(page(title, content), status_code=status, headers=PAGE_HEADERS)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _link_error(request: Request, status: int, message: str) -> Response:
    if _wants_html(request):
        return _page("Cannot acknowledge", paragraph(message), status)
    return error_response(status, message)


def _links(ctx: AppContext) -> AckLinks | None:
    links = getattr(ctx, "ack_links", None)
    return links if isinstance(links, AckLinks) else None


_HTML: dict[str, Any] = {"application/json": {}, "text/html": {}}
LINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "A page (HTML) or, for JSON, the acks"},
    # Errors are a page for a browser (Accept: text/html), else the JSON error shape.
    400: {"model": ErrorBody, "content": _HTML, "description": "Not a form, or a bad one"},
    403: {"model": ErrorBody, "content": _HTML, "description": "Bad, forged or expired link"},
    503: {"model": ErrorBody, "content": _HTML, "description": NOT_RUNNING},
}


@router.get(
    "/api/alerts/ack",
    response_class=HTMLResponse,
    summary="The signed link of a notification: a page to confirm the acknowledgement",
    responses=LINK_RESPONSES,
)
async def ack_link_page(
    request: Request, ctx: Ctx, t: Annotated[str, Query(description="The link's token")] = ""
) -> Response:
    links = _links(ctx)
    if links is None or _acks(ctx) is None:
        return _link_error(request, 503, NOT_RUNNING)
    try:
        fingerprints = links.verify(t)
    except BadAckLink as exc:
        return _link_error(request, 403, str(exc))
    return _page("Acknowledge alerts", confirm_form(t, fingerprints))


async def _read_form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise ValueError("request body too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise ValueError("send a form (application/x-www-form-urlencoded)")
    form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    return {key: values[0] for key, values in form.items()}


def _link_name(raw: str) -> str:
    name = "".join(ch for ch in raw.strip() if ch.isprintable())[:64].strip()
    return f"link:{name or 'anonymous'}"


@router.post(
    "/api/alerts/ack",
    summary="Acknowledge the alerts of a signed link (form: t, name, comment)",
    responses={**LINK_RESPONSES, 200: {"model": AckedBody, "content": {"text/html": {}}}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["t"],
                        "properties": {
                            "t": {"type": "string"},
                            "name": {"type": "string"},
                            "comment": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def ack_link_post(request: Request, ctx: Ctx) -> Response:
    links, store = _links(ctx), _acks(ctx)
    if links is None or store is None:
        return _link_error(request, 503, NOT_RUNNING)
    try:
        form = await _read_form(request)
    except (ValueError, UnicodeDecodeError) as exc:
        return _link_error(request, 400, str(exc))
    try:
        fingerprints = links.verify(form.get("t", ""))
    except BadAckLink as exc:
        client = request.client.host if request.client else "-"
        log.info("alerts: acknowledgement link from %s refused: %s", client, exc)
        return _link_error(request, 403, str(exc))
    by = _link_name(form.get("name", ""))
    comment = form.get("comment", "").strip()[:500] or "acknowledged from a notification link"
    try:
        acks = [await asyncio.to_thread(store.ack, f, by=by, comment=comment) for f in fingerprints]
    except AckError as exc:
        return _link_error(request, 400, str(exc))
    await _audit(request, ctx, by, 200)
    if _wants_html(request):
        return _page("Acknowledged", paragraph(f"{len(acks)} alerts acknowledged as {by}."))
    return JSONResponse(AckedBody(acked=[_ack_body(a) for a in acks]).model_dump())


async def _audit(request: Request, ctx: AppContext, actor: str, status: int) -> None:
    """The audit row the auth middleware leaves out for this open path."""
    service = getattr(request.app.state, "auth", None)
    audit = getattr(service, "audit", None)
    if not isinstance(audit, AuditLog):
        audit = AuditLog(ctx.reader.path)
    client = request.client.host if request.client else None
    await audit.record(
        AuditRow(actor, "link", None, request.method, request.url.path, status, client)
    )
