"""The Self collector: edgewatch's own CPU, memory, start time, collections, store and
CPU budget.

It is scheduled like every other collector; what it reports about the others
comes from the scheduler's bookkeeping, the store's stats and the CPU budget,
handed in as callables by the agent (the composition root).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from edgewatch.budget import CpuBudget, process_cpu_seconds
from edgewatch.model import MetricFamily, MetricType, Sample, SeriesKey
from edgewatch.scheduler import CollectorState

G = MetricType.GAUGE
C = MetricType.COUNTER

FAMILIES: tuple[MetricFamily, ...] = (
    MetricFamily(
        "edgewatch_process_cpu_seconds_total",
        C,
        "CPU time (user + system) used by the edgewatch process.",
    ),
    MetricFamily(
        "edgewatch_process_resident_memory_bytes",
        G,
        "Resident memory (RSS) of the edgewatch process.",
    ),
    MetricFamily(
        "edgewatch_process_start_time_seconds",
        G,
        "When the edgewatch process started, in Unix seconds (a new value: a restart).",
    ),
    MetricFamily(
        "edgewatch_collector_duration_seconds",
        G,
        "Wall time of the collector's last collection.",
        ("collector",),
    ),
    MetricFamily(
        "edgewatch_collector_errors_total",
        C,
        "Collections that failed: the collector raised, or the store refused its samples.",
        ("collector",),
    ),
    MetricFamily(
        "edgewatch_collector_skipped_ticks_total",
        C,
        "Scheduled ticks skipped because a collection overran its interval "
        "(wall-clock steps are not counted).",
        ("collector",),
    ),
    MetricFamily(
        "edgewatch_collector_throttled",
        G,
        "1 while the CPU budget slows the collector down, else 0.",
        ("collector",),
    ),
    MetricFamily(
        "edgewatch_collector_effective_interval_seconds",
        G,
        "Seconds between collections, after CPU-budget throttling.",
        ("collector",),
    ),
    MetricFamily(
        "edgewatch_samples_ingested_total", C, "Samples handed to the store since it was opened."
    ),
    MetricFamily("edgewatch_store_series", G, "Series known to the store."),
    MetricFamily("edgewatch_store_size_bytes", G, "Size of the store's files on disk."),
    MetricFamily(
        "edgewatch_store_commit_duration_seconds", G, "Wall time of the store's last commit."
    ),
    MetricFamily(
        "edgewatch_store_write_errors_total",
        C,
        "Store commits that failed (disk full, read-only); retried.",
    ),
    MetricFamily(
        "edgewatch_store_pending_samples", G, "Samples held in memory, not yet committed to disk."
    ),
    MetricFamily(
        "edgewatch_store_dropped_samples_total",
        C,
        "Samples dropped from memory while the disk refused writes (store.max_pending_samples).",
    ),
    MetricFamily(
        "edgewatch_cpu_budget_ratio",
        G,
        "The agent's CPU budget as a fraction of one core (agent.cpu_budget).",
    ),
    MetricFamily(
        "edgewatch_cpu_usage_ratio",
        G,
        "The agent's own CPU as a fraction of one core over the budget window.",
    ),
)


class StoreFigures(Protocol):
    """The part of StoreStats the Self collector reports."""

    @property
    def series(self) -> int: ...
    @property
    def samples_ingested(self) -> int: ...
    @property
    def file_bytes(self) -> int: ...
    @property
    def last_commit_seconds(self) -> float: ...
    @property
    def write_errors(self) -> int: ...
    @property
    def pending_samples(self) -> int: ...
    @property
    def dropped_samples(self) -> int: ...


def resident_memory_bytes(proc_root: Path = Path("/proc")) -> float:
    """RSS of this process from /proc/self/statm (resident pages x page size)."""
    fields = (proc_root / "self" / "statm").read_text().split()
    return float(int(fields[1]) * os.sysconf("SC_PAGE_SIZE"))


def process_start_time_seconds(proc_root: Path = Path("/proc")) -> float:
    """When this process started, in Unix seconds, as Prometheus' client libraries
    compute ``process_start_time_seconds``: the boot time (``btime`` in /proc/stat)
    plus the process's start in clock ticks after boot (field 22 of /proc/self/stat)."""
    stat = (proc_root / "self" / "stat").read_text()
    after_comm = stat[stat.rindex(")") + 2 :].split()  # comm may hold spaces and ")"
    start_ticks = int(after_comm[19])  # fields 3.. follow comm: field 22 is index 19
    for line in (proc_root / "stat").read_text().splitlines():
        if line.startswith("btime "):
            boot = int(line.split()[1])
            return round(boot + start_ticks / os.sysconf("SC_CLK_TCK"), 3)
    raise ValueError(f"no btime line in {proc_root / 'stat'}")


class SelfCollector:
    name = "self"
    expensive = False

    def __init__(
        self,
        *,
        interval: float,
        collectors: Callable[[], Sequence[CollectorState]],
        store_stats: Callable[[], StoreFigures],
        budget: CpuBudget,
        proc_root: Path = Path("/proc"),
    ) -> None:
        self.interval = interval
        self._collectors = collectors
        self._store_stats = store_stats
        self._budget = budget
        self._proc_root = proc_root
        # Read once: one process, one value, even when the clock is set later (the
        # kernel's btime moves with it), so each distinct value is one start.
        self._start_time: float | None = None

    def available(self) -> str | None:
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        if self._start_time is None:
            self._start_time = process_start_time_seconds(self._proc_root)
        out = [
            _s("edgewatch_process_cpu_seconds_total", process_cpu_seconds()),
            _s("edgewatch_process_resident_memory_bytes", resident_memory_bytes(self._proc_root)),
            _s("edgewatch_process_start_time_seconds", self._start_time),
            _s("edgewatch_cpu_budget_ratio", self._budget.budget_ratio),
        ]
        usage = self._budget.usage_ratio
        if usage is not None:
            out.append(_s("edgewatch_cpu_usage_ratio", usage))
        for st in self._collectors():
            name = st.name
            out += [
                _s("edgewatch_collector_duration_seconds", st.last_duration_s, name),
                _s("edgewatch_collector_errors_total", st.errors_total, name),
                _s("edgewatch_collector_skipped_ticks_total", st.skipped_ticks_total, name),
                _s("edgewatch_collector_throttled", 1.0 if st.factor > 1 else 0.0, name),
                _s(
                    "edgewatch_collector_effective_interval_seconds",
                    st.effective_interval_ms / 1000,
                    name,
                ),
            ]
        stats = self._store_stats()
        out += [
            _s("edgewatch_samples_ingested_total", stats.samples_ingested),
            _s("edgewatch_store_series", stats.series),
            _s("edgewatch_store_size_bytes", stats.file_bytes),
            _s("edgewatch_store_commit_duration_seconds", stats.last_commit_seconds),
            _s("edgewatch_store_write_errors_total", stats.write_errors),
            _s("edgewatch_store_pending_samples", stats.pending_samples),
            _s("edgewatch_store_dropped_samples_total", stats.dropped_samples),
        ]
        return out


def _s(name: str, value: float, collector: str = "") -> Sample:
    if collector:
        return Sample(SeriesKey(name, (("collector", collector),)), float(value))
    return Sample(SeriesKey(name), float(value))
