"""The Alertmanager channel: ``POST /api/v2/alerts`` to one or more Alertmanagers.

Every Alertmanager gets every alert (they deduplicate among themselves, as
they do for Prometheus). The notification counts as delivered when at least
one of them took it; it fails permanently only when all of them refused it
with a 4xx. A firing alert is sent without ``endsAt``, so Alertmanager
resolves it after its ``resolve_timeout`` unless edgewatch sends it again:
route such receivers with a ``repeat_interval`` shorter than that.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from edgewatch import __version__
from edgewatch.alerting.notice import Notice, NoticeStatus, Notification
from edgewatch.config.notify import AlertmanagerConfig
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.payload import rfc3339
from edgewatch.notify.webhook import check_response, post, redact_url

API_PATH = "/api/v2/alerts"

log = logging.getLogger(__name__)


def postable_alert(notice: Notice) -> dict[str, Any]:
    """One alert in Alertmanager's v2 ``PostableAlert`` shape."""
    alert: dict[str, Any] = {
        "labels": dict(notice.labels),
        "annotations": dict(notice.annotations),
        "generatorURL": notice.generator_url,
    }
    if notice.starts_at_ms:
        alert["startsAt"] = rfc3339(notice.starts_at_ms)
    if notice.status is NoticeStatus.RESOLVED:
        alert["endsAt"] = rfc3339(notice.ends_at_ms or notice.starts_at_ms or None)
    if not alert["generatorURL"]:
        del alert["generatorURL"]  # Alertmanager rejects an empty URI
    return alert


def alerts_url(base: str) -> str:
    return base.rstrip("/") + API_PATH


class AlertmanagerChannel:
    """Forwards the alerts of each notification to every configured Alertmanager."""

    def __init__(self, config: AlertmanagerConfig) -> None:
        self.config = config

    def describe(self) -> str:
        return "alertmanager " + ", ".join(redact_url(u) for u in self.config.urls)

    async def _post_one(self, base: str, body: bytes) -> None:
        url = alerts_url(base)
        headers = {"Content-Type": "application/json", "User-Agent": f"edgewatch/{__version__}"}
        response = await post(url, body, headers, self.config.timeout)
        check_response(response, url)

    async def send(self, notification: Notification) -> None:
        alerts = [postable_alert(a) for a in notification.alerts]
        if not alerts:
            return
        body = json.dumps(alerts, ensure_ascii=False).encode("utf-8")
        results = await asyncio.gather(
            *(self._post_one(u, body) for u in self.config.urls), return_exceptions=True
        )
        errors: list[DeliveryError] = []
        for result in results:
            if isinstance(result, DeliveryError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
        if len(errors) < len(results):  # at least one Alertmanager took it
            for error in errors:
                log.warning("alertmanager: %s (another Alertmanager took the alerts)", error)
            return
        message = "; ".join(str(e) for e in errors)
        raise DeliveryError(message, permanent=all(e.permanent for e in errors))
