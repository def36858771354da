"""The ``collectors:`` section: one sub-model per built-in collector kind."""

from __future__ import annotations

from pydantic import Field

from edgewatch.collect.disk import DEFAULT_EXCLUDE_FSTYPES, DEFAULT_EXCLUDE_MOUNTPOINTS
from edgewatch.collect.network import DEFAULT_EXCLUDE_DEVICES
from edgewatch.config.fields import Regex, UnitName
from edgewatch.config.scrape import ScrapeCollector
from edgewatch.config.section import Section
from edgewatch.config.units import Duration

_ENABLED = "Collect this family; false turns the collector off."
_INTERVAL = "Time between two collections."

# The collectors' own defaults are the config's: one list each, kept where it is used.


class CpuCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=1.0, gt=0, description=_INTERVAL)


class MemoryCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=1.0, gt=0, description=_INTERVAL)


class DiskCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(
        default=1.0, gt=0, description="Time between two reads of block-device I/O counters."
    )
    filesystems_interval: Duration = Field(
        default=15.0, gt=0, description="Time between two reads of filesystem space and inodes."
    )
    exclude_fstypes: tuple[str, ...] = Field(
        default=DEFAULT_EXCLUDE_FSTYPES,
        description="Filesystem types never reported: pseudo and virtual filesystems, and "
        "network filesystems (a hung server would block the collector).",
    )
    exclude_mountpoints: tuple[Regex, ...] = Field(
        default=DEFAULT_EXCLUDE_MOUNTPOINTS,
        description="Mount points never reported: regular expressions, searched in the path.",
    )


class NetworkCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=1.0, gt=0, description=_INTERVAL)
    exclude_devices: tuple[Regex, ...] = Field(
        default=DEFAULT_EXCLUDE_DEVICES,
        description="Interfaces never reported: regular expressions, searched in the name.",
    )


class SensorsCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=5.0, gt=0, description=_INTERVAL)


class SystemCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=15.0, gt=0, description=_INTERVAL)


class ProcessGroup(Section):
    match: Regex = Field(
        description="Regular expression searched in each process's command line "
        "(arguments joined by spaces, or the process name when it has none)."
    )


class ProcessesCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=15.0, gt=0, description=_INTERVAL)
    top_n: int = Field(
        default=10, ge=0, le=1000, description="How many top processes by CPU and by memory."
    )
    max_names: int = Field(
        default=50,
        ge=0,
        description="Most distinct process names tracked as series (bounds cardinality).",
    )
    groups: dict[str, ProcessGroup] = Field(
        default_factory=dict,
        description="Named process groups tracked as series, "
        "e.g. vision: {match: 'python.*detect'}.",
    )


class ServicesCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=15.0, gt=0, description=_INTERVAL)
    units: tuple[UnitName, ...] = Field(
        default=(), description="systemd units to watch, e.g. vision.service (no globs)."
    )


class NvidiaCollector(Section):
    enabled: bool = Field(
        default=True,
        description="Collect NVIDIA GPU metrics through NVML; turns itself off (one log line) "
        "where there is no NVIDIA driver or nvidia-ml-py.",
    )
    interval: Duration = Field(default=5.0, gt=0, description=_INTERVAL)
    top_processes: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Processes per GPU reported by name with their GPU memory; the rest are "
        'summed as process="other" (bounds cardinality).',
    )
    retry_max: Duration = Field(
        default=60.0,
        gt=0,
        description="Longest wait between two attempts to restart NVML after a GPU or the "
        "driver went away (the wait starts at `interval` and doubles).",
    )


class JetsonCollector(Section):
    enabled: bool = Field(
        default=True,
        description="Collect NVIDIA Jetson (Tegra) GPU, EMC, thermal, power-rail, nvpmodel and "
        "fan figures from sysfs; turns itself off (one log line) on other machines.",
    )
    interval: Duration = Field(default=5.0, gt=0, description=_INTERVAL)


class SelfCollector(Section):
    enabled: bool = Field(default=True, description=_ENABLED)
    interval: Duration = Field(default=15.0, gt=0, description=_INTERVAL)


class Collectors(Section):
    cpu: CpuCollector = Field(
        default_factory=CpuCollector, description="CPU usage, load, frequency."
    )
    memory: MemoryCollector = Field(default_factory=MemoryCollector, description="Memory and swap.")
    disk: DiskCollector = Field(
        default_factory=DiskCollector, description="Filesystem space and block-device I/O."
    )
    network: NetworkCollector = Field(
        default_factory=NetworkCollector, description="Per-interface traffic and link state."
    )
    sensors: SensorsCollector = Field(
        default_factory=SensorsCollector, description="Temperatures, fans, battery."
    )
    system: SystemCollector = Field(
        default_factory=SystemCollector,
        description="Uptime, process counts, clock sync, storage wear, throttling.",
    )
    processes: ProcessesCollector = Field(
        default_factory=ProcessesCollector, description="Top processes and named process groups."
    )
    services: ServicesCollector = Field(
        default_factory=ServicesCollector, description="systemd units named in `units`."
    )
    scrape: ScrapeCollector = Field(
        default_factory=ScrapeCollector,
        description="Local Prometheus endpoints (prometheus_client apps) scraped into the store.",
    )
    nvidia: NvidiaCollector = Field(
        default_factory=NvidiaCollector, description="NVIDIA GPUs through NVML (DCGM names)."
    )
    jetson: JetsonCollector = Field(
        default_factory=JetsonCollector, description="NVIDIA Jetson GPU, EMC, power, fan."
    )
    self: SelfCollector = Field(
        default_factory=SelfCollector, description="edgewatch's own CPU, memory and store figures."
    )
