"""Runs collectors on their intervals, off the event loop, stamped with the scheduled tick.

Every collector gets its own asyncio task. A tick is a point of the collector's
interval grid (``tick = floor(now / interval) * interval``, in ms), so samples of
different collectors line up with each other and across restarts; the first
collection after a start happens on the next whole second, so a restart never
stamps a tick its predecessor already wrote. ``collect()``
runs in a worker thread; its samples are handed to the sink stamped with the tick
it was scheduled for, not the moment it happened to run. A collection that
overruns its interval skips the ticks it missed instead of piling up. A collector
that raises, or whose samples the sink refuses, is counted and logged once per
distinct message, and stays scheduled.

Overruns and wall-clock steps are told apart with the monotonic clock: when the
wall clock moves more than one interval away from monotonic time (a device
without an RTC boots in 2000 and NTP then sets the date), the collector realigns
on the new grid without counting skipped ticks, and the step is logged once.

The CPU budget slows down *expensive* collectors (class attribute
``expensive = True``) by a throttle factor (1, 2, 4, 8): their effective interval
is ``interval * factor``.
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

# Distinct error messages remembered per collector (each is logged once).
MAX_REMEMBERED_ERRORS = 64

Sink = Callable[[int, Sequence[Sample]], None]


class Clock(Protocol):
    """Wall-clock and monotonic time, and sleeping; injected so tests can travel in time."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def is_expensive(collector: Collector) -> bool:
    """True for collectors that say so with a class attribute ``expensive = True``."""
    return getattr(collector, "expensive", False) is True


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
    """Owns one task per collector; ``start``, ``update`` and ``stop`` run on the loop."""

    def __init__(self, sink: Sink, *, clock: Clock, executor: Executor) -> None:
        self._sink = sink
        self._clock = clock
        self._executor = executor
        self._states: dict[str, CollectorState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._factor = 1
        # Counters survive a reload (a collector rebuilt under the same name).
        self._carried: dict[str, tuple[int, int]] = {}  # name -> (errors, skipped ticks)
        # Wall minus monotonic time (ms) when a clock step was last logged.
        self._logged_offset_ms: int | None = None

    def states(self) -> list[CollectorState]:
        return list(self._states.values())

    def start(self, collectors: Iterable[Collector]) -> None:
        for collector in collectors:
            state = CollectorState(collector, expensive=is_expensive(collector))
            state.errors_total, state.skipped_ticks_total = self._carried.get(
                collector.name, (0, 0)
            )
            if state.expensive:
                state.factor = self._factor
            self._states[collector.name] = state
            self._tasks[collector.name] = asyncio.create_task(
                self._run(state), name=f"collect-{collector.name}"
            )

    async def update(self, collectors: Sequence[Collector]) -> None:
        """Schedule exactly ``collectors``: those already scheduled (the same objects)
        keep running undisturbed, the others are stopped or started."""
        keep = {id(c) for c in collectors}
        gone = [n for n, st in self._states.items() if id(st.collector) not in keep]
        await self._stop_names(gone)
        running = {id(st.collector) for st in self._states.values()}
        self.start(c for c in collectors if id(c) not in running)

    async def stop(self) -> None:
        await self._stop_names(list(self._states))

    async def _stop_names(self, names: Sequence[str]) -> None:
        tasks = [self._tasks.pop(n) for n in names if n in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in names:
            state = self._states.pop(name, None)
            if state is not None:
                self._carried[name] = (state.errors_total, state.skipped_ticks_total)

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
        offset = self._offset_ms()
        now = _now_ms(self._clock)
        tick = now // first_step * first_step + first_step
        await self._clock.sleep((tick - now) / 1000)
        while True:
            step = state.effective_interval_ms
            stepped, offset = self._clock_stepped(offset, step)
            if stepped:  # while asleep: stamp this collection on the new grid
                tick = _now_ms(self._clock) // step * step
            await self._collect_once(state, tick)
            step = state.effective_interval_ms
            stepped, offset = self._clock_stepped(offset, step)
            now = _now_ms(self._clock)
            nxt = tick // step * step + step
            if stepped or nxt - now > step:
                # The wall clock was stepped (or went backwards): realign on the
                # grid around now; no tick was skipped by an overrun.
                nxt = now // step * step + step
            elif nxt <= now:
                # Overran: skip the missed ticks.
                late = now // step * step + step
                state.skipped_ticks_total += (late - nxt) // step
                nxt = late
            await self._clock.sleep((nxt - now) / 1000)
            tick = nxt

    def _offset_ms(self) -> int:
        return _now_ms(self._clock) - int(self._clock.monotonic() * 1000)

    def _clock_stepped(self, before_ms: int, step_ms: int) -> tuple[bool, int]:
        """Whether wall and monotonic time drifted apart by more than one interval
        since ``before_ms`` (their difference then); returns the difference now too."""
        offset = self._offset_ms()
        if abs(offset - before_ms) <= step_ms:
            return False, offset
        logged = self._logged_offset_ms
        if logged is None or abs(offset - logged) > step_ms:
            # Every collector sees the step; the first one to notice logs it.
            log.warning(
                "wall clock stepped by %+.3f s; collectors realigned on the new time",
                (offset - before_ms) / 1000,
            )
        self._logged_offset_ms = offset
        return True, offset

    async def _collect_once(self, state: CollectorState, tick_ms: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            samples, duration = await loop.run_in_executor(
                self._executor, _timed_collect, state.collector
            )
            state.last_duration_s = duration
            state.collections_total += 1
            if samples:
                self._sink(tick_ms, samples)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a collector's (or its samples') fault: count, log once
            state.errors_total += 1
            self._log_error_once(state, exc)

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
