"""``escalation`` on ``GET /api/alerts``: where an alert's escalation stands, read
from the real dispatcher's groups (a real AlertingService over a real store)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alerts_helpers import Clock, alerting_config, evaluate, put_temps, start_alerting

from edgewatch.alerting.escalation_view import due_ms
from edgewatch.config import Config
from edgewatch.config.routing import EscalationPolicy
from edgewatch.live import LiveHub
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext

pytestmark = pytest.mark.anyio

T0_S = 1_767_225_600  # 2026-01-01T00:00:00Z
T0_MS = T0_S * 1000


def _hook() -> dict[str, Any]:
    with socket.socket() as sock:  # a port nothing listens on: refused at once
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return {"url": f"http://127.0.0.1:{port}/hook"}


def config(escalation: dict[str, Any] | None) -> Config:
    route: dict[str, Any] = {"receiver": "hook", "group_by": ["alertname"], "group_wait": "0s"}
    if escalation is not None:
        route["escalation"] = escalation
    return alerting_config(
        receivers=[{"name": n, "webhook": [_hook()]} for n in ("hook", "boss", "ceo")],
        route=route,
    )


STEPS = {"steps": [{"after": "1m", "receiver": "boss"}, {"after": "5m", "receiver": "ceo"}]}


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock(T0_S)
        options = StoreOptions(timestamp_tolerance=0.0, raw_retention_s=400 * 86_400)
        self.store = Store.open(tmp_path / "data", options, clock=self.clock)
        base = Config()
        self.ctx = AppContext(
            config=base,
            reader=self.store,
            engine=Engine(self.store, base.query),
            hub=LiveHub(),
            data_dir=tmp_path / "data",
            store=self.store,
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    try:
        yield site
    finally:
        service = getattr(site.ctx, "alerting", None)
        if service is not None:
            service.close()
        site.store.close()


@pytest.fixture
async def api(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(site.ctx, loopback=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8700") as c:
        yield c


async def hot(api: httpx.AsyncClient) -> dict[str, Any]:
    r = await api.get("/api/alerts", params={"state": "firing"})
    assert r.status_code == 200, r.text
    (alert,) = [a for a in r.json() if a["rule"] == "HotSensor"]
    return dict(alert)


async def test_escalation_steps_next_receiver_and_ack(site: Site, api: httpx.AsyncClient) -> None:
    service = start_alerting(site.ctx, site.store, clock=site.clock, config=config(STEPS))
    put_temps(site.store, T0_MS, {"cpu": 60})
    await evaluate(service)
    esc = (await hot(api))["escalation"]
    assert esc["group_key"]
    assert (esc["steps_done"], esc["steps_total"], esc["state"]) == (0, 2, "running")
    assert (esc["next_receiver"], esc["next_due_ms"]) == ("boss", T0_MS + 60_000)
    # A minute later the first step is sent; the next is the CEO at 5 min.
    site.clock.now_s = T0_S + 61
    put_temps(site.store, T0_MS + 61_000, {"cpu": 60})
    await evaluate(service)
    esc = (await hot(api))["escalation"]
    assert (esc["steps_done"], esc["state"]) == (1, "running")
    assert (esc["next_receiver"], esc["next_due_ms"]) == ("ceo", T0_MS + 300_000)
    # Acknowledged, it stops (and the API says why).
    alert = await hot(api)
    r = await api.post(f"/api/alerts/{alert['fingerprint']}/ack")
    assert r.status_code == 200, r.text
    esc = (await hot(api))["escalation"]
    assert (esc["steps_done"], esc["state"]) == (1, "stopped: acknowledged")
    assert (esc["next_receiver"], esc["next_due_ms"]) == (None, None)


async def test_no_policy_no_escalation(site: Site, api: httpx.AsyncClient) -> None:
    service = start_alerting(site.ctx, site.store, clock=site.clock, config=config(None))
    put_temps(site.store, T0_MS, {"cpu": 60, "gpu": 45})
    await evaluate(service)
    r = await api.get("/api/alerts")
    assert r.status_code == 200, r.text
    assert len(r.json()) == 3  # the firing one and two pending ones
    assert all(a["escalation"] is None for a in r.json())


def test_due_times_continue_over_rounds() -> None:
    policy = EscalationPolicy.model_validate({**STEPS, "repeat": 1})
    assert [due_ms(policy, 1000, i) for i in range(4)] == [61_000, 301_000, 361_000, 601_000]
