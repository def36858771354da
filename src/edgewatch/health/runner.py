"""Runs the checks on their intervals, applies thresholds and retries, keeps the
latest result of each, and turns every run into samples.

Each check runs in its own task: one that hangs is cancelled at its timeout and
reported unknown, and never delays another check or the collectors. At most
``MAX_CONCURRENT`` checks run at once. A check with ``remediate:`` hands each result
to its ``Remediator``, whose actions run as their own tasks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgewatch.config.health import CheckBase, HealthConfig
from edgewatch.health import thresholds
from edgewatch.health.model import CheckEnv, CheckKind, CheckResult, Observation, Status
from edgewatch.health.registry import load_kind
from edgewatch.health.remediation import AuditWriter, Remediator
from edgewatch.health.score import HealthSummary, summarise
from edgewatch.model import Sample, SeriesKey

log = logging.getLogger(__name__)

MAX_CONCURRENT = 16
MAX_MESSAGE = 500

Sink = Callable[[int, Sequence[Sample]], None]
OnChange = Callable[[CheckResult, CheckResult | None], None]


@dataclass
class _State:
    settings: CheckBase
    kind: CheckKind | None
    result: CheckResult | None = None
    candidate: Status | None = None
    streak: int = 0


class HealthMonitor:
    def __init__(
        self,
        config: HealthConfig,
        env: CheckEnv,
        *,
        sink: Sink | None = None,
        on_change: OnChange | None = None,
        audit: AuditWriter | None = None,
        remediate: bool = True,
    ) -> None:
        """``audit`` writes the remediation actions' audit rows (``AuditLog.write``;
        None: not audited); ``remediate=False`` takes no action (a one-off run)."""
        self.config = config
        self.env = env
        self._sink = sink
        self._on_change = on_change
        self._states: dict[str, _State] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._limit = asyncio.Semaphore(MAX_CONCURRENT)
        self._remediators: dict[str, Remediator] = {}
        for settings in config.checks:
            self._states[settings.name] = _State(settings, self._build(settings))
            if remediate and settings.remediate is not None:
                self._remediators[settings.name] = Remediator(
                    settings.name, settings.remediate, clock=env.clock, audit=audit
                )

    def _build(self, settings: CheckBase) -> CheckKind | None:
        kind: str = getattr(settings, "kind", "")
        try:
            cls = load_kind(kind)
            instance: CheckKind = cls(settings, self.env)
            return instance
        except Exception as exc:  # one bad check must not stop the others
            log.error("health check %s (%s) cannot run: %s", settings.name, kind, exc)
            return None

    # -- running -----------------------------------------------------------------

    async def run(self) -> None:
        """Run every check on its interval until cancelled."""
        self._tasks = [asyncio.create_task(self._loop(st)) for st in self._states.values()]
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for remediator in self._remediators.values():
                await remediator.aclose()

    async def _loop(self, state: _State) -> None:
        interval = state.settings.interval
        while True:
            started = time.monotonic()
            await self.run_once(state.settings.name)
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, interval - elapsed))

    async def run_once(self, name: str) -> CheckResult:
        """Run one check now (``edgewatch health --check``, tests) and record its result."""
        state = self._states[name]
        settings = state.settings
        started = time.perf_counter()
        async with self._limit:
            obs = await self._observe(state)
        duration = time.perf_counter() - started
        obs = thresholds.apply(settings, obs)
        result = self._record(state, obs, duration)
        self._emit(result)
        remediator = self._remediators.get(name)
        if remediator is not None:
            remediator.feed(result)  # an action due starts as its own task
        return result

    async def _observe(self, state: _State) -> Observation:
        settings = state.settings
        if state.kind is None:
            return Observation(Status.UNKNOWN, message="the check could not be built (see log)")
        try:
            return await asyncio.wait_for(state.kind.observe(), settings.timeout)
        except TimeoutError:
            return Observation(Status.UNKNOWN, message=f"timed out after {settings.timeout:g}s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a kind's bug: the check is unknown, the monitor goes on
            log.exception("health check %s failed unexpectedly", settings.name)
            return Observation(Status.UNKNOWN, message=f"check error: {type(exc).__name__}")

    def _record(self, state: _State, obs: Observation, duration: float) -> CheckResult:
        settings = state.settings
        now_ms = round(self.env.clock() * 1000)
        previous = state.result
        reported = obs.status if previous is None else previous.status
        since = now_ms if previous is None else previous.since_ms
        if previous is not None and obs.status is not previous.status:
            if state.candidate is obs.status:
                state.streak += 1
            else:
                state.candidate, state.streak = obs.status, 1
            if state.streak >= settings.retries:
                reported, since = obs.status, now_ms
                state.candidate, state.streak = None, 0
        else:
            state.candidate, state.streak = None, 0
        result = CheckResult(
            name=settings.name,
            kind=getattr(settings, "kind", ""),
            component=settings.component,
            status=reported,
            observed=obs.status,
            value=obs.value,
            unit=obs.unit,
            message=obs.message[:MAX_MESSAGE],
            duration_s=duration,
            time_ms=now_ms,
            since_ms=since,
            critical=settings.critical,
        )
        state.result = result
        if self._on_change is not None and (previous is None or previous.status is not reported):
            self._on_change(result, previous)
        if previous is not None and previous.status is not reported:
            log.info(
                "health: %s is %s (was %s): %s",
                result.name,
                reported.value,
                previous.status.value,
                result.message,
            )
        return result

    def _emit(self, r: CheckResult) -> None:
        if self._sink is None:
            return
        labels = {"check": r.name, "component": r.component, "kind": r.kind}
        samples = [
            Sample(SeriesKey.of("edgewatch_check_status", labels), float(r.status.code)),
            Sample(SeriesKey.of("edgewatch_check_duration_seconds", labels), r.duration_s),
        ]
        if r.value is not None:
            samples.append(
                Sample(SeriesKey.of("edgewatch_check_observed_value", labels), float(r.value))
            )
        self._sink(r.time_ms, samples)

    # -- reading -----------------------------------------------------------------

    def results(self) -> dict[str, CheckResult]:
        return {n: s.result for n, s in self._states.items() if s.result is not None}

    def summary(self) -> HealthSummary:
        return summarise(self.config, self.results())

    def names(self) -> list[str]:
        return list(self._states)

    def remediation(self) -> dict[str, dict[str, object]]:
        """Each remediated check's counters (``Remediator.state``)."""
        return {name: r.state() for name, r in self._remediators.items()}

    async def settle(self) -> None:
        """Wait for the remediation actions in flight."""
        for remediator in self._remediators.values():
            await remediator.settle()
