"""Two ways the device's life breaks naive timers: a restart (a firing alert must not
turn nodata and re-notify because its saved data time is old) and the wall clock
stepping back (rules must not fail until it catches up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipeline_helpers import Clock, config, gauge, hooks, pipeline

from edgewatch.alerting.lifecycle import AlertState
from notify.webhook_receiver import Receiver

RULES = """
groups:
  - name: g
    interval: 30s
    rules:
      - alert: Hot
        expr: temp > 90
        nodata_after: 30m
"""
ROUTE = {"receiver": "ops", "group_wait": "0s", "group_interval": "30s", "repeat_interval": "24h"}


def test_a_restart_is_not_a_data_gap(tmp_path: Path) -> None:
    with Receiver() as hook:
        cfg = config([{"name": "ops", "webhook": [{"url": f"{hook.url}/ops"}]}], ROUTE)
        clock = Clock()

        async def scenario() -> None:
            hot = [gauge("temp", 95.0)]
            with pipeline(tmp_path, cfg, RULES, clock=clock) as p:
                await p.run_for(3 * 3600, hot, every=30)  # firing steadily for 3 hours
                assert len(hooks(hook, "/ops")) == 1
            clock.t += 6 * 60  # down 6 minutes: longer than the lookback, shorter than nodata
            with pipeline(tmp_path, cfg, RULES, clock=clock) as p:
                p.svc.dispatcher.update(p.svc.evaluator.notices(), round(clock.t * 1000))
                await p.step(1)  # the first evaluation: no fresh sample yet
                assert [a.state for a in p.svc.evaluator.alerts()] == [AlertState.FIRING]
                await p.run_for(120, hot, every=30)
            assert len(hooks(hook, "/ops")) == 1  # no nodata, no second firing

        asyncio.run(scenario())


def test_rules_keep_working_when_the_clock_steps_back(tmp_path: Path) -> None:
    with Receiver() as hook:
        cfg = config([{"name": "ops", "webhook": [{"url": f"{hook.url}/ops"}]}], ROUTE)
        clock = Clock()

        async def scenario() -> None:
            with pipeline(tmp_path, cfg, RULES, clock=clock) as p:
                await p.run_for(120, [gauge("temp", 95.0)], every=30)
                assert [a.state for a in p.svc.evaluator.alerts()] == [AlertState.FIRING]
                clock.t -= 110  # NTP corrects a board that booted with a clock ahead
                await p.run_for(60, [gauge("temp", 20.0)], every=30)
                (alert,) = p.svc.evaluator.alerts()
                assert alert.state is AlertState.RESOLVED
                (group,) = p.svc.evaluator.rule_status()
                assert [r.health for r in group.rules] == ["ok"]

        asyncio.run(scenario())
