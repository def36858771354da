"""Shared helpers for the web tests: a real store with known samples, the app built
over it, and uvicorn serving it on 127.0.0.1 at an ephemeral port (in a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from edgewatch.config import Config
from edgewatch.live import LiveHub
from edgewatch.model import MetricFamily, MetricType, Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions
from edgewatch.web.app import create_app
from edgewatch.web.context import AppContext
from served_app import serve

# Known data: T0 .. T0 + 1 h, a sample every 15 s.
T0_S = 1_700_000_000
T0_MS = T0_S * 1000
STEP_MS = 15_000
POINTS = 241  # one hour, both ends included
END_S = T0_S + (POINTS - 1) * STEP_MS // 1000

GAUGE = "test_temperature_celsius"
COUNTER = "test_requests_total"
FAMILIES = {
    GAUGE: MetricFamily(GAUGE, MetricType.GAUGE, "A test gauge.", ("room",)),
    COUNTER: MetricFamily(COUNTER, MetricType.COUNTER, "A test counter.", ("code",)),
}


def gauge_value(i: int, room: str) -> float:
    return 20.0 + (i % 10) + (0.5 if room == "kitchen" else 0.0)


def known_samples(i: int) -> list[Sample]:
    """Point ``i``: two gauges and two counters growing at 1/s and 0.1/s."""
    return [
        Sample(SeriesKey.of(GAUGE, room="hall"), gauge_value(i, "hall")),
        Sample(SeriesKey.of(GAUGE, room="kitchen"), gauge_value(i, "kitchen")),
        Sample(SeriesKey.of(COUNTER, code="200"), 15.0 * i),
        Sample(SeriesKey.of(COUNTER, code="500"), 1.5 * i),
    ]


def open_store(path: Path) -> Store:
    """A real store holding the known samples, committed to disk."""
    store = Store.open(path / "edgewatch.db", StoreOptions())
    for i in range(POINTS):
        store.append(T0_MS + i * STEP_MS, known_samples(i))
    assert store.commit()
    return store


def make_context(
    store: Store,
    tmp_path: Path,
    *,
    config: Config | None = None,
    hub: LiveHub | None = None,
    ready: bool = True,
) -> AppContext:
    config = config or Config()
    return AppContext(
        config=config,
        reader=store,
        engine=Engine(store, config.query),
        hub=hub or LiveHub(),
        data_dir=tmp_path,
        store=store,
        families=lambda: dict(FAMILIES),
        ready=lambda: ready,
    )


@contextmanager
def running_app(
    tmp_path: Path,
    *,
    config: Config | None = None,
    hub: LiveHub | None = None,
    ready: bool = True,
) -> Iterator[tuple[httpx.Client, AppContext]]:
    """The app over a store of known samples, served by uvicorn; a client bound to it."""
    store = open_store(tmp_path)
    try:
        ctx = make_context(store, tmp_path, config=config, hub=hub, ready=ready)
        with serve(create_app(ctx)) as base, httpx.Client(base_url=base, timeout=30) as client:
            yield client, ctx
    finally:
        store.close()
