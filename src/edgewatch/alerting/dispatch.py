"""The dispatcher: alerts in, notifications out (routing, grouping, muting, escalation).

``update(notices, now_ms)`` takes the evaluator's alerts; ``tick(now_ms)``
(every second) returns the notifications due. Each alert goes to the routes
that match it (:mod:`edgewatch.alerting.routing`) and, per route, to the group
of its ``group_by`` values. A new group waits ``group_wait``; a group is then
looked at every ``group_interval`` and sends when it has new firing alerts (or
an alert whose severity moved), when an alert the receiver knew as firing
resolved (receivers that want resolved messages), or when ``repeat_interval``
passed since its last message. A group whose alerts all resolved is removed
after that look.

Muted alerts (silenced, inhibited, or in an open maintenance window named by
the route's ``mute_time_intervals``) are left out of messages; when a muted
alert is unmuted and still fires, the next look sends it again. Becoming muted
is never reported as resolved.

Escalation: a group with firing, un-muted alerts that are not all
acknowledged sends each step's ``ESCALATION`` message once, ``after`` the
group first fired; acknowledging stops it, the group ending ends it.

``dedupe_key`` is ``RECEIVER/GROUP_KEY/KIND/SEQUENCE``, the sequence counting
that receiver's messages of that group (persisted, never reused), so a
restart never gives the same message another key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgewatch.alerting.dispatch_state import DispatchLog, Group, Snapshot
from edgewatch.alerting.escalation_view import due_ms
from edgewatch.alerting.inhibit import Inhibitor
from edgewatch.alerting.notice import Notice, NoticeStatus, Notification, NotificationKind
from edgewatch.alerting.routing import RouteNode, build_routes, match_routes
from edgewatch.config.routing import InhibitRule, Route
from edgewatch.web.accounts import db_file

log = logging.getLogger(__name__)

FIRING = NoticeStatus.FIRING
RESOLVED = NoticeStatus.RESOLVED


@dataclass(frozen=True)
class AlertMuting:
    """Why an alert is left out of notifications now (all empty: it is not)."""

    silenced_by: tuple[str, ...] = ()
    """Ids of the silences that match it."""
    inhibited_by: tuple[str, ...] = ()
    """Fingerprints of the firing alerts that inhibit it."""
    muted_by: tuple[str, ...] = ()
    """Open maintenance windows that mute (one of) its routes."""

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by or self.muted_by)


def _token(n: Notice) -> str:
    """What the receiver was told about an alert: its status and severity."""
    return f"{n.status.value}|{n.labels.get('severity', '')}"


class _Tick:
    """Per-tick caches of the muting callables (each asked once per alert per tick)."""

    def __init__(self, dispatcher: Dispatcher, now_ms: int) -> None:
        self.d = dispatcher
        self.now_ms = now_ms
        self._firing: list[Notice] | None = None
        self._windows: list[str] | None = None
        self._muted: dict[str, bool] = {}

    def windows(self) -> list[str]:
        if self._windows is None:
            self._windows = list(self.d._maintenance(self.now_ms))
        return self._windows

    def muted(self, alert: Notice, node: RouteNode) -> bool:
        if node.mute_time_intervals and node.muted_by(self.windows()):
            return True
        fp = alert.fingerprint
        if fp not in self._muted:
            if self._firing is None:
                self._firing = [a for a in self.d._alerts.values() if a.status is FIRING]
            self._muted[fp] = bool(
                self.d._silenced_by(alert.labels, self.now_ms)
                or self.d._inhibitor.inhibited_by(alert.labels, self._firing)
            )
        return self._muted[fp]

    def live(self, group: Group) -> list[Notice]:
        """The group's firing alerts that are not muted, in fingerprint order."""
        return [
            a
            for fp, a in sorted(group.alerts.items())
            if a.status is FIRING and not self.muted(a, group.node)
        ]


class Dispatcher:
    def __init__(
        self,
        route: Route,
        inhibit_rules: Sequence[InhibitRule] = (),
        *,
        db_path: Path | None,
        component_deps: Mapping[str, Sequence[str]] | None = None,
        silenced_by: Callable[[Mapping[str, str], int], list[str]] = lambda labels, now: [],
        acked_by: Callable[[str], str | None] = lambda fingerprint: None,
        maintenance: Callable[[int], list[str]] = lambda now: [],
        ack_url: Callable[[str, Sequence[str]], str] = lambda group_key, fingerprints: "",
        send_resolved: Callable[[str], bool] = lambda receiver: True,
    ) -> None:
        self.root = build_routes(route)
        self._inhibitor = Inhibitor(inhibit_rules, component_deps)
        self._silenced_by = silenced_by
        self._acked_by = acked_by
        self._maintenance = maintenance
        self._ack_url = ack_url
        self._send_resolved = send_resolved
        self._alerts: dict[str, Notice] = {}
        self._member: dict[str, set[str]] = {}  # fingerprint -> group keys
        self._groups: dict[str, Group] = {}
        self._seq: dict[tuple[str, str, str], int] = {}
        self._fresh: set[str] = set()  # restored groups whose timers start at the next call
        self._log = DispatchLog(db_file(db_path)) if db_path is not None else None
        if self._log is not None:
            self._restore(self._log.load())

    def close(self) -> None:
        if self._log is not None:
            self._log.close()

    # -- input -----------------------------------------------------------------------

    def update(self, notices: Iterable[Notice], now_ms: int) -> None:
        """Take the evaluator's alerts: a FIRING notice is current, a RESOLVED one ends it."""
        new_groups = self._settle(now_ms)
        changed: list[Notice] = []
        gone_groups: list[str] = []
        for n in notices:
            fp = n.fingerprint
            old = self._alerts.get(fp)
            if old == n or (n.status is RESOLVED and (old is None or old.status is RESOLVED)):
                continue
            self._alerts[fp] = n
            if old is None or old.status is not n.status or old.labels != n.labels:
                changed.append(n)  # a new value alone is not saved: the evaluator resends it
                new_groups += self._place(n, now_ms, gone_groups)
            else:
                for key in self._member.get(fp, set()):
                    if key in self._groups:
                        self._groups[key].alerts[fp] = n
        if self._log is not None and (changed or new_groups or gone_groups):
            with self._log.transaction() as w:
                w.put_alerts(changed)
                w.put_groups(new_groups)
                w.drop_groups(gone_groups)

    def _settle(self, now_ms: int) -> list[Group]:
        """Start the timers of groups restored without saved state (first call after start)."""
        fresh = [self._groups[k] for k in self._fresh if k in self._groups]
        for group in fresh:
            group.created_ms = group.first_fired_ms = now_ms
            group.next_flush_ms = now_ms + group.node.group_wait_ms
        self._fresh.clear()
        return fresh

    def _place(
        self, n: Notice, now_ms: int, gone: list[str], *, restoring: bool = False
    ) -> list[Group]:
        """Put ``n`` in the groups of its routes (and out of groups it left); new groups."""
        fp = n.fingerprint
        wanted = {node.group_key(n.labels): node for node in match_routes(self.root, n.labels)}
        for key in self._member.get(fp, set()) - wanted.keys():
            group = self._groups.get(key)
            if group is not None:
                group.alerts.pop(fp, None)
                if not group.alerts:
                    del self._groups[key]
                    gone.append(key)
        created: list[Group] = []
        member: set[str] = set()
        for key, node in wanted.items():
            group = self._groups.get(key)
            if group is None:
                if n.status is RESOLVED and not restoring:
                    continue
                group = Group(
                    key=key,
                    node=node,
                    labels=node.group_labels(n.labels),
                    created_ms=now_ms,
                    first_fired_ms=now_ms,
                    next_flush_ms=now_ms + node.group_wait_ms,
                )
                self._groups[key] = group
                created.append(group)
            group.alerts[fp] = n
            member.add(key)
        self._member[fp] = member
        if not member and n.status is RESOLVED:
            self._alerts.pop(fp, None)
        return created

    # -- output ----------------------------------------------------------------------

    def tick(
        self,
        now_ms: int,
        deliver: Callable[[Sequence[Notification]], None] | None = None,
    ) -> list[Notification]:
        """The notifications due at ``now_ms`` (call every second).

        ``deliver`` (the outbox's enqueue) is handed them before the dispatcher saves
        that they were sent: a crash in between sends them again after the restart
        (at least once; the outbox's dedupe key stops a second delivery), never zero
        times.
        """
        touched = self._settle(now_ms)
        tick = _Tick(self, now_ms)
        out: list[Notification] = []
        gone: list[str] = []
        for key, group in list(self._groups.items()):
            before = len(out)
            flushed = False
            if now_ms >= group.next_flush_ms:
                flushed = self._flush(group, tick, out)
                if not any(a.status is FIRING for a in group.alerts.values()):
                    del self._groups[key]
                    gone.append(key)
                    continue
            self._escalate(group, tick, out)
            if flushed or len(out) > before:
                touched.append(group)
        dropped = self._forget_resolved()
        if deliver is not None and out:
            deliver(out)
        if self._log is not None and (touched or gone or dropped):
            with self._log.transaction() as w:
                w.put_groups(touched)
                w.drop_groups(gone)
                w.drop_alerts(dropped)
                w.put_sequences(
                    ((n.receiver, n.group_key, n.kind.value), self._seq[_seq_key(n)]) for n in out
                )
        return out

    def _flush(self, group: Group, tick: _Tick, out: list[Notification]) -> bool:
        """Look at ``group`` (its timer is due); True when its saved state changed."""
        node, now_ms = group.node, tick.now_ms
        live = tick.live(group)
        known = {fp for fp, tok in group.notified.items() if tok.startswith(FIRING.value)}
        resolved = [  # those the receiver knew as firing, unless muted since
            a
            for fp, a in sorted(group.alerts.items())
            if a.status is RESOLVED and fp in known and not tick.muted(a, node)
        ]
        send_resolved = self._send_resolved(node.receiver)
        news = any(group.notified.get(a.fingerprint) != _token(a) for a in live)
        repeat = (
            bool(live)
            and group.last_sent_ms is not None
            and now_ms - group.last_sent_ms >= node.repeat_interval_ms
        )
        before = dict(group.notified)
        if news or repeat or (send_resolved and resolved):
            alerts = live + (resolved if send_resolved else [])
            out.append(self._message(group, NotificationKind.NOTIFY, node.receiver, alerts, now_ms))
            group.notified = {a.fingerprint: _token(a) for a in alerts}
            group.last_sent_ms = now_ms
        else:  # forget what is no longer firing and un-muted: it is new again when it is
            live_tokens = {a.fingerprint: _token(a) for a in live}
            group.notified = {
                fp: tok for fp, tok in group.notified.items() if live_tokens.get(fp) == tok
            }
        for fp in [fp for fp, a in group.alerts.items() if a.status is RESOLVED]:
            del group.alerts[fp]
            self._member.get(fp, set()).discard(group.key)
        first = group.last_flush_ms is None
        group.last_flush_ms = now_ms
        group.next_flush_ms = now_ms + node.group_interval_ms
        return first or group.notified != before or bool(resolved)

    def _escalate(self, group: Group, tick: _Tick, out: list[Notification]) -> None:
        policy = group.node.escalation
        if policy is None:
            return
        steps = policy.steps
        total = len(steps) * (policy.repeat + 1)

        def due(i: int) -> int:
            return due_ms(policy, group.first_fired_ms, i)

        if group.escalations >= total or tick.now_ms < due(group.escalations):
            return
        live = tick.live(group)
        if not live or all(self._acked_by(a.fingerprint) is not None for a in live):
            return
        step = group.escalations
        while step + 1 < total and tick.now_ms >= due(step + 1):
            step += 1  # after a long pause only the latest step due is sent
        receiver = steps[step % len(steps)].receiver
        out.append(self._message(group, NotificationKind.ESCALATION, receiver, live, tick.now_ms))
        group.escalations = step + 1

    def _message(
        self,
        group: Group,
        kind: NotificationKind,
        receiver: str,
        alerts: list[Notice],
        now_ms: int,
    ) -> Notification:
        key = (receiver, group.key, kind.value)
        seq = self._seq.get(key, 0)
        self._seq[key] = seq + 1
        fingerprints = [a.fingerprint for a in alerts]
        return Notification(
            receiver=receiver,
            group_key=group.key,
            group_labels=dict(group.labels),
            alerts=tuple(alerts),
            dedupe_key=f"{receiver}/{group.key}/{kind.value}/{seq}",
            created_ms=now_ms,
            kind=kind,
            ack_url=self._ack_url(group.key, fingerprints),
        )

    def _forget_resolved(self) -> list[str]:
        """Resolved alerts in no group any more: dropped (their fingerprints)."""
        gone = [
            fp
            for fp, a in self._alerts.items()
            if a.status is RESOLVED and not self._member.get(fp)
        ]
        for fp in gone:
            del self._alerts[fp]
            self._member.pop(fp, None)
        return gone

    # -- queries ---------------------------------------------------------------------

    def status(self, labels: Mapping[str, str], now_ms: int) -> AlertMuting:
        """Why an alert with ``labels`` is muted now (for ``/api/alerts``)."""
        firing = [a for a in self._alerts.values() if a.status is FIRING]
        windows = self._maintenance(now_ms)
        muted_by: list[str] = []
        if windows:
            for node in match_routes(self.root, labels):
                muted_by += [w for w in node.muted_by(windows) if w not in muted_by]
        return AlertMuting(
            silenced_by=tuple(self._silenced_by(labels, now_ms)),
            inhibited_by=tuple(self._inhibitor.inhibited_by(labels, firing)),
            muted_by=tuple(muted_by),
        )

    def alerts(self) -> list[Notice]:
        """The current alerts (firing, and resolved ones not yet flushed)."""
        return list(self._alerts.values())

    def groups(self) -> list[Group]:
        return list(self._groups.values())

    # -- restart ---------------------------------------------------------------------

    def _restore(self, snap: Snapshot) -> None:
        self._seq = dict(snap.sequences)
        for n in snap.alerts:
            self._alerts[n.fingerprint] = n
            self._place(n, 0, [], restoring=True)
        stale = set(snap.groups) - set(self._groups)
        for key, group in self._groups.items():
            saved = snap.groups.get(key)
            if saved is None:  # a group the saved log lacks (the route tree changed)
                log.info("dispatch: group %s starts afresh", key)
                self._fresh.add(key)
                continue
            group.created_ms = saved.created_ms
            group.first_fired_ms = saved.first_fired_ms
            group.next_flush_ms = saved.next_flush_ms
            group.last_flush_ms = saved.last_flush_ms
            group.last_sent_ms = saved.last_sent_ms
            group.notified = dict(saved.notified)
            group.escalations = saved.escalations
        if stale and self._log is not None:
            with self._log.transaction() as w:
                w.drop_groups(stale)


def _seq_key(n: Notification) -> tuple[str, str, str]:
    return (n.receiver, n.group_key, n.kind.value)
