"""The dashboard's snapshots built from the live hub's latest values alone: the
response models of ``/api/system`` and ``/api/services`` (web/api_system.py) and the
pure functions that fill them, and ``Latest``, the hub's values grouped by name.

Field names carry their unit (``_bytes``, ``_ratio`` 0-1, ``_seconds``, ``_total`` for
counters since boot). Non-finite values are reported as null.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from edgewatch.model import SeriesKey
from edgewatch.timespec import format_time

Entry = tuple[dict[str, str], float]


class Latest:
    """The hub's latest values grouped by metric name."""

    def __init__(self, latest: Mapping[SeriesKey, tuple[int, float]]) -> None:
        self.by_name: dict[str, list[Entry]] = defaultdict(list)
        self.newest_ms = 0
        for key, (ts, value) in latest.items():
            self.by_name[key.name].append((dict(key.labels), value))
            self.newest_ms = max(self.newest_ms, ts)

    def one(self, name: str, /, **labels: str) -> float | None:
        for have, value in self.by_name.get(name, ()):
            if all(have.get(k) == v for k, v in labels.items()):
                return _finite(value)
        return None

    def by(self, name: str, label: str) -> dict[str, float | None]:
        return {have.get(label, ""): _finite(v) for have, v in self.by_name.get(name, ())}

    def flag(self, name: str) -> bool | None:
        values = [v for _, v in self.by_name.get(name, ())]
        return None if not values else any(v >= 1 for v in values)

    def stamp(self) -> str | None:
        return format_time(self.newest_ms) if self.newest_ms else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def as_int(value: float | None) -> int | None:
    """``value`` as an int; None stays None."""
    return None if value is None else int(value)


def _bool(value: float | None) -> bool | None:
    return None if value is None else value >= 1


# ------------------------------------------------------------------- /api/system


class CpuSnapshot(BaseModel):
    usage_ratio: float | None
    count: int | None
    load1: float | None
    load5: float | None
    load15: float | None
    per_cpu_usage_ratio: dict[str, float | None]
    mode_ratio: dict[str, float | None]
    frequency_hertz: dict[str, float | None]


class MemorySnapshot(BaseModel):
    total_bytes: float | None
    available_bytes: float | None
    used_bytes: float | None
    free_bytes: float | None
    cached_bytes: float | None
    buffers_bytes: float | None
    usage_ratio: float | None
    swap_total_bytes: float | None
    swap_used_bytes: float | None


class Filesystem(BaseModel):
    mountpoint: str
    device: str
    fstype: str
    size_bytes: float | None
    avail_bytes: float | None
    free_bytes: float | None
    usage_ratio: float | None
    readonly: bool | None


class DiskDevice(BaseModel):
    device: str
    read_bytes_total: float | None
    written_bytes_total: float | None
    io_time_seconds_total: float | None
    io_now: float | None


class DiskSnapshot(BaseModel):
    filesystems: list[Filesystem]
    devices: list[DiskDevice]


class NetworkInterface(BaseModel):
    device: str
    up: bool | None
    speed_bytes: float | None
    receive_bytes_total: float | None
    transmit_bytes_total: float | None
    receive_errs_total: float | None
    transmit_errs_total: float | None
    receive_drop_total: float | None
    transmit_drop_total: float | None


class NetworkSnapshot(BaseModel):
    interfaces: list[NetworkInterface]


class Temperature(BaseModel):
    source: str  # thermal_zone or hwmon
    name: str
    celsius: float | None


class Fan(BaseModel):
    chip: str
    sensor: str
    rpm: float | None


class PowerSupply(BaseModel):
    name: str
    online: bool | None
    capacity_percent: float | None
    voltage_volts: float | None
    power_watts: float | None


class SensorsSnapshot(BaseModel):
    temperatures: list[Temperature]
    fans: list[Fan]
    power_supplies: list[PowerSupply]


class SystemInfo(BaseModel):
    uptime_seconds: float | None
    boot_time_seconds: float | None
    procs_running: int | None
    procs_blocked: int | None
    threads: int | None
    users_logged_in: int | None
    filefd_allocated: int | None
    filefd_maximum: int | None
    clock_synchronised: bool | None
    undervoltage: bool | None
    thermal_throttled: bool | None
    frequency_capped: bool | None


class SystemSnapshot(BaseModel):
    timestamp: str | None  # RFC 3339 of the newest sample; null before the first collection
    cpu: CpuSnapshot
    memory: MemorySnapshot
    disk: DiskSnapshot
    network: NetworkSnapshot
    sensors: SensorsSnapshot
    system: SystemInfo


def _cpu(lt: Latest) -> CpuSnapshot:
    per_cpu = lt.by("system_cpu_usage_ratio", "cpu")
    total = per_cpu.pop("total", None)
    return CpuSnapshot(
        usage_ratio=total,
        count=as_int(lt.one("system_cpus")),
        load1=lt.one("node_load1"),
        load5=lt.one("node_load5"),
        load15=lt.one("node_load15"),
        per_cpu_usage_ratio=per_cpu,
        mode_ratio=lt.by("system_cpu_mode_ratio", "mode"),
        frequency_hertz=lt.by("node_cpu_scaling_frequency_hertz", "cpu"),
    )


def _memory(lt: Latest) -> MemorySnapshot:
    swap_total = lt.one("node_memory_SwapTotal_bytes")
    return MemorySnapshot(
        total_bytes=lt.one("node_memory_MemTotal_bytes"),
        available_bytes=lt.one("node_memory_MemAvailable_bytes"),
        used_bytes=lt.one("system_memory_used_bytes"),
        free_bytes=lt.one("node_memory_MemFree_bytes"),
        cached_bytes=lt.one("node_memory_Cached_bytes"),
        buffers_bytes=lt.one("node_memory_Buffers_bytes"),
        usage_ratio=lt.one("system_memory_usage_ratio"),
        swap_total_bytes=swap_total,
        swap_used_bytes=lt.one("system_swap_used_bytes"),
    )


def _disk(lt: Latest) -> DiskSnapshot:
    filesystems = []
    for labels, _ in sorted(
        lt.by_name.get("node_filesystem_size_bytes", ()), key=lambda e: e[0].get("mountpoint", "")
    ):
        mount = labels.get("mountpoint", "")
        filesystems.append(
            Filesystem(
                mountpoint=mount,
                device=labels.get("device", ""),
                fstype=labels.get("fstype", ""),
                size_bytes=lt.one("node_filesystem_size_bytes", mountpoint=mount),
                avail_bytes=lt.one("node_filesystem_avail_bytes", mountpoint=mount),
                free_bytes=lt.one("node_filesystem_free_bytes", mountpoint=mount),
                usage_ratio=lt.one("system_filesystem_usage_ratio", mountpoint=mount),
                readonly=_bool(lt.one("node_filesystem_readonly", mountpoint=mount)),
            )
        )
    devices = [
        DiskDevice(
            device=dev,
            read_bytes_total=lt.one("node_disk_read_bytes_total", device=dev),
            written_bytes_total=lt.one("node_disk_written_bytes_total", device=dev),
            io_time_seconds_total=lt.one("node_disk_io_time_seconds_total", device=dev),
            io_now=lt.one("node_disk_io_now", device=dev),
        )
        for dev in sorted(lt.by("node_disk_read_bytes_total", "device"))
    ]
    return DiskSnapshot(filesystems=filesystems, devices=devices)


def _network(lt: Latest) -> NetworkSnapshot:
    devices = set(lt.by("node_network_receive_bytes_total", "device"))
    devices.update(lt.by("node_network_up", "device"))

    def counter(dev: str, what: str) -> float | None:
        return lt.one(f"node_network_{what}_total", device=dev)

    return NetworkSnapshot(
        interfaces=[
            NetworkInterface(
                device=dev,
                up=_bool(lt.one("node_network_up", device=dev)),
                speed_bytes=lt.one("node_network_speed_bytes", device=dev),
                receive_bytes_total=counter(dev, "receive_bytes"),
                transmit_bytes_total=counter(dev, "transmit_bytes"),
                receive_errs_total=counter(dev, "receive_errs"),
                transmit_errs_total=counter(dev, "transmit_errs"),
                receive_drop_total=counter(dev, "receive_drop"),
                transmit_drop_total=counter(dev, "transmit_drop"),
            )
            for dev in sorted(devices)
        ]
    )


def _sensors(lt: Latest) -> SensorsSnapshot:
    chip_names = {
        labels.get("chip", ""): labels.get("chip_name", "")
        for labels, _ in lt.by_name.get("node_hwmon_chip_names", ())
    }
    temps = [
        Temperature(source="thermal_zone", name=labels.get("type") or labels.get("zone", ""),
                    celsius=_finite(v))
        for labels, v in lt.by_name.get("node_thermal_zone_temp", ())
    ]  # fmt: skip
    for labels, v in lt.by_name.get("node_hwmon_temp_celsius", ()):
        chip = labels.get("chip", "")
        name = f"{chip_names.get(chip) or chip} {labels.get('sensor', '')}".strip()
        temps.append(Temperature(source="hwmon", name=name, celsius=_finite(v)))
    fans = [
        Fan(chip=labels.get("chip", ""), sensor=labels.get("sensor", ""), rpm=_finite(v))
        for labels, v in lt.by_name.get("node_hwmon_fan_rpm", ())
    ]
    supplies = sorted(
        set(lt.by("node_power_supply_online", "power_supply"))
        | set(lt.by("node_power_supply_capacity", "power_supply"))
    )
    power = [
        PowerSupply(
            name=ps,
            online=_bool(lt.one("node_power_supply_online", power_supply=ps)),
            capacity_percent=lt.one("node_power_supply_capacity", power_supply=ps),
            voltage_volts=lt.one("node_power_supply_voltage_volt", power_supply=ps),
            power_watts=lt.one("node_power_supply_power_watt", power_supply=ps),
        )
        for ps in supplies
    ]
    temps.sort(key=lambda t: (t.source, t.name))
    fans.sort(key=lambda f: (f.chip, f.sensor))
    return SensorsSnapshot(temperatures=temps, fans=fans, power_supplies=power)


def _system(lt: Latest) -> SystemInfo:
    return SystemInfo(
        uptime_seconds=lt.one("system_uptime_seconds"),
        boot_time_seconds=lt.one("node_boot_time_seconds"),
        procs_running=as_int(lt.one("node_procs_running")),
        procs_blocked=as_int(lt.one("node_procs_blocked")),
        threads=as_int(lt.one("node_processes_threads")),
        users_logged_in=as_int(lt.one("system_users_logged_in")),
        filefd_allocated=as_int(lt.one("node_filefd_allocated")),
        filefd_maximum=as_int(lt.one("node_filefd_maximum")),
        clock_synchronised=_bool(lt.one("node_timex_sync_status")),
        undervoltage=lt.flag("system_undervoltage"),
        thermal_throttled=lt.flag("system_thermal_throttled"),
        frequency_capped=lt.flag("system_frequency_capped"),
    )


def system_snapshot(latest: Mapping[SeriesKey, tuple[int, float]]) -> SystemSnapshot:
    """``/api/system`` from the hub's latest (timestamp ms, value) of every series."""
    lt = Latest(latest)
    return SystemSnapshot(
        timestamp=lt.stamp(),
        cpu=_cpu(lt),
        memory=_memory(lt),
        disk=_disk(lt),
        network=_network(lt),
        sensors=_sensors(lt),
        system=_system(lt),
    )


# --------------------------------------------------------------- /api/services


class Service(BaseModel):
    name: str
    type: str | None
    active_state: str | None  # active, inactive, failed, activating, deactivating
    sub_state: str | None
    load_state: str | None
    main_pid: int | None
    restarts_total: float | None
    memory_bytes: float | None
    cpu_seconds_total: float | None


class ServicesSnapshot(BaseModel):
    timestamp: str | None
    services: list[Service]


def _services(lt: Latest) -> Iterable[Service]:
    states: dict[str, tuple[str | None, str | None]] = {}
    for labels, value in lt.by_name.get("node_systemd_unit_state", ()):
        name = labels.get("name", "")
        active, kind = states.get(name, (None, None))
        if value >= 1:
            active = labels.get("state")
        states[name] = (active, kind or labels.get("type"))
    info = {
        labels.get("name", ""): labels for labels, _ in lt.by_name.get("edgewatch_service_info", ())
    }
    for name in sorted(set(states) | set(info)):
        active, kind = states.get(name, (None, None))
        extra = info.get(name, {})
        yield Service(
            name=name,
            type=kind,
            active_state=active,
            sub_state=extra.get("sub_state"),
            load_state=extra.get("load_state"),
            main_pid=as_int(lt.one("edgewatch_service_main_pid", name=name)),
            restarts_total=lt.one("node_systemd_service_restart_total", name=name),
            memory_bytes=lt.one("edgewatch_service_memory_bytes", name=name),
            cpu_seconds_total=lt.one("edgewatch_service_cpu_seconds_total", name=name),
        )


def services_snapshot(latest: Mapping[SeriesKey, tuple[int, float]]) -> ServicesSnapshot:
    """``/api/services``: every systemd unit watched, by name."""
    lt = Latest(latest)
    return ServicesSnapshot(timestamp=lt.stamp(), services=list(_services(lt)))
