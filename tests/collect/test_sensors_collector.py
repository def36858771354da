from __future__ import annotations

import logging
from pathlib import Path

import pytest
from collect_helpers import PROC, SYS, values

from edgewatch.collect.sensors import RESCAN_EVERY, SensorsCollector


def test_jetson_like_thermal_zones_and_cooling_devices() -> None:
    c = SensorsCollector(interval=5.0, proc_root=str(PROC), sys_root=str(SYS))
    assert c.available() is None
    v = values(c.collect())
    assert v['node_thermal_zone_temp{type="CPU-therm",zone="0"}'] == 45.5
    assert v['node_thermal_zone_temp{type="GPU-therm",zone="1"}'] == 43.0
    assert v['node_cooling_device_cur_state{name="1",type="cpufreq-cpu0"}'] == 1
    assert v['node_cooling_device_max_state{name="0",type="pwm-fan"}'] == 3


def test_hwmon_temperatures_fans_and_voltages() -> None:
    v = values(SensorsCollector(interval=5.0, sys_root=str(SYS)).collect())
    assert v['node_hwmon_temp_celsius{chip="nct6775",sensor="temp1"}'] == 52.0
    assert v['node_hwmon_fan_rpm{chip="nct6775",sensor="fan1"}'] == 1450
    assert v['node_hwmon_in_volts{chip="nct6775",sensor="in0"}'] == pytest.approx(1.216)
    assert v['node_hwmon_chip_names{chip="rpi_volt",chip_name="rpi_volt"}'] == 1


def test_battery_and_mains() -> None:
    v = values(SensorsCollector(interval=5.0, sys_root=str(SYS)).collect())
    assert v['node_power_supply_capacity{power_supply="BAT0"}'] == 87
    assert v['node_power_supply_voltage_volt{power_supply="BAT0"}'] == pytest.approx(12.1)
    assert v['node_power_supply_energy_watthour{power_supply="BAT0"}'] == pytest.approx(40.0)
    assert v['node_power_supply_online{power_supply="AC"}'] == 0
    info = 'node_power_supply_info{power_supply="BAT0",status="Discharging",type="Battery"}'
    assert v[info] == 1


def test_no_sensors_disables_with_a_reason(tmp_path: Path) -> None:
    c = SensorsCollector(interval=5.0, sys_root=str(tmp_path))
    reason = c.available()
    assert reason == f"no thermal zones, hwmon sensors or power supplies under {tmp_path}/class"


def test_unreadable_zone_is_skipped_and_logged_once(
    sys_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (sys_copy / "class/thermal/thermal_zone1/temp").write_text("")  # a disabled Jetson zone
    c = SensorsCollector(interval=5.0, sys_root=str(sys_copy))
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.sensors"):
        samples = [values(c.collect()) for _ in range(30)]
    assert all('node_thermal_zone_temp{type="GPU-therm",zone="1"}' not in v for v in samples)
    assert all('node_thermal_zone_temp{type="CPU-therm",zone="0"}' in v for v in samples)
    assert len(caplog.records) == 1
    assert "thermal_zone1/temp unreadable" in caplog.records[0].getMessage()


def test_real_machine_sensors_either_work_or_say_why() -> None:
    c = SensorsCollector(interval=5.0)
    reason = c.available()
    if reason is None:
        assert values(c.collect())
    else:
        assert reason.startswith("no thermal zones")


def test_available_scans_once_and_the_first_collection_reuses_it(sys_copy: Path) -> None:
    c = SensorsCollector(interval=5.0, proc_root=str(PROC), sys_root=str(sys_copy))
    assert c.available() is None
    zone = sys_copy / "class" / "thermal" / "thermal_zone9"
    zone.mkdir()
    (zone / "type").write_text("new-therm\n")
    (zone / "temp").write_text("30000\n")
    new = 'node_thermal_zone_temp{type="new-therm",zone="9"}'
    # Collections 1..RESCAN_EVERY read what available() found; the next one re-scans.
    for _ in range(RESCAN_EVERY):
        assert new not in values(c.collect())
    assert values(c.collect())[new] == 30.0
