"""One id per alert everywhere: with ``alerting.external_labels`` set, the fingerprint
the API and the CLI show is the one the dispatcher, acks and escalation use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipeline_helpers import Clock, gauge, hooks, pipeline

from edgewatch.config import Config
from notify.webhook_receiver import Receiver

RULES = """
groups:
  - name: g
    interval: 5s
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.9
"""


def test_an_ack_by_the_shown_fingerprint_stops_escalation(tmp_path: Path) -> None:
    with Receiver() as hook:
        cfg = Config.model_validate(
            {
                "alerting": {"default_rules": False, "external_labels": {"device": "shop-12"}},
                "receivers": [
                    {"name": "ops", "webhook": [{"url": f"{hook.url}/ops"}]},
                    {"name": "lead", "webhook": [{"url": f"{hook.url}/lead"}]},
                ],
                "route": {
                    "receiver": "ops",
                    "group_wait": "0s",
                    "escalation": {"steps": [{"after": "2m", "receiver": "lead"}]},
                },
            }
        )

        async def scenario() -> None:
            with pipeline(tmp_path, cfg, RULES, clock=Clock()) as p:
                full = [gauge("disk_used_ratio", 0.95, mount="/")]
                await p.step(5, full)
                (alert,) = p.svc.evaluator.alerts()
                (sent,) = hooks(hook, "/ops")
                assert sent["alerts"][0]["labels"]["device"] == "shop-12"
                assert sent["alerts"][0]["fingerprint"] == alert.fingerprint
                p.svc.acks.ack(alert.fingerprint, by="ana", comment="on it")
                await p.run_for(180, full)
                assert hooks(hook, "/lead") == []

        asyncio.run(scenario())
