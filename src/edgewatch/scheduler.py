"""Runs collectors on their intervals, off the event loop, stamped with the scheduled tick.

Every collector gets its own asyncio task. A tick is a point of the collector's
interval grid (``tick = floor(now / interval) * interval``, in ms), so samples of
different collectors line up with each other and across restarts; the first
collection after a start happens on the next whole second, so a restart never
stamps a tick its predecessor already wrote. ``collect()``
runs in a worker thread; its samples are handed to the sink stamped with the tick
it was scheduled for, not the moment it happened to run. A collection that
overruns its interval skips the ticks it missed instead of piling up. A collector
that raises is counted and logged once per distinct message, and stays scheduled.

The CPU budget slows down *expensive* collectors by a throttle factor (1, 2, 4, 8):
their effective interval is ``interval * factor``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from edgewatch.model import Collector, Sample

log = logging.getLogger(__name__)

# Collectors the CPU budget may slow down, by name, for collectors that do not
# say so themselves with a class attribute ``expensive = True``.
EXPENSIVE_KINDS = frozenset({"processes", "services"})
# Distinct error messages remembered per collector (each is logged once).
MAX_REMEMBERED_ERRORS = 64

Sink = Callable[[int, Sequence[Sample]], None]


class Clock(Protocol):
    """Wall-clock time and sleeping; injected so tests can travel in time."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def is_expensive(collector: Collector) -> bool:
    flag = getattr(collector, "expensive", None)
    if isinstance(flag, bool):
        return flag
    return collector.name in EXPENSIVE_KINDS


@dataclass
class CollectorState:
    """What the scheduler knows about one collector; read by the Self collector."""

    collector: Collector
    expensive: bool
    factor: int = 1
    last_duration_s: float = 0.0
    collections_total: int = 0
    errors_total: int = 0
    skipped_ticks_total: int = 0
    seen_errors: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.collector.name

    @property
    def interval_ms(self) -> int:
        return max(1, round(self.collector.interval * 1000))

    @property
    def effective_interval_ms(self) -> int:
        return self.interval_ms * self.factor


class Scheduler:
    """Owns one task per collector; ``start`` and ``stop`` are called on the loop."""

    def __init__(self, sink: Sink, *, clock: Clock, executor: Executor) -> None:
        self._sink = sink
        self._clock = clock
        self._executor = executor
        self._states: dict[str, CollectorState] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._factor = 1
        # Counters survive a reload (a collector rebuilt under the same name).
        self._carried_errors: dict[str, int] = {}

    @property
    def throttle_factor(self) -> int:
        return self._factor

    def states(self) -> list[CollectorState]:
        return list(self._states.values())

    def start(self, collectors: Iterable[Collector]) -> None:
        for collector in collectors:
            state = CollectorState(collector, expensive=is_expensive(collector))
            state.errors_total = self._carried_errors.get(collector.name, 0)
            if state.expensive:
                state.factor = self._factor
            self._states[collector.name] = state
            task = asyncio.create_task(self._run(state), name=f"collect-{collector.name}")
            self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for state in self._states.values():
            self._carried_errors[state.name] = state.errors_total
        self._states.clear()

    def set_throttle(self, factor: int) -> list[str]:
        """Apply the budget's factor to the expensive collectors; returns their names."""
        self._factor = factor
        names = []
        for state in self._states.values():
            if state.expensive:
                state.factor = factor
                names.append(state.name)
        return names

    async def _run(self, state: CollectorState) -> None:
        # The first collection: the next whole second (or finer grid tick) strictly
        # after now, so a restarted agent never re-stamps a tick its predecessor wrote.
        first_step = min(state.effective_interval_ms, 1000)
        now = _now_ms(self._clock)
        tick = now // first_step * first_step + first_step
        await self._clock.sleep((tick - now) / 1000)
        while True:
            await self._collect_once(state, tick)
            step = state.effective_interval_ms
            now = _now_ms(self._clock)
            nxt = tick // step * step + step
            if nxt <= now:
                # Overran (or the wall clock jumped forward): skip the missed ticks.
                late = now // step * step + step
                state.skipped_ticks_total += (late - nxt) // step
                nxt = late
            elif nxt - now > step:
                # The wall clock went backwards: realign on the grid around now.
                nxt = now // step * step + step
            await self._clock.sleep((nxt - now) / 1000)
            tick = nxt

    async def _collect_once(self, state: CollectorState, tick_ms: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            samples, duration = await loop.run_in_executor(
                self._executor, _timed_collect, state.collector
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a collector's fault: count, log once, keep scheduling
            state.errors_total += 1
            self._log_error_once(state, exc)
            return
        state.last_duration_s = duration
        state.collections_total += 1
        if samples:
            self._sink(tick_ms, samples)

    def _log_error_once(self, state: CollectorState, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message in state.seen_errors:
            return
        if len(state.seen_errors) >= MAX_REMEMBERED_ERRORS:
            state.seen_errors.clear()
        state.seen_errors.add(message)
        log.error(
            "collector %s failed: %s (logged once; counted in edgewatch_collector_errors_total)",
            state.name,
            message,
        )


def _timed_collect(collector: Collector) -> tuple[list[Sample], float]:
    started = time.perf_counter()
    samples = list(collector.collect())
    return samples, time.perf_counter() - started


def _now_ms(clock: Clock) -> int:
    return int(clock.time() * 1000)
