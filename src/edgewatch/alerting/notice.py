"""What the notification pipeline carries: one alert (``Notice``) and one message
to one receiver (``Notification``).

These are the seam between the rule evaluator (which produces notices), the
dispatcher (routing, grouping, silences, inhibition, escalation) and the
channels behind the outbox. They follow Alertmanager's alert model, so the
webhook and Alertmanager channels map them one to one.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field


class NoticeStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id for a labelset: 16 hex digits of SHA-256 over the sorted labels."""
    digest = hashlib.sha256()
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xff")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Notice:
    """One alert as notifications see it.

    ``labels`` include ``alertname`` and (when the rule gives one) ``severity``;
    an alert in the ``nodata`` state is sent as firing with the label
    ``alertstate="nodata"`` (so it is a distinct alert, routed and silenced on
    its own). ``ends_at_ms`` is set once the alert resolved.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    status: NoticeStatus = NoticeStatus.FIRING
    starts_at_ms: int = 0
    ends_at_ms: int | None = None
    value: float | None = None
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        """The alert's id across severities: ``severity`` is left out, so an alert
        whose severity moves from warning to critical stays one alert."""
        return fingerprint({k: v for k, v in self.labels.items() if k != "severity"})

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class NotificationKind(enum.StrEnum):
    NOTIFY = "notify"
    """A group's first message, a change in it, or a repeat."""
    ESCALATION = "escalation"
    """An escalation step: the group went un-acknowledged for the step's delay."""
    TEST = "test"
    """``edgewatch notify test RECEIVER``."""
    SYSTEM = "system"
    """edgewatch about itself (e.g. a notification given up), outside any route."""


@dataclass(frozen=True)
class Notification:
    """One message to one receiver: the alerts of one group at one flush.

    ``dedupe_key`` identifies this message: the outbox never delivers two
    notifications with the same key to the same receiver, so a retry after a
    crash cannot send twice. ``group_key`` names the aggregation group (route
    plus the values of its ``group_by`` labels).
    """

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[Notice, ...]
    dedupe_key: str
    created_ms: int
    kind: NotificationKind = NotificationKind.NOTIFY
    ack_url: str = ""
    """A signed link that acknowledges the group's alerts (empty: none configured)."""
    external_url: str = ""
    """The dashboard's URL (``alerting.external_url``; empty: not configured)."""

    @property
    def status(self) -> NoticeStatus:
        """``firing`` when any alert fires, else ``resolved`` (Alertmanager's rule)."""
        if any(a.status is NoticeStatus.FIRING for a in self.alerts):
            return NoticeStatus.FIRING
        return NoticeStatus.RESOLVED

    def common_labels(self) -> dict[str, str]:
        """The labels every alert shares with the same value."""
        if not self.alerts:
            return {}
        first = dict(self.alerts[0].labels)
        return {
            k: v for k, v in first.items() if all(a.labels.get(k) == v for a in self.alerts[1:])
        }

    def common_annotations(self) -> dict[str, str]:
        if not self.alerts:
            return {}
        first = dict(self.alerts[0].annotations)
        return {
            k: v
            for k, v in first.items()
            if all(a.annotations.get(k) == v for a in self.alerts[1:])
        }
