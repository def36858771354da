"""The alerting engine's state over HTTP: alerts, their history, deliveries and rules.

- ``GET /api/alerts``: every alert that is not inactive, with why it is muted
  (silences, inhibiting alerts, maintenance windows) and its acknowledgement;
  filtered by ``state``, ``severity`` and Alertmanager-syntax ``matcher``s
- ``GET /api/alerts/history``: the alerts' state changes, newest first
- ``GET /api/notifications``: the outbox, each notification with its delivery
  attempts (receiver, secret-free channel description, state, errors)
- ``GET /api/rules``: the rule groups and rules with their health, last
  evaluation, its duration and last error

Read-only: the mutations (silences, mute, acks) are in ``api_silences``. While the
alerting engine is not running every route answers 503. See docs/api.md.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from edgewatch.alerting.acks import Ack
from edgewatch.alerting.escalation_view import EscalationStateName, alert_escalation
from edgewatch.alerting.evaluator import AlertView, GroupStatus, RuleStatus
from edgewatch.alerting.matchers import Matcher, MatcherError, matches_all, parse_matchers
from edgewatch.alerting.service import AlertingService
from edgewatch.alerting.state import HistoryEntry
from edgewatch.config import parse_duration
from edgewatch.notify.outbox_rows import ItemState, OutboxAttempt, OutboxItem
from edgewatch.timespec import format_time
from edgewatch.web.api_silences import NOT_RUNNING
from edgewatch.web.context import AppContext
from edgewatch.web.dependencies import get_context
from edgewatch.web.errors import ErrorBody
from edgewatch.web.params import bad_param, parse_time_param

router = APIRouter(tags=["alerts"])

MAX_LIMIT = 10_000
MAX_ATTEMPTS = 10_000
STATES = ("firing", "nodata", "pending", "resolved")
SEVERITY_ORDER = ("critical", "error", "warning", "info")
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad parameter (matcher, time, duration)"},
    503: {"model": ErrorBody, "description": NOT_RUNNING},
}
Value = float | Literal["NaN", "+Inf", "-Inf"] | None
StateName = Literal["pending", "firing", "nodata", "resolved"]


async def _service(ctx: Annotated[AppContext, Depends(get_context)]) -> AlertingService:
    service = getattr(ctx, "alerting", None)
    if not isinstance(service, AlertingService):
        raise HTTPException(503, NOT_RUNNING)
    return service


Service = Annotated[AlertingService, Depends(_service)]


# ------------------------------------------------------------------ shapes


class EscalationBody(BaseModel):
    group_key: str = Field(description="The notification group whose escalation this is.")
    steps_done: int = Field(description="Escalation steps sent (over all rounds).")
    steps_total: int
    state: EscalationStateName = Field(
        description="running, stopped: acknowledged, or done (every step sent)."
    )
    next_receiver: str | None = Field(description="While running: the next step's receiver.")
    next_due_ms: int | None = Field(description="While running: when it is due (unix ms).")


class AlertBody(BaseModel):
    fingerprint: str = Field(description="The alert's id (16 hex digits over its labels).")
    rule: str
    group: str = Field(description="The rule group's id, FILE:NAME.")
    labels: dict[str, str]
    annotations: dict[str, str]
    state: StateName
    severity: str | None
    value: Value = Field(description="The last value; non-finite values are strings.")
    since: str | None = Field(description="When the alert became active (pending or firing).")
    fired_at: str | None
    resolved_at: str | None
    flapping: bool
    silenced_by: list[str] = Field(description="Ids of the active silences that match it.")
    inhibited_by: list[str] = Field(description="Fingerprints of the alerts inhibiting it.")
    muted_by: list[str] = Field(description="Open maintenance windows muting its route.")
    acked_by: str | None
    acked_at: str | None
    ack_comment: str | None
    escalation: EscalationBody | None = Field(
        description="Where its escalation stands; null when its route has no escalation policy."
    )


class HistoryBody(BaseModel):
    time: str
    rule: str
    group: str
    fingerprint: str
    labels: dict[str, str]
    from_state: str = Field(serialization_alias="from")
    to_state: str = Field(serialization_alias="to")
    kind: str = Field(description="state, severity, flapping_started or flapping_stopped.")
    value: Value
    severity: str | None


class AttemptBody(BaseModel):
    at: str
    ok: bool
    error: str
    duration_ms: int


class NotifiedAlert(BaseModel):
    fingerprint: str
    alertname: str
    status: str


class NotificationBody(BaseModel):
    id: int
    receiver: str
    channel: str = Field(description="The channel, described without secrets.")
    kind: str
    status: str = Field(description="firing or resolved (the message's status).")
    group_key: str
    dedupe_key: str
    alerts: list[NotifiedAlert]
    state: ItemState
    attempts: int
    last_error: str
    created: str
    next_attempt: str | None = Field(description="While pending: when it is tried next.")
    done: str | None = Field(description="When it was delivered, failed or given up.")
    attempt_log: list[AttemptBody] = Field(description="Its delivery attempts, newest first.")


class RuleBody(BaseModel):
    name: str
    kind: Literal["alerting", "recording"]
    query: str
    health: str = Field(description="ok, err (see last_error) or unknown (not evaluated yet).")
    last_error: str
    last_evaluation: str | None
    evaluation_seconds: float
    alerts: int = Field(description="Its alerts that are not inactive.")


class GroupBody(BaseModel):
    key: str
    name: str
    file: str
    interval_seconds: float
    last_evaluation: str | None
    evaluation_seconds: float
    rules: list[RuleBody]


class RulesBody(BaseModel):
    groups: list[GroupBody]


# ------------------------------------------------------------------ conversions


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time(ms)


def _value(value: float | None) -> Value:
    """JSON has no NaN or infinities: those are strings, as Prometheus writes them."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _current_ack(view: AlertView, acks: Mapping[str, Ack]) -> Ack | None:
    """The alert's acknowledgement if it is for this incident (as the service counts it)."""
    ack = acks.get(view.fingerprint)
    start = view.fired_at_ms if view.fired_at_ms is not None else view.active_since_ms
    if ack is None or (start is not None and ack.acked_ms < start):
        return None
    return ack


def _escalation(
    service: AlertingService, fingerprint: str, acks: Mapping[str, Ack]
) -> EscalationBody | None:
    starts = {n.fingerprint: n.starts_at_ms for n in service.dispatcher.alerts()}

    def acked(fp: str) -> bool:  # as the dispatcher counts it: an ack of this incident
        ack = acks.get(fp)
        return ack is not None and ack.acked_ms >= starts.get(fp, 0)

    found = alert_escalation(service.dispatcher.groups(), fingerprint, acked)
    if found is None:
        return None
    return EscalationBody(
        group_key=found.group_key,
        steps_done=found.steps_done,
        steps_total=found.steps_total,
        state=found.state,
        next_receiver=found.next_receiver,
        next_due_ms=found.next_due_ms,
    )


def _alert_body(
    service: AlertingService, view: AlertView, acks: Mapping[str, Ack], now_ms: int
) -> AlertBody:
    # The dispatcher sees the external labels under the alert's own: mute on those.
    labels = {**service.evaluator.external_labels, **view.labels}
    muting = service.dispatcher.status(labels, now_ms)
    ack = _current_ack(view, acks)
    return AlertBody(
        fingerprint=view.fingerprint,
        rule=view.rule,
        group=view.group,
        labels=dict(view.labels),
        annotations=dict(view.annotations),
        state=cast(StateName, view.state.value),  # alerts() leaves out inactive ones
        severity=view.severity,
        value=_value(view.value),
        since=_time(view.active_since_ms),
        fired_at=_time(view.fired_at_ms),
        resolved_at=_time(view.resolved_at_ms),
        flapping=view.flapping,
        silenced_by=list(muting.silenced_by),
        inhibited_by=list(muting.inhibited_by),
        muted_by=list(muting.muted_by),
        acked_by=None if ack is None else ack.acked_by,
        acked_at=None if ack is None else format_time(ack.acked_ms),
        ack_comment=None if ack is None else ack.comment,
        escalation=_escalation(service, view.fingerprint, acks),
    )


def _sort_key(a: AlertBody) -> tuple[int, int, str, str, str]:
    severity = a.severity or ""
    rank = SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return (STATES.index(a.state), rank, a.since or "", a.rule, a.fingerprint)


def _history_body(e: HistoryEntry) -> HistoryBody:
    return HistoryBody(
        time=format_time(e.time_ms),
        rule=e.rule,
        group=e.group,
        fingerprint=e.fingerprint,
        labels=dict(e.labels),
        from_state=e.from_state,
        to_state=e.to_state,
        kind=e.kind,
        value=_value(e.value),
        severity=e.severity,
    )


def _notification_body(item: OutboxItem, attempts: Iterable[OutboxAttempt]) -> NotificationBody:
    # The record's ack_url is left out: its token acknowledges alerts.
    n = item.notification
    return NotificationBody(
        id=item.id,
        receiver=item.receiver,
        channel=item.channel_desc,
        kind=item.kind,
        status=n.status.value,
        group_key=item.group_key,
        dedupe_key=item.dedupe_key,
        alerts=[
            NotifiedAlert(fingerprint=a.fingerprint, alertname=a.name, status=a.status.value)
            for a in n.alerts
        ],
        state=item.state,
        attempts=item.attempts,
        last_error=item.last_error,
        created=format_time(item.created_ms),
        next_attempt=_time(item.next_attempt_ms) if item.state is ItemState.PENDING else None,
        done=_time(item.done_ms),
        attempt_log=[
            AttemptBody(at=format_time(a.at_ms), ok=a.ok, error=a.error, duration_ms=a.duration_ms)
            for a in attempts
        ],
    )


def _rule_body(r: RuleStatus) -> RuleBody:
    return RuleBody(
        name=r.name,
        kind="alerting" if r.kind == "alerting" else "recording",
        query=r.query,
        health=r.health,
        last_error=r.last_error,
        last_evaluation=_time(r.last_evaluation_ms),
        evaluation_seconds=r.duration_s,
        alerts=r.alerts,
    )


def _group_body(g: GroupStatus) -> GroupBody:
    return GroupBody(
        key=g.key,
        name=g.name,
        file=g.file,
        interval_seconds=g.interval_s,
        last_evaluation=_time(g.last_evaluation_ms),
        evaluation_seconds=g.duration_s,
        rules=[_rule_body(r) for r in g.rules],
    )


# ------------------------------------------------------------------ parameters


def _since_param(name: str, text: str, now_ms: int) -> int:
    """A duration back from now (``7d``, ``90m``) or a time (unix seconds, RFC 3339)."""
    try:
        float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError:
            pass  # not a duration: a time, or an error naming both
        else:
            if seconds < 0 or not math.isfinite(seconds) or seconds * 1000 > now_ms:
                raise bad_param(name, f'"{text}" reaches back before 1970') from None
            return now_ms - round(seconds * 1000)
    return parse_time_param(name, text, now_ms)


def _matchers(texts: list[str]) -> list[Matcher]:
    out: list[Matcher] = []
    for text in texts:
        try:
            out.extend(parse_matchers(text))
        except MatcherError as exc:
            raise HTTPException(400, f'invalid parameter "matcher": {exc}') from None
    return out


SinceQuery = Annotated[
    str, Query(description="A duration back from now (7d, 1h) or a time (unix s, RFC 3339).")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many.")]


# ------------------------------------------------------------------ routes


@router.get(
    "/api/alerts",
    response_model=list[AlertBody],
    summary="Active alerts: state, value, since, silenced-by, inhibited-by, acked-by",
    responses=RESPONSES,
)
async def list_alerts(
    service: Service,
    state: Annotated[list[StateName] | None, Query(description="Keep these states.")] = None,
    severity: Annotated[list[str] | None, Query(description="Keep these severities.")] = None,
    matcher: Annotated[
        list[str] | None, Query(description='Alertmanager matchers, e.g. job=~"cam.*".')
    ] = None,
) -> Any:
    matchers = _matchers(matcher or [])
    now_ms = service.silences.now_ms()
    acks = {a.fingerprint: a for a in await asyncio.to_thread(service.acks.list)}
    bodies = [
        _alert_body(service, view, acks, now_ms)
        for view in service.evaluator.alerts()
        if (not state or view.state.value in state)
        and (not severity or view.severity in severity)
        and matches_all(matchers, view.labels)
    ]
    return sorted(bodies, key=_sort_key)


@router.get(
    "/api/alerts/history",
    response_model=list[HistoryBody],
    summary="The alerts' state changes, newest first",
    responses=RESPONSES,
)
async def alerts_history(
    service: Service,
    since: SinceQuery = "7d",
    until: Annotated[str | None, Query(description="Up to this time; default now.")] = None,
    rule: Annotated[str | None, Query(description="Only this rule (alert name).")] = None,
    limit: LimitQuery = 1000,
) -> Any:
    now_ms = service.silences.now_ms()
    since_ms = _since_param("since", since, now_ms)
    until_ms = None if until is None else _since_param("until", until, now_ms)
    entries = await asyncio.to_thread(
        service.state.history, since_ms=since_ms, until_ms=until_ms, rule=rule, limit=limit
    )
    return [_history_body(e) for e in entries]


@router.get(
    "/api/notifications",
    response_model=list[NotificationBody],
    summary="Notifications in the outbox and their delivery attempts, newest first",
    responses=RESPONSES,
)
async def list_notifications(
    service: Service,
    since: SinceQuery = "24h",
    state: Annotated[ItemState | None, Query(description="Keep this delivery state.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Any:
    since_ms = _since_param("since", since, service.silences.now_ms())
    items = await asyncio.to_thread(
        service.outbox.items, since_ms=since_ms, state=state, limit=limit
    )
    by_item: dict[int, list[OutboxAttempt]] = {}
    if items:
        oldest = min(i.created_ms for i in items)
        found = await asyncio.to_thread(service.outbox.attempts, oldest, limit=MAX_ATTEMPTS)
        for attempt in found:
            by_item.setdefault(attempt.item_id, []).append(attempt)
    return [_notification_body(i, by_item.get(i.id, ())) for i in items]


@router.get(
    "/api/rules",
    response_model=RulesBody,
    summary="Rule groups and rules: health, last evaluation, its duration, errors",
    responses={503: RESPONSES[503]},
)
async def list_rules(
    service: Service,
    health: Annotated[
        Literal["ok", "err", "unknown"] | None, Query(description="Keep rules of this health.")
    ] = None,
) -> Any:
    groups = [_group_body(g) for g in service.evaluator.rule_status()]
    if health is not None:
        for g in groups:
            g.rules = [r for r in g.rules if r.health == health]
        groups = [g for g in groups if g.rules]
    return RulesBody(groups=groups)
