from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
from collect_helpers import PROC, SYS, values

from edgewatch.collect.system import SystemCollector
from edgewatch.collect.timex import TimexReading


def test_uptime_boot_time_fds_and_process_states() -> None:
    c = SystemCollector(interval=15.0, proc_root=str(PROC), sys_root=str(SYS), utmp="/dev/null")
    assert c.available() is None
    v = values(c.collect())
    assert v["node_boot_time_seconds"] == 1795544987
    assert v["system_uptime_seconds"] == 3357.47
    assert v["node_procs_running"] == 3
    assert v["node_procs_blocked"] == 1
    assert v["node_filefd_allocated"] == 441
    assert v["node_filefd_maximum"] == 2466177
    assert v['system_processes{state="running"}'] == 1
    assert v['system_processes{state="sleeping"}'] == 4
    assert v['system_processes{state="idle"}'] == 1  # the kworker
    assert v["node_processes_threads"] == 1 + 12 + 2 + 1 + 1 + 1
    assert v["system_users_logged_in"] == 0


def test_emmc_wear_undervoltage_and_throttling_flags() -> None:
    c = SystemCollector(interval=15.0, proc_root=str(PROC), sys_root=str(SYS), utmp="/dev/null")
    v = values(c.collect())
    # life_time "0x01 0x02": type A 0-10 % used, type B 10-20 % used
    assert v['system_emmc_life_time_ratio{device="mmcblk0",type="A"}'] == 0.1
    assert v['system_emmc_life_time_ratio{device="mmcblk0",type="B"}'] == 0.2
    assert v['system_emmc_pre_eol{device="mmcblk0"}'] == 1
    assert v['system_undervoltage{source="rpi_volt"}'] == 1
    # get_throttled 0x50005: under-voltage now, throttled now, under-voltage occurred
    assert v['system_undervoltage{source="firmware"}'] == 1
    assert v['system_thermal_throttled{source="firmware"}'] == 1
    assert v['system_frequency_capped{source="firmware"}'] == 0
    assert v['system_undervoltage_occurred{source="firmware"}'] == 1
    # cpufreq cooling device in state 1 (the pwm fan in state 2 is not throttling)
    assert v['system_thermal_throttled{source="cooling_device"}'] == 1


def test_fan_alone_is_not_throttling(sys_copy: Path) -> None:
    (sys_copy / "class/thermal/cooling_device1/cur_state").write_text("0\n")
    c = SystemCollector(interval=15.0, proc_root=str(PROC), sys_root=str(sys_copy),
                        utmp="/dev/null")  # fmt: skip
    assert values(c.collect())['system_thermal_throttled{source="cooling_device"}'] == 0


def test_board_without_health_files_reports_none(tmp_path: Path) -> None:
    c = SystemCollector(interval=15.0, proc_root=str(PROC), sys_root=str(tmp_path),
                        utmp="/dev/null")  # fmt: skip
    names = {s.key.name for s in c.collect()}
    assert not any(
        n.startswith(("system_emmc", "system_undervoltage", "system_thermal")) for n in names
    )


def test_logged_in_users_counted_from_utmp(tmp_path: Path) -> None:
    record = struct.pack("<h", 7).ljust(384, b"\0")  # USER_PROCESS
    boot = struct.pack("<h", 2).ljust(384, b"\0")  # BOOT_TIME
    utmp = tmp_path / "utmp"
    utmp.write_bytes(boot + record + record)
    c = SystemCollector(interval=15.0, proc_root=str(PROC), sys_root=str(SYS), utmp=str(utmp))
    assert values(c.collect())["system_users_logged_in"] == 2


def test_unreadable_utmp_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = SystemCollector(interval=15.0, proc_root=str(PROC), sys_root=str(SYS),
                        utmp=str(tmp_path / "absent"))  # fmt: skip
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.system"):
        for _ in range(3):
            assert "system_users_logged_in" not in values(c.collect())
    assert len([r for r in caplog.records if "users unknown" in r.getMessage()]) == 1


def test_real_machine_system() -> None:
    c = SystemCollector(interval=15.0)
    assert c.available() is None
    v = values(c.collect())
    assert v["system_uptime_seconds"] > 0
    assert v["node_time_seconds"] > v["node_boot_time_seconds"] > 1e9
    assert sum(val for k, val in v.items() if k.startswith("system_processes{")) >= 1
    if "node_timex_sync_status" in v:
        assert v["node_timex_sync_status"] in (0.0, 1.0)
        assert v["node_timex_maxerror_seconds"] >= 0
        # The kernel corrects by at most 500 ppm: the ratio is close to 1, never to 0.
        assert 0.9995 <= v["node_timex_frequency_adjustment_ratio"] <= 1.0005


def test_timex_frequency_ratio_is_one_plus_the_ppm_correction() -> None:
    reading = TimexReading(
        synced=True,
        offset_seconds=0.000123,
        maxerror_seconds=0.5,
        esterror_seconds=0.001,
        frequency_ppm=-12.5,  # what the kernel's freq of -819200 (ppm << 16) means
        tai_offset_seconds=37.0,
    )
    c = SystemCollector(interval=15.0, proc_root=str(PROC), sys_root=str(SYS), utmp="/dev/null",
                        adjtimex=lambda: lambda: reading)  # fmt: skip
    v = values(c.collect())
    assert v["node_timex_frequency_adjustment_ratio"] == 1 - 12.5e-6
    assert v["node_timex_sync_status"] == 1
    assert v["node_timex_tai_offset_seconds"] == 37
