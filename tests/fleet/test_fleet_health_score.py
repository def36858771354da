"""The fleet view's health column: the agent's own ``edgewatch_health_score`` where the
engine has it, the approximation from ``edgewatch_check_status`` where it does not (an
older agent). Against a real VictoriaMetrics, fed through its import API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fleet_peers import get_json, start_victoriametrics

from agent_process import wait_for
from edgewatch.fleet.engine import PromClient
from edgewatch.fleet.view import SCORE_METRIC, FleetOptions, FleetView
from edgewatch.health.score import SCORE_METRIC as AGENT_SCORE_METRIC

pytestmark = pytest.mark.slow


def exposition(now_ms: int) -> str:
    """``new``: an agent with two components, one weighted 3 and failing (its score 25,
    the approximation would say 50); ``old``: checks only, one pass and one warn."""
    lines = [
        f'edgewatch_health_score{{device="new",site="a"}} 25 {now_ms}',
        f'edgewatch_check_status{{device="new",site="a",check="x",component="c1"}} 0 {now_ms}',
        f'edgewatch_check_status{{device="new",site="a",check="y",component="c2"}} 2 {now_ms}',
        f'edgewatch_check_status{{device="old",site="b",check="x",component="c1"}} 0 {now_ms}',
        f'edgewatch_check_status{{device="old",site="b",check="y",component="c1"}} 1 {now_ms}',
        f'system_memory_usage_ratio{{device="old",site="b"}} 0.5 {now_ms}',
        f'system_memory_usage_ratio{{device="new",site="a"}} 0.5 {now_ms}',
    ]
    return "\n".join(lines) + "\n"


def test_the_agents_score_wins_and_the_approximation_fills_in(tmp_path: Path) -> None:
    assert SCORE_METRIC == AGENT_SCORE_METRIC
    peer, url = start_victoriametrics(tmp_path, '{"scrape_configs": []}')
    try:
        now_ms = round(time.time() * 1000) - 5_000
        r = httpx.post(url + "/api/v1/import/prometheus", content=exposition(now_ms), timeout=10)
        assert r.status_code == 204, r.text
        httpx.get(url + "/internal/force_flush", timeout=10).raise_for_status()

        def both() -> bool:
            body = get_json(
                url + "/api/v1/query", query="count by (device) (edgewatch_check_status)"
            )
            return len(body["data"]["result"]) == 2

        wait_for(both, 30, "the imported series to be searchable")

        async def rows() -> dict[str, float | None]:
            async with PromClient(url, timeout_s=10) as prom:
                found = await FleetView(prom, FleetOptions()).rows()
            return {row.device: row.health_score for row in found}

        assert asyncio.run(rows()) == {"new": 25.0, "old": 75.0}
    finally:
        peer.stop()
