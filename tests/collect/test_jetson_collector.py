"""The Jetson collector against checked-in fake trees of JetPack 5, 6 and 7."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from collect_helpers import FIXTURES, SYS, values

from edgewatch.collect.jetson import JetsonCollector

JETSON = FIXTURES / "jetson"


def collector(root: Path) -> JetsonCollector:
    c = JetsonCollector(interval=5.0, sys_root=str(root / "sys"), root=str(root))
    assert c.available() is None
    return c


@pytest.fixture
def jp6_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(JETSON / "jp6", tmp_path / "jp6", symlinks=True))


def test_jetpack5_agx_orin() -> None:
    v = values(collector(JETSON / "jp5").collect())
    assert v["jetson_gpu_load_ratio"] == 0.312
    assert v["jetson_gpu_frequency_hertz"] == 1_300_500_000
    assert v["jetson_emc_load_ratio"] == 0.25  # 79975000 / 3199000 kHz / 100
    assert v["jetson_emc_frequency_hertz"] == 3_199_000_000
    assert v['jetson_temperature_celsius{zone="GPU-therm"}'] == 45.968
    assert v['jetson_temperature_celsius{zone="tj-therm"}'] == 47.5
    assert 'jetson_temperature_celsius{zone="CV1-therm"}' not in v  # offline: -256 °C
    assert v['jetson_power_watts{rail="VDD_GPU_SOC"}'] == pytest.approx(5.008 * 1.448)
    assert v['jetson_power_voltage_volts{rail="VDD_CPU_CV"}'] == 5.008
    assert v['jetson_power_current_amperes{rail="VDDQ_VDD2_1V8AO"}'] == 0.2
    rails = {k for k in v if k.startswith("jetson_power_watts")}
    assert len(rails) == 4  # NC channels and "sum of shunt voltages" left out
    assert v['jetson_fan_speed_ratio{fan="pwmfan"}'] == 0.4
    assert v['jetson_fan_rpm{fan="pwmfan"}'] == 2217
    assert v['jetson_nvpmodel_mode{id="3",name="MODE_40W"}'] == 1


def test_jetpack6_orin_nano() -> None:
    v = values(collector(JETSON / "jp6").collect())
    assert v["jetson_gpu_load_ratio"] == 0.54
    assert v["jetson_gpu_frequency_hertz"] == 1_020_000_000
    assert v["jetson_emc_load_ratio"] == 0.4
    assert v['jetson_temperature_celsius{zone="cpu-thermal"}'] == 51.187
    assert v['jetson_power_watts{rail="VDD_IN"}'] == pytest.approx(5.072 * 1.64)
    assert v['jetson_fan_speed_ratio{fan="pwmfan"}'] == round(76 / 255, 6)
    # no status file: the configured default mode
    assert v['jetson_nvpmodel_mode{id="2",name="MAXN_SUPER"}'] == 1


def test_jetpack7_thor() -> None:
    v = values(collector(JETSON / "jp7").collect())
    assert v["jetson_gpu_load_ratio"] == 0.205
    assert v["jetson_gpu_frequency_hertz"] == 1_575_000_000
    assert v["jetson_emc_frequency_hertz"] == 4_266_000_000
    assert "jetson_emc_load_ratio" not in v
    assert not [k for k in v if k.startswith(("jetson_power_", "jetson_fan_rpm"))]
    assert v['jetson_temperature_celsius{zone="gpu-thermal"}'] == 44.5
    assert v['jetson_nvpmodel_mode{id="1",name="120W"}'] == 1


def test_debugfs_not_mounted_leaves_out_the_emc_load_only(
    jp6_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.rmtree(jp6_copy / "sys/kernel/debug")
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.jetson"):
        c = collector(jp6_copy)
        runs = [values(c.collect()) for _ in range(3)]
    for v in runs:
        assert "jetson_emc_load_ratio" not in v
        assert "jetson_emc_frequency_hertz" not in v
        assert v["jetson_gpu_load_ratio"] == 0.54
    assert [r.getMessage() for r in caplog.records] == [
        f"EMC load not collected: actmon or the EMC clock is not readable under "
        f"{jp6_copy}/sys/kernel (debugfs needs root and a mount)"
    ]


def test_a_file_that_stops_answering_is_skipped_and_logged_once(
    jp6_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = collector(jp6_copy)
    (jp6_copy / "sys/kernel/debug/cactmon/mc_all").write_text("")  # EINVAL-like: no number
    (jp6_copy / "sys/devices/virtual/thermal/thermal_zone1/temp").write_text("")
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.jetson"):
        runs = [values(c.collect()) for _ in range(3)]
    for v in runs:
        assert "jetson_emc_load_ratio" not in v
        assert 'jetson_temperature_celsius{zone="gpu-thermal"}' not in v
        assert v['jetson_temperature_celsius{zone="cpu-thermal"}'] == 51.187
    assert len(caplog.records) == 2


def test_nvpmodel_change_is_seen_on_the_next_collection(jp6_copy: Path) -> None:
    c = collector(jp6_copy)
    (jp6_copy / "var/lib/nvpmodel").mkdir(parents=True)
    (jp6_copy / "var/lib/nvpmodel/status").write_text("pmode:0003\n")
    v = values(c.collect())
    assert v['jetson_nvpmodel_mode{id="3",name="7W"}'] == 1
    assert not [k for k in v if "MAXN_SUPER" in k]


def test_not_a_jetson_disables_with_a_reason() -> None:
    reason = JetsonCollector(sys_root=str(SYS)).available()
    assert reason == f"not an NVIDIA Jetson: no Tegra GPU load file under {SYS}"


def test_this_machine_either_is_a_jetson_or_says_why() -> None:
    c = JetsonCollector()
    reason = c.available()
    if reason is None:
        assert "jetson_gpu_load_ratio" in values(c.collect())
    else:
        assert reason.startswith("not an NVIDIA Jetson")


def test_a_gpu_devfreq_node_is_known_by_its_device_tree_name(jp6_copy: Path) -> None:
    # A devfreq node under a name not in the list (a newer module) is the GPU when its
    # device-tree node says so; device-tree strings end in NUL ("gpu\0"), as the fixture's.
    devfreq = jp6_copy / "sys/class/devfreq"
    (devfreq / "17000000.gpu").rename(devfreq / "17000000.gb20b")
    assert (devfreq / "17000000.gb20b/device/of_node/name").read_bytes() == b"gpu\0"
    v = values(collector(jp6_copy).collect())
    assert v["jetson_gpu_frequency_hertz"] == 1_020_000_000
