"""The agent runs its health checks: results reach /api/health, the store (as
edgewatch_check_* series) and the health_events table; heartbeats arrive over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from edgewatch.agent import Agent
from edgewatch.config import load_config
from edgewatch.health.events import read_events

WAIT_S = 30.0


def _config(tmp_path: Path) -> str:
    return f"""\
store: {{commit_interval: 1s}}
collectors:
  cpu: {{interval: 1s}}
  memory: {{enabled: false}}
  disk: {{enabled: false}}
  network: {{enabled: false}}
  sensors: {{enabled: false}}
  system: {{enabled: false}}
  processes: {{enabled: false}}
  services: {{enabled: false}}
  self: {{enabled: false}}
health:
  components:
    vision: {{depends_on: [camera]}}
  checks:
    - {{kind: file, name: frame, component: camera, path: {tmp_path / "frame"},
        interval: 1s, timeout: 1s}}
    - {{kind: heartbeat, name: loop, component: vision, period: 30s, interval: 1s,
        timeout: 1s}}
"""


async def _until(client: httpx.AsyncClient, want: str) -> dict[str, object]:
    """/api/health once its text has ``want`` (or, for "overall pass", its status is pass)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        response = await client.get("/api/health")
        body: dict[str, object] = response.json()
        if (body["status"] == "pass") if want == "overall pass" else (want in str(body)):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"never {want!r}: {body}"
        await asyncio.sleep(0.2)


def test_agent_runs_checks_and_serves_their_health(tmp_path: Path) -> None:
    config_path = tmp_path / "edgewatch.yaml"
    config_path.write_text(_config(tmp_path))

    async def main() -> None:
        agent = Agent(load_config(config_path), tmp_path / "data", listen=("127.0.0.1", 0))
        task = asyncio.create_task(agent.run())
        try:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while agent.http_port is None:
                assert not task.done(), task
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            base = f"http://127.0.0.1:{agent.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                # No frame yet: the camera fails, vision is blocked by it, the API says 503.
                body = await _until(client, "does not exist")
                assert body["status"] == "fail"
                components = body["components"]
                assert isinstance(components, dict)
                assert components["vision"]["blocked_by"] == ["camera"]
                ping = await client.post("/api/heartbeat/loop")
                assert ping.status_code == 200
                assert (await client.post("/api/heartbeat/nope")).status_code == 404
                (tmp_path / "frame").write_bytes(b"jpeg")
                body = await _until(client, "overall pass")
                assert body["score"] == 100.0
                # The results are series like any other: the query API reads them back.
                query = await client.get(
                    "/api/v1/query", params={"query": 'edgewatch_check_status{check="frame"}'}
                )
                assert query.json()["data"]["result"][0]["value"][1] == "0"
        finally:
            agent.stop()
            await asyncio.wait_for(task, timeout=30)

    asyncio.run(main())
    events = read_events(tmp_path / "data")
    assert [(e.check, e.status.value) for e in events] == [("frame", "fail")]
    assert events[0].end_ms is not None  # closed when the frame appeared
