"""The fleet view reads ``up`` and ``instance`` from the job that scrapes the agents only.

An agent's own scrape collector writes ``up`` for the local apps it scrapes (the
vision app), and remote_write adds the device label to those series: the device
must not show "down" because its app is, nor link to the app's address. Against a
real VictoriaMetrics, fed through its import API.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fleet_peers import get_json, start_victoriametrics

from agent_process import wait_for
from edgewatch.fleet.engine import PromClient
from edgewatch.fleet.view import DeviceRow, FleetOptions, FleetView


def exposition(now_ms: int) -> str:
    """rvm-1: scraped, its vision app down; rvm-2: scraped, its vision app up and scraped
    more recently; rvm-3: remote_write only (no scrape `up`), its vision app down."""
    agent = 'job="edgewatch",instance="10.0.0.{n}:8700",device="rvm-{n}",site="a"'
    app = 'job="vision",instance="127.0.0.1:9100",device="rvm-{n}",site="{site}"'
    lines = [
        f"up{{{agent.format(n=1)}}} 1 {now_ms - 5_000}",
        f"edgewatch_process_cpu_seconds_total{{{agent.format(n=1)}}} 3 {now_ms - 5_000}",
        f"up{{{app.format(n=1, site='a')}}} 0 {now_ms - 3_000}",
        f"up{{{agent.format(n=2)}}} 1 {now_ms - 5_000}",
        f"edgewatch_process_cpu_seconds_total{{{agent.format(n=2)}}} 3 {now_ms - 5_000}",
        f"up{{{app.format(n=2, site='a')}}} 1 {now_ms - 2_000}",
        f'edgewatch_samples_ingested_total{{device="rvm-3",site="b"}} 100 {now_ms - 5_000}',
        f"up{{{app.format(n=3, site='b')}}} 0 {now_ms - 4_000}",
    ]
    return "\n".join(lines) + "\n"


def test_queries_name_the_agent_job() -> None:
    queries = FleetView(None, FleetOptions(agent_job="rvm-agents")).queries()  # type: ignore[arg-type]
    assert queries["up"] == 'min by (device) (up{job="rvm-agents", device!=""})'
    assert 'timestamp(up{job="rvm-agents", device!=""})' in queries["seen"]
    assert "up{device" not in queries["seen"] + queries["seen_window"]
    with pytest.raises(ValueError, match="agent job must not be empty"):
        FleetOptions(agent_job="")


@pytest.mark.slow
def test_a_local_apps_up_neither_downs_the_device_nor_gives_its_link(tmp_path: Path) -> None:
    peer, url = start_victoriametrics(tmp_path, '{"scrape_configs": []}')
    try:
        now_ms = round(time.time() * 1000)
        r = httpx.post(url + "/api/v1/import/prometheus", content=exposition(now_ms), timeout=10)
        assert r.status_code == 204, r.text
        httpx.get(url + "/internal/force_flush", timeout=10).raise_for_status()

        def all_there() -> bool:
            body = get_json(url + "/api/v1/query", query='count by (device) ({device=~"rvm-.*"})')
            return len(body["data"]["result"]) == 3

        wait_for(all_there, 30, "the imported series to be searchable")

        async def rows() -> dict[str, DeviceRow]:
            async with PromClient(url, timeout_s=10) as prom:
                found = await FleetView(prom, FleetOptions()).rows()
            return {row.device: row for row in found}

        got = asyncio.run(rows())
    finally:
        peer.stop()
    now = time.time()
    assert set(got) == {"rvm-1", "rvm-2", "rvm-3"}
    assert got["rvm-1"].up is True and got["rvm-1"].url == "http://10.0.0.1:8700/"
    assert got["rvm-2"].up is True and got["rvm-2"].url == "http://10.0.0.2:8700/"
    assert got["rvm-3"].up is None and got["rvm-3"].url is None  # remote_write only
    assert got["rvm-3"].last_seen == pytest.approx(now_ms / 1000 - 5, abs=0.01)
    assert got["rvm-3"].site == "b"
    assert {d: row.status(now, 120) for d, row in got.items()} == dict.fromkeys(got, "ok")
