"""The alerts, history, notifications and rules routes over a real AlertingService
(rules evaluated by the real query engine over a real store, the dispatcher, the
outbox, silences and acks in the store file), through the whole app with its auth."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alerts_helpers import Clock, alerting_config, evaluate, put_temps, start_alerting
from fastapi.routing import APIRoute

from edgewatch.alerting.service import AlertingService
from edgewatch.config import Config
from edgewatch.live import LiveHub
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions
from edgewatch.timespec import format_time
from edgewatch.web import api_alerts, api_silences
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext

pytestmark = pytest.mark.anyio

T0_S = 1_767_225_600  # 2026-01-01T00:00:00Z
T0_MS = T0_S * 1000
DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
NOT_RUNNING = {"error": "alerting is not running", "detail": None}


def closed_port() -> int:
    """A loopback port nothing listens on (a webhook there is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def routed_config() -> Config:
    """A webhook receiver (with secrets in its URL and headers) taking every alert at
    once, and critical alerts inhibiting the warnings of the same sensor."""
    hook = {
        "url": f"http://bob:s3cret@127.0.0.1:{closed_port()}/hook",
        "headers": {"Authorization": "Bearer topsecret"},
    }
    return alerting_config(
        receivers=[{"name": "hook", "webhook": [hook]}],
        route={"receiver": "hook", "group_by": ["alertname"], "group_wait": "0s"},
        inhibit_rules=[
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["sensor"],
            }
        ],
    )


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

    def start(self, config: Config) -> AlertingService:
        self.service = start_alerting(self.ctx, self.store, clock=self.clock, config=config)
        return self.service

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
        self.store.close()


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


async def firing(site: Site, config: Config | None = None) -> AlertingService:
    """cpu at 60 (HotSensor fires, WarmSensor pends), gpu at 45 (WarmSensor pends)."""
    service = site.start(config or routed_config())
    put_temps(site.store, T0_MS, {"cpu": 60, "gpu": 45})
    await evaluate(service)
    return service


def by_rule(alerts: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["rule"], a["labels"]["sensor"]): a for a in alerts}


async def test_active_alerts_with_state_value_since_and_muting(
    site: Site, api: httpx.AsyncClient
) -> None:
    await firing(site)
    r = await api.get("/api/alerts")
    assert r.status_code == 200, r.text
    alerts = r.json()
    # Firing first, then pending; the failing rule has no alert.
    assert [(a["rule"], a["state"]) for a in alerts] == [
        ("HotSensor", "firing"),
        ("WarmSensor", "pending"),
        ("WarmSensor", "pending"),
    ]
    hot = alerts[0]
    assert hot["labels"] == {"alertname": "HotSensor", "sensor": "cpu", "severity": "critical"}
    assert hot["annotations"] == {"summary": "cpu at 60"}
    assert re.fullmatch("[0-9a-f]{16}", hot["fingerprint"])
    assert (hot["severity"], hot["value"], hot["flapping"]) == ("critical", 60, False)
    assert hot["since"] == hot["fired_at"] == format_time(T0_MS)
    assert hot["resolved_at"] is None and hot["group"] == "rules.yml:device"
    assert (hot["silenced_by"], hot["inhibited_by"], hot["muted_by"]) == ([], [], [])
    assert (hot["acked_by"], hot["acked_at"], hot["ack_comment"]) == (None, None, None)
    warm = by_rule(alerts)
    assert warm["WarmSensor", "gpu"]["fired_at"] is None
    assert warm["WarmSensor", "gpu"]["value"] == 45
    # The critical alert on cpu inhibits the warning on cpu, not the one on gpu.
    assert warm["WarmSensor", "cpu"]["inhibited_by"] == [hot["fingerprint"]]
    assert warm["WarmSensor", "gpu"]["inhibited_by"] == []


async def test_filters_by_state_severity_and_matchers(site: Site, api: httpx.AsyncClient) -> None:
    await firing(site)

    async def names(params: Any) -> list[tuple[str, str]]:
        r = await api.get("/api/alerts", params=params)
        assert r.status_code == 200, r.text
        return sorted((a["rule"], a["labels"]["sensor"]) for a in r.json())

    assert await names({"state": "firing"}) == [("HotSensor", "cpu")]
    assert await names([("state", "firing"), ("state", "pending")]) != []
    assert len(await names([("state", "firing"), ("state", "pending")])) == 3
    assert await names({"state": "nodata"}) == []
    assert await names({"severity": "warning"}) == [("WarmSensor", "cpu"), ("WarmSensor", "gpu")]
    assert await names({"matcher": 'sensor="gpu"'}) == [("WarmSensor", "gpu")]
    assert await names([("matcher", 'alertname=~"Warm.*"'), ("matcher", "sensor!=gpu")]) == [
        ("WarmSensor", "cpu")
    ]
    assert await names({"matcher": '{alertname="HotSensor", sensor=~"c.u"}'}) == [
        ("HotSensor", "cpu")
    ]
    r = await api.get("/api/alerts", params={"matcher": "sensor=~("})
    assert r.status_code == 400
    assert r.json()["error"].startswith('invalid parameter "matcher"')
    assert (await api.get("/api/alerts", params={"state": "burning"})).status_code == 422


async def test_a_silence_and_an_ack_show_on_the_alert(site: Site, api: httpx.AsyncClient) -> None:
    await firing(site)
    r = await api.post(
        "/api/silences",
        json={"matchers": ['sensor="cpu"'], "duration": "1h", "comment": "fan on order"},
    )
    assert r.status_code == 200, r.text
    silence = r.json()["id"]
    hot = (await api.get("/api/alerts", params={"state": "firing"})).json()[0]
    r = await api.post(f"/api/alerts/{hot['fingerprint']}/ack", json={"comment": "on it"})
    assert r.status_code == 200, r.text
    alerts = by_rule((await api.get("/api/alerts")).json())
    hot = alerts["HotSensor", "cpu"]
    assert hot["silenced_by"] == [silence]
    assert alerts["WarmSensor", "cpu"]["silenced_by"] == [silence]
    assert alerts["WarmSensor", "gpu"]["silenced_by"] == []
    assert (hot["acked_by"], hot["ack_comment"]) == ("anonymous", "on it")
    assert hot["acked_at"] == format_time(T0_MS)
    assert alerts["WarmSensor", "cpu"]["acked_by"] is None
    # Expired, the silence no longer holds.
    assert (await api.delete(f"/api/silences/{silence}")).status_code == 200
    hot = by_rule((await api.get("/api/alerts")).json())["HotSensor", "cpu"]
    assert hot["silenced_by"] == []


async def test_a_maintenance_window_mutes_the_alerts(site: Site, api: httpx.AsyncClient) -> None:
    window = {"name": "bin", "start": "2025-12-31T23:00:00Z", "end": "2026-01-01T01:00:00Z"}
    await firing(site, alerting_config(maintenance=[window]))
    alerts = (await api.get("/api/alerts")).json()
    assert alerts and all(a["muted_by"] == ["bin"] for a in alerts)


async def test_history_after_a_resolve(site: Site, api: httpx.AsyncClient) -> None:
    service = await firing(site)
    hot = (await api.get("/api/alerts", params={"state": "firing"})).json()[0]
    assert (await api.post(f"/api/alerts/{hot['fingerprint']}/ack")).status_code == 200
    site.clock.now_s += 15
    put_temps(site.store, T0_MS + 15_000, {"cpu": 30, "gpu": 30})
    await evaluate(service)
    # The resolved alert is still listed (with its last value); its ack ended with it.
    (hot,) = (await api.get("/api/alerts")).json()
    assert (hot["rule"], hot["state"], hot["value"]) == ("HotSensor", "resolved", 30)
    assert hot["resolved_at"] == format_time(T0_MS + 15_000)
    assert hot["acked_by"] is None
    r = await api.get("/api/alerts/history", params={"rule": "HotSensor"})
    assert r.status_code == 200, r.text
    assert [(e["from"], e["to"], e["value"], e["time"]) for e in r.json()] == [
        ("firing", "resolved", 30, format_time(T0_MS + 15_000)),
        ("inactive", "firing", 60, format_time(T0_MS)),
    ]
    entry = r.json()[0]
    assert entry["labels"]["sensor"] == "cpu" and entry["kind"] == "state"
    assert entry["fingerprint"] == hot["fingerprint"] and entry["severity"] == "critical"
    everything = (await api.get("/api/alerts/history", params={"since": "7d"})).json()
    assert len(everything) == 6  # HotSensor 2, WarmSensor 2 x (to pending, back to inactive)
    # since/until as times: only the first evaluation's changes.
    first = {"since": str(T0_S - 1), "until": format_time(T0_MS)}
    assert len((await api.get("/api/alerts/history", params=first)).json()) == 3
    assert len((await api.get("/api/alerts/history", params={"limit": 2})).json()) == 2
    recent = (await api.get("/api/alerts/history", params={"since": "10s"})).json()
    assert {e["time"] for e in recent} == {format_time(T0_MS + 15_000)} and len(recent) == 3
    r = await api.get("/api/alerts/history", params={"since": "yesterday"})
    assert r.status_code == 400 and '"since"' in r.json()["error"]
    r = await api.get("/api/alerts/history", params={"since": "100000d"})
    assert r.status_code == 400 and "before 1970" in r.json()["error"]
    assert (await api.get("/api/alerts/history", params={"limit": 10_001})).status_code == 422


async def test_notifications_list_delivery_attempts_without_secrets(
    site: Site, api: httpx.AsyncClient
) -> None:
    service = await firing(site)
    assert await service.outbox.deliver_due() == 1  # refused: nothing listens there
    r = await api.get("/api/notifications")
    assert r.status_code == 200, r.text
    (item,) = r.json()
    assert (item["receiver"], item["kind"], item["status"]) == ("hook", "notify", "firing")
    assert item["channel"].startswith("webhook http://") and "/hook" in item["channel"]
    assert [a["alertname"] for a in item["alerts"]] == ["HotSensor"]
    assert (item["state"], item["attempts"]) == ("pending", 1)
    assert item["last_error"] and item["next_attempt"] is not None and item["done"] is None
    (attempt,) = item["attempt_log"]
    assert attempt["ok"] is False and attempt["error"] == item["last_error"]
    assert item["created"] == attempt["at"] == format_time(T0_MS)
    for secret in ("s3cret", "topsecret", "bob:"):
        assert secret not in r.text
    delivered = await api.get("/api/notifications", params={"state": "delivered"})
    assert delivered.json() == []
    assert (await api.get("/api/notifications", params={"since": "1s"})).json() != []
    assert (await api.get("/api/notifications", params={"state": "lost"})).status_code == 422


async def test_rules_report_health_last_evaluation_and_errors(
    site: Site, api: httpx.AsyncClient
) -> None:
    site.start(routed_config())
    before = (await api.get("/api/rules")).json()
    assert [r["health"] for r in before["groups"][0]["rules"]] == ["unknown"] * 4
    put_temps(site.store, T0_MS, {"cpu": 60, "gpu": 45})
    await evaluate(site.service)  # type: ignore[arg-type]
    r = await api.get("/api/rules")
    assert r.status_code == 200, r.text
    (group,) = r.json()["groups"]
    assert (group["name"], group["file"]) == ("device", "rules.yml")
    assert group["key"] == "rules.yml:device"
    assert group["interval_seconds"] == 15 and group["last_evaluation"] == format_time(T0_MS)
    rules = {rule["name"]: rule for rule in group["rules"]}
    assert list(rules) == ["HotSensor", "WarmSensor", "Broken", "node_temp:doubled"]
    assert (rules["HotSensor"]["health"], rules["HotSensor"]["alerts"]) == ("ok", 1)
    assert rules["WarmSensor"]["alerts"] == 2 and rules["WarmSensor"]["query"] == "node_temp > 40"
    assert rules["node_temp:doubled"]["kind"] == "recording"
    broken = rules["Broken"]
    assert broken["health"] == "err" and "many-to-many" in broken["last_error"]
    assert broken["last_evaluation"] == format_time(T0_MS)
    errors = (await api.get("/api/rules", params={"health": "err"})).json()
    assert [r["name"] for g in errors["groups"] for r in g["rules"]] == ["Broken"]


async def test_every_route_answers_503_while_alerting_is_not_running(
    api: httpx.AsyncClient,
) -> None:
    for path in ("/api/alerts", "/api/alerts/history", "/api/notifications", "/api/rules"):
        r = await api.get(path)
        assert (r.status_code, r.json()) == (503, NOT_RUNNING), path


def test_every_alerting_route_is_in_docs_api_md() -> None:
    headings = [line for line in DOC.read_text().splitlines() if line.startswith("### ")]
    for module in (api_alerts, api_silences):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods or ():
                found = [h for h in headings if f"{method} {route.path}`" in h]
                assert found, f"{method} {route.path} has no section in docs/api.md"
