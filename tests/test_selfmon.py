"""The Self collector: what it reports, and that every metric is documented."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import NamedTuple

import psutil

from edgewatch.budget import CpuBudget
from edgewatch.model import MetricFamily, Sample, SeriesKey
from edgewatch.scheduler import CollectorState
from edgewatch.selfmon import SelfCollector, process_start_time_seconds

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
    started = values[SeriesKey("edgewatch_process_start_time_seconds")]
    assert time.time() - 7 * 86_400 < started <= time.time()


def test_every_self_metric_is_declared_and_documented_under_the_self_heading() -> None:
    collector, values = _collect()
    text = DOC.read_text(encoding="utf-8")
    self_section = text[text.index("## Self (edgewatch's own figures)") :]
    documented = dict(ROW.findall(self_section))
    families = {f.name: f.type.value for f in collector.families()}
    assert {k.name for k in values} <= set(families)
    assert families == documented


def _fake_proc(root: Path, btime: int, start_ticks: int) -> Path:
    (root / "self").mkdir(parents=True, exist_ok=True)
    # comm with a space and a ")" in it: the fields are counted after the last ")"
    fields = ["S", *(["0"] * 18), str(start_ticks), "123456", "789"]
    (root / "self" / "stat").write_text(f"4242 (python (x) y) {' '.join(fields)}\n")
    (root / "self" / "statm").write_text("1000 500 100 1 0 200 0\n")
    (root / "stat").write_text(f"cpu  1 2 3 4\nintr 5\nbtime {btime}\nprocesses 9\n")
    return root


def test_process_start_time_is_boot_time_plus_the_start_after_boot(tmp_path: Path) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    root = _fake_proc(tmp_path, btime=1_767_225_600, start_ticks=12_345 * hz + hz // 2)
    assert process_start_time_seconds(root) == 1_767_225_600 + 12_345.5
    # this process: as psutil (the kernel's figures) says, to the clock tick
    assert abs(process_start_time_seconds() - psutil.Process().create_time()) < 0.05


def test_the_start_time_is_read_once_per_process(tmp_path: Path) -> None:
    """The clock set later moves the kernel's btime: the reported start must not move
    (each distinct value is one start, for the restart annotations)."""
    root = _fake_proc(tmp_path, btime=1_767_225_600, start_ticks=0)
    collector = SelfCollector(
        interval=15.0,
        collectors=list,
        store_stats=Stats,
        budget=CpuBudget(0.01),
        proc_root=root,
    )
    key = SeriesKey("edgewatch_process_start_time_seconds")

    def reported() -> float:
        return next(s.value for s in collector.collect() if s.key == key)

    assert reported() == 1_767_225_600
    _fake_proc(root, btime=1_767_229_200, start_ticks=0)  # NTP stepped the clock an hour
    assert reported() == 1_767_225_600
