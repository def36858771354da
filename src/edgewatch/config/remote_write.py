"""The ``remote_write:`` list: Prometheus remote_write endpoints fed from the store.

Each entry becomes one sender (``edgewatch.export.remote_write``) with its own
checkpoint in the store file, keyed by ``name``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from edgewatch.config.secret import Secret
from edgewatch.config.section import Section
from edgewatch.config.units import Duration, Size
from edgewatch.model import LABEL_NAME_RE

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
# Headers the sender sets itself, or that HTTP owns (much as Prometheus refuses them).
RESERVED_HEADERS = frozenset(
    {
        "accept-encoding",
        "authorization",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "transfer-encoding",
        "user-agent",
        "www-authenticate",
        "x-prometheus-remote-write-version",
    }
)
HOUR_S = 3600.0


def _check_re2(value: str | None) -> str | None:
    if value is None:
        return None
    from edgewatch.store.regex import RegexError, compile_anchored

    try:
        compile_anchored(value)
    except RegexError as exc:
        raise ValueError(str(exc)) from None
    return value


class BasicAuth(Section):
    username: str = Field(description="The user name.")
    password: Secret = Field(description="The password; give it as ${ENV_VAR} (or ENV_VAR_FILE).")


class RemoteWriteTls(Section):
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of CA certificates to trust instead of the system's.",
    )
    insecure_skip_verify: bool = Field(
        default=False,
        description="Accept any server certificate (testing only: anyone on the path can "
        "read and change the data).",
    )


class RemoteWriteEndpoint(Section):
    """One Prometheus remote_write 1.0 receiver (Prometheus, VictoriaMetrics, Mimir, Thanos)."""

    # Tokens and header values: a validation error must not repeat what was given.
    model_config = ConfigDict(hide_input_in_errors=True)

    url: str = Field(
        description="The receiver's write URL, e.g. http://prometheus:9090/api/v1/write "
        "or http://victoria:8428/api/v1/write."
    )
    name: str | None = Field(
        default=None,
        description="Names the endpoint in logs, in the self-metrics' `endpoint` label and "
        "its checkpoint; unset: the URL's host:port. Renaming starts a new checkpoint.",
    )
    basic_auth: BasicAuth | None = Field(
        default=None, description="HTTP basic authentication (username, password)."
    )
    bearer_token: Secret | None = Field(
        default=None, description="Sends Authorization: Bearer <token>; give it as ${ENV_VAR}."
    )
    tls: RemoteWriteTls = Field(
        default_factory=RemoteWriteTls, description="TLS settings for https URLs."
    )
    timeout: Duration = Field(default=30.0, gt=0, le=600, description="Time limit per request.")
    extra_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels added to every series sent, e.g. {device: rvm-0042, site: "
        "shop-12}; where a series has a label of the same name, this value wins and the "
        "series' own moves to exported_<name> (as Prometheus' honor_labels: false).",
    )
    headers: dict[str, Secret] = Field(
        default_factory=dict,
        description="HTTP headers sent with every request, e.g. {X-Scope-OrgID: ${TENANT}} "
        "for Mimir; values are secrets (never logged or shown). Content-Type, "
        "Content-Encoding, X-Prometheus-Remote-Write-Version, Authorization (use "
        "bearer_token or basic_auth) and the other headers HTTP or the sender own are refused.",
    )
    keep: str | None = Field(
        default=None,
        description="Send only metrics whose name matches this regex (RE2, whole name); "
        "unset: every metric.",
    )
    drop: str | None = Field(
        default=None,
        description="Do not send metrics whose name matches this regex (applied after keep).",
    )
    batch_size: int = Field(
        default=5000, ge=100, le=100_000, description="Most samples in one request."
    )
    interval: Duration = Field(
        default=5.0, gt=0, le=600, description="Time between two looks for new samples."
    )
    delay: Duration = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Samples are sent once they are this old, so that a collection's "
        "samples (stamped with its start) are usually stored before their window is read; "
        "samples stored later than that are sent too, as late samples.",
    )
    max_backlog: Duration = Field(
        default=24 * HOUR_S,
        gt=0,
        description="After an outage, samples older than this are skipped (counted in "
        'edgewatch_remote_write_samples_dropped_total{reason="backlog_age"}).',
    )
    bandwidth_limit: Size = Field(
        default=0,
        ge=0,
        description="Bytes per second on the wire (compressed), for metered links; 0: no limit.",
    )
    backoff_initial: Duration = Field(
        default=1.0, gt=0, description="Wait before the first retry; doubles each retry."
    )
    backoff_max: Duration = Field(
        default=120.0, gt=0, description="Longest wait between two retries."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL; use e.g. http://prometheus:9090/api/v1/write")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a name; use letters, digits and _ . : -")
        return value

    @field_validator("extra_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            if not LABEL_NAME_RE.match(label) or label.startswith("__"):
                raise ValueError(f"{label!r} is not a label name; use e.g. device, site")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, Secret]) -> dict[str, Secret]:
        seen: dict[str, str] = {}
        for name, secret in value.items():
            if not _HEADER_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not an HTTP header name; use e.g. X-Scope-OrgID")
            lower = name.lower()
            if lower == "authorization":
                raise ValueError(
                    "the Authorization header is set by bearer_token or basic_auth; "
                    "use one of those instead of headers"
                )
            if lower in RESERVED_HEADERS:
                raise ValueError(
                    f"header {name!r} is set by the sender or by HTTP itself and cannot be "
                    "overridden; remove it from headers"
                )
            if lower in seen:
                raise ValueError(f"header {name!r} is given twice (as {seen[lower]!r} too)")
            seen[lower] = name
            text = secret.get_secret_value()
            if any(c in text for c in "\r\n\0"):
                raise ValueError(f"the value of header {name!r} holds a line break or NUL")
        return value

    @field_validator("keep", "drop")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return _check_re2(value)

    @model_validator(mode="after")
    def _one_auth(self) -> RemoteWriteEndpoint:
        if self.basic_auth is not None and self.bearer_token is not None:
            raise ValueError("give basic_auth or bearer_token, not both")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be less than backoff_initial")
        return self

    def endpoint_name(self) -> str:
        """``name``, or the URL's host:port (never its user or password)."""
        if self.name:
            return self.name
        parts = urlsplit(self.url)
        default_port = 443 if parts.scheme == "https" else 80
        return f"{parts.hostname}:{parts.port or default_port}"


def _unique_names(value: list[RemoteWriteEndpoint]) -> list[RemoteWriteEndpoint]:
    names = [e.endpoint_name() for e in value]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"remote_write endpoint names must be unique: {', '.join(twice)} used twice "
            "(set name: on each)"
        )
    return value


RemoteWriteEndpoints = Annotated[list[RemoteWriteEndpoint], AfterValidator(_unique_names)]
"""The ``remote_write:`` list; each endpoint's name unique (it keys the checkpoint)."""
