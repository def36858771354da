"""The shared vocabulary: series keys, samples and metric descriptions.

A series is a metric name plus labels, Prometheus style. A sample is one
value of one series; its timestamp is given by whoever ingests it (the agent
stamps every sample of one collection with the collection's scheduled tick).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple, Protocol, runtime_checkable

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = tuple[tuple[str, str], ...]


class SeriesKey(NamedTuple):
    """Metric name plus labels sorted by label name; hashable and immutable."""

    name: str
    labels: Labels = ()

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str] | None = None, /, **kw: str) -> SeriesKey:
        merged = dict(labels or {})
        merged.update(kw)
        return cls(name, tuple(sorted((k, str(v)) for k, v in merged.items() if v != "")))

    def label(self, name: str, default: str = "") -> str:
        for k, v in self.labels:
            if k == name:
                return v
        return default

    def __str__(self) -> str:
        if not self.labels:
            return self.name
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in self.labels)
        return f"{self.name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Sample(NamedTuple):
    """One value of one series. The timestamp travels beside it (see Store.append)."""

    key: SeriesKey
    value: float


class MetricType(enum.StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    INFO = "info"  # value 1, the information is in the labels


class MetricFamily(NamedTuple):
    """What a collector promises to emit: documented in docs/metrics.md."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()


@runtime_checkable
class Collector(Protocol):
    """One source of samples. Built-ins and third-party collectors share this seam.

    ``name`` identifies it in logs and self-metrics, ``interval`` is seconds
    between collections. ``available()`` is called once at start: returning a
    reason string disables the collector (logged once); ``None`` enables it.
    ``collect()`` runs in a worker thread, never on the event loop; it may
    raise, which the agent counts and logs once per distinct error.
    """

    name: str
    interval: float

    def available(self) -> str | None: ...

    def families(self) -> Iterable[MetricFamily]: ...

    def collect(self) -> Iterable[Sample]: ...
