"""The alerting engine as the agent runs it: rules → dispatcher → outbox → channels.

``AlertingService`` is built by the agent (the composition root) from the
config and the store file, and ``run()`` runs on the agent's event loop:

- one task per rule group evaluates it every ``interval`` in a worker thread
  (the query engine blocks) and hands the notices to the dispatcher;
- the dispatcher is ticked every second, and at once after each evaluation, so
  a ``for: 0`` rule's first notification leaves within a second of the
  evaluation that saw the crossing; what it flushes goes into the outbox;
- the outbox delivers, retries and gives up on its own task;
- the dead man's switch pings outward when configured.

Everything that must survive a restart lives in the store file: alert states
and history (``AlertStore``), the dispatcher's notification log, silences,
acknowledgements and the outbox. An alert that resolves loses its
acknowledgement (an ack holds for one incident).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from edgewatch.alerting.ack_link import AckLinks
from edgewatch.alerting.acks import AckStore
from edgewatch.alerting.dispatch import Dispatcher
from edgewatch.alerting.evaluator import LoadedGroup, RuleEvaluator
from edgewatch.alerting.notice import Notice, NoticeStatus, Notification
from edgewatch.alerting.silences import SilenceStore
from edgewatch.alerting.state import AlertStore
from edgewatch.config import Config
from edgewatch.config.routing import RootRoute
from edgewatch.maintenance import active as maintenance_active
from edgewatch.model import Sample, SeriesKey
from edgewatch.notify.base import Channel
from edgewatch.notify.deadman import DeadMansSwitch
from edgewatch.notify.outbox import Outbox, OutboxItem
from edgewatch.notify.registry import build_channels
from edgewatch.query import Engine

log = logging.getLogger(__name__)

TICK_S = 1.0
"""Seconds between two dispatcher ticks (group_wait and friends are counted in these)."""
STATS_EVERY_S = 15.0
"""Seconds between two samples of the notifier's own counters."""
MAX_BACKLOG = 1000
"""Notifications held in memory while the outbox refuses writes; beyond, the oldest go."""
COUNTERS = ("delivered", "failed", "given_up", "retried")
"""The outbox's counters, each a series ``edgewatch_notify_<name>_total{receiver}``."""

UNROUTED = "unrouted"
"""The receiver of the placeholder route used when the config has no ``route``:
alerts are evaluated, stored and shown, and their notifications dropped."""

Sink = Callable[[int, Sequence[Sample]], None]


class AlertingService:
    def __init__(
        self,
        config: Config,
        groups: Sequence[LoadedGroup],
        *,
        db_path: Path,
        engine: Engine,
        sink: Sink | None,
        clock: Callable[[], float] = time.time,
        ack_secret: bytes,
    ) -> None:
        self.config = config
        self.db_path = db_path
        self._clock = clock
        self._sink = sink
        alerting = config.alerting
        self.state = AlertStore(db_path, clock=clock)
        self.evaluator = RuleEvaluator(
            groups,
            engine,
            state=self.state,
            sink=sink,
            external_labels=alerting.external_labels,
            external_url=alerting.external_url,
        )
        self.silences = SilenceStore(db_path, clock=clock)
        self.acks = AckStore(db_path, clock=clock)
        self.ack_links = (
            AckLinks(ack_secret, alerting.external_url, clock=clock)
            if alerting.external_url
            else None
        )
        receivers = {r.name: r for r in config.receivers}
        self._channels: dict[str, list[Channel]] = {}
        for name, receiver in receivers.items():
            try:
                self._channels[name] = build_channels(receiver)
            except Exception as exc:  # one bad receiver must not stop alerting
                log.error("receiver %s could not be built, its notifications fail: %s", name, exc)
                self._channels[name] = []
        self.routed = config.route is not None
        self._starts: dict[str, int] = {}  # fingerprint -> start of its incident
        self.dispatcher = Dispatcher(
            config.route or RootRoute(receiver=UNROUTED),
            config.inhibit_rules,
            db_path=db_path,
            component_deps={n: c.depends_on for n, c in config.health.components.items()},
            silenced_by=self.silences.silenced_by,
            acked_by=self._acked_by,
            maintenance=self._maintenance,
            ack_url=self._ack_url,
            send_resolved=lambda name: name in receivers and receivers[name].send_resolved,
        )
        self.outbox = Outbox(
            db_path,
            config.notify.outbox,
            channels=lambda name: self._channels.get(name, []),
            clock=clock,
            on_give_up=self._given_up,
        )
        self.deadman = (
            DeadMansSwitch(config.notify.deadman, clock=clock)
            if config.notify.deadman.url
            else None
        )
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._backlog: list[Notification] = []  # what the outbox refused, retried first

    # -- running ---------------------------------------------------------------------

    async def run(self) -> None:
        """Evaluate, dispatch and deliver until ``stop()``."""
        now_ms = self._now_ms()
        current = self.evaluator.notices()
        self._remember(current)
        # Alerts the dispatcher remembers from the last run that no rule has any more
        # (a rule removed, an alert that ended while the agent was down) end now.
        known = {n.fingerprint for n in current}
        ended = [
            replace(n, status=NoticeStatus.RESOLVED, ends_at_ms=now_ms)
            for n in self.dispatcher.alerts()
            if n.status is NoticeStatus.FIRING and n.fingerprint not in known
        ]
        try:
            self.dispatcher.update([*current, *ended], now_ms)
        except Exception:  # the evaluations re-send every firing alert: recoverable
            log.exception("alerting: the restored alerts could not be dispatched")
        if not self.routed:
            log.info("alerting: no route configured; alerts are shown but not sent")
        tasks = [
            asyncio.create_task(self._group_loop(group), name=f"rules:{group.key}")
            for group in self.evaluator.groups
        ]
        tasks.append(asyncio.create_task(self._dispatch_loop(), name="alert-dispatch"))
        tasks.append(asyncio.create_task(self.outbox.run(self._stopping), name="outbox"))
        tasks.append(asyncio.create_task(self._stats_loop(), name="notify-stats"))
        if self.deadman is not None:
            tasks.append(asyncio.create_task(self.deadman.run(self._stopping), name="deadman"))
        for task in tasks:
            task.add_done_callback(_log_unexpected_end)
        log.info(
            "alerting: %d rule groups, %d receivers",
            len(self.evaluator.groups),
            len(self._channels),
        )
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        for closer in (self.state.close, self.silences.close, self.acks.close, self.outbox.close):
            with contextlib.suppress(Exception):
                closer()
        self.dispatcher.close()

    async def _group_loop(self, group: LoadedGroup) -> None:
        interval = group.group.interval
        failing = False
        while True:
            now = self._clock()
            # Aligned to the interval, like the collectors: evaluations land on round times.
            await asyncio.sleep(interval - (now % interval))
            try:
                await self.evaluate(group)
            except Exception:  # the store file busy or broken: the next interval retries
                if not failing:
                    log.exception("rule group %s: dispatching its alerts failed", group.key)
                failing = True
            else:
                failing = False

    async def evaluate(self, group: LoadedGroup) -> list[Notice]:
        """Evaluate ``group`` now and dispatch what changed (also used by tests)."""
        now_ms = self._now_ms()
        try:
            notices = await asyncio.to_thread(self.evaluator.evaluate_group, group, now_ms)
        except Exception:
            # The evaluator reports rule errors itself; this is a bug in it.
            log.exception("rule group %s could not be evaluated", group.key)
            return []
        self._remember(notices)
        self.dispatcher.update(notices, now_ms)
        self._wake.set()
        return notices

    async def _dispatch_loop(self) -> None:
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the store file busy or broken: keep ticking
                if not failing:  # logged once per run of failures
                    log.exception("alert dispatch failed; retrying every %gs", TICK_S)
                failing = True
            else:
                if failing:
                    log.info("alert dispatch works again")
                failing = False

    async def flush(self) -> list[Notification]:
        """Tick the dispatcher and put what it sends into the outbox.

        The outbox takes the notifications before the dispatcher records them as
        sent (``tick``'s ``deliver``), so a failed enqueue or a crash in between
        sends them again after a restart rather than never. Like the dispatcher's
        own log, this short write runs on the loop: the dispatcher is not
        thread-safe."""
        if self._backlog:
            self._enqueue(())
        due = self.dispatcher.tick(self._now_ms(), self._enqueue)
        if due:
            self.outbox.wake()
        return due

    def _enqueue(self, notifications: Sequence[Notification]) -> None:
        """Into the outbox; what it refuses (the file locked or broken) waits in memory
        and goes first at the next tick (same dedupe keys: never twice), and the error
        is raised on so the dispatcher does not record the tick."""
        external_url = self.config.alerting.external_url
        refusing = bool(self._backlog)  # the outbox refused the last try too
        todo = [*self._backlog, *notifications]
        self._backlog = []
        for index, notification in enumerate(todo):
            if notification.receiver not in self._channels:
                if self.routed:  # config validation makes this a bug, not a user error
                    log.error("notification for unknown receiver %s dropped", notification.receiver)
                continue
            try:
                self.outbox.enqueue(replace(notification, external_url=external_url))
            except Exception as exc:
                self._backlog = todo[index:][-MAX_BACKLOG:]
                if len(todo) - index > MAX_BACKLOG:
                    log.error(
                        "outbox backlog full: %d notifications dropped",
                        len(todo) - index - MAX_BACKLOG,
                    )
                if not refusing:  # once per run of refusals, not every second
                    log.warning(
                        "outbox refused %d notifications, retried every tick: %s",
                        len(self._backlog),
                        exc,
                    )
                # Raised on, so the dispatcher does not record them as sent: if the
                # agent dies before the backlog drains, the restart sends them again.
                raise

    async def _stats_loop(self) -> None:
        if self._sink is None:
            return
        while True:
            try:
                await self._sample_stats()
            except Exception:  # self-metrics must never stop alerting
                log.exception("alerting: the notifier's counters could not be sampled")
            await asyncio.sleep(STATS_EVERY_S)

    async def _sample_stats(self) -> None:
        if self._sink is not None:
            stats = await asyncio.to_thread(self.outbox.stats)
            now_ms = self._now_ms()
            samples: list[Sample] = []
            # Every receiver from the start, at 0: increase() sees the first failure.
            for receiver in self._channels:
                counts = stats.by_receiver.get(receiver, {})
                for what in COUNTERS:
                    key = SeriesKey.of(f"edgewatch_notify_{what}_total", receiver=receiver)
                    samples.append(Sample(key, float(counts.get(what, 0))))
            samples.append(Sample(SeriesKey.of("edgewatch_notify_pending"), float(stats.pending)))
            self._sink(now_ms, samples)

    # -- callbacks -------------------------------------------------------------------

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    def _maintenance(self, now_ms: int) -> list[str]:
        return maintenance_active(self.config.maintenance, now_ms)

    def _remember(self, notices: Sequence[Notice]) -> None:
        """Track each alert's incident start; an alert that resolved loses its ack."""
        for notice in notices:
            if notice.status is NoticeStatus.RESOLVED:
                self._starts.pop(notice.fingerprint, None)
                self.acks.clear(notice.fingerprint)
            else:
                self._starts[notice.fingerprint] = notice.starts_at_ms

    def _acked_by(self, fingerprint: str) -> str | None:
        # An ack older than the incident (a link clicked after the last one ended)
        # does not count.
        return self.acks.acked_by(fingerprint, since_ms=self._starts.get(fingerprint))

    def _ack_url(self, group_key: str, fingerprints: Sequence[str]) -> str:
        if self.ack_links is None:
            return ""
        return self.ack_links.url(group_key, fingerprints)

    def _given_up(self, item: OutboxItem) -> None:
        # Counted in edgewatch_notify_given_up_total, which the built-in pack alerts on.
        log.error(
            "notification %s to %s given up after notify.outbox.max_age",
            item.dedupe_key,
            item.receiver,
        )


def _log_unexpected_end(task: asyncio.Task[None]) -> None:
    """A loop of the engine that ended on its own (not cancelled) is a bug: say so."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("alerting: %s stopped: %s: %s", task.get_name(), type(exc).__name__, exc)
