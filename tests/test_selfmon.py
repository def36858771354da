"""The Self collector: what it reports, and that every metric is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from edgewatch.budget import CpuBudget
from edgewatch.model import MetricFamily, Sample, SeriesKey
from edgewatch.scheduler import CollectorState
from edgewatch.selfmon import SelfCollector

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
ROW = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(\w+)\s*\|", re.MULTILINE)


class Stats(NamedTuple):
    series: int = 42
    samples_ingested: int = 1234
    file_bytes: int = 8192
    last_commit_seconds: float = 0.003
    write_errors: int = 1
    pending_samples: int = 17
    dropped_samples: int = 5000


class Dummy:
    name = "processes"
    interval = 15.0

    def available(self) -> str | None:
        return None

    def families(self) -> tuple[MetricFamily, ...]:
        return ()

    def collect(self) -> list[Sample]:
        return []


def _collect() -> tuple[SelfCollector, dict[SeriesKey, float]]:
    state = CollectorState(Dummy(), expensive=True, factor=4, last_duration_s=0.25, errors_total=3)
    budget = CpuBudget(0.01)
    budget.observe(0.0, 1.0)
    budget.observe(10.0, 1.5)
    collector = SelfCollector(
        interval=15.0, collectors=lambda: [state], store_stats=Stats, budget=budget
    )
    return collector, {s.key: s.value for s in collector.collect()}


def test_self_reports_process_collectors_store_and_budget() -> None:
    _, values = _collect()
    by = {"collector": "processes"}
    assert values[SeriesKey.of("edgewatch_collector_duration_seconds", by)] == 0.25
    assert values[SeriesKey.of("edgewatch_collector_errors_total", by)] == 3
    assert values[SeriesKey.of("edgewatch_collector_throttled", by)] == 1
    assert values[SeriesKey.of("edgewatch_collector_effective_interval_seconds", by)] == 60
    assert values[SeriesKey("edgewatch_store_series")] == 42
    assert values[SeriesKey("edgewatch_samples_ingested_total")] == 1234
    assert values[SeriesKey("edgewatch_store_pending_samples")] == 17
    assert values[SeriesKey("edgewatch_store_dropped_samples_total")] == 5000
    assert values[SeriesKey("edgewatch_cpu_budget_ratio")] == 0.01
    assert values[SeriesKey("edgewatch_cpu_usage_ratio")] == 0.05
    assert values[SeriesKey("edgewatch_process_cpu_seconds_total")] > 0
    assert values[SeriesKey("edgewatch_process_resident_memory_bytes")] > 1024 * 1024


def test_every_self_metric_is_declared_and_documented_under_the_self_heading() -> None:
    collector, values = _collect()
    text = DOC.read_text(encoding="utf-8")
    self_section = text[text.index("## Self (edgewatch's own figures)") :]
    documented = dict(ROW.findall(self_section))
    families = {f.name: f.type.value for f in collector.families()}
    assert {k.name for k in values} <= set(families)
    assert families == documented
