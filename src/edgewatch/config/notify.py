"""Receivers (where notifications go) and the ``notify:`` section (the outbox's
retries and the outward dead man's switch)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from edgewatch.config.notify_channels import AppriseConfig, EmailConfig
from edgewatch.config.secret import Secret
from edgewatch.config.section import Section
from edgewatch.config.units import Duration

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL; use e.g. https://example.org/hook")
    return value


class WebhookConfig(Section):
    """POST the Alertmanager-webhook-compatible JSON of each notification to a URL."""

    url: str = Field(description="The http(s) URL to POST to.")
    hmac_secret: Secret | None = Field(
        default=None,
        description="Signs the body: header X-Edgewatch-Signature: sha256=<hex HMAC-SHA256>.",
    )
    timeout: Duration = Field(default=10.0, gt=0, le=300, description="Time limit per request.")
    headers: dict[str, Secret] = Field(
        default_factory=dict,
        description="Extra request headers (e.g. Authorization); values are kept secret.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, Secret]) -> dict[str, Secret]:
        for name in value:
            if not _HEADER_RE.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
        return value


class AlertmanagerConfig(Section):
    """Forward alerts to Alertmanagers (``POST /api/v2/alerts``)."""

    urls: list[str] = Field(
        min_length=1,
        description="Base URLs of the Alertmanagers, e.g. http://am1:9093; each gets every alert.",
    )
    timeout: Duration = Field(default=10.0, gt=0, le=300, description="Time limit per request.")

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return [_http_url(url) for url in value]


class CommandConfig(Section):
    """Run a local program per notification (a buzzer, a screen message, a GSM modem)."""

    argv: list[str] = Field(
        min_length=1,
        description="Program and arguments, run without a shell; the JSON arrives on stdin.",
    )
    timeout: Duration = Field(
        default=10.0, gt=0, le=600, description="The program is killed past this time."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the program."
    )

    @field_validator("argv")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        if not value[0]:
            raise ValueError("the program (argv[0]) is empty")
        return value


class Receiver(Section):
    """A named destination: any number of integrations, each sent every notification."""

    name: str = Field(description="The name routes refer to (letters, digits, _ . -).")
    send_resolved: bool = Field(
        default=True, description="Also notify when the alerts of a group resolve."
    )
    webhook: list[WebhookConfig] = Field(default_factory=list, description="Webhooks.")
    alertmanager: list[AlertmanagerConfig] = Field(
        default_factory=list, description="Alertmanagers to forward to."
    )
    command: list[CommandConfig] = Field(default_factory=list, description="Local programs.")
    email: list[EmailConfig] = Field(default_factory=list, description="Email over SMTP.")
    apprise: list[AppriseConfig] = Field(
        default_factory=list, description="Apprise URLs (Slack, Telegram, ntfy, ...)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a receiver name; use letters, digits, _ . - (up to 64)"
            )
        return value


class OutboxSettings(Section):
    """Retries of notifications the receiver did not take."""

    max_age: Duration = Field(
        default=86400.0,
        gt=0,
        description="Give up on a notification this long after it was created (and alert).",
    )
    backoff_initial: Duration = Field(
        default=5.0, gt=0, description="Wait before the first retry; doubles each retry."
    )
    backoff_max: Duration = Field(default=600.0, gt=0, description="Longest wait between retries.")
    max_parallel: int = Field(
        default=2, ge=1, le=32, description="Deliveries in flight at the same time."
    )
    keep: Duration = Field(
        default=7 * 86400.0,
        gt=0,
        description="How long finished notifications and their attempts stay in the history.",
    )

    @model_validator(mode="after")
    def _order(self) -> OutboxSettings:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must be at least backoff_initial")
        return self


class DeadmanSettings(Section):
    """The outward dead man's switch: a URL pinged while edgewatch runs."""

    url: Secret | None = Field(
        default=None,
        description="The URL to ping (e.g. https://hc-ping.com/<uuid>); none: off. Kept secret.",
    )
    method: Literal["GET", "POST"] = Field(default="GET", description="GET or POST.")
    interval: Duration = Field(default=60.0, gt=0, description="Time between pings.")
    timeout: Duration = Field(default=10.0, gt=0, le=300, description="Time limit per ping.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: Secret | None) -> Secret | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("not an http(s) URL; use e.g. https://hc-ping.com/<uuid>")
        return value


class NotifyConfig(Section):
    """The ``notify:`` section."""

    outbox: OutboxSettings = Field(
        default_factory=OutboxSettings, description="Retries, give-up age and history."
    )
    deadman: DeadmanSettings = Field(
        default_factory=DeadmanSettings, description="The outward dead man's switch."
    )
