"""The top-level ``Config`` model and its ``store:`` and ``agent:`` sections.

``Config()`` is the built-in default configuration: edgewatch runs without a
file. Later sections (web, health, alerting, notify) are added here as fields
of their own ``Section`` models.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from edgewatch.config.alerting import AlertingConfig
from edgewatch.config.collectors import Collectors
from edgewatch.config.fields import ListenAddress, LogLevel, parse_listen
from edgewatch.config.health import HealthConfig
from edgewatch.config.maintenance import MaintenanceWindow
from edgewatch.config.notify import NotifyConfig, Receiver
from edgewatch.config.remote_write import RemoteWriteEndpoints
from edgewatch.config.routing import InhibitRule, RootRoute
from edgewatch.config.section import Section
from edgewatch.config.units import Duration, Size
from edgewatch.config.web import AuthConfig, PushConfig, QueryConfig

if TYPE_CHECKING:
    from edgewatch.store.options import StoreOptions

DAY_S = 86_400


class Retention(Section):
    raw: Duration = Field(default=14 * DAY_S, gt=0, description="How long raw samples are kept.")
    rollup_1m: Duration = Field(
        default=90 * DAY_S, gt=0, description="How long 1-minute rollups are kept."
    )
    rollup_1h: Duration = Field(
        default=730 * DAY_S, gt=0, description="How long 1-hour rollups are kept."
    )
    max_size: Size = Field(
        default=2 * 1024**3,
        ge=0,
        description="Cap on the store's total size (0: no cap); the oldest data goes first.",
    )


class StoreConfig(Section):
    commit_interval: Duration = Field(
        default=10.0,
        gt=0,
        description="Time between two commits to disk; a power cut loses at most this much.",
    )
    retention: Retention = Field(
        default_factory=Retention,
        description="How long data is kept, by age and by total size (whichever comes first).",
    )
    timestamp_tolerance: float = Field(
        default=0.02,
        ge=0,
        le=0.5,
        description="Timestamps within this fraction of the interval from their scheduled "
        "tick are stored as the tick (cheaper); larger jitter is kept exactly.",
    )
    max_pending_samples: int = Field(
        default=500_000,
        ge=10_000,  # the head also holds every sample between two commits
        description="Samples held in memory while the disk refuses writes (about 10 MB at "
        "the default); beyond this the oldest are dropped and counted. At least 10000.",
    )

    def to_options(self) -> StoreOptions:
        """The store's own tunables, in its units."""
        # Imported here: loading the config must not import the whole store.
        from edgewatch.store.options import StoreOptions

        return StoreOptions(
            commit_interval_s=self.commit_interval,
            raw_retention_s=self.retention.raw,
            rollup_1m_retention_s=self.retention.rollup_1m,
            rollup_1h_retention_s=self.retention.rollup_1h,
            max_bytes=self.retention.max_size,
            timestamp_tolerance=self.timestamp_tolerance,
            max_pending_samples=self.max_pending_samples,
        )


class AgentConfig(Section):
    cpu_budget: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="CPU the agent may use, as a fraction of one core (0.01 = 1 %); above "
        "it the expensive collectors (process scan) slow down.",
    )


class Config(Section):
    """The whole edgewatch configuration; ``Config()`` is the built-in default."""

    data_dir: Path | None = Field(
        default=None,
        description="Where the store lives. --data-dir and EDGEWATCH_DATA_DIR take "
        "precedence; unset: /var/lib/edgewatch as root, else ~/.local/share/edgewatch.",
    )
    listen: ListenAddress = Field(
        default="127.0.0.1:8700",
        description="HOST:PORT of the web dashboard and API ([::1]:8700 for IPv6).",
    )
    log_level: LogLevel = Field(
        default="info", description="Least severe log level written: debug, info, warning, error."
    )
    store: StoreConfig = Field(
        default_factory=StoreConfig, description="The embedded time-series store."
    )
    agent: AgentConfig = Field(
        default_factory=AgentConfig, description="The agent's own behaviour."
    )
    collectors: Collectors = Field(
        default_factory=Collectors, description="The built-in collectors and their intervals."
    )
    health: HealthConfig = Field(
        default_factory=HealthConfig,
        description="Health checks, their components and the health score (docs/health.md).",
    )
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list,
        description="Planned maintenance windows, weekly or once: left out of availability.",
    )
    query: QueryConfig = Field(
        default_factory=QueryConfig, description="The query engine's lookback and budgets."
    )
    push: PushConfig = Field(
        default_factory=PushConfig, description="Custom metrics pushed to POST /api/push."
    )
    auth: AuthConfig = Field(
        default_factory=AuthConfig,
        description="API tokens and dashboard sessions; needed to listen beyond loopback.",
    )

    alerting: AlertingConfig = Field(
        default_factory=AlertingConfig,
        description="Alert rules: rule files, the built-in pack, links and labels "
        "(docs/alerting.md).",
    )
    receivers: list[Receiver] = Field(
        default_factory=list,
        description="Where notifications go: email, webhook, Alertmanager, Apprise, command "
        "(docs/notify.md).",
    )
    route: RootRoute | None = Field(
        default=None,
        description="The routing tree from alerts to receivers, with grouping and escalation "
        "(docs/routing.md); unset: alerts are evaluated and shown but sent nowhere.",
    )
    inhibit_rules: list[InhibitRule] = Field(
        default_factory=list,
        description="Firing alerts that mute others, e.g. critical mutes warning "
        "(docs/routing.md).",
    )
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig,
        description="Delivery: the outbox's retries and the outward dead man's switch.",
    )
    remote_write: RemoteWriteEndpoints = Field(
        default_factory=list,
        description="Prometheus remote_write endpoints fed from the store, with "
        "store-and-forward across outages (docs/remote_write.md).",
    )

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [r.name for r in self.receivers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"receiver names must be unique: {', '.join(twice)} used twice")
        if self.route is not None:
            unknown = sorted(self.route.receivers() - set(names))
            if unknown:
                known = ", ".join(names) or "none defined"
                raise ValueError(
                    f"route refers to unknown receivers {', '.join(unknown)} (receivers: {known})"
                )
            windows = {w.name for w in self.maintenance}
            missing = sorted(self.route.time_interval_names() - windows)
            if missing:
                raise ValueError(
                    f"route mute_time_intervals names unknown maintenance windows "
                    f"{', '.join(missing)}"
                )
        return self

    def listen_address(self) -> tuple[str, int]:
        """``listen`` split into (host, port)."""
        return parse_listen(self.listen)
