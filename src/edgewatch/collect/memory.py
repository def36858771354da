"""Memory and swap from ``/proc/meminfo``; swap traffic from ``/proc/vmstat``."""

from __future__ import annotations

import os
from collections.abc import Iterable

from edgewatch.collect.base import COUNTER, GAUGE, KeyCache, family, ratio, read_text
from edgewatch.model import MetricFamily, Sample

# /proc/meminfo fields exported as node_memory_<Field>_bytes (values there are in KiB).
MEMINFO_FIELDS = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active",
    "Inactive", "SwapTotal", "SwapFree", "Dirty", "Writeback", "Shmem", "SReclaimable",
)  # fmt: skip
_MEMINFO = {
    name: family(f"node_memory_{name}_bytes", GAUGE, f"/proc/meminfo {name}, in bytes.")
    for name in MEMINFO_FIELDS
}
VMSTAT_FIELDS = ("pswpin", "pswpout", "pgmajfault")
_VMSTAT = {
    name: family(
        f"node_vmstat_{name}", COUNTER, f"/proc/vmstat {name}: pages (pswp*) or events since boot."
    )
    for name in VMSTAT_FIELDS
}
MEM_USED = family("system_memory_used_bytes", GAUGE, "Memory in use: MemTotal - MemAvailable.")
MEM_USAGE = family("system_memory_usage_ratio", GAUGE, "Memory in use as a share of MemTotal, 0-1.")
SWAP_USED = family("system_swap_used_bytes", GAUGE, "Swap in use: SwapTotal - SwapFree.")

FAMILIES = (*_MEMINFO.values(), *_VMSTAT.values(), MEM_USED, MEM_USAGE, SWAP_USED)


class MemoryCollector:
    name = "memory"

    def __init__(
        self, *, interval: float = 1.0, proc_root: str = "/proc", sys_root: str = "/sys"
    ) -> None:
        self.interval = interval
        self._meminfo = os.path.join(proc_root, "meminfo")
        self._vmstat = os.path.join(proc_root, "vmstat")
        self._keys = KeyCache()

    def available(self) -> str | None:
        if read_text(self._meminfo) is None:
            return f"{self._meminfo} is not readable"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        text = read_text(self._meminfo)
        if text is None:
            raise OSError(f"cannot read {self._meminfo}")
        key = self._keys.key
        values: dict[str, float] = {}
        for line in text.splitlines():
            field, _, rest = line.partition(":")
            if field in _MEMINFO:
                parts = rest.split()
                scale = 1024.0 if len(parts) > 1 and parts[1] == "kB" else 1.0
                values[field] = float(parts[0]) * scale
        out = [Sample(key(_MEMINFO[f]), v) for f, v in values.items()]
        total = values.get("MemTotal")
        available = values.get("MemAvailable")
        if total is not None and available is not None:
            out.append(Sample(key(MEM_USED), total - available))
            if total > 0:
                out.append(Sample(key(MEM_USAGE), ratio(total - available, total)))
        swap_total, swap_free = values.get("SwapTotal"), values.get("SwapFree")
        if swap_total is not None and swap_free is not None:
            out.append(Sample(key(SWAP_USED), swap_total - swap_free))
        self._vmstat_samples(out)
        return out

    def _vmstat_samples(self, out: list[Sample]) -> None:
        text = read_text(self._vmstat)
        if text is None:
            return
        key = self._keys.key
        wanted = len(_VMSTAT)
        for line in text.splitlines():
            field, _, value = line.partition(" ")
            fam = _VMSTAT.get(field)
            if fam is not None:
                out.append(Sample(key(fam), float(value)))
                wanted -= 1
                if wanted == 0:
                    break
