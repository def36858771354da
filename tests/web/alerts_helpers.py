"""A real AlertingService over a real store for the web tests: a rule group with a
firing, a pending and a failing rule, evaluated so that alerts exist, and put into
the AppContext as the agent does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgewatch.alerting.evaluator import LoadedGroup
from edgewatch.alerting.rules import parse_rule_file
from edgewatch.alerting.service import AlertingService
from edgewatch.config import Config
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store
from edgewatch.web.context import AppContext

SCRIPT = "<script>alert(1)</script>"
RULES = """
groups:
  - name: device
    interval: 15s
    rules:
      - alert: HotSensor
        expr: node_temp > 50
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.sensor }} at {{ $value }}"}
      - alert: WarmSensor
        expr: node_temp > 40
        for: 5m
        labels: {severity: warning}
      - alert: Broken
        expr: node_temp * on() node_temp
      - record: node_temp:doubled
        expr: node_temp * 2
"""


class Clock:
    """A clock the test moves (seconds)."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def alerting_config(**sections: Any) -> Config:
    """No built-in rule pack (only RULES run); other sections as given."""
    return Config.model_validate({"alerting": {"default_rules": False}, **sections})


def rule_groups(text: str = RULES) -> list[LoadedGroup]:
    return [LoadedGroup("rules.yml", g) for g in parse_rule_file(text, file="rules.yml").groups]


def put_temps(store: Store, time_ms: int, temps: dict[str, float]) -> None:
    """One ``node_temp{sensor=...}`` sample per sensor at ``time_ms``."""
    store.append(
        time_ms, [Sample(SeriesKey.of("node_temp", sensor=k), v) for k, v in temps.items()]
    )


def start_alerting(
    ctx: AppContext,
    store: Store,
    *,
    clock: Callable[[], float],
    config: Config | None = None,
    rules: str = RULES,
) -> AlertingService:
    """An AlertingService over ``store``, wired into ``ctx`` like the agent does."""
    config = config or alerting_config()
    service = AlertingService(
        config,
        rule_groups(rules),
        db_path=store.path,
        engine=Engine(store, config.query),
        sink=store.append,
        clock=clock,
        ack_secret=b"k" * 32,
    )
    ctx.config = config
    ctx.alerting = service
    ctx.silences = service.silences
    ctx.acks = service.acks
    ctx.ack_links = service.ack_links
    return service


async def evaluate(service: AlertingService) -> None:
    """Every group evaluated once, then the dispatcher ticked (into the outbox)."""
    for group in service.evaluator.groups:
        await service.evaluate(group)
    await service.flush()
