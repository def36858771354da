"""The scheduler and the CPU budget in-process, with an injected clock and inline executor."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from edgewatch.budget import CpuBudget
from edgewatch.model import MetricFamily, Sample, SeriesKey
from edgewatch.scheduler import Scheduler, is_expensive


class FakeClock:
    """Time only moves when the test says so; sleepers wake in deadline order."""

    def __init__(self, start: float) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.now + seconds, self._seq, fut))
        await fut

    async def run_until(self, end: float) -> None:
        """Advance to ``end``, waking each sleeper at its deadline."""
        for _ in range(100_000):
            await _settle()
            if not self._sleepers or self._sleepers[0][0] > end:
                break
            deadline, _, fut = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not fut.done():
                fut.set_result(None)
        self.now = max(self.now, end)
        await _settle()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class InlineExecutor(Executor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)
        return fut


class FakeCollector:
    def __init__(
        self,
        name: str,
        interval: float,
        clock: FakeClock,
        *,
        cost: float = 0.0,
        fail: Callable[[int], str | None] | None = None,
    ) -> None:
        self.name = name
        self.interval = interval
        self._clock = clock
        self._cost = cost
        self._fail = fail
        self.calls = 0

    def available(self) -> str | None:
        return None

    def families(self) -> Iterable[MetricFamily]:
        return ()

    def collect(self) -> Iterable[Sample]:
        self.calls += 1
        self._clock.now += self._cost  # a slow collection moves time on
        if self._fail is not None:
            message = self._fail(self.calls)
            if message is not None:
                raise RuntimeError(message)
        return [Sample(SeriesKey(f"{self.name}_value"), float(self.calls))]


class Recorder:
    def __init__(self) -> None:
        self.ticks: dict[str, list[int]] = {}

    def __call__(self, ts_ms: int, samples: Sequence[Sample]) -> None:
        for s in samples:
            self.ticks.setdefault(s.key.name, []).append(ts_ms)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_samples_are_stamped_with_the_interval_grid_tick() -> None:
    async def main() -> Recorder:
        clock = FakeClock(1000.37)
        rec = Recorder()
        sched = Scheduler(rec, clock=clock, executor=InlineExecutor())
        sched.start([FakeCollector("fast", 1.0, clock), FakeCollector("slow", 5.0, clock)])
        await clock.run_until(1012.0)
        await sched.stop()
        return rec

    rec = run(main())
    # The first collection is on the next whole second after the start, then on the grid.
    assert rec.ticks["fast_value"] == list(range(1_001_000, 1_012_001, 1000))
    assert rec.ticks["slow_value"] == [1_001_000, 1_005_000, 1_010_000]


def test_overrunning_collector_skips_ticks_instead_of_piling_up() -> None:
    async def main() -> tuple[Recorder, int]:
        clock = FakeClock(2000.0)
        rec = Recorder()
        sched = Scheduler(rec, clock=clock, executor=InlineExecutor())
        sched.start([FakeCollector("slow", 1.0, clock, cost=2.5)])
        await clock.run_until(2010.0)
        skipped = sched.states()[0].skipped_ticks_total
        await sched.stop()
        return rec, skipped

    rec, skipped = run(main())
    ticks = rec.ticks["slow_value"]
    # Each collection takes 2.5 s: it runs at 1, 4, 7, 10 (grid ticks), skipping 2 each time.
    assert ticks == [2_001_000, 2_004_000, 2_007_000, 2_010_000]
    assert skipped == 8  # two per collection, the last one's included


def test_failing_collector_is_counted_logged_once_per_message_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(call: int) -> str | None:
        if call <= 6:
            return "sensor gone" if call % 2 else "permission denied"
        return None

    async def main() -> tuple[Recorder, int]:
        clock = FakeClock(3000.0)
        rec = Recorder()
        sched = Scheduler(rec, clock=clock, executor=InlineExecutor())
        sched.start([FakeCollector("flaky", 1.0, clock, fail=fail)])
        await clock.run_until(3009.0)
        errors = sched.states()[0].errors_total
        await sched.stop()
        return rec, errors

    with caplog.at_level(logging.ERROR, logger="edgewatch.scheduler"):
        rec, errors = run(main())
    assert errors == 6
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert any("flaky" in m and "RuntimeError: sensor gone" in m for m in lines)
    assert any("RuntimeError: permission denied" in m for m in lines)
    # It kept being scheduled: calls 7..9 succeeded.
    assert rec.ticks["flaky_value"] == [3_007_000, 3_008_000, 3_009_000]


def test_throttle_stretches_only_expensive_collectors_and_errors_survive_restart() -> None:
    async def main() -> Recorder:
        clock = FakeClock(4000.0)
        rec = Recorder()
        sched = Scheduler(rec, clock=clock, executor=InlineExecutor())
        sched.start([FakeCollector("processes", 1.0, clock), FakeCollector("cpu", 1.0, clock)])
        await clock.run_until(4003.0)
        assert sched.set_throttle(4) == ["processes"]
        await clock.run_until(4016.0)
        states = {s.name: s for s in sched.states()}
        assert states["processes"].effective_interval_ms == 4000
        assert states["cpu"].effective_interval_ms == 1000
        return rec

    rec = run(main())
    procs = rec.ticks["processes_value"]
    # The tick already scheduled (4004) runs, then every 4 s on the 4 s grid.
    assert procs == [4_001_000, 4_002_000, 4_003_000, 4_004_000, 4_008_000, 4_012_000, 4_016_000]
    assert len(rec.ticks["cpu_value"]) == 16


def test_expensive_by_kind_or_by_class_attribute() -> None:
    clock = FakeClock(0.0)
    assert is_expensive(FakeCollector("processes", 15, clock))
    assert is_expensive(FakeCollector("services", 15, clock))
    assert not is_expensive(FakeCollector("cpu", 1, clock))
    marked = FakeCollector("custom", 1, clock)
    marked.expensive = True  # type: ignore[attr-defined]
    assert is_expensive(marked)


def test_budget_doubles_up_to_8x_over_budget_and_relaxes_under_it() -> None:
    budget = CpuBudget(0.01, window_s=60.0)
    t, cpu = 0.0, 0.0
    factors = []

    def feed(seconds: int, usage: float) -> None:
        nonlocal t, cpu
        for _ in range(seconds // 5):
            t += 5
            cpu += 5 * usage
            changed = budget.observe(t, cpu)
            if changed is not None:
                factors.append(changed)

    feed(50, 0.05)
    assert factors == []  # not a full window yet
    assert budget.usage_ratio == pytest.approx(0.05)
    feed(600, 0.05)
    assert factors == [2, 4, 8]  # one step per full window, capped at 8x
    assert budget.throttled
    feed(120, 0.008)  # under budget, but not under half of it: hold
    assert factors == [2, 4, 8]
    feed(400, 0.002)
    assert factors == [2, 4, 8, 4, 2, 1]
    assert not budget.throttled
