"""The ``health:`` section: checks (one model per kind), components and their weights."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from edgewatch.config.section import Section
from edgewatch.config.units import Duration, Size

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class RemediationStep(Section):
    action: Literal["restart_unit", "command", "reboot"] = Field(
        description="restart_unit (systemctl restart UNIT), command (an argv) or reboot."
    )
    unit: str | None = Field(default=None, description="restart_unit: the unit to restart.")
    argv: tuple[str, ...] | None = Field(
        default=None, description="command: program and arguments (never a shell)."
    )
    after_failures: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Consecutive failed runs before this step is taken (the ladder climbs as "
        "failures go on).",
    )

    @model_validator(mode="after")
    def _has_target(self) -> RemediationStep:
        if self.action == "restart_unit" and not self.unit:
            raise ValueError("restart_unit needs unit")
        if self.action == "command" and not self.argv:
            raise ValueError("command needs argv")
        return self


class Remediation(Section):
    steps: list[RemediationStep] = Field(
        min_length=1,
        description="The ladder of actions, mildest first, each after its number of failures.",
    )
    grace: Duration = Field(
        default=120.0, ge=0, description="No action this long after the agent starts."
    )
    backoff: Duration = Field(
        default=60.0,
        gt=0,
        description="Least time between two actions; doubles after each until a success.",
    )
    max_per_hour: int = Field(
        default=3, ge=1, le=60, description="Actions per hour at most; then give up and alert."
    )
    timeout: Duration = Field(default=60.0, gt=0, description="Longest one action may run.")


class CheckBase(Section):
    """Settings every check kind shares."""

    name: str = Field(description="Unique name: lowercase letters, digits, _ . - (max 63).")
    component: str = Field(
        default="system", description="Component the check belongs to (see health.components)."
    )
    interval: Duration = Field(default=30.0, gt=0, description="Time between two runs.")
    timeout: Duration = Field(
        default=10.0, gt=0, description="A run taking longer is stopped and reported unknown."
    )
    retries: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Consecutive results of a new status needed before the check changes status "
        "(1: at once). Damps flapping.",
    )
    critical: bool = Field(
        default=False, description="When failing, caps the overall health score (see docs)."
    )
    warn_above: float | None = Field(default=None, description="Warn when the value is above.")
    fail_above: float | None = Field(default=None, description="Fail when the value is above.")
    warn_below: float | None = Field(default=None, description="Warn when the value is below.")
    fail_below: float | None = Field(default=None, description="Fail when the value is below.")
    remediate: Remediation | None = Field(
        default=None,
        description="Opt-in actions after consecutive failures (restart a unit, run a "
        "command, reboot), with grace, backoff and a budget; each audited.",
    )

    @field_validator("name", "component")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid name: lowercase letters, digits, _ . - (max 63)"
            )
        return value

    @model_validator(mode="after")
    def _timeout_fits(self) -> CheckBase:
        if self.timeout > self.interval:
            raise ValueError(
                f"timeout ({self.timeout:g}s) is longer than interval ({self.interval:g}s)"
            )
        return self


class HttpCheck(CheckBase):
    kind: Literal["http"] = Field(default="http", description="The check kind.")
    url: str = Field(description="http:// or https:// URL; credentials in it are never shown.")
    method: Literal["GET", "HEAD", "POST"] = Field(default="GET", description="HTTP method.")
    expect_status: tuple[int, ...] = Field(
        default=(200,), description="Statuses that pass (others fail)."
    )
    body_contains: str | None = Field(default=None, description="Text the body must contain.")
    json_path: str | None = Field(
        default=None, description="Dotted path into a JSON body (a.b.0.c) whose value is observed."
    )
    json_equals: str | None = Field(
        default=None, description="With json_path: the value (as text) that passes."
    )
    verify_tls: bool = Field(default=True, description="Verify the server's certificate.")
    cert_warn_days: float | None = Field(
        default=None, description="Warn when the TLS certificate expires within this many days."
    )
    cert_fail_days: float | None = Field(
        default=None, description="Fail when the TLS certificate expires within this many days."
    )
    max_redirects: int = Field(default=5, ge=0, le=20, description="Redirects followed.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        if scheme.lower() not in ("http", "https") or not host:
            # The value itself is not echoed: it may hold credentials.
            raise ValueError("url must be http:// or https:// with a host")
        return value


class TcpCheck(CheckBase):
    kind: Literal["tcp"] = Field(default="tcp", description="The check kind.")
    host: str = Field(description="Host name or address.")
    port: int = Field(ge=1, le=65535, description="TCP port that must accept a connection.")


class DnsCheck(CheckBase):
    kind: Literal["dns"] = Field(default="dns", description="The check kind.")
    hostname: str = Field(description="Name that must resolve (the system resolver).")


class PingCheck(CheckBase):
    kind: Literal["ping"] = Field(default="ping", description="The check kind.")
    host: str = Field(description="Host to send ICMP echo requests to.")
    count: int = Field(default=3, ge=1, le=20, description="Echo requests per run.")


class ProcessCheck(CheckBase):
    kind: Literal["process"] = Field(default="process", description="The check kind.")
    match: str = Field(description="Regular expression searched in each process's command line.")
    min_count: int = Field(default=1, ge=0, description="Fewest matching processes that pass.")
    max_count: int | None = Field(default=None, ge=0, description="Most that pass.")
    max_cpu_ratio: float | None = Field(
        default=None, gt=0, description="Warn above this CPU use (of one core), summed."
    )
    max_rss: Size | None = Field(default=None, gt=0, description="Warn above this resident memory.")

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        from edgewatch.store.regex import RegexError, compile_anchored

        try:
            compile_anchored(value)  # the same RE2 syntax the check searches with
        except RegexError as exc:
            raise ValueError(str(exc)) from None
        return value


class SystemdCheck(CheckBase):
    kind: Literal["systemd"] = Field(default="systemd", description="The check kind.")
    unit: str = Field(description="Unit that must be active, e.g. rvm-vision.service.")
    max_restarts: int = Field(
        default=3,
        ge=0,
        description="Fail when the unit restarted more than this many times within restart_window.",
    )
    restart_window: Duration = Field(default=600.0, gt=0, description="Window for max_restarts.")


class FileCheck(CheckBase):
    kind: Literal["file"] = Field(default="file", description="The check kind.")
    path: str = Field(description="File that must exist.")
    max_age: Duration | None = Field(
        default=None, gt=0, description="Fail when not modified within this long (freshness)."
    )
    min_size: Size | None = Field(default=None, ge=0, description="Fail when smaller.")
    max_size: Size | None = Field(default=None, ge=0, description="Fail when larger.")


class DiskCheck(CheckBase):
    kind: Literal["disk"] = Field(default="disk", description="The check kind.")
    mountpoint: str = Field(default="/", description="Mount point whose space is checked.")
    min_free_ratio: float = Field(
        default=0.1, ge=0, le=1, description="Fail below this free fraction of space."
    )
    min_free_inodes_ratio: float = Field(
        default=0.05, ge=0, le=1, description="Fail below this free fraction of inodes."
    )
    full_within: Duration | None = Field(
        default=None,
        gt=0,
        description="Warn when the last 6 hours' trend (predict_linear) fills it within this.",
    )


class MetricCheck(CheckBase):
    kind: Literal["metric"] = Field(default="metric", description="The check kind.")
    query: str = Field(description="PromQL expression; the check observes its first value.")
    absent: Literal["pass", "warn", "fail", "unknown"] = Field(
        default="unknown", description="Status when the query returns nothing."
    )

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str) -> str:
        from edgewatch.query.errors import BadQuery
        from edgewatch.query.parse import parse

        try:
            parse(value)
        except BadQuery as exc:
            raise ValueError(str(exc)) from None
        return value


class CommandCheck(CheckBase):
    kind: Literal["command"] = Field(default="command", description="The check kind.")
    argv: tuple[str, ...] = Field(
        min_length=1, description="Program and arguments (a list: never run through a shell)."
    )
    max_output: Size = Field(default=4096, ge=64, le=1 << 20, description="Output kept, in bytes.")


class HeartbeatCheck(CheckBase):
    kind: Literal["heartbeat"] = Field(default="heartbeat", description="The check kind.")
    period: Duration = Field(
        gt=0, description="Fail when no ping came within this long (POST /api/heartbeat/NAME)."
    )
    grace: Duration = Field(default=0.0, ge=0, description="Extra time allowed after period.")
    max_duration: Duration | None = Field(
        default=None,
        gt=0,
        description="With start/finish pings: fail a run that takes longer than this.",
    )
    min_duration: Duration | None = Field(
        default=None, ge=0, description="With start/finish pings: warn a run shorter than this."
    )

    @model_validator(mode="after")
    def _durations(self) -> HeartbeatCheck:
        if (
            self.min_duration is not None
            and self.max_duration is not None
            and self.min_duration > self.max_duration
        ):
            raise ValueError("min_duration is longer than max_duration")
        return self


class CameraCheck(CheckBase):
    kind: Literal["camera"] = Field(default="camera", description="The check kind.")
    device: str | None = Field(default=None, description="V4L2 device node, e.g. /dev/video0.")
    snapshot: str | None = Field(
        default=None, description="Image the vision pipeline writes (PGM/PPM/PNG/JPEG)."
    )
    max_age: Duration = Field(default=60.0, gt=0, description="Snapshot older than this fails.")
    min_luminance: float = Field(
        default=8.0, ge=0, le=255, description="Mean luminance below this is a black frame."
    )
    frozen_after: int = Field(
        default=3, ge=2, description="Near-identical snapshots in a row before 'frozen'."
    )

    @model_validator(mode="after")
    def _something(self) -> CameraCheck:
        if self.device is None and self.snapshot is None:
            raise ValueError("a camera check needs device, snapshot or both")
        return self


class UsbCheck(CheckBase):
    kind: Literal["usb"] = Field(default="usb", description="The check kind.")
    vendor_id: str = Field(pattern=r"^[0-9a-fA-F]{4}$", description="Vendor id, 4 hex digits.")
    product_id: str = Field(pattern=r"^[0-9a-fA-F]{4}$", description="Product id, 4 hex digits.")


AnyCheck = Annotated[
    HttpCheck
    | TcpCheck
    | DnsCheck
    | PingCheck
    | ProcessCheck
    | SystemdCheck
    | FileCheck
    | DiskCheck
    | MetricCheck
    | CommandCheck
    | HeartbeatCheck
    | CameraCheck
    | UsbCheck,
    Field(discriminator="kind"),
]


class Component(Section):
    weight: float = Field(default=1.0, gt=0, description="Weight in the overall score.")
    depends_on: tuple[str, ...] = Field(
        default=(), description="Components this one needs: when one fails, this is 'blocked'."
    )


class HealthConfig(Section):
    checks: list[AnyCheck] = Field(default_factory=list, description="The health checks.")
    events_on: Literal["fail", "warn"] = Field(
        default="fail",
        description="Record a health event (start and end) when a check fails, or also "
        "when it warns.",
    )
    components: dict[str, Component] = Field(
        default_factory=dict,
        description="Weights and dependencies of components (a component used by a check and "
        "not listed here has weight 1 and no dependencies).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> HealthConfig:
        seen: set[str] = set()
        for check in self.checks:
            if check.name in seen:
                raise ValueError(f"two checks are named {check.name!r}")
            seen.add(check.name)
        known = set(self.components) | {check.component for check in self.checks}
        for name, comp in self.components.items():
            for dep in comp.depends_on:
                if dep == name:
                    raise ValueError(f"component {name!r} depends on itself")
                if dep not in known:
                    raise ValueError(
                        f"component {name!r} depends on {dep!r}, which no check or "
                        "component defines"
                    )
        _no_cycle({n: c.depends_on for n, c in self.components.items()})
        return self


def _no_cycle(graph: dict[str, tuple[str, ...]]) -> None:
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise ValueError(f"components depend on each other in a cycle: {' -> '.join(path)}")
        state[node] = 1
        for dep in graph.get(node, ()):
            visit(dep, (*path, dep))
        state[node] = 2

    for node in graph:
        visit(node, (node,))
