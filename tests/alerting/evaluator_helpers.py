"""Shared pieces of the rule evaluator's tests: a real store in tmp_path, rule groups
from YAML, samples at chosen times."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from edgewatch.alerting.evaluator import LoadedGroup
from edgewatch.alerting.rules import parse_rule_file
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN_MS = 60_000


def open_store(tmp_path: Path) -> Store:
    options = StoreOptions(timestamp_tolerance=0.0, raw_retention_s=400 * 86_400)
    return Store.open(tmp_path / "data", options, clock=lambda: T0_MS / 1000)


def groups(text: str, source: str = "rules.yml") -> list[LoadedGroup]:
    return [LoadedGroup(source, g) for g in parse_rule_file(text, file=source).groups]


def put(store: Store, time_ms: int, name: str, value: float, **labels: str) -> None:
    store.append(time_ms, [Sample(SeriesKey.of(name, labels), value)])


def series(store: Store, time_ms: int, values: Mapping[str, float], name: str = "node_temp",
           label: str = "sensor") -> None:  # fmt: skip
    """One sample of ``name`` per ``label`` value."""
    store.append(time_ms, [Sample(SeriesKey.of(name, {label: k}), v) for k, v in values.items()])


class Sink:
    """Writes into the store like the agent's sink, and remembers what came."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[int, list[Sample]]] = []

    def __call__(self, time_ms: int, samples: Sequence[Sample]) -> None:
        self.calls.append((time_ms, list(samples)))
        self.store.append(time_ms, samples)

    def names(self, time_ms: int | None = None) -> list[str]:
        return [s.key.name for t, got in self.calls if time_ms in (None, t) for s in got]
