"""NVIDIA Jetson (Tegra) figures from sysfs and debugfs, without the jtop daemon.

The files differ between JetPack releases; each reading tries the known places
in order and keeps the first that exists (see docs/gpu.md and
tests/collect/fixtures/jetson/README.md for where each comes from):

- GPU load (per mille): ``devices/gpu.0/load`` (JetPack 4/5, Xavier and Nano),
  ``devices/platform/gpu.0/load`` (JetPack 5, Orin), ``devices/platform/bus@0/
  17000000.gpu/load`` (JetPack 6), a GPU devfreq node's ``device/load``, and
  ``class/devfreq/gpu-gpc-0/load`` (JetPack 7, Thor). GPU clock: that devfreq
  node's ``cur_freq``.
- EMC (memory controller) load: the actmon average (``kernel/actmon_avg_activity/
  mc_all`` or debugfs ``cactmon/mc_all``, ``bpmp/debug/actmon/mc_all_avg_activity``)
  divided by the EMC clock (debugfs ``bpmp/debug/clk/emc/rate``), as jtop does.
  debugfs is root-only and often unmounted: then the EMC load is absent.
- Temperatures by thermal zone ``type``; INA3221 power rails (hwmon layout of
  JetPack 5 and later); nvpmodel's mode from ``/var/lib/nvpmodel/status`` and
  its name from ``/etc/nvpmodel.conf``; the fan's PWM duty and tachometer.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

from edgewatch.collect.base import (
    GAUGE,
    INFO,
    KeyCache,
    OnceLogger,
    family,
    list_dir,
    read_int,
    read_stripped,
    read_text,
)
from edgewatch.model import MetricFamily, Sample

log = logging.getLogger(__name__)

GPU_LOAD = family("jetson_gpu_load_ratio", GAUGE, "Integrated GPU load (0-1).")
GPU_FREQ = family("jetson_gpu_frequency_hertz", GAUGE, "Integrated GPU clock.")
EMC_LOAD = family("jetson_emc_load_ratio", GAUGE, "Memory controller (EMC) load (0-1).")
EMC_FREQ = family("jetson_emc_frequency_hertz", GAUGE, "Memory controller (EMC) clock.")
TEMP = family(
    "jetson_temperature_celsius", GAUGE, "Temperature of a thermal zone, by its type.", "zone"
)
POWER = family("jetson_power_watts", GAUGE, "Power drawn through an INA3221 rail.", "rail")
VOLTAGE = family("jetson_power_voltage_volts", GAUGE, "Bus voltage of an INA3221 rail.", "rail")
CURRENT = family("jetson_power_current_amperes", GAUGE, "Current through an INA3221 rail.", "rail")
NVPMODEL = family("jetson_nvpmodel_mode", INFO, "The nvpmodel power mode in force.", "id", "name")
FAN_SPEED = family("jetson_fan_speed_ratio", GAUGE, "Fan PWM duty cycle (0-1).", "fan")
FAN_RPM = family("jetson_fan_rpm", GAUGE, "Fan speed measured by its tachometer.", "fan")

FAMILIES = (
    GPU_LOAD, GPU_FREQ, EMC_LOAD, EMC_FREQ, TEMP, POWER, VOLTAGE, CURRENT, NVPMODEL,
    FAN_SPEED, FAN_RPM,
)  # fmt: skip

RESCAN_EVERY = 60  # collections between two searches for the files (hot-plugged fan, rails)
GPU_LOAD_FILES = (
    "devices/gpu.0/load",
    "devices/platform/gpu.0/load",
    "devices/platform/bus@0/17000000.gpu/load",
    "devices/platform/17000000.gpu/load",
    "devices/platform/17000000.ga10b/load",
)
GPU_DEVFREQ = ("gpu-gpc-0", "17000000.gpu", "17000000.ga10b", "17000000.gv11b", "57000000.gpu")
GPU_OF_NAMES = {"gpu", "ga10b", "gv11b", "gp10b", "gb10b"}
EMC_ACTIVITY_FILES = (
    "kernel/actmon_avg_activity/mc_all",
    "kernel/debug/cactmon/mc_all",
    "kernel/debug/bpmp/debug/actmon/mc_all_avg_activity",
)
EMC_RATE_FILE = "kernel/debug/bpmp/debug/clk/emc/rate"
EMC_DEVFREQ_FREQ = "class/devfreq/bwmgr/cur_freq"  # JetPack 7 (Thor)
THERMAL_OFFLINE = -256000  # what a switched-off Tegra zone reports, in m°C
PWM_MAX = 255.0
_PWM = re.compile(r"^pwm(\d+)$")
_LABEL = re.compile(r"^in(\d+)_label$")
_POWER_MODEL = re.compile(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)")
_PM_DEFAULT = re.compile(r"<\s*PM_CONFIG\s+DEFAULT=(\d+)")
_PMODE = re.compile(r"pmode:0*(\d+)")


class JetsonCollector:
    name = "jetson"

    def __init__(
        self,
        *,
        interval: float = 5.0,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        root: str = "/",
    ) -> None:
        self.interval = interval
        self._sys = sys_root
        self._nvpmodel_conf = os.path.join(root, "etc/nvpmodel.conf")
        self._nvpmodel_status = os.path.join(root, "var/lib/nvpmodel/status")
        self._keys = KeyCache()
        self._once = OnceLogger(log)
        self._gpu_load: str | None = None
        self._gpu_freq: str | None = None
        self._emc_activity: str | None = None
        self._emc_rate: str | None = None
        self._zones: list[tuple[str, str]] = []  # (zone label, temp file)
        self._rails: list[tuple[str, str, str]] = []  # (rail, voltage file, current file)
        self._fans: list[tuple[str, str]] = []  # (fan, pwm file)
        self._tachs: list[tuple[str, str]] = []  # (fan, rpm file)
        self._since_scan: int | None = None

    def available(self) -> str | None:
        self._scan()
        if self._gpu_load is None:
            return f"not an NVIDIA Jetson: no Tegra GPU load file under {self._sys}"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        if self._since_scan is None or self._since_scan >= RESCAN_EVERY:
            self._scan()
        self._since_scan = (self._since_scan or 0) + 1
        key = self._keys.key
        out: list[Sample] = []

        def put(fam: MetricFamily, value: float | None, *labels: str) -> None:
            if value is not None:
                out.append(Sample(key(fam, *labels), value))

        put(GPU_LOAD, _scaled(self._read(self._gpu_load), 1e-3))
        put(GPU_FREQ, _scaled(self._read(self._gpu_freq), 1.0))
        rate = self._read(self._emc_rate)
        put(EMC_FREQ, _scaled(rate, 1.0))
        activity = self._read(self._emc_activity)
        if activity is not None and rate:
            # actmon's average over the EMC clock in kHz is a percentage (jtop's formula)
            put(EMC_LOAD, round(min(activity / (rate / 1000.0) / 100.0, 1.0), 6))
        for zone, path in self._zones:
            milli = self._read(path)
            if milli is not None and milli != THERMAL_OFFLINE:
                put(TEMP, milli / 1000.0, zone)
        for rail, volt_file, curr_file in self._rails:
            millivolts, milliamps = self._read(volt_file), self._read(curr_file)
            if millivolts is None or milliamps is None:
                continue
            put(VOLTAGE, millivolts / 1000.0, rail)
            put(CURRENT, milliamps / 1000.0, rail)
            put(POWER, round(millivolts * milliamps / 1e6, 6), rail)
        for fan, path in self._fans:
            put(FAN_SPEED, _scaled(self._read(path), 1.0 / PWM_MAX), fan)
        for fan, path in self._tachs:
            put(FAN_RPM, _scaled(self._read(path), 1.0), fan)
        mode = self._nvpmodel()
        if mode is not None:
            put(NVPMODEL, 1.0, *mode)
        return out

    def _read(self, path: str | None) -> int | None:
        if path is None:
            return None
        value = read_int(path)
        if value is None:
            self._once.info(f"{path} unreadable, skipped")
        return value

    # -- finding the files ------------------------------------------------------------

    def _scan(self) -> None:
        sys_root = self._sys
        self._gpu_load = _first(os.path.join(sys_root, f) for f in GPU_LOAD_FILES)
        self._gpu_freq = None
        devfreq = os.path.join(sys_root, "class/devfreq")
        for entry in list_dir(devfreq):
            node = os.path.join(devfreq, entry)
            of_name = _device_tree_string(os.path.join(node, "device/of_node/name"))
            if entry not in GPU_DEVFREQ and of_name not in GPU_OF_NAMES:
                continue
            self._gpu_freq = self._gpu_freq or _first([os.path.join(node, "cur_freq")])
            own_load = _first([os.path.join(node, "device/load"), os.path.join(node, "load")])
            self._gpu_load = self._gpu_load or own_load
        self._emc_activity = _first(os.path.join(sys_root, f) for f in EMC_ACTIVITY_FILES)
        self._emc_rate = _first(
            [os.path.join(sys_root, EMC_RATE_FILE), os.path.join(sys_root, EMC_DEVFREQ_FREQ)]
        )
        if self._emc_activity is None or self._emc_rate is None:
            self._once.info(
                f"EMC load not collected: actmon or the EMC clock is not readable under "
                f"{sys_root}/kernel (debugfs needs root and a mount)"
            )
        self._zones = self._scan_zones()
        self._rails = self._scan_rails()
        self._fans, self._tachs = self._scan_fans()
        self._since_scan = 0

    def _scan_zones(self) -> list[tuple[str, str]]:
        thermal = os.path.join(self._sys, "class/thermal")
        zones: list[tuple[str, str]] = []
        seen: set[str] = set()
        for entry in list_dir(thermal):
            if not entry.startswith("thermal_zone"):
                continue
            base = os.path.join(thermal, entry)
            kind = read_stripped(os.path.join(base, "type")) or entry
            if kind in seen:  # two zones of one type: tell them apart by number
                kind = f"{kind}_{entry[len('thermal_zone') :]}"
            seen.add(kind)
            zones.append((kind, os.path.join(base, "temp")))
        return zones

    def _scan_rails(self) -> list[tuple[str, str, str]]:
        drivers = os.path.join(self._sys, "bus/i2c/drivers")
        rails: list[tuple[str, str, str]] = []
        for driver in list_dir(drivers):
            if not driver.startswith("ina3221"):
                continue
            for device in list_dir(os.path.join(drivers, driver)):
                hwmon_root = os.path.join(drivers, driver, device, "hwmon")
                for hwmon in list_dir(hwmon_root):
                    rails.extend(_hwmon_rails(os.path.join(hwmon_root, hwmon)))
        return rails

    def _scan_fans(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        hwmon_root = os.path.join(self._sys, "class/hwmon")
        fans: list[tuple[str, str]] = []
        tachs: list[tuple[str, str]] = []
        for entry in list_dir(hwmon_root):
            base = os.path.join(hwmon_root, entry)
            name = read_stripped(os.path.join(base, "name")) or entry
            files = list_dir(base)
            if "fan" in name or "pwm" in name:
                pwms = [f for f in files if _PWM.match(f)]
                for pwm in pwms:
                    fans.append((name if len(pwms) == 1 else f"{name}_{pwm}", f"{base}/{pwm}"))
            if "rpm" in files:
                tachs.append((name, os.path.join(base, "rpm")))
            elif "fan1_input" in files and ("fan" in name or "tach" in name):
                tachs.append((name, os.path.join(base, "fan1_input")))
        if len(fans) == 1 and len(tachs) == 1:  # one fan, one tachometer: one label
            tachs = [(fans[0][0], tachs[0][1])]
        return fans, tachs

    def _nvpmodel(self) -> tuple[str, str] | None:
        conf = read_text(self._nvpmodel_conf)
        if conf is None:
            return None
        status = read_stripped(self._nvpmodel_status) or ""
        match = _PMODE.search(status) or _PM_DEFAULT.search(conf)  # no status: boot default
        if match is None:
            self._once.info(f"nvpmodel mode not found in {self._nvpmodel_status}")
            return None
        mode = match.group(1)
        names = dict(_POWER_MODEL.findall(conf))
        return mode, names.get(mode, "")


def _hwmon_rails(base: str) -> list[tuple[str, str, str]]:
    rails: list[tuple[str, str, str]] = []
    for attr in list_dir(base):
        match = _LABEL.match(attr)
        if match is None:
            continue
        label = read_stripped(os.path.join(base, attr)) or ""
        channel = match.group(1)
        # "NC": channel not connected (Orin); "sum of shunt voltages": not a rail
        if not label or label == "NC" or label.startswith("sum of"):
            continue
        volt, curr = f"{base}/in{channel}_input", f"{base}/curr{channel}_input"
        if os.path.exists(volt) and os.path.exists(curr):
            rails.append((label, volt, curr))
    return rails


def _device_tree_string(path: str) -> str | None:
    """A device-tree string property: NUL-terminated on real boards (``gpu\\0``)."""
    text = read_text(path)
    return None if text is None else text.split("\0", 1)[0].strip()


def _first(paths: Iterable[str]) -> str | None:
    return next((p for p in paths if os.path.isfile(p)), None)


def _scaled(value: int | None, scale: float) -> float | None:
    return None if value is None else round(value * scale, 6)
