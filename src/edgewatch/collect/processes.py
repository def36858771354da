"""Processes: a top-N snapshot (for the API and CLI) plus bounded per-name and group series.

Series never carry a pid. Two kinds are kept:

- per process *name* (the kernel's 15-character ``comm``), for names that have
  appeared in the top N by CPU or by memory; at most ``max_names`` names, later
  ones fold into ``name="other"``;
- per configured *group* (``groups={"vision": "python.*detect"}``: a regular
  expression searched in the command line, or in the name when it has none).

Counters (CPU seconds, I/O bytes) of a name or group add up the increase of its
processes between scans, so they never go down when a process exits; a process
that started since the last scan adds everything it did. A new name or group
starts from the totals of its processes at that moment.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from edgewatch.collect.base import COUNTER, GAUGE, USER_HZ, KeyCache, family
from edgewatch.collect.procscan import ProcIdent, ProcScanner, ProcStat
from edgewatch.model import MetricFamily, MetricType, Sample

OTHER = "other"
MAX_REFUSED_NAMES = 1000


def _families(prefix: str, label: str) -> tuple[MetricFamily, ...]:
    what = "processes named" if label == "name" else "processes of the group"
    specs: tuple[tuple[str, MetricType, str], ...] = (
        ("num_procs", GAUGE, f"Running {what}."),  # not _count: promtool lints it
        ("cpu_seconds_total", COUNTER, f"CPU seconds (user + system) used by {what}."),
        ("resident_memory_bytes", GAUGE, f"Resident memory of {what}."),
        ("threads", GAUGE, f"Threads of {what}."),
        ("io_read_bytes_total", COUNTER, f"Bytes {what} read from storage."),
        ("io_write_bytes_total", COUNTER, f"Bytes {what} wrote to storage."),
    )
    return tuple(family(f"{prefix}_{suffix}", kind, text, label) for suffix, kind, text in specs)


NAME_FAMILIES = _families("system_process", "name")
GROUP_FAMILIES = _families("system_process_group", "group")
SCANNED = family("system_processes_scanned", GAUGE, "Processes seen by the last process scan.")
FAMILIES = (*NAME_FAMILIES, *GROUP_FAMILIES, SCANNED)


class ProcessInfo(NamedTuple):
    """One process of the latest top-N snapshot. ``cpu_ratio`` is of one core."""

    pid: int
    name: str
    cmdline: str
    user: str
    cpu_ratio: float
    rss_bytes: int
    threads: int
    io_read_bytes: int
    io_write_bytes: int


class _Bucket:
    """Running totals of one name or group."""

    __slots__ = ("count", "cpu_ticks", "read", "rss", "threads", "write")

    def __init__(self) -> None:
        self.cpu_ticks = self.read = self.write = 0
        self.count = self.rss = self.threads = 0

    def add(self, p: ProcStat, delta: tuple[int, int, int]) -> None:
        self.count += 1
        self.rss += p.rss_bytes
        self.threads += p.threads
        self.cpu_ticks += delta[0]
        self.read += delta[1]
        self.write += delta[2]


class ProcessesCollector:
    name = "processes"
    expensive = True  # the CPU budget may slow it down

    def __init__(
        self,
        *,
        interval: float = 15.0,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        top_n: int = 10,
        groups: Mapping[str, str] | None = None,
        max_names: int = 50,
    ) -> None:
        self.interval = interval
        self.top_n = top_n
        self.max_names = max_names
        self._groups = [(g, re.compile(p)) for g, p in (groups or {}).items()]
        self._scanner = ProcScanner(proc_root)
        self._keys = KeyCache()
        self._prev: dict[tuple[int, int], tuple[int, int, int]] = {}
        self._prev_uptime: float | None = None
        self._names: dict[str, _Bucket] = {}
        self._refused: set[str] = set()
        self._group_buckets: dict[str, _Bucket] = {}
        # Groups of each process, by pid, start time and name (an exec changes the name).
        self._matches: dict[ProcIdent, tuple[str, ...]] = {}
        self._snapshot: list[ProcessInfo] = []

    def available(self) -> str | None:
        if self._scanner.uptime() is None:
            return "the proc filesystem has no uptime file"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def snapshot(self) -> list[ProcessInfo]:
        """The latest top N by CPU and top N by memory, busiest first (a copy)."""
        return list(self._snapshot)

    def collect(self) -> Iterable[Sample]:
        uptime = self._scanner.uptime() or 0.0
        procs = self._scanner.scan()
        elapsed = uptime - self._prev_uptime if self._prev_uptime is not None else None
        ratios = [self._cpu_ratio(p, uptime, elapsed) for p in procs]
        top = self._top(procs, ratios)
        self._snapshot = [
            ProcessInfo(p.pid, p.name, p.cmdline, p.user, r, p.rss_bytes, p.threads,
                        p.read_bytes, p.write_bytes)
            for p, r in top
        ]  # fmt: skip
        fresh = self._track_names(p.name for p, _ in top)
        self._aggregate(procs, fresh)
        self._prev_uptime = uptime
        out = self._samples(NAME_FAMILIES, self._names)
        out.extend(self._samples(GROUP_FAMILIES, self._group_buckets))
        out.append(Sample(self._keys.key(SCANNED), float(len(procs))))
        return out

    def _cpu_ratio(self, p: ProcStat, uptime: float, elapsed: float | None) -> float:
        prev = self._prev.get((p.pid, p.start))
        if prev is not None and elapsed:
            return max(0, p.cpu_ticks - prev[0]) / USER_HZ / elapsed
        age = uptime - p.start / USER_HZ  # new process, or first scan: average over its life
        return p.cpu_ticks / USER_HZ / age if age > 0.01 else 0.0

    def _top(self, procs: list[ProcStat], ratios: list[float]) -> list[tuple[ProcStat, float]]:
        if self.top_n <= 0:
            return []
        pairs = list(zip(procs, ratios, strict=True))
        by_cpu = heapq.nlargest(self.top_n, pairs, key=lambda pr: pr[1])
        by_rss = heapq.nlargest(self.top_n, pairs, key=lambda pr: pr[0].rss_bytes)
        chosen = {(p.pid, p.start): (p, r) for p, r in (*by_cpu, *by_rss)}
        return sorted(chosen.values(), key=lambda pr: (-pr[1], -pr[0].rss_bytes))

    def _track_names(self, names: Iterable[str]) -> set[str]:
        """Start tracking the names new to the top N; returns the buckets created."""
        fresh: set[str] = set()
        for name in names:
            if name in self._names or name in self._refused:
                continue
            if len(self._names) < self.max_names and name != OTHER:
                self._names[name] = _Bucket()
                fresh.add(name)
            elif len(self._refused) < MAX_REFUSED_NAMES:
                self._refused.add(name)
                if OTHER not in self._names:
                    self._names[OTHER] = _Bucket()
                    fresh.add(OTHER)
        return fresh

    def _aggregate(self, procs: list[ProcStat], fresh: set[str]) -> None:
        first = self._prev_uptime is None
        for bucket in (*self._names.values(), *self._group_buckets.values()):
            bucket.count = bucket.rss = bucket.threads = 0
        prev, self._prev = self._prev, {}
        matches, self._matches = self._matches, {}
        for g, _ in self._groups:
            self._group_buckets.setdefault(g, _Bucket())
        for p in procs:
            ident = (p.pid, p.start)
            totals = (p.cpu_ticks, p.read_bytes, p.write_bytes)
            self._prev[ident] = totals
            before = prev.get(ident)
            if before is not None:
                delta = (
                    max(0, totals[0] - before[0]),
                    max(0, totals[1] - before[1]),
                    max(0, totals[2] - before[2]),
                )
            else:  # started since the last scan (or first scan): all it did counts
                delta = totals
            name = p.name if p.name in self._names else OTHER if p.name in self._refused else None
            if name is not None:
                self._names[name].add(p, totals if first or name in fresh else delta)
            exe = (p.pid, p.start, p.name)
            groups = matches.get(exe)
            if groups is None:
                text = p.cmdline or p.name
                groups = tuple(g for g, rx in self._groups if rx.search(text))
            self._matches[exe] = groups
            for g in groups:
                self._group_buckets[g].add(p, totals if first else delta)

    def _samples(
        self, families: tuple[MetricFamily, ...], buckets: Mapping[str, _Bucket]
    ) -> list[Sample]:
        key = self._keys.key
        count, cpu, rss, threads, read, write = families
        out: list[Sample] = []
        for label, b in buckets.items():
            out.append(Sample(key(count, label), float(b.count)))
            out.append(Sample(key(cpu, label), b.cpu_ticks / USER_HZ))
            out.append(Sample(key(rss, label), float(b.rss)))
            out.append(Sample(key(threads, label), float(b.threads)))
            out.append(Sample(key(read, label), float(b.read)))
            out.append(Sample(key(write, label), float(b.write)))
        return out
