"""The ``collectors.scrape`` section: local Prometheus endpoints scraped into the store."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from edgewatch.config.fields import Regex
from edgewatch.config.remote_write import BasicAuth
from edgewatch.config.secret import Secret
from edgewatch.config.section import Section
from edgewatch.config.units import Duration, Size
from edgewatch.model import LABEL_NAME_RE

# Labels the scrape sets itself on every series; a target's static labels may not.
TARGET_LABELS = ("job", "instance")


def check_scrape_url(value: str) -> str:
    """An http(s) URL with a host: the endpoint that serves the exposition text."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{value!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:8000/metrics"
        )
    if "@" in parts.netloc:
        # urllib would look up "user:password@host" as a host name: the secret would
        # go to the DNS resolver, and the scrape would fail. Never echo it back.
        raise ValueError(
            "credentials in the URL (user:password@) are not allowed: give them as "
            "basic_auth: {username, password} or bearer_token"
        )
    try:
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return value


def check_job(value: str) -> str:
    if not value.strip() or len(value) > 128:
        raise ValueError("a job name must be 1 to 128 characters, e.g. vision")
    return value


ScrapeUrl = Annotated[str, AfterValidator(check_scrape_url)]
JobName = Annotated[str, AfterValidator(check_job)]


class ScrapeTarget(Section):
    # Passwords and tokens: a validation error must not repeat what was given.
    model_config = ConfigDict(hide_input_in_errors=True)

    job: JobName = Field(description="The `job` label of every series of this target.")
    url: ScrapeUrl = Field(
        description="The endpoint serving Prometheus text or OpenMetrics, "
        "e.g. http://127.0.0.1:8000/metrics; its host:port is the `instance` label."
    )
    interval: Duration | None = Field(
        default=None, gt=0, description="Time between two scrapes; null: the section's interval."
    )
    timeout: Duration | None = Field(
        default=None,
        gt=0,
        description="Longest a scrape may take; null: the section's timeout. At most the interval.",
    )
    honor_labels: bool = Field(
        default=False,
        description="When a scraped series has its own `job` or `instance` label (or one of "
        "`labels`): true keeps the scraped value; false keeps ours and renames theirs "
        "`exported_<name>`, as Prometheus does.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels added to every series of this target."
    )
    keep: tuple[Regex, ...] = Field(
        default=(),
        description="Metric names kept (regular expressions matching the whole name); empty: all.",
    )
    drop: tuple[Regex, ...] = Field(
        default=(),
        description="Metric names dropped (regular expressions matching the whole name).",
    )
    max_series: int | None = Field(
        default=None, ge=1, description="Most series kept from this target; null: the section's."
    )
    body_size_limit: Size | None = Field(
        default=None,
        ge=1,
        description="Largest answer read from this target (e.g. 4MiB); null: the section's.",
    )
    sample_limit: int | None = Field(
        default=None,
        ge=1,
        description="Most samples one scrape of this target may expose; null: the section's.",
    )
    basic_auth: BasicAuth | None = Field(
        default=None,
        description="HTTP basic authentication (username, password) sent to this target.",
    )
    bearer_token: Secret | None = Field(
        default=None,
        description="Sends Authorization: Bearer <token> to this target; give it as ${ENV_VAR}.",
    )

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not LABEL_NAME_RE.fullmatch(name) or name.startswith("__"):
                raise ValueError(
                    f"{name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                )
            if name in TARGET_LABELS:
                raise ValueError(f"{name!r} is set by the scrape itself (the job and the URL)")
        return labels

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> ScrapeTarget:
        if self.timeout is not None and self.interval is not None and self.timeout > self.interval:
            raise ValueError(
                f"timeout ({self.timeout:g}s) is longer than interval ({self.interval:g}s)"
            )
        if self.basic_auth is not None and self.bearer_token is not None:
            raise ValueError("set basic_auth or bearer_token, not both")
        return self


class ScrapeCollector(Section):
    enabled: bool = Field(default=True, description="Scrape the targets below.")
    interval: Duration = Field(
        default=15.0, gt=0, description="Time between two scrapes of a target that sets none."
    )
    timeout: Duration = Field(
        default=10.0,
        gt=0,
        description="Longest a scrape may take, for targets that set none; "
        "capped at the target's interval.",
    )
    max_series: int = Field(
        default=2000,
        ge=1,
        description="Most series kept per target: new series beyond it are refused, "
        "counted and logged once.",
    )
    body_size_limit: Size = Field(
        default=4 * 1024 * 1024,
        ge=1,
        description="Largest answer read from a target that sets none: a scrape past it "
        "fails (too_large) without reading the rest.",
    )
    sample_limit: int = Field(
        default=50_000,
        ge=1,
        description="Most samples one scrape may expose, for targets that set none: a scrape "
        "past it fails (sample_limit) and nothing of it is stored.",
    )
    targets: tuple[ScrapeTarget, ...] = Field(
        default=(), description="The endpoints to scrape, e.g. a vision app's /metrics."
    )

    @model_validator(mode="after")
    def _unique_targets(self) -> ScrapeCollector:
        seen: set[tuple[str, str]] = set()
        for target in self.targets:
            pair = (target.job, target.url)
            if pair in seen:
                raise ValueError(f"target job {target.job!r} url {target.url!r} is listed twice")
            seen.add(pair)
            if target.timeout is not None and target.timeout > (target.interval or self.interval):
                raise ValueError(
                    f"target {target.job!r}: timeout ({target.timeout:g}s) is longer than "
                    f"its interval ({target.interval or self.interval:g}s)"
                )
        return self
