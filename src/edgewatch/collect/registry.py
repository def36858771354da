"""The built-in collector kinds: ``kind -> "module:Class"``, imported only when used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

BUILTIN_COLLECTORS: Mapping[str, str] = MappingProxyType(
    {
        "cpu": "edgewatch.collect.cpu:CpuCollector",
        "memory": "edgewatch.collect.memory:MemoryCollector",
        "disk": "edgewatch.collect.disk:DiskCollector",
        "network": "edgewatch.collect.network:NetworkCollector",
        "sensors": "edgewatch.collect.sensors:SensorsCollector",
        "system": "edgewatch.collect.system:SystemCollector",
        "processes": "edgewatch.collect.processes:ProcessesCollector",
        "services": "edgewatch.collect.services:ServicesCollector",
        "nvidia": "edgewatch.collect.nvidia:NvidiaCollector",
        "jetson": "edgewatch.collect.jetson:JetsonCollector",
        "scrape": "edgewatch.collect.scrape:ScrapeCollector",
    }
)

# Seconds between collections when the config does not say (disk: I/O counters;
# its filesystem space is refreshed every ``filesystems_interval``, 15 s).
DEFAULT_INTERVALS: Mapping[str, float] = MappingProxyType(
    {
        "cpu": 1.0,
        "memory": 1.0,
        "disk": 1.0,
        "network": 1.0,
        "sensors": 5.0,
        "system": 15.0,
        "processes": 15.0,
        "services": 15.0,
        "nvidia": 5.0,
        "jetson": 5.0,
        "scrape": 15.0,  # a target's own interval, when it sets one, wins
    }
)


def load_collector_class(kind: str) -> type:
    """The collector class of a built-in kind; KeyError names the known kinds."""
    try:
        target = BUILTIN_COLLECTORS[kind]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_COLLECTORS))
        raise KeyError(f"unknown collector kind {kind!r}; known kinds: {known}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not isinstance(cls, type):
        raise TypeError(f"{target} is not a class")
    return cls
