"""Shared pieces of the remote_write sender tests: a fake clock, a filled store, a sender.

Time is injected (the sender's wall clock, monotonic clock and sleep), so backoff
and bandwidth waits are asserted exactly without waiting for them.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.export.remote_write_sender import EndpointSender
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP = 10_000
MINUTES = 30

CPU = SeriesKey.of("node_cpu_seconds_total", cpu="0")
MEM = SeriesKey.of("node_memory_used_bytes")
TEMP = SeriesKey.of("temperature_celsius", sensor="gpu")


class FakeTime:
    """Wall and monotonic clock in one; ``sleep`` records and moves time on."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms / 1000
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def new_fake() -> FakeTime:
    return FakeTime(T0 + MINUTES * 60_000 + 60_000)


def filled_store(tmp_path: Path, fake: FakeTime) -> Store:
    """Three series, one sample each every 10 s for 30 minutes from T0."""
    s = Store.open(tmp_path / "data", StoreOptions(timestamp_tolerance=0), clock=fake.time)
    for i in range(MINUTES * 6):
        s.append(T0 + i * STEP, [Sample(CPU, 100.0 + i), Sample(MEM, 2e9 + i), Sample(TEMP, i / 3)])
    return s


def expected(store: Store, key: SeriesKey, start: int = T0) -> list[tuple[int, float]]:
    [data] = store.read(str(key), start, T0 + 10**9, resolution="raw")
    return list(zip(data.ts.tolist(), data.values.tolist(), strict=True))


def endpoint(url: str, **kw: Any) -> RemoteWriteEndpoint:
    return RemoteWriteEndpoint.model_validate({"url": url, "delay": "30s", **kw})


def sender(store: Store, fake: FakeTime, ep: RemoteWriteEndpoint, **kw: Any) -> EndpointSender:
    """A sender on the fake clock, its checkpoint loaded (as ``run()`` does first)."""
    kw.setdefault("start_ms", T0 - 1)
    s = EndpointSender(
        ep,
        store,
        Checkpoints(store.path),
        clock=fake.time,
        monotonic=fake.time,
        sleep=fake.sleep,
        rng=random.Random(7),
        **kw,
    )
    s.load()
    return s


async def drain(s: EndpointSender, *, once: bool = False, close: bool = True) -> bool:
    """Step until nothing is ready (or once); close the sender's HTTP client (unless not
    ``close``: the test drains again, in another event loop)."""
    if not close:
        return await _steps(s, once=once)
    try:
        return await _steps(s, once=once)
    finally:
        await s.client.aclose()


async def _steps(s: EndpointSender, *, once: bool) -> bool:
    more = await s.step()
    for _ in range(500):
        if once or not more:
            return more
        more = await s.step()
    raise AssertionError("the sender never caught up")


def labels_of(key: SeriesKey, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({**extra, **dict(key.labels), "__name__": key.name}.items()))
