"""The agent's sink is called from worker threads too (the rule evaluator runs in
one): the store takes the samples there, the live hub (loop-only) gets them on the
loop — no asyncio call from the wrong thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent_process import FAST_CONFIG
from edgewatch.agent import Agent
from edgewatch.config import Config
from edgewatch.config.loader import parse_yaml_model
from edgewatch.model import Sample, SeriesKey


def test_samples_from_a_worker_thread_reach_the_hub_on_the_loop(tmp_path: Path) -> None:
    config = parse_yaml_model(FAST_CONFIG, Config, file="fast.yaml", environ={})
    key = SeriesKey.of("rule_made_series", job="x")
    published_on: list[bool] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)  # asyncio then refuses loop calls from other threads
        agent = Agent(config, tmp_path / "data", serve_http=False)
        real_publish = agent.hub.publish

        def publish(ts_ms: int, samples: list[Sample]) -> object:
            try:
                published_on.append(asyncio.get_running_loop() is loop)
            except RuntimeError:
                published_on.append(False)
            return real_publish(ts_ms, samples)

        agent.hub.publish = publish  # type: ignore[method-assign]
        task = asyncio.create_task(agent.run())
        try:
            for _ in range(200):  # bounded: the store opens within a few seconds
                if agent.ready():
                    break
                await asyncio.sleep(0.05)
            assert agent.ready()
            published_on.clear()
            await asyncio.to_thread(agent._ingest, 1_700_000_000_000, [Sample(key, 4.0)])
            for _ in range(100):
                if key in agent.hub.latest():
                    break
                await asyncio.sleep(0.01)
            assert agent.hub.latest()[key] == (1_700_000_000_000, 4.0)
        finally:
            agent.stop()
            await asyncio.wait_for(task, timeout=30)

    asyncio.run(main())
    assert published_on and all(published_on)
