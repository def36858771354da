"""Runs the checks on their intervals, applies thresholds and retries, keeps the
latest result of each, and turns every run into samples: the check's, and the
health scores as they stand after it (``score.summary_samples``).

Each check runs in its own task: one that hangs is cancelled at its timeout and
reported unknown, and never delays another check or the collectors. At most
``MAX_CONCURRENT`` checks run at once. A check with ``remediate:`` hands each result
to its ``Remediator``, whose actions run as their own tasks; none while
``maintenance(now)`` says a maintenance window is open (its failures are not counted).

Blocking work of the kinds (``blocking.run_blocking``) runs on the monitor's own
daemon threads, one slot per check: while a call cut off at its timeout is still
stuck in its thread, the check is not run again but reported unknown. An error of
the sink, ``on_change`` or the remediation is logged (once per distinct error and
check) and the checks go on.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgewatch.config.health import CheckBase, HealthConfig
from edgewatch.health import blocking, thresholds
from edgewatch.health.model import CheckEnv, CheckKind, CheckResult, Observation, Status
from edgewatch.health.registry import load_kind
from edgewatch.health.remediation import AuditWriter, Remediator, reboots_in_audit
from edgewatch.health.score import HealthSummary, summarise, summary_samples
from edgewatch.model import Sample, SeriesKey

log = logging.getLogger(__name__)

MAX_CONCURRENT = 16
MAX_MESSAGE = 500

Sink = Callable[[int, Sequence[Sample]], None]
OnChange = Callable[[CheckResult, CheckResult | None], None]
Maintenance = Callable[[float], bool]


@dataclass
class _State:
    settings: CheckBase
    kind: CheckKind | None
    slot: blocking.Slot
    result: CheckResult | None = None
    streak: int = 0  # runs in a row observed otherwise than the reported status
    errors: set[str] = field(default_factory=set)  # the hook errors logged already


class HealthMonitor:
    def __init__(
        self,
        config: HealthConfig,
        env: CheckEnv,
        *,
        sink: Sink | None = None,
        on_change: OnChange | None = None,
        audit: AuditWriter | None = None,
        audit_db: Path | None = None,
        maintenance: Maintenance | None = None,
        remediate: bool = True,
    ) -> None:
        """``audit`` writes the remediation actions' audit rows (``AuditLog.write``;
        None: not audited); ``audit_db`` is the store holding them, read back for the
        reboot guard; ``maintenance(now)`` is True while a maintenance window is open;
        ``remediate=False`` takes no action (a one-off run)."""
        self.config = config
        self.env = env
        self._sink = sink
        self._on_change = on_change
        self._maintenance = maintenance
        # a stuck call holds one thread per check at most: one per check, capped
        self._executor = blocking.DaemonExecutor(max(1, min(MAX_CONCURRENT, len(config.checks))))
        self._states: dict[str, _State] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._limit = asyncio.Semaphore(MAX_CONCURRENT)
        self._remediators: dict[str, Remediator] = {}
        for settings in config.checks:
            slot = blocking.Slot(self._executor)
            self._states[settings.name] = _State(settings, self._build(settings), slot)
            if remediate and settings.remediate is not None:
                self._remediators[settings.name] = Remediator(
                    settings.name,
                    settings.remediate,
                    clock=env.clock,
                    audit=audit,
                    recent_reboot=None
                    if audit_db is None
                    else reboots_in_audit(audit_db, settings.name),
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
        self._tasks = []
        for st in self._states.values():
            task = asyncio.create_task(self._loop(st), name=f"health {st.settings.name}")
            task.add_done_callback(_loop_done)
            self._tasks.append(task)
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for remediator in self._remediators.values():
                await remediator.aclose()
            self._executor.shutdown(wait=False, cancel_futures=True)  # never joins a stuck one

    async def _loop(self, state: _State) -> None:
        interval = state.settings.interval
        while True:
            started = time.monotonic()
            try:
                await self.run_once(state.settings.name)
            except Exception as exc:  # a bug here must not stop this check's runs
                self._log_error(state, "run", exc)
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
        try:
            self._emit(result)
        except Exception as exc:  # the store's refusal: logged, the checks go on
            self._log_error(state, "sink", exc)
        remediator = self._remediators.get(name)
        if remediator is not None and not self._in_maintenance(state):
            try:
                remediator.feed(result)  # an action due starts as its own task
            except Exception as exc:
                self._log_error(state, "remediation", exc)
        return result

    def _in_maintenance(self, state: _State) -> bool:
        if self._maintenance is None:
            return False
        try:
            return self._maintenance(self.env.clock())
        except Exception as exc:  # unknown: act as outside a window
            self._log_error(state, "maintenance", exc)
            return False

    def _log_error(self, state: _State, where: str, exc: Exception) -> None:
        """Log ``exc`` with the check's name: with its traceback the first time this
        error is seen for this check, then at debug level."""
        key = f"{where}: {type(exc).__name__}: {exc}"
        if key in state.errors:
            log.debug("health check %s: %s (again)", state.settings.name, key)
            return
        if len(state.errors) < 100:  # bounded: a message with a counter in it
            state.errors.add(key)
        log.error("health check %s: %s failed", state.settings.name, where, exc_info=exc)

    async def _observe(self, state: _State) -> Observation:
        settings = state.settings
        if state.kind is None:
            return Observation(Status.UNKNOWN, message="the check could not be built (see log)")
        if state.slot.busy:
            message = "previous run still stuck (its blocking call has not returned)"
            return Observation(Status.UNKNOWN, message=message)
        context = contextvars.copy_context()
        context.run(blocking.CURRENT.set, state.slot)
        task = asyncio.create_task(state.kind.observe(), context=context)
        try:
            return await asyncio.wait_for(task, settings.timeout)
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
            # any runs in a row that differ (fail, unknown, fail...) count: the latest wins
            state.streak += 1
            if state.streak >= settings.retries:
                reported, since = obs.status, now_ms
                state.streak = 0
        else:
            state.streak = 0
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
            try:
                self._on_change(result, previous)
            except Exception as exc:  # the events store's fault: logged, the run stands
                self._log_error(state, "on_change", exc)
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
        samples += summary_samples(self.summary())  # the scores, as of this result
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


def _loop_done(task: asyncio.Task[None]) -> None:
    """A check's loop ends only when cancelled; log it if it died anyway."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("health: %s stopped: no more runs", task.get_name(), exc_info=exc)
