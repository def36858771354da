from __future__ import annotations

from pathlib import Path

from collect_helpers import PROC, SYS, values

from edgewatch.collect.base import USER_HZ
from edgewatch.collect.cpu import CpuCollector


def test_cpu_seconds_loads_and_frequency_from_fake_tree() -> None:
    c = CpuCollector(interval=1.0, proc_root=str(PROC), sys_root=str(SYS))
    assert c.available() is None
    v = values(c.collect())
    assert v['node_cpu_seconds_total{cpu="1",mode="user"}'] == 3172 / USER_HZ
    assert v['node_cpu_seconds_total{cpu="0",mode="steal"}'] == 1 / USER_HZ
    assert len([k for k in v if k.startswith("node_cpu_seconds_total")]) == 16
    assert v["node_load5"] == 0.08
    assert v["node_context_switches_total"] == 280018
    assert v["node_intr_total"] == 161044
    assert v["system_cpus"] == 2
    assert v['node_cpu_scaling_frequency_hertz{cpu="0"}'] == 1.5e9
    # usage ratios need two collections
    assert not any(k.startswith("system_cpu_usage_ratio") for k in v)


def test_usage_ratio_comes_from_deltas(proc_copy: Path) -> None:
    c = CpuCollector(interval=1.0, proc_root=str(proc_copy), sys_root=str(SYS))
    c.collect()
    stat = proc_copy / "stat"
    lines = stat.read_text().splitlines()
    # cpu0: +30 user, +10 system, +50 idle, +10 iowait -> 40 busy of 100
    lines[1] = "cpu0 622 5 595 334196 13 1 10 1 0 0"
    lines[0] = "cpu  3795 12 1856 664686 135 3 29 6 0 0"
    stat.write_text("\n".join(lines) + "\n")
    v = values(c.collect())
    assert v['system_cpu_usage_ratio{cpu="0"}'] == 0.4
    assert v['system_cpu_usage_ratio{cpu="total"}'] == 0.4
    assert v['system_cpu_mode_ratio{mode="iowait"}'] == 0.1
    assert 'system_cpu_usage_ratio{cpu="1"}' not in v  # no time elapsed on cpu1


def test_real_machine_counters_are_monotonic() -> None:
    c = CpuCollector(interval=1.0)
    assert c.available() is None
    first = values(c.collect())
    second = values(c.collect())
    for name, value in first.items():
        if "_total" in name:
            assert second[name] >= value, name
    assert 0.0 <= second.get('system_cpu_usage_ratio{cpu="total"}', 0.0) <= 1.0


def test_missing_proc_disables_the_collector(tmp_path: Path) -> None:
    c = CpuCollector(interval=1.0, proc_root=str(tmp_path), sys_root=str(tmp_path))
    assert c.available() == f"{tmp_path}/stat is not readable"
