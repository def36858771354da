"""SIGHUP reload in-process: what a reload keeps (collector state, the command line's
log level) and what it rebuilds (collectors whose config section changed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.agent import Agent
from edgewatch.config import load_config
from edgewatch.model import Collector

CONFIG = """\
log_level: info
store:
  commit_interval: 1s
collectors:
  cpu: {interval: 1s}
  memory: {interval: 1s}
  disk: {enabled: false}
  network: {enabled: false}
  sensors: {enabled: false}
  system: {enabled: false}
  processes:
    interval: 1s
    groups:
      tests: {match: pytest}
  services: {enabled: false}
  self: {interval: 1s}
"""


@pytest.fixture
def root_level() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    try:
        yield
    finally:
        root.setLevel(level)


async def _wait_for_collectors(agent: Agent, count: int) -> dict[str, Collector]:
    for _ in range(500):
        running = {c.name: c for c in agent.collectors()}
        if len(running) == count:
            return running
        await asyncio.sleep(0.01)
    raise AssertionError(f"collectors never started: {agent.collectors()}")


def test_reload_keeps_unchanged_collectors_and_the_command_line_log_level(
    tmp_path: Path, root_level: None
) -> None:
    config_path = tmp_path / "edgewatch.yaml"
    config_path.write_text(CONFIG)

    async def main() -> None:
        agent = Agent(
            load_config(config_path),
            tmp_path / "data",
            config_path=config_path,
            log_level="debug",
            serve_http=False,
        )
        task = asyncio.create_task(agent.run())
        try:
            before = await _wait_for_collectors(agent, 4)
            assert set(before) == {"cpu", "memory", "processes", "self"}
            config_path.write_text(
                CONFIG.replace("log_level: info", "log_level: warning").replace(
                    "memory: {interval: 1s}", "memory: {interval: 2s}"
                )
            )
            assert await agent.reload()
            assert logging.getLogger().level == logging.DEBUG  # the command line wins
            after = {c.name: c for c in agent.collectors()}
            assert set(after) == set(before)
            # Unchanged sections: the very same instances (no counter reset).
            for name in ("cpu", "processes", "self"):
                assert after[name] is before[name], name
            assert after["memory"] is not before["memory"]
            assert after["memory"].interval == 2.0
        finally:
            agent.stop()
            await asyncio.wait_for(task, timeout=30)
        assert agent.collectors() == []

    asyncio.run(main())


def test_reload_without_a_command_line_level_applies_the_config_level(
    tmp_path: Path, root_level: None
) -> None:
    config_path = tmp_path / "edgewatch.yaml"
    config_path.write_text(CONFIG)

    async def main() -> None:
        agent = Agent(
            load_config(config_path), tmp_path / "data", config_path=config_path, serve_http=False
        )
        task = asyncio.create_task(agent.run())
        try:
            await _wait_for_collectors(agent, 4)
            config_path.write_text(CONFIG.replace("log_level: info", "log_level: error"))
            assert await agent.reload()
            assert logging.getLogger().level == logging.ERROR
        finally:
            agent.stop()
            await asyncio.wait_for(task, timeout=30)

    asyncio.run(main())
