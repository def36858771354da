"""A notification as JSON: the Alertmanager webhook format that receivers
read, and the record the outbox stores and rebuilds the notification from.

The webhook format is Alertmanager's (version 4), so a receiver written for
Alertmanager reads edgewatch's webhooks unchanged; edgewatch adds ``ackURL``
(a signed acknowledgement link, empty when none) and ``kind`` (notify,
escalation, test, system).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from edgewatch.alerting.notice import Notice, NoticeStatus, Notification, NotificationKind

ZERO_TIME = "0001-01-01T00:00:00Z"
"""What Alertmanager writes for a time not set (a firing alert's ``endsAt``)."""

WEBHOOK_VERSION = "4"


def rfc3339(ms: int | None) -> str:
    """``2024-05-01T12:00:00.123Z`` for epoch milliseconds; ``ZERO_TIME`` for None or 0."""
    if not ms:
        return ZERO_TIME
    when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    text = when.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def alert_json(notice: Notice) -> dict[str, Any]:
    """One alert of the webhook's ``alerts`` list."""
    return {
        "status": notice.status.value,
        "labels": dict(notice.labels),
        "annotations": dict(notice.annotations),
        "startsAt": rfc3339(notice.starts_at_ms),
        "endsAt": rfc3339(notice.ends_at_ms),
        "generatorURL": notice.generator_url,
        "fingerprint": notice.fingerprint,
    }


def webhook_payload(
    n: Notification, *, external_url: str = "", max_alerts: int = 0
) -> dict[str, Any]:
    """The Alertmanager-webhook-compatible body of ``n``; ``max_alerts`` > 0 cuts
    the alert list (the rest are counted in ``truncatedAlerts``)."""
    alerts = n.alerts if max_alerts <= 0 else n.alerts[:max_alerts]
    return {
        "version": WEBHOOK_VERSION,
        "groupKey": n.group_key,
        "truncatedAlerts": len(n.alerts) - len(alerts),
        "status": n.status.value,
        "receiver": n.receiver,
        "groupLabels": dict(n.group_labels),
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": external_url or n.external_url,
        "alerts": [alert_json(a) for a in alerts],
        "ackURL": n.ack_url,
        "kind": n.kind.value,
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the exact bytes that are sent (and signed)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------- outbox record


def _value_out(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return repr(value)  # "nan", "inf", "-inf": JSON has no spelling for them


def _value_in(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float | str):
        return float(value)
    raise ValueError(f"bad alert value {value!r}")


def to_record(n: Notification) -> str:
    """The JSON the outbox stores for ``n``; :func:`from_record` rebuilds it."""
    record = {
        "receiver": n.receiver,
        "group_key": n.group_key,
        "group_labels": dict(n.group_labels),
        "dedupe_key": n.dedupe_key,
        "created_ms": n.created_ms,
        "kind": n.kind.value,
        "ack_url": n.ack_url,
        "external_url": n.external_url,
        "alerts": [
            {
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "status": a.status.value,
                "starts_at_ms": a.starts_at_ms,
                "ends_at_ms": a.ends_at_ms,
                "value": _value_out(a.value),
                "generator_url": a.generator_url,
            }
            for a in n.alerts
        ],
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def from_record(text: str) -> Notification:
    """The notification stored by :func:`to_record` (ValueError when malformed)."""
    try:
        data = json.loads(text)
        alerts = tuple(
            Notice(
                labels=dict(a["labels"]),
                annotations=dict(a["annotations"]),
                status=NoticeStatus(a["status"]),
                starts_at_ms=int(a["starts_at_ms"]),
                ends_at_ms=None if a["ends_at_ms"] is None else int(a["ends_at_ms"]),
                value=_value_in(a["value"]),
                generator_url=str(a["generator_url"]),
            )
            for a in data["alerts"]
        )
        return Notification(
            receiver=str(data["receiver"]),
            group_key=str(data["group_key"]),
            group_labels=dict(data["group_labels"]),
            alerts=alerts,
            dedupe_key=str(data["dedupe_key"]),
            created_ms=int(data["created_ms"]),
            kind=NotificationKind(data["kind"]),
            ack_url=str(data["ack_url"]),
            external_url=str(data.get("external_url", "")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed outbox record: {type(exc).__name__}: {exc}") from exc
