"""Where a group's escalation stands: steps done, the next step, or why it stopped.

Read-only, for ``/api/alerts``; :meth:`Dispatcher._escalate` sends the steps and
uses :func:`due_ms` for their times, so both agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from edgewatch.alerting.dispatch_state import Group
from edgewatch.alerting.notice import NoticeStatus
from edgewatch.config.routing import EscalationPolicy

EscalationStateName = Literal["running", "stopped: acknowledged", "done"]


@dataclass(frozen=True)
class EscalationState:
    group_key: str
    steps_done: int
    """Steps sent, over all rounds."""
    steps_total: int
    state: EscalationStateName
    next_receiver: str | None = None
    """While running: the receiver of the next step."""
    next_due_ms: int | None = None
    """While running: when the next step is due (if not acknowledged by then)."""


def due_ms(policy: EscalationPolicy, first_fired_ms: int, i: int) -> int:
    """When step ``i`` (counted over all rounds) is due."""
    steps = policy.steps
    rnd, j = divmod(i, len(steps))
    last_after_ms = round(steps[-1].after * 1000)
    return first_fired_ms + rnd * last_after_ms + round(steps[j].after * 1000)


def escalation_state(group: Group, acked: Callable[[str], bool]) -> EscalationState | None:
    """``group``'s escalation (None: its route has none); ``acked(fingerprint)``
    tells whether an alert is acknowledged for its current incident."""
    policy = group.node.escalation
    if policy is None or not policy.steps:
        return None
    total = len(policy.steps) * (policy.repeat + 1)
    done = group.escalations
    base = EscalationState(group_key=group.key, steps_done=done, steps_total=total, state="done")
    if done >= total:
        return base
    firing = [fp for fp, a in group.alerts.items() if a.status is NoticeStatus.FIRING]
    if firing and all(acked(fp) for fp in firing):
        return EscalationState(group.key, done, total, "stopped: acknowledged")
    return EscalationState(
        group.key,
        done,
        total,
        "running",
        next_receiver=policy.steps[done % len(policy.steps)].receiver,
        next_due_ms=due_ms(policy, group.first_fired_ms, done),
    )


def alert_escalation(
    groups: list[Group], fingerprint: str, acked: Callable[[str], bool]
) -> EscalationState | None:
    """The escalation of the first group holding the alert whose route escalates."""
    for group in sorted(groups, key=lambda g: g.key):
        if fingerprint in group.alerts:
            found = escalation_state(group, acked)
            if found is not None:
                return found
    return None
