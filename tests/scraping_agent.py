"""The real agent (``python -m edgewatch run``) scraping targets, and its HTTP API, for tests."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from agent_process import AgentProcess, wait_for

URL_RE = re.compile(r"dashboard and API on (http://127\.0\.0\.1:\d+)/?")

CONFIG = """\
log_level: info
listen: 127.0.0.1:0
store:
  commit_interval: 1s
alerting:
  default_rules: false
collectors:
  cpu: {{enabled: false}}
  memory: {{enabled: false}}
  disk: {{enabled: false}}
  network: {{enabled: false}}
  sensors: {{enabled: false}}
  system: {{enabled: false}}
  processes: {{enabled: false}}
  services: {{enabled: false}}
  self: {{interval: 5s}}
  scrape:
    interval: 1s
    timeout: 1s
    targets: {targets}
"""


def scrape_config(*targets: dict[str, Any]) -> str:
    """An agent config that only scrapes ``targets`` (every second)."""
    return CONFIG.format(targets=json.dumps(list(targets)))


class ApiAgent:
    def __init__(self, process: AgentProcess, url: str) -> None:
        self.process = process
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def query(self, expr: str) -> dict[str, float]:
        """An instant query's vector as {'name{labels}' without __name__ ordering: value}."""
        data = self.get("/api/v1/query", query=expr)["data"]
        out: dict[str, float] = {}
        for item in data["result"]:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(item["metric"].items()))
            out[labels] = float(item["value"][1])
        return out

    def query_range(self, expr: str, seconds: int = 120) -> list[dict[str, Any]]:
        now = time.time()
        data = self.get(
            "/api/v1/query_range",
            query=expr,
            start=f"{now - seconds:.3f}",
            end=f"{now:.3f}",
            step="1s",
        )["data"]
        assert data["resultType"] == "matrix"
        result: list[dict[str, Any]] = data["result"]
        return result


@contextmanager
def scraping_agent(tmp: Path, config_text: str, timeout: float = 60.0) -> Iterator[ApiAgent]:
    """The agent running ``config_text``; stopped (SIGKILL at worst) when the block ends."""
    process = AgentProcess(tmp, config_text)
    process.start()
    try:
        process.wait_log("dashboard and API on", timeout)
        found = URL_RE.search(process.log())
        if found is None:
            raise AssertionError(f"no URL in the agent's log:\n{process.log()}")
        agent = ApiAgent(process, found.group(1))
        wait_for(lambda: _ready(agent.url), timeout, "/readyz")
        yield agent
    finally:
        process.stop()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
