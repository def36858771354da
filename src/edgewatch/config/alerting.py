"""The ``alerting:`` section: which rule files to evaluate, and what every alert carries."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from edgewatch.config.section import Section

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class AlertingConfig(Section):
    rule_files: list[Path] = Field(
        default_factory=list,
        description="Rule files (Prometheus' format) to evaluate: paths or glob patterns "
        "(rules/*.yml), relative to the working directory. A pattern matching no file is "
        "not an error; a missing plain path is.",
    )
    default_rules: bool = Field(
        default=True,
        description="Evaluate edgewatch's built-in rule pack (CPU, memory, disk, "
        "temperature, network, services, health checks, edgewatch itself).",
    )
    external_url: str = Field(
        default="",
        description="The dashboard's URL as people reach it (e.g. https://shop-12.local:9100); "
        "used for links in notifications and as $externalURL in templates.",
    )
    external_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels added to every alert sent (an alert's own labels win), e.g. "
        "device: shop-12; $externalLabels in templates.",
    )

    @field_validator("external_labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name in labels:
            if not _LABEL_NAME_RE.match(name):
                raise ValueError(
                    f"{name!r} is not a valid label name; use letters, digits and '_', "
                    "not starting with a digit"
                )
        return labels

    @field_validator("external_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if url and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url.rstrip("/")
