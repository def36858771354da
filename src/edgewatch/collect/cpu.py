"""CPU: time per mode, usage ratios, load, context switches, interrupts, frequency.

Reads ``/proc/stat``, ``/proc/loadavg`` and ``cpufreq/scaling_cur_freq`` directly:
one small read each, far cheaper than psutil's several calls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from edgewatch.collect.base import (
    COUNTER,
    GAUGE,
    USER_HZ,
    KeyCache,
    family,
    list_dir,
    ratio,
    read_text,
)
from edgewatch.model import MetricFamily, Sample

log = logging.getLogger(__name__)

# /proc/stat column order after the "cpuN" word; guest times are already in user/nice.
MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_IDLE_MODES = frozenset({3, 4})  # idle and iowait count as not busy

CPU_SECONDS = family(
    "node_cpu_seconds_total", COUNTER, "Seconds the CPUs spent in each mode.", "cpu", "mode"
)
CPU_USAGE = family(
    "system_cpu_usage_ratio", GAUGE,
    "Busy share of a CPU (cpu=\"total\": all CPUs) since the previous collection, 0-1.", "cpu",
)  # fmt: skip
CPU_MODE = family(
    "system_cpu_mode_ratio", GAUGE,
    "Share of all CPUs' time spent in each mode since the previous collection, 0-1.", "mode",
)  # fmt: skip
LOAD1 = family("node_load1", GAUGE, "1-minute load average.")
LOAD5 = family("node_load5", GAUGE, "5-minute load average.")
LOAD15 = family("node_load15", GAUGE, "15-minute load average.")
CTXT = family("node_context_switches_total", COUNTER, "Context switches since boot.")
INTR = family("node_intr_total", COUNTER, "Interrupts serviced since boot.")
FREQ = family("node_cpu_scaling_frequency_hertz", GAUGE, "Current scaled CPU frequency.", "cpu")
CPU_COUNT = family("system_cpus", GAUGE, "Online logical CPUs.")

FAMILIES = (CPU_SECONDS, CPU_USAGE, CPU_MODE, LOAD1, LOAD5, LOAD15, CTXT, INTR, FREQ, CPU_COUNT)
# Collections between two rescans of which CPUs have cpufreq (CPUs can be hot-plugged).
FREQ_RESCAN_EVERY = 60


class CpuCollector:
    name = "cpu"

    def __init__(
        self, *, interval: float = 1.0, proc_root: str = "/proc", sys_root: str = "/sys"
    ) -> None:
        self.interval = interval
        self._stat = os.path.join(proc_root, "stat")
        self._loadavg = os.path.join(proc_root, "loadavg")
        self._cpu_dir = os.path.join(sys_root, "devices/system/cpu")
        self._keys = KeyCache()
        self._prev: dict[str, list[int]] = {}
        self._freq_files: list[tuple[str, str]] = []
        self._collections = 0

    def available(self) -> str | None:
        if read_text(self._stat) is None:
            return f"{self._stat} is not readable"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        text = read_text(self._stat)
        if text is None:
            raise OSError(f"cannot read {self._stat}")
        out: list[Sample] = []
        key = self._keys.key
        cpus = 0
        for line in text.splitlines():
            if line.startswith("cpu"):
                word, _, rest = line.partition(" ")
                label = "total" if word == "cpu" else word[3:]
                cpus += label != "total"
                ticks = [int(v) for v in rest.split()[:8]]
                ticks.extend([0] * (8 - len(ticks)))
                self._cpu(label, ticks, out)
            elif line.startswith("ctxt "):
                out.append(Sample(key(CTXT), float(line[5:])))
            elif line.startswith("intr "):
                out.append(Sample(key(INTR), float(line[5:].split(" ", 1)[0])))
        out.append(Sample(key(CPU_COUNT), float(cpus)))
        self._load(out)
        self._frequencies(out)
        self._collections += 1
        return out

    def _cpu(self, label: str, ticks: list[int], out: list[Sample]) -> None:
        key = self._keys.key
        if label != "total":
            for mode, value in zip(MODES, ticks, strict=True):
                out.append(Sample(key(CPU_SECONDS, label, mode), value / USER_HZ))
        prev = self._prev.get(label)
        self._prev[label] = ticks
        if prev is None:
            return
        deltas = [max(0, a - b) for a, b in zip(ticks, prev, strict=True)]
        elapsed = sum(deltas)
        if elapsed <= 0:
            return
        idle = deltas[3] + deltas[4]
        out.append(Sample(key(CPU_USAGE, label), ratio(elapsed - idle, elapsed)))
        if label == "total":
            for mode, delta in zip(MODES, deltas, strict=True):
                out.append(Sample(key(CPU_MODE, mode), ratio(delta, elapsed)))

    def _load(self, out: list[Sample]) -> None:
        text = read_text(self._loadavg)
        if text is None:
            return
        parts = text.split()
        key = self._keys.key
        out.append(Sample(key(LOAD1), float(parts[0])))
        out.append(Sample(key(LOAD5), float(parts[1])))
        out.append(Sample(key(LOAD15), float(parts[2])))

    def _frequencies(self, out: list[Sample]) -> None:
        if self._collections % FREQ_RESCAN_EVERY == 0:
            self._freq_files = self._find_freq_files()
        key = self._keys.key
        for cpu, path in self._freq_files:
            text = read_text(path)
            if text is not None and text.strip().isdigit():
                out.append(Sample(key(FREQ, cpu), float(text) * 1000.0))

    def _find_freq_files(self) -> list[tuple[str, str]]:
        found = []
        for entry in list_dir(self._cpu_dir):
            if entry.startswith("cpu") and entry[3:].isdigit():
                path = os.path.join(self._cpu_dir, entry, "cpufreq", "scaling_cur_freq")
                if os.path.exists(path):
                    found.append((entry[3:], path))
        found.sort(key=lambda item: int(item[0]))
        return found
