"""Sensors: thermal zones and cooling devices, hwmon chips, power supplies (batteries).

Thermal zones are where ARM boards such as NVIDIA Jetson report CPU and GPU
temperatures; hwmon is where x86 boards report theirs. The files to read are
found once (by ``available()``, or the first collection) and re-found every
``RESCAN_EVERY`` collections.
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
)
from edgewatch.model import MetricFamily, Sample

log = logging.getLogger(__name__)

RESCAN_EVERY = 12
ZONE_TEMP = family(
    "node_thermal_zone_temp", GAUGE, "Thermal zone temperature in degrees Celsius.",
    "type", "zone",
)  # fmt: skip
COOLING_CUR = family(
    "node_cooling_device_cur_state", GAUGE, "Current throttle state of a cooling device.",
    "name", "type",
)  # fmt: skip
COOLING_MAX = family(
    "node_cooling_device_max_state", GAUGE, "Highest throttle state of a cooling device.",
    "name", "type",
)  # fmt: skip
HWMON_TEMP = family(
    "node_hwmon_temp_celsius", GAUGE, "Hardware monitor temperature.", "chip", "sensor"
)
HWMON_FAN = family("node_hwmon_fan_rpm", GAUGE, "Hardware monitor fan speed.", "chip", "sensor")
HWMON_IN = family("node_hwmon_in_volts", GAUGE, "Hardware monitor voltage.", "chip", "sensor")
HWMON_CHIP = family(
    "node_hwmon_chip_names", INFO, "Human name of each hwmon chip.", "chip", "chip_name"
)
_PS = ("power_supply",)
PS_ONLINE = family("node_power_supply_online", GAUGE, "1 when the supply is online.", *_PS)
PS_CAPACITY = family(
    "node_power_supply_capacity", GAUGE, "Battery charge in percent (as the kernel reports).", *_PS
)
PS_VOLTAGE = family("node_power_supply_voltage_volt", GAUGE, "Present voltage.", *_PS)
PS_CURRENT = family("node_power_supply_current_ampere", GAUGE, "Present current.", *_PS)
PS_POWER = family("node_power_supply_power_watt", GAUGE, "Present power.", *_PS)
PS_ENERGY = family("node_power_supply_energy_watthour", GAUGE, "Present stored energy.", *_PS)
PS_ENERGY_FULL = family(
    "node_power_supply_energy_full", GAUGE, "Stored energy when full, in watt-hours.", *_PS
)
PS_INFO = family(
    "node_power_supply_info", INFO, "Type and status of each power supply.",
    "power_supply", "type", "status",
)  # fmt: skip

# power_supply attribute -> (family, scale to base unit)
_PS_VALUES = (
    ("online", PS_ONLINE, 1.0), ("capacity", PS_CAPACITY, 1.0),
    ("voltage_now", PS_VOLTAGE, 1e-6), ("current_now", PS_CURRENT, 1e-6),
    ("power_now", PS_POWER, 1e-6), ("energy_now", PS_ENERGY, 1e-6),
    ("energy_full", PS_ENERGY_FULL, 1e-6),
)  # fmt: skip
# hwmon attribute prefix -> (family, scale)
_HWMON_KINDS = {"temp": (HWMON_TEMP, 1e-3), "fan": (HWMON_FAN, 1.0), "in": (HWMON_IN, 1e-3)}
_HWMON_INPUT = re.compile(r"^(temp|fan|in)(\d+)_input$")

FAMILIES = (
    ZONE_TEMP, COOLING_CUR, COOLING_MAX, HWMON_TEMP, HWMON_FAN, HWMON_IN, HWMON_CHIP,
    PS_ONLINE, PS_CAPACITY, PS_VOLTAGE, PS_CURRENT, PS_POWER, PS_ENERGY, PS_ENERGY_FULL,
    PS_INFO,
)  # fmt: skip

# One value to read: (file, family, label values, scale).
Reading = tuple[str, MetricFamily, tuple[str, ...], float]


class SensorsCollector:
    name = "sensors"

    def __init__(
        self, *, interval: float = 5.0, proc_root: str = "/proc", sys_root: str = "/sys"
    ) -> None:
        self.interval = interval
        self._class = os.path.join(sys_root, "class")
        self._keys = KeyCache()
        self._once = OnceLogger(log)
        self._readings: list[Reading] = []
        self._infos: list[tuple[MetricFamily, tuple[str, ...]]] = []
        self._supplies: list[str] = []
        self._since_scan: int | None = None  # collections since the last scan; None: never

    def available(self) -> str | None:
        self._scan()
        if not self._readings and not self._supplies:
            return f"no thermal zones, hwmon sensors or power supplies under {self._class}"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        if self._since_scan is None or self._since_scan >= RESCAN_EVERY:
            self._scan()  # not again right after available() scanned
        self._since_scan = (self._since_scan or 0) + 1
        key = self._keys.key
        out: list[Sample] = []
        for path, fam, labels, scale in self._readings:
            value = read_int(path)
            if value is None:
                # e.g. a Jetson zone that is switched off answers EINVAL: skip it quietly
                self._once.info(f"sensor {path} unreadable, skipped")
                continue
            out.append(Sample(key(fam, *labels), value * scale))
        out.extend(Sample(key(fam, *labels), 1.0) for fam, labels in self._infos)
        for supply in self._supplies:
            status = read_stripped(f"{supply}/status") or ""
            kind = read_stripped(f"{supply}/type") or ""
            name = os.path.basename(supply)
            out.append(Sample(key(PS_INFO, name, kind, status), 1.0))
        return out

    def _scan(self) -> None:
        readings: list[Reading] = []
        infos: list[tuple[MetricFamily, tuple[str, ...]]] = []
        thermal = os.path.join(self._class, "thermal")
        for entry in list_dir(thermal):
            base = os.path.join(thermal, entry)
            kind = read_stripped(f"{base}/type") or entry
            if entry.startswith("thermal_zone"):
                zone = entry[len("thermal_zone") :]
                readings.append((f"{base}/temp", ZONE_TEMP, (kind, zone), 1e-3))
            elif entry.startswith("cooling_device"):
                name = entry[len("cooling_device") :]
                readings.append((f"{base}/cur_state", COOLING_CUR, (name, kind), 1.0))
                readings.append((f"{base}/max_state", COOLING_MAX, (name, kind), 1.0))
        hwmon = os.path.join(self._class, "hwmon")
        for entry in list_dir(hwmon):
            base = os.path.join(hwmon, entry)
            chip = hwmon_chip_name(base)
            human = read_stripped(f"{base}/name")
            if human:
                infos.append((HWMON_CHIP, (chip, human)))
            for attr in list_dir(base):
                match = _HWMON_INPUT.match(attr)
                if match:
                    fam, scale = _HWMON_KINDS[match.group(1)]
                    sensor = f"{match.group(1)}{match.group(2)}"
                    readings.append((f"{base}/{attr}", fam, (chip, sensor), scale))
        supplies_dir = os.path.join(self._class, "power_supply")
        supplies = [os.path.join(supplies_dir, e) for e in list_dir(supplies_dir)]
        for supply in supplies:
            name = os.path.basename(supply)
            for attr, fam, scale in _PS_VALUES:
                path = f"{supply}/{attr}"
                if os.path.exists(path):
                    readings.append((path, fam, (name,), scale))
        self._readings, self._infos, self._supplies = readings, infos, supplies
        self._since_scan = 0


def hwmon_chip_name(hwmon_dir: str) -> str:
    """A stable chip label, derived as node_exporter derives it.

    From the ``device`` link (``<parent dir>_<device dir>``, e.g.
    ``platform_coretemp_0``), else the chip's ``name`` file, else ``hwmonN``.
    """
    device = os.path.join(hwmon_dir, "device")
    if os.path.islink(device) or os.path.isdir(device):
        real = os.path.realpath(device)
        dev_name = _clean(os.path.basename(real))
        dev_type = _clean(os.path.basename(os.path.dirname(real)))
        if dev_type and dev_name:
            return f"{dev_type}_{dev_name}"
        if dev_name:
            return dev_name
    name = _clean(read_stripped(os.path.join(hwmon_dir, "name")) or "")
    return name or _clean(os.path.basename(os.path.realpath(hwmon_dir)))


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9:_]", "_", text.strip().lower()).strip("_")
