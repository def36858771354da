"""``edgewatch fleet`` against a real Prometheus and a real VictoriaMetrics, each
scraping two real agents (a ``device`` and ``site`` label per target), and a real
Alertmanager holding an alert for one of them."""

from __future__ import annotations

import datetime as dt
import html
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fleet_peers import (
    DEVICES,
    Device,
    fleet_json,
    run_fleet,
    scrape_config,
    start_agent,
    start_alertmanager,
    start_fleet_server,
    start_prometheus,
    start_victoriametrics,
    wait_scraped,
)

from agent_process import AgentProcess

pytestmark = pytest.mark.slow

ENGINES = ("prometheus", "victoria-metrics")
EVIL_SUMMARY = "camera <img src=x onerror=alert(1)> gone"


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[Device, str]]]:
    """Two running agents: (device, agent URL)."""
    started: list[AgentProcess] = []
    out: list[tuple[Device, str]] = []
    try:
        for device in DEVICES:
            agent, url = start_agent(tmp_path_factory.mktemp("agent"), device)
            started.append(agent)
            out.append((device, url))
        yield out
    finally:
        for agent in started:
            agent.stop()


@pytest.fixture(scope="module", params=ENGINES)
def engine(
    request: pytest.FixtureRequest,
    agents: list[tuple[Device, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The engine's base URL, once it holds both devices' series."""
    tmp = tmp_path_factory.mktemp(request.param)
    start = start_prometheus if request.param == "prometheus" else start_victoriametrics
    peer, url = start(tmp, scrape_config(agents))
    try:
        wait_scraped(url, DEVICES)
        yield url
    finally:
        peer.stop()


def _by_device(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["device"]: d for d in body["devices"]}


def test_fleet_once_lists_both_devices_with_figures_and_links(
    engine: str, agents: list[tuple[Device, str]]
) -> None:
    before = time.time()
    rows = _by_device(fleet_json("--prometheus", engine))

    assert set(rows) == {d.name for d in DEVICES}
    for device, agent_url in agents:
        row = rows[device.name]
        assert row["site"] == device.site
        # Scraped within the last minute (the agents run all along).
        assert before - 60 < row["last_seen"] <= time.time() + 1
        assert row["up"] is True
        assert row["status"] == "ok"
        for figure in ("cpu_ratio", "memory_ratio", "disk_ratio"):
            assert 0 <= row[figure] <= 1, (figure, row)
        assert row["memory_ratio"] > 0 and row["disk_ratio"] > 0
        # One check each: passing scores 100, failing 0.
        assert row["health_score"] == (0 if device.fail_check else 100)
        assert row["worst_alert"] is None and row["active_alerts"] == 0
        # No template: the scraped address, which is the agent's own dashboard.
        assert row["url"] == agent_url + "/"


def test_fleet_device_url_template_is_filled_and_quoted(engine: str) -> None:
    body = fleet_json("--prometheus", engine, "--device-url", "https://{device}.vpn:8700/{site}")
    rows = _by_device(body)
    assert rows["shop-1"]["url"] == "https://shop-1.vpn:8700/north"
    assert rows['kiosk-<b>&"2"']["url"] == "https://kiosk-%3Cb%3E%26%222%22.vpn:8700/south"


def test_fleet_once_narrows_to_one_site(engine: str) -> None:
    body = fleet_json("--prometheus", engine, "--site", "north")
    assert [d["device"] for d in body["devices"]] == ["shop-1"]


def test_fleet_table_output_has_one_line_per_device(engine: str) -> None:
    done = run_fleet("--prometheus", engine, "--once")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["DEVICE", "SITE", "STATUS"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(d.name for d in DEVICES)


def test_fleet_page_lists_both_devices_html_escaped(engine: str, tmp_path: Path) -> None:
    server, url = start_fleet_server(tmp_path, "--prometheus", engine)
    try:
        page = httpx.get(url + "/", timeout=30)
        assert page.status_code == 200, page.text
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        text = page.text
        assert "<script" not in text
        assert ">shop-1</a>" in text
        escaped = html.escape('kiosk-<b>&"2"')
        assert escaped in text.replace("&#34;", "&quot;")
        assert "<b>" not in text
        css = httpx.get(url + "/fleet.css", timeout=10)
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        api = httpx.get(url + "/api/fleet", timeout=30)
        assert set(_by_device(api.json())) == {d.name for d in DEVICES}
        south = httpx.get(url + "/api/fleet", params={"site": "south"}, timeout=30).json()
        assert set(_by_device(south)) == {'kiosk-<b>&"2"'}
        north = httpx.get(url + "/", params={"site": "north"}, timeout=30).text
        assert ">shop-1</a>" in north and "kiosk" not in north
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=20) == 0, server.log()
    finally:
        server.stop()


def test_worst_alert_comes_from_alertmanager_for_its_device_only(
    agents: list[tuple[Device, str]], tmp_path: Path
) -> None:
    prom_peer, prom_url = start_prometheus(tmp_path, scrape_config(agents))
    am_peer, am_url = start_alertmanager(tmp_path)
    try:
        wait_scraped(prom_url, DEVICES)
        now = dt.datetime.now(dt.UTC)
        alerts = [
            _alert("DiskFilling", "warning", "shop-1", now - dt.timedelta(minutes=30)),
            _alert("VisionDown", "critical", "shop-1", now - dt.timedelta(minutes=5)),
            _alert("SomewhereElse", "critical", None, now),
        ]
        posted = httpx.post(am_url + "/api/v2/alerts", json=alerts, timeout=10)
        assert posted.status_code == 200, posted.text

        body = fleet_json("--prometheus", prom_url, "--alertmanager", am_url)

        rows = _by_device(body)
        worst = rows["shop-1"]["worst_alert"]
        assert worst["alertname"] == "VisionDown" and worst["severity"] == "critical"
        assert worst["summary"] == EVIL_SUMMARY
        assert rows["shop-1"]["active_alerts"] == 2
        assert rows["shop-1"]["status"] == "critical"
        other = rows['kiosk-<b>&"2"']
        assert other["worst_alert"] is None and other["active_alerts"] == 0
        assert other["status"] == "ok"
        # Worst first.
        assert body["devices"][0]["device"] == "shop-1"

        server, url = start_fleet_server(
            tmp_path, "--prometheus", prom_url, "--alertmanager", am_url
        )
        try:
            text = httpx.get(url + "/", timeout=30).text
        finally:
            server.stop()
        assert "VisionDown" in text and "DiskFilling" not in text
        assert "+1 more" in text
        assert html.escape(EVIL_SUMMARY, quote=False) in text
        assert "<img" not in text
    finally:
        am_peer.stop()
        prom_peer.stop()


def test_an_engine_that_cannot_answer_is_one_line_and_exit_2(engine: str) -> None:
    done = run_fleet("--prometheus", engine + "/nothing-here", "--once")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    # Prometheus answers 404, VictoriaMetrics 400 ("unsupported path").
    assert f"PromQL engine at {engine}/nothing-here: HTTP 4" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _alert(name: str, severity: str, device: str | None, since: dt.datetime) -> dict[str, Any]:
    labels = {"alertname": name, "severity": severity}
    if device is not None:
        labels["device"] = device
    return {
        "labels": labels,
        "annotations": {"summary": f"{name} on {device}" if name != "VisionDown" else EVIL_SUMMARY},
        "startsAt": since.isoformat().replace("+00:00", "Z"),
        "endsAt": (since + dt.timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
    }
