from __future__ import annotations

import pytest

from edgewatch.collect.registry import BUILTIN_COLLECTORS, DEFAULT_INTERVALS, load_collector_class
from edgewatch.model import Collector


def test_every_kind_loads_a_collector_with_a_default_interval() -> None:
    assert set(BUILTIN_COLLECTORS) == set(DEFAULT_INTERVALS) == {
        "cpu", "memory", "disk", "network", "sensors", "system", "processes", "services",
        "nvidia", "jetson", "scrape",
    }  # fmt: skip
    for kind in BUILTIN_COLLECTORS:
        cls = load_collector_class(kind)
        collector = cls(interval=DEFAULT_INTERVALS[kind], proc_root="/proc", sys_root="/sys")
        assert isinstance(collector, Collector)
        assert collector.name == kind
        assert collector.interval == DEFAULT_INTERVALS[kind]


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown collector kind 'gpu'; known kinds: cpu, disk"):
        load_collector_class("gpu")
