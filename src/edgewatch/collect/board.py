"""Board health the kernel exposes on some devices: eMMC wear, under-voltage, throttling.

Each source is found once (at construction) and skipped when absent:

- eMMC wear: ``/sys/block/mmcblk*/device/life_time`` ("0x01 0x02": estimates for
  type A and type B memory, JEDEC EXT_CSD 268/269) and ``pre_eol_info``
  (EXT_CSD 267). SD cards expose neither.
- Raspberry Pi under-voltage: the ``rpi_volt`` hwmon chip's ``in0_lcrit_alarm``,
  and, on kernels that have it, the firmware's ``get_throttled`` bit field.
- Thermal throttling: any cooling device that is not a fan in a state above 0
  (Jetson, most ARM SoCs), and the Raspberry Pi firmware bits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from edgewatch.collect.base import GAUGE, KeyCache, family, list_dir, read_int, read_stripped
from edgewatch.model import MetricFamily, Sample

EMMC_LIFE = family(
    "system_emmc_life_time_ratio", GAUGE,
    "Upper bound of the eMMC's estimated used life (level 0x01 = 0-10% -> 0.1, "
    "0x0A = 90-100% -> 1.0, 0x0B = exceeded -> 1.1).", "device", "type",
)  # fmt: skip
EMMC_PRE_EOL = family(
    "system_emmc_pre_eol", GAUGE,
    "eMMC reserved-block state: 1 normal, 2 warning (80% used), 3 urgent (90% used).",
    "device",
)  # fmt: skip
UNDERVOLTAGE = family(
    "system_undervoltage", GAUGE, "1 while the board reports under-voltage.", "source"
)
UNDERVOLTAGE_OCCURRED = family(
    "system_undervoltage_occurred", GAUGE,
    "1 when under-voltage happened since boot (Raspberry Pi firmware).", "source",
)  # fmt: skip
THROTTLED = family(
    "system_thermal_throttled", GAUGE, "1 while the board throttles because of heat.", "source"
)
FREQ_CAPPED = family(
    "system_frequency_capped", GAUGE, "1 while the firmware caps the CPU frequency.", "source"
)
FAMILIES = (EMMC_LIFE, EMMC_PRE_EOL, UNDERVOLTAGE, UNDERVOLTAGE_OCCURRED, THROTTLED, FREQ_CAPPED)

RPI_FIRMWARE_THROTTLED = "devices/platform/soc/soc:firmware/get_throttled"


class BoardHealth:
    """Finds the board's health files under ``sys_root`` and reads them on demand."""

    def __init__(self, sys_root: str, keys: KeyCache) -> None:
        self._keys = keys
        self._emmc: list[tuple[str, str]] = []  # (device, device dir)
        block = os.path.join(sys_root, "block")
        for dev in list_dir(block):
            dev_dir = os.path.join(block, dev, "device")
            if dev.startswith("mmcblk") and (
                os.path.exists(f"{dev_dir}/life_time") or os.path.exists(f"{dev_dir}/pre_eol_info")
            ):
                self._emmc.append((dev, dev_dir))
        self._volt_alarms: list[str] = []
        hwmon = os.path.join(sys_root, "class/hwmon")
        for entry in list_dir(hwmon):
            base = os.path.join(hwmon, entry)
            if read_stripped(f"{base}/name") == "rpi_volt" and os.path.exists(
                f"{base}/in0_lcrit_alarm"
            ):
                self._volt_alarms.append(f"{base}/in0_lcrit_alarm")
        firmware = os.path.join(sys_root, RPI_FIRMWARE_THROTTLED)
        self._firmware = firmware if os.path.exists(firmware) else None
        self._cooling: list[str] = []
        thermal = os.path.join(sys_root, "class/thermal")
        for entry in list_dir(thermal):
            kind = (read_stripped(f"{thermal}/{entry}/type") or "").lower()
            if entry.startswith("cooling_device") and "fan" not in kind:
                self._cooling.append(f"{thermal}/{entry}/cur_state")

    def found(self) -> list[str]:
        """What this board exposes, for one log line."""
        parts = []
        if self._emmc:
            parts.append("eMMC wear (" + ", ".join(d for d, _ in self._emmc) + ")")
        if self._volt_alarms:
            parts.append("rpi_volt under-voltage alarm")
        if self._firmware:
            parts.append("Raspberry Pi firmware throttling flags")
        if self._cooling:
            parts.append(f"{len(self._cooling)} throttling cooling devices")
        return parts

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self, out: list[Sample]) -> None:
        key = self._keys.key
        for dev, dev_dir in self._emmc:
            life = read_stripped(f"{dev_dir}/life_time")
            if life:
                for kind, level in zip(("A", "B"), life.split(), strict=False):
                    value = _hex(level)
                    if value:  # 0x00: not defined by the card
                        out.append(Sample(key(EMMC_LIFE, dev, kind), value / 10.0))
            eol = _hex(read_stripped(f"{dev_dir}/pre_eol_info") or "")
            if eol:
                out.append(Sample(key(EMMC_PRE_EOL, dev), float(eol)))
        for path in self._volt_alarms:
            alarm = read_int(path)
            if alarm is not None:
                out.append(Sample(key(UNDERVOLTAGE, "rpi_volt"), float(alarm != 0)))
        if self._firmware:
            self._firmware_flags(self._firmware, out)
        if self._cooling:
            states = [read_int(p) or 0 for p in self._cooling]
            out.append(Sample(key(THROTTLED, "cooling_device"), float(any(states))))

    def _firmware_flags(self, path: str, out: list[Sample]) -> None:
        flags = _hex(read_stripped(path) or "")
        if flags is None:
            return
        key = self._keys.key
        # bit 0 under-voltage now, 1 frequency capped now, 2 throttled now,
        # bit 16 under-voltage has occurred since boot
        out.append(Sample(key(UNDERVOLTAGE, "firmware"), float(flags & 0x1 != 0)))
        out.append(Sample(key(FREQ_CAPPED, "firmware"), float(flags & 0x2 != 0)))
        out.append(Sample(key(THROTTLED, "firmware"), float(flags & 0x4 != 0)))
        out.append(Sample(key(UNDERVOLTAGE_OCCURRED, "firmware"), float(flags & 0x10000 != 0)))


def _hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None
