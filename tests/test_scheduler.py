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
from edgewatch.collect.cpu import CpuCollector
from edgewatch.collect.processes import ProcessesCollector
from edgewatch.collect.services import ServicesCollector
from edgewatch.model import MetricFamily, Sample, SeriesKey
from edgewatch.scheduler import Scheduler, is_expensive


class FakeClock:
    """Time only moves when the test says so; sleepers wake in deadline order.

    Sleeping runs on monotonic time; ``step`` moves only the wall clock (NTP setting it).
    """

    def __init__(self, start: float) -> None:
        self.mono = start
        self.offset = 0.0  # wall minus monotonic
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    @property
    def now(self) -> float:
        return self.mono + self.offset

    @now.setter
    def now(self, value: float) -> None:
        self.mono = value - self.offset

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def step(self, seconds: float) -> None:
        self.offset += seconds

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.mono + seconds, self._seq, fut))
        await fut

    async def run_until(self, end: float) -> None:
        """Advance the wall clock to ``end``, waking each sleeper at its deadline."""
        mono_end = end - self.offset
        for _ in range(100_000):
            await _settle()
            if not self._sleepers or self._sleepers[0][0] > mono_end:
                break
            deadline, _, fut = heapq.heappop(self._sleepers)
            self.mono = max(self.mono, deadline)
            if not fut.done():
                fut.set_result(None)
        self.mono = max(self.mono, mono_end)
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
        expensive: bool = False,
    ) -> None:
        self.name = name
        self.expensive = expensive
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
        sched.start(
            [
                FakeCollector("processes", 1.0, clock, expensive=True),
                FakeCollector("cpu", 1.0, clock),
            ]
        )
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


def test_expensive_only_by_class_attribute() -> None:
    clock = FakeClock(0.0)
    assert ProcessesCollector.expensive is True
    assert ServicesCollector.expensive is True
    assert is_expensive(ProcessesCollector(proc_root="/proc"))
    assert is_expensive(ServicesCollector())
    assert not is_expensive(CpuCollector())
    # The name alone does not make a collector expensive.
    assert not is_expensive(FakeCollector("processes", 15, clock))
    assert is_expensive(FakeCollector("custom", 1, clock, expensive=True))


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
    assert budget.factor == 8
    feed(120, 0.008)  # under budget, but not under half of it: hold
    assert factors == [2, 4, 8]
    feed(400, 0.002)
    assert factors == [2, 4, 8, 4, 2, 1]
    assert budget.factor == 1


def test_refused_samples_are_counted_logged_once_and_the_collector_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class PickySink(Recorder):
        def __call__(self, ts_ms: int, samples: Sequence[Sample]) -> None:
            if ts_ms < 5_004_000:
                raise ValueError("too many series")
            super().__call__(ts_ms, samples)

    async def main() -> tuple[Recorder, int, int]:
        clock = FakeClock(5000.0)
        rec = PickySink()
        sched = Scheduler(rec, clock=clock, executor=InlineExecutor())
        sched.start([FakeCollector("cpu", 1.0, clock)])
        await clock.run_until(5006.0)
        state = sched.states()[0]
        await sched.stop()
        return rec, state.errors_total, state.collections_total

    with caplog.at_level(logging.ERROR, logger="edgewatch.scheduler"):
        rec, errors, collections = run(main())
    assert errors == 3  # ticks 5001, 5002, 5003
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "cpu" in lines[0] and "ValueError: too many series" in lines[0]
    # The task survived: later ticks reached the sink.
    assert rec.ticks["cpu_value"] == [5_004_000, 5_005_000, 5_006_000]
    assert collections == 6


YEARS_25 = 788_918_400.0


def test_wall_clock_step_realigns_without_skipping_ticks_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[Recorder, dict[str, int]]:
        clock = FakeClock(946_684_800.0)  # 2000-01-01: booted without an RTC
        rec = Recorder()
        sched = Scheduler(rec, clock=clock, executor=InlineExecutor())
        sched.start([FakeCollector("cpu", 1.0, clock), FakeCollector("system", 15.0, clock)])
        await clock.run_until(946_684_803.5)
        clock.step(YEARS_25 + 0.25)  # NTP sets the date, mid-interval
        await clock.run_until(946_684_820.0 + YEARS_25)
        clock.step(-2.0)  # and a small correction backwards, more than 1 s
        await clock.run_until(946_684_825.0 + YEARS_25)
        skipped = {s.name: s.skipped_ticks_total for s in sched.states()}
        await sched.stop()
        return rec, skipped

    with caplog.at_level(logging.WARNING, logger="edgewatch.scheduler"):
        rec, skipped = run(main())
    assert skipped == {"cpu": 0, "system": 0}
    steps = [r.getMessage() for r in caplog.records if "wall clock stepped" in r.getMessage()]
    assert len(steps) == 2  # one line per step, not one per collector
    assert "+788918400.250 s" in steps[0]
    assert "-2.000 s" in steps[1]
    cpu = rec.ticks["cpu_value"]
    new_era = int((946_684_800.0 + YEARS_25) * 1000)
    before = [t for t in cpu if t < new_era]
    after = [t for t in cpu if t >= new_era]
    assert before == [946_684_801_000, 946_684_802_000, 946_684_803_000]
    # After the step every tick is on the 1 s grid of the new time, one per second.
    assert all(t % 1000 == 0 for t in after)
    assert after[0] == new_era + 4_000  # 03.75 s wall after the step: the tick just passed
    assert after[-1] == new_era + 25_000
    # The 15 s collector slept through the step: its next tick is on the new grid.
    assert rec.ticks["system_value"] == [946_684_801_000, new_era + 15_000]


def test_update_keeps_unchanged_collectors_running_and_replaces_the_rest() -> None:
    async def main() -> None:
        clock = FakeClock(6000.0)
        rec = Recorder()
        sched = Scheduler(rec, clock=clock, executor=InlineExecutor())
        cpu = FakeCollector("cpu", 1.0, clock)
        old_mem = FakeCollector("memory", 1.0, clock, fail=lambda call: "no meminfo")
        sched.start([cpu, old_mem])
        await clock.run_until(6004.0)
        kept = next(s for s in sched.states() if s.name == "cpu")
        new_mem = FakeCollector("memory", 2.0, clock)
        await sched.update([cpu, new_mem])
        await clock.run_until(6010.0)
        states = {s.name: s for s in sched.states()}
        assert states["cpu"] is kept  # same state: not restarted
        assert states["memory"].collector is new_mem
        assert states["memory"].errors_total == 4  # counters carried
        assert cpu.calls == 10  # 6001 .. 6010, uninterrupted
        assert new_mem.calls == 4  # 6005 (the next whole second), 6006, 6008, 6010
        await sched.update([cpu])
        assert [s.name for s in sched.states()] == ["cpu"]
        await sched.stop()
        assert sched.states() == []

    run(main())
