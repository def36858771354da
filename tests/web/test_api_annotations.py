"""Chart annotations and thresholds over a real store (boot-time, agent CPU-time and
agent start-time series with a reboot and restarts in them) and a real alerting engine whose alert
history holds fired and resolved alerts; the whole app, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alerts_helpers import Clock, alerting_config, evaluate, put_temps, start_alerting

from edgewatch.alerting.service import AlertingService
from edgewatch.config import Config
from edgewatch.live import LiveHub
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext

pytestmark = pytest.mark.anyio

T0_S = 1_767_225_600  # 2026-01-01T00:00:00Z
T0_MS = T0_S * 1000
HOUR_MS = 3_600_000
BOOT_1_S = T0_S - 5_000  # booted before the data begins
BOOT_2_S = T0_S + 3_630  # the reboot, 1 h 30 s in
RESTART_MS = T0_MS + 2 * HOUR_MS  # the agent alone restarts, 2 h in
RULES = """
groups:
  - name: device
    interval: 15s
    rules:
      - alert: HotSensor
        expr: node_temp > 50
        labels: {severity: critical}
      - alert: WarmSensor
        expr: node_temp > 40
        for: 5m
        labels: {severity: warning}
      - record: node_temp:doubled
        expr: node_temp > 1000
  - name: extra
    rules:
      - alert: DiskAlmostFull
        expr: disk_usage_ratio > 0.85 unless disk_readonly == 1
        severities:
          - {severity: warning, expr: disk_usage_ratio > 0.85 unless disk_readonly == 1}
          - {severity: critical, expr: 0.95 < (disk_usage_ratio)}
      - alert: DiskFillingUp
        expr: predict_linear(disk_free_bytes[6h], 86400) < 0 and disk_usage_ratio > 0.5
      - alert: CpuBusy
        expr: avg_over_time(cpu_ratio{cpu="total"}[5m]) >= 0.9 or cpu_ratio > bool 0.99
        labels: {severity: info}
"""


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock(T0_S)
        options = StoreOptions(timestamp_tolerance=0.0, raw_retention_s=400 * 86_400)
        self.store = Store.open(tmp_path / "data", options, clock=self.clock)
        config = Config()
        self.ctx = AppContext(
            config=config,
            reader=self.store,
            engine=Engine(self.store, config.query),
            hub=LiveHub(),
            data_dir=tmp_path / "data",
            store=self.store,
        )
        self.service: AlertingService | None = None

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
        self.store.close()


def write_boot_and_agent_series(store: Store) -> None:
    """3 h, a sample a minute: the boot time (with the kernel's jitter) and the agent's
    CPU time, which starts again after the reboot and after the agent's restart."""
    cpu = 100.0
    for i in range(181):
        ts = T0_MS + i * 60_000
        booted = ts >= BOOT_2_S * 1000
        boot = (BOOT_2_S if booted else BOOT_1_S) + (0.4 if i % 2 else 0.0)
        if ts == T0_MS + 61 * 60_000 or ts == RESTART_MS:  # first sample of a new process
            cpu = 0.7
        cpu += 0.6
        store.append(
            ts,
            [
                Sample(SeriesKey.of("node_boot_time_seconds"), boot),
                Sample(SeriesKey.of("edgewatch_process_cpu_seconds_total"), cpu),
            ],
        )
    assert store.commit()


async def temps_at(site: Site, service: AlertingService, at_ms: int, temp: float) -> None:
    site.clock.now_s = at_ms / 1000
    put_temps(site.store, at_ms, {"cpu": temp})
    assert site.store.commit()
    await evaluate(service)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    try:
        yield site
    finally:
        site.close()


@pytest.fixture
async def api(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(site.ctx, loopback=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8700") as c:
        yield c


async def alerting(site: Site) -> AlertingService:
    """HotSensor (> 50, critical) fires at 10 min, resolves at 20 min, fires again at
    2.5 h and is still firing (WarmSensor, ``for: 5m``, only pends)."""
    config = alerting_config()
    site.service = start_alerting(
        site.ctx, site.store, clock=site.clock, config=config, rules=RULES
    )
    for minute, temp in [(0, 30), (10, 60), (20, 30), (150, 70), (152, 71)]:
        await temps_at(site, site.service, T0_MS + minute * 60_000, temp)
    return site.service


async def fetch_annotations(
    api: httpx.AsyncClient, start_ms: int, end_ms: int
) -> list[dict[str, Any]]:
    r = await api.get("/api/annotations", params={"start": start_ms / 1000, "end": end_ms / 1000})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["start_ms"], body["end_ms"], body["truncated"]) == (start_ms, end_ms, False)
    found: list[dict[str, Any]] = body["annotations"]
    return found


async def test_boots_restarts_and_alert_periods_of_a_window(
    site: Site, api: httpx.AsyncClient
) -> None:
    write_boot_and_agent_series(site.store)
    await alerting(site)
    found = await fetch_annotations(api, T0_MS, T0_MS + 3 * HOUR_MS)
    shown = [(a["kind"], a["start_ms"], a["end_ms"], a["title"], a["severity"]) for a in found]
    assert shown == [
        ("alert", T0_MS + 600_000, T0_MS + 1_200_000, "HotSensor", "critical"),
        ("boot", BOOT_2_S * 1000, BOOT_2_S * 1000, "boot", None),
        ("restart", RESTART_MS, RESTART_MS, "agent restart", None),
        ("alert", T0_MS + 150 * 60_000, None, "HotSensor", "critical"),
    ]
    assert found[0]["labels"] == {"alertname": "HotSensor", "sensor": "cpu", "severity": "critical"}


async def test_a_period_begun_before_the_window_starts_with_it(
    site: Site, api: httpx.AsyncClient
) -> None:
    write_boot_and_agent_series(site.store)
    await alerting(site)
    start, end = T0_MS + 15 * 60_000, T0_MS + 40 * 60_000
    assert [
        (a["kind"], a["start_ms"], a["end_ms"]) for a in await fetch_annotations(api, start, end)
    ] == [("alert", start, T0_MS + 1_200_000)]
    # Firing throughout a window with no change in it: from the engine's alerts.
    start, end = T0_MS + 155 * 60_000, T0_MS + 158 * 60_000
    assert [
        (a["kind"], a["start_ms"], a["end_ms"]) for a in await fetch_annotations(api, start, end)
    ] == [("alert", T0_MS + 150 * 60_000, None)]
    # Before the reboot: no boot, no restart, no alert.
    assert await fetch_annotations(api, T0_MS + 30 * 60_000, T0_MS + 60 * 60_000) == []


async def test_without_alerting_boots_and_restarts_still_show(
    site: Site, api: httpx.AsyncClient
) -> None:
    write_boot_and_agent_series(site.store)
    kinds = [a["kind"] for a in await fetch_annotations(api, T0_MS, T0_MS + 3 * HOUR_MS)]
    assert kinds == ["boot", "restart"]
    r = await api.get("/api/thresholds")
    assert r.json() == {"thresholds": []}


async def test_a_long_window_is_read_at_a_step_and_still_finds_them(
    site: Site, api: httpx.AsyncClient
) -> None:
    write_boot_and_agent_series(site.store)
    found = await fetch_annotations(api, T0_MS - 5 * 86_400_000, T0_MS + 3 * HOUR_MS)
    kinds = [(a["kind"], a["start_ms"]) for a in found]
    # the boot time is the value (to the kernel's jitter); the first boot is in this window
    assert [k for k, _ in kinds[:2]] == ["boot", "boot"]
    assert abs(kinds[0][1] - BOOT_1_S * 1000) < 1000
    assert abs(kinds[1][1] - BOOT_2_S * 1000) < 1000
    assert [k for k, _ in kinds[2:]] == ["restart"]
    assert abs(kinds[2][1] - RESTART_MS) <= 5 * 60_000  # within one step


def write_upgraded_agent_series(store: Store) -> tuple[int, int]:
    """3 h, a sample a minute: an agent without the start-time series until the reboot
    (it restarts alone at 30 min: its CPU time falls back), then one that reports
    ``edgewatch_process_start_time_seconds``: started 25 s after the boot, and again
    5 s before 2 h (its first sample a minute later). The two restarts' times."""
    cpu_restart_ms = T0_MS + 30 * 60_000
    start_restart_ms = RESTART_MS - 5_000
    cpu = 100.0
    for i in range(181):
        ts = T0_MS + i * 60_000
        booted = ts >= BOOT_2_S * 1000
        samples = [Sample(SeriesKey.of("node_boot_time_seconds"), BOOT_2_S if booted else BOOT_1_S)]
        if ts in (cpu_restart_ms, T0_MS + 61 * 60_000, RESTART_MS):
            cpu = 0.7
        cpu += 0.6
        samples.append(Sample(SeriesKey.of("edgewatch_process_cpu_seconds_total"), cpu))
        if booted:
            started = start_restart_ms if ts >= RESTART_MS else BOOT_2_S * 1000 + 25_000
            start = SeriesKey.of("edgewatch_process_start_time_seconds")
            samples.append(Sample(start, started / 1000))
        store.append(ts, samples)
    assert store.commit()
    return cpu_restart_ms, start_restart_ms


async def test_restarts_come_from_the_start_time_and_the_cpu_time_before_it(
    site: Site, api: httpx.AsyncClient
) -> None:
    cpu_restart_ms, start_restart_ms = write_upgraded_agent_series(site.store)
    found = await fetch_annotations(api, T0_MS, T0_MS + 3 * HOUR_MS)
    # the start after the boot is that boot; the start time gives the exact moment (the
    # CPU time only shows it at the next sample, a minute later, and is not used there)
    assert [(a["kind"], a["start_ms"]) for a in found] == [
        ("restart", cpu_restart_ms),
        ("boot", BOOT_2_S * 1000),
        ("restart", start_restart_ms),
    ]
    # a window after the reboot: the start time alone (the CPU time falls back too)
    later = await fetch_annotations(api, T0_MS + 90 * 60_000, T0_MS + 3 * HOUR_MS)
    assert [(a["kind"], a["start_ms"]) for a in later] == [("restart", start_restart_ms)]
    # read at a step: the start time is still exact, the CPU time within one step
    long = await fetch_annotations(api, T0_MS - 5 * 86_400_000, T0_MS + 3 * HOUR_MS)
    restarts = [a["start_ms"] for a in long if a["kind"] == "restart"]
    assert len(restarts) == 2
    assert abs(restarts[0] - cpu_restart_ms) <= 5 * 60_000
    assert restarts[1] == start_restart_ms


async def test_bad_windows_are_refused(site: Site, api: httpx.AsyncClient) -> None:
    for params, word in [
        ({"start": "yesterday"}, '"start"'),
        ({"start": "200", "end": "100"}, '"end"'),
        ({"start": "0", "end": str(100 * 86_400)}, "at most 90 days"),
    ]:
        r = await api.get("/api/annotations", params=params)
        assert r.status_code == 400, r.text
        assert word in r.json()["error"]


async def test_thresholds_of_the_loaded_rules(site: Site, api: httpx.AsyncClient) -> None:
    await alerting(site)

    async def thresholds(*metrics: str) -> list[tuple[Any, ...]]:
        r = await api.get("/api/thresholds", params=[("metric", m) for m in metrics])
        assert r.status_code == 200, r.text
        return [
            (t["alert"], t["metric"], t["op"], t["value"], t["severity"], t["matchers"])
            for t in r.json()["thresholds"]
        ]

    assert await thresholds("node_temp") == [
        ("HotSensor", "node_temp", ">", 50.0, "critical", []),
        ("WarmSensor", "node_temp", ">", 40.0, "warning", []),
    ]
    # severities give one threshold each; `unless` keeps its left side; N < x is x > N;
    # the guard of an `and` with a non-simple side is not a threshold.
    assert await thresholds("disk_usage_ratio", "disk_readonly") == [
        ("DiskAlmostFull", "disk_usage_ratio", ">", 0.85, "warning", []),
        ("DiskAlmostFull", "disk_usage_ratio", ">", 0.95, "critical", []),
    ]
    # *_over_time keeps the metric's unit; a `bool` comparison is no threshold.
    assert await thresholds("cpu_ratio") == [
        ("CpuBusy", "cpu_ratio", ">=", 0.9, "info", ['cpu="total"'])
    ]
    assert await thresholds("nothing_here") == []
    everything = await thresholds()
    assert len(everything) == 5
