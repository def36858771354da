from __future__ import annotations

from pathlib import Path

from collect_helpers import PROC, SYS, values

from edgewatch.collect.memory import MemoryCollector


def _meminfo_kib(field: str) -> int:
    for line in (PROC / "meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_meminfo_fields_are_bytes_and_used_is_total_minus_available() -> None:
    c = MemoryCollector(interval=1.0, proc_root=str(PROC), sys_root=str(SYS))
    assert c.available() is None
    v = values(c.collect())
    total, avail = _meminfo_kib("MemTotal") * 1024, _meminfo_kib("MemAvailable") * 1024
    assert v["node_memory_MemTotal_bytes"] == total
    assert v["node_memory_MemAvailable_bytes"] == avail
    assert v["node_memory_Cached_bytes"] == _meminfo_kib("Cached") * 1024
    assert v["system_memory_used_bytes"] == total - avail
    assert v["system_memory_usage_ratio"] == round((total - avail) / total, 6)  # 1 ppm
    assert v["node_vmstat_pswpin"] == 120
    assert v["node_vmstat_pswpout"] == 340


def test_real_machine_memory() -> None:
    c = MemoryCollector(interval=1.0)
    v = values(c.collect())
    assert v["node_memory_MemTotal_bytes"] > v["node_memory_MemAvailable_bytes"] > 0
    assert 0 < v["system_memory_usage_ratio"] < 1


def test_unreadable_meminfo_disables(tmp_path: Path) -> None:
    c = MemoryCollector(interval=1.0, proc_root=str(tmp_path))
    assert c.available() == f"{tmp_path}/meminfo is not readable"
