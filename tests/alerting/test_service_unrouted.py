"""Without a ``route`` in the config, alerts are evaluated, stored and shown, and
nothing is sent or queued (and nothing is logged as an error)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from pipeline_helpers import Clock, gauge, pipeline

from edgewatch.alerting.lifecycle import AlertState
from edgewatch.config import Config

RULES = """
groups:
  - name: g
    interval: 5s
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.9
"""


def test_alerts_fire_without_a_route_and_nothing_is_queued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = Config.model_validate({"alerting": {"default_rules": False}})
    assert cfg.route is None

    async def scenario() -> None:
        with pipeline(tmp_path, cfg, RULES, clock=Clock()) as p:
            full = [gauge("disk_used_ratio", 0.95, mount="/")]
            for _ in range(8):  # well past the default group_wait of 30 s
                await p.step(5, full)
            assert [a.state for a in p.svc.evaluator.alerts()] == [AlertState.FIRING]
            assert p.svc.outbox.pending_count() == 0
            assert p.svc.outbox.items() == []

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
