"""Notifications through Apprise URLs: Slack, Telegram, Discord, ntfy, Pushover and more.

Apprise is heavy (it loads ~100 plugins), so it is imported on the first send,
never at import time nor when no receiver uses it. Apprise URLs carry tokens:
only their scheme appears in descriptions and errors, and while a send runs a
filter on Apprise's logger masks every part of the URLs in its messages.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from edgewatch.alerting.notice import NoticeStatus, Notification
from edgewatch.config.notify_channels import AppriseConfig
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.render import MessageRenderer

APPRISE_LOGGER = "apprise"
_MASK = "…"
_MIN_SECRET_PART = 6
_URL_PARTS_RE = re.compile(r"[/:@?&=#,;+\s]+")


class AppriseChannel:
    """Sends each notification to every URL of one ``apprise:`` entry."""

    def __init__(self, config: AppriseConfig, *, renderer: MessageRenderer | None = None) -> None:
        self.config = config
        self.renderer = renderer or MessageRenderer()
        self._schemes = config.schemes()

    def describe(self) -> str:
        return "apprise " + ", ".join(f"{scheme}://…" for scheme in self._schemes)

    async def send(self, notification: Notification) -> None:
        title = self._text(self.config.title, "apprise_title.txt", notification)
        body = self._text(self.config.body, "apprise_body.txt", notification)
        firing = notification.status is NoticeStatus.FIRING
        await asyncio.to_thread(self._notify, title.strip(), body.strip(), firing)

    def _text(self, inline: str | None, default: str, notification: Notification) -> str:
        if inline is not None:
            return self.renderer.render_string(inline, notification, fallback=default)
        return self.renderer.render(default, notification)

    def _notify(self, title: str, body: str, firing: bool) -> None:
        import apprise

        urls = [url.get_secret_value() for url in self.config.urls]
        with redacting_apprise_log(urls), warnings.catch_warnings():
            # Apprise loads its plugins on the first add(); one of them probes for
            # the stdlib imghdr module, deprecated since Python 3.11 (harmless).
            warnings.filterwarnings(
                "ignore", message="'imghdr' is deprecated", category=DeprecationWarning
            )
            notifier = apprise.Apprise(asset=apprise.AppriseAsset(secure_logging=True))
            for scheme, url in zip(self._schemes, urls, strict=True):
                if not notifier.add(url):
                    raise DeliveryError(
                        f"apprise: the {scheme}:// URL is not valid (or its service is "
                        "unavailable here); see the Apprise documentation for its form",
                        permanent=True,
                    )
            notify_type = apprise.NotifyType.FAILURE if firing else apprise.NotifyType.SUCCESS
            delivered = notifier.notify(body=body, title=title, notify_type=notify_type)
        if not delivered:
            raise DeliveryError(f"apprise: {', '.join(self._schemes)} delivery failed")


class _RedactFilter(logging.Filter):
    """Masks the given strings in every record of the logger it is attached to."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, _MASK)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def secret_parts(url: str) -> list[str]:
    """The URL, and each part of it (host, path segments, user, password, query
    values) long enough to be a token: what must not appear in a log line."""
    _, sep, rest = url.partition("://")
    parts = [url, rest] if sep else [url]
    parts += [p for p in _URL_PARTS_RE.split(rest) if len(p) >= _MIN_SECRET_PART]
    return [p for p in parts if p]


@contextmanager
def redacting_apprise_log(urls: list[str]) -> Iterator[None]:
    """While inside, Apprise's log records have every part of ``urls`` masked."""
    logger = logging.getLogger(APPRISE_LOGGER)
    log_filter = _RedactFilter([part for url in urls for part in secret_parts(url)])
    logger.addFilter(log_filter)
    try:
        yield
    finally:
        logger.removeFilter(log_filter)
