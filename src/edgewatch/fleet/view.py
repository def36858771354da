"""One row per device, built from a PromQL engine and (optionally) Alertmanager.

A device is a value of the ``device`` label (``FleetOptions.device_label``) on the
series edgewatch agents send: scraped (the label set per target in the scrape
config) or remote-written (the label added by the agent). Nothing is stored here:
every build asks the sources again, with these queries (``L`` the device label):

- last seen: the newest sample of the agent's own always-on series (``SEEN_METRICS``)
  and the newest successful scrape of the agent (``timestamp(up{job=J}) and up == 1``),
  now and, for devices that went silent, over ``window`` (a subquery stepped by the
  engine's 5-minute lookback, so no sample is missed);
- scrape state: ``min by (L) (up{job=J})`` where the engine scrapes the agent.

``J`` is ``FleetOptions.agent_job``, the engine's job that scrapes the agents: the
``up`` series of any other job are not the agent's. An agent's own scrape collector
writes ``up`` for the local apps it scrapes (the vision app, ``job="vision"``), and
remote_write adds the device label to them: a device must not show "down" because
its app is, nor link to the app's address. The ``instance`` of the link is taken
from that job's series only; a device known only through remote_write (no such
``up``) is judged by its newest sample of the agent's own series;
- CPU, memory, disk: ``system_cpu_usage_ratio{cpu="total"}``,
  ``system_memory_usage_ratio``, the fullest ``system_filesystem_usage_ratio``;
- health score: the agent's own ``edgewatch_health_score`` (its weighted score, with
  the critical cap); for a device without it (an agent older than that series),
  ``100 - 50 * avg(edgewatch_check_status < 3)`` — pass 100, warn 50, fail 0,
  unknown left out, as the agent scores a check, but without its component weights
  and critical cap;
- the worst active alert: from Alertmanager when one is given, else the engine's
  ``ALERTS{alertstate="firing"}`` (the agents' own evaluators expose theirs on
  ``/metrics``); critical > warning > info > anything else, then the oldest.
"""

from __future__ import annotations

import asyncio
import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from edgewatch.fleet.engine import ActiveAlert, AlertmanagerClient, PromClient, VectorSample

SEEN_METRICS = (
    "edgewatch_process_cpu_seconds_total",
    "edgewatch_samples_ingested_total",
    "system_cpu_usage_ratio",
    "system_memory_usage_ratio",
)
SCORE_METRIC = "edgewatch_health_score"  # edgewatch.health.score.SCORE_METRIC
LOOKBACK = "5m"  # Prometheus' default lookback; the subquery's step
SEVERITY_RANK = {"critical": 3, "warning": 2, "info": 1}
STATUS_ORDER = ("down", "critical", "warning", "ok")
URL_FIELDS = frozenset({"device", "site", "instance"})
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_WINDOW_RE = re.compile(r"^[1-9][0-9]*[smhdw]$")


def check_label_name(name: str, what: str) -> str:
    if not _LABEL_NAME_RE.match(name):
        raise ValueError(f"{what} {name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    return name


def check_url_template(template: str) -> str:
    """ValueError unless ``template`` is an http(s) URL using only {device} {site} {instance}."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"device URL template {template!r}: {exc}") from None
    unknown = fields - URL_FIELDS
    if unknown:
        names = ", ".join(sorted(f"{{{f}}}" for f in unknown))
        raise ValueError(
            f"device URL template {template!r} uses {names}; "
            "only {device}, {site} and {instance} exist"
        )
    if urlsplit(template).scheme not in ("http", "https"):
        raise ValueError(f"device URL template {template!r} must start with http:// or https://")
    return template


@dataclass(frozen=True)
class FleetOptions:
    device_label: str = "device"
    site_label: str = "site"
    # {device}, {site}, {instance}; None: http://{instance}/ where the device is scraped.
    device_url: str | None = None
    window: str = "24h"  # a PromQL duration: how long a silent device stays listed
    stale_after_s: float = 120.0  # last seen longer ago: the device is shown down
    # The engine's job that scrapes the agents: only its `up` and `instance` are theirs.
    agent_job: str = "edgewatch"

    def __post_init__(self) -> None:
        check_label_name(self.device_label, "device label")
        check_label_name(self.site_label, "site label")
        if not self.agent_job:
            raise ValueError("agent job must not be empty")
        if self.device_url is not None:
            check_url_template(self.device_url)
        if not _WINDOW_RE.match(self.window):
            raise ValueError(f"window {self.window!r} is not a PromQL duration such as 24h")


@dataclass(frozen=True)
class WorstAlert:
    name: str
    severity: str
    summary: str
    since: str  # RFC 3339 where Alertmanager gave it, else ""


@dataclass(frozen=True)
class DeviceRow:
    device: str
    site: str
    last_seen: float | None  # Unix seconds
    up: bool | None  # the engine's scrape state; None where not scraped
    health_score: float | None
    worst_alert: WorstAlert | None
    active_alerts: int
    cpu_ratio: float | None
    memory_ratio: float | None
    disk_ratio: float | None
    url: str | None

    def status(self, now: float, stale_after_s: float) -> str:
        """``down``, ``critical``, ``warning`` or ``ok`` (STATUS_ORDER)."""
        if self.up is False or self.last_seen is None or now - self.last_seen > stale_after_s:
            return "down"
        if self.worst_alert is not None and self.worst_alert.severity in ("critical", "warning"):
            return self.worst_alert.severity
        return "ok"

    def to_json(self, now: float, stale_after_s: float) -> dict[str, Any]:
        alert = self.worst_alert
        return {
            "device": self.device,
            "site": self.site,
            "status": self.status(now, stale_after_s),
            "last_seen": self.last_seen,
            "last_seen_age_seconds": None if self.last_seen is None else now - self.last_seen,
            "up": self.up,
            "health_score": self.health_score,
            "worst_alert": None
            if alert is None
            else {
                "alertname": alert.name,
                "severity": alert.severity,
                "summary": alert.summary,
                "since": alert.since,
            },
            "active_alerts": self.active_alerts,
            "cpu_ratio": self.cpu_ratio,
            "memory_ratio": self.memory_ratio,
            "disk_ratio": self.disk_ratio,
            "url": self.url,
        }


@dataclass
class _Seen:
    last_seen: float | None = None
    site: str = ""
    instance: str = ""
    labels_ts: float = field(default=float("-inf"))  # when site was last taken
    instance_ts: float = field(default=float("-inf"))  # when instance was last taken


class FleetView:
    """Builds the rows from a PromQL engine and, when given, an Alertmanager."""

    def __init__(
        self,
        prom: PromClient,
        options: FleetOptions,
        alertmanager: AlertmanagerClient | None = None,
    ) -> None:
        self.prom = prom
        self.options = options
        self.alertmanager = alertmanager

    def queries(self, site_filter: str | None = None) -> dict[str, str]:
        """The PromQL this view asks, by purpose (shown in docs/fleet.md); ``site_filter``:
        only the devices of that site."""
        dev, site = self.options.device_label, self.options.site_label
        has_dev = f'{dev}!=""'
        if site_filter is not None:
            has_dev += f", {site}={json.dumps(site_filter)}"

        # timestamp() drops the metric name: each term gets its own label so that the
        # union keeps them apart; label_replace leaves the values (the timestamps) alone.
        def tagged(expr: str, tag: str) -> str:
            return f'label_replace({expr}, "seen_by", "{tag}", "", "")'

        terms = [tagged(f"timestamp({name}{{{has_dev}}})", name) for name in SEEN_METRICS]
        agent_up = f"up{{job={json.dumps(self.options.agent_job)}, {has_dev}}}"
        terms.append(tagged(f"timestamp({agent_up}) and {agent_up} == 1", "up"))
        seen = " or ".join(terms)
        by = f"{dev}, {site}, instance, job"  # job: the instance is taken from the agent's
        window = f"{self.options.window}:{LOOKBACK}"
        return {
            "seen": f"max by ({by}) ({seen})",
            "seen_window": f"max by ({by}) (max_over_time(({seen})[{window}]))",
            "up": f"min by ({dev}) ({agent_up})",
            "cpu": f'max by ({dev}) (system_cpu_usage_ratio{{cpu="total", {has_dev}}})',
            "memory": f"max by ({dev}) (system_memory_usage_ratio{{{has_dev}}})",
            "disk": f"max by ({dev}) (system_filesystem_usage_ratio{{{has_dev}}})",
            # `or` keeps the approximation only for devices without the agent's own score
            "health": f"max by ({dev}) ({SCORE_METRIC}{{{has_dev}}}) or "
            f"(100 - 50 * avg by ({dev}) (edgewatch_check_status{{{has_dev}}} < 3))",
            "alerts": f'ALERTS{{alertstate="firing", {has_dev}}}',
        }

    async def rows(self, site_filter: str | None = None) -> list[DeviceRow]:
        """Every device seen within the window (of ``site_filter`` only, when given)."""
        queries = self.queries(site_filter)
        if self.alertmanager is not None:
            del queries["alerts"]
        names = list(queries)
        results = await asyncio.gather(*(self.prom.query(queries[n]) for n in names))
        got = dict(zip(names, results, strict=True))
        if self.alertmanager is not None:
            matchers = [f'{self.options.device_label}=~".+"']
            if site_filter is not None:
                matchers.append(f"{self.options.site_label}={json.dumps(site_filter)}")
            am_alerts = await self.alertmanager.alerts(matchers)
            alerts = _alerts_by_device(am_alerts, self.options.device_label)
        else:
            alerts = _alerts_by_device(
                (ActiveAlert(s.labels, {}, "", "active") for s in got["alerts"]),
                self.options.device_label,
            )
        seen = self._seen(got["seen"], got["seen_window"])
        dev = self.options.device_label
        up = {d: v >= 1 for d, v in _by_device(got["up"], dev).items()}
        cpu = _by_device(got["cpu"], dev)
        memory = _by_device(got["memory"], dev)
        disk = _by_device(got["disk"], dev)
        health = _by_device(got["health"], dev)
        rows = []
        for device in set(seen) | set(up):
            s = seen.get(device, _Seen())
            device_alerts = alerts.get(device, [])
            rows.append(
                DeviceRow(
                    device=device,
                    site=s.site,
                    last_seen=s.last_seen,
                    up=up.get(device),
                    health_score=_round(health.get(device), 1),
                    worst_alert=_worst(device_alerts),
                    active_alerts=len(device_alerts),
                    cpu_ratio=_round(cpu.get(device), 4),
                    memory_ratio=_round(memory.get(device), 4),
                    disk_ratio=_round(disk.get(device), 4),
                    url=self._url(device, s.site, s.instance),
                )
            )
        return rows

    def _seen(self, *results: Sequence[VectorSample]) -> dict[str, _Seen]:
        dev, site = self.options.device_label, self.options.site_label
        out: dict[str, _Seen] = {}
        for result in results:
            for sample in result:
                device = sample.labels.get(dev, "")
                if not device:
                    continue
                s = out.setdefault(device, _Seen())
                if s.last_seen is None or sample.value > s.last_seen:
                    s.last_seen = sample.value
                # The labels of the newest sample win (a device moved to another site).
                if sample.value > s.labels_ts:
                    s.labels_ts = sample.value
                    s.site = sample.labels.get(site, "")
                # The link: the agent's scrape address, never a local app's.
                if sample.labels.get("job") == self.options.agent_job and (
                    sample.value > s.instance_ts
                ):
                    s.instance_ts = sample.value
                    s.instance = sample.labels.get("instance", "")
        return out

    def _url(self, device: str, site: str, instance: str) -> str | None:
        template = self.options.device_url
        if template is None:
            if not instance:
                return None
            template = "http://{instance}/"
        values = {"device": device, "site": site, "instance": instance}
        url = template.format_map({k: quote(v, safe=":[]") for k, v in values.items()})
        return url if urlsplit(url).scheme in ("http", "https") else None


def sort_rows(rows: Iterable[DeviceRow], now: float, stale_after_s: float) -> list[DeviceRow]:
    """Worst status first (STATUS_ORDER), then by device name."""
    return sorted(rows, key=lambda r: (STATUS_ORDER.index(r.status(now, stale_after_s)), r.device))


def _by_device(result: Sequence[VectorSample], device_label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for sample in result:
        device = sample.labels.get(device_label, "")
        if device:
            out[device] = max(sample.value, out.get(device, sample.value))
    return out


def _alerts_by_device(
    alerts: Iterable[ActiveAlert], device_label: str
) -> dict[str, list[ActiveAlert]]:
    out: dict[str, list[ActiveAlert]] = {}
    for alert in alerts:
        device = alert.labels.get(device_label, "")
        if device:
            out.setdefault(device, []).append(alert)
    return out


def _worst(alerts: Sequence[ActiveAlert]) -> WorstAlert | None:
    if not alerts:
        return None

    def key(a: ActiveAlert) -> tuple[int, str, str]:
        rank = SEVERITY_RANK.get(a.labels.get("severity", ""), 0)
        # Highest rank first; then the oldest (RFC 3339 in UTC sorts as text), then by name.
        return (-rank, a.starts_at or "~", a.labels.get("alertname", ""))

    worst = min(alerts, key=key)
    return WorstAlert(
        name=worst.labels.get("alertname", ""),
        severity=worst.labels.get("severity", ""),
        summary=_summary(worst.annotations),
        since=worst.starts_at,
    )


def _summary(annotations: Mapping[str, str]) -> str:
    return annotations.get("summary") or annotations.get("description") or ""


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
