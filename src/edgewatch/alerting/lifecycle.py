"""The alert lifecycle as a pure state machine: one evaluation in, new state out.

``step(alert, observation, policy)`` takes the alert of one series (labelset) as
it stood, one evaluation of its rule, and the rule's policy, and returns the new
alert and the transitions that happened. Nothing here reads a clock, a store or
a network: times come in observations, so the same observations replayed (a
backtest, or after a restart from the persisted ``Alert``) give the same
transitions.

States follow Prometheus -- inactive, pending, firing -- plus ``resolved`` (a
firing alert whose condition stopped; it keeps ``resolved_at`` and its last
value) and ``nodata``. The additions beyond Prometheus:

- **k-of-n debounce**: the condition "holds" when ``active`` was true in at
  least k of the last n evaluations with data (the current one included).
- **Hysteresis**: a firing alert resolves only when ``clear`` holds; in the
  band between (``active`` false, ``clear`` false) it stays firing. Without a
  clear expression (``clear=None``) "clear" means "the condition does not
  hold". Hysteresis applies to firing alerts only: a pending alert whose
  condition stops goes back to inactive, as in Prometheus.
- **keep_firing_for**: counted from the first evaluation of a run where the
  alert is clear; the run is broken (and the count restarts) by an evaluation
  that is not clear. ``keep_firing_for=0`` resolves on the first clear one.
- **for=0** goes from inactive (or resolved) straight to firing with one
  transition, as Prometheus does within one evaluation.
- **nodata**: when evaluations come without data for ``nodata_after_s``
  seconds since the last one with data (or since the first evaluation, if
  none had data), any state goes to ``nodata`` -- never to resolved. Shorter
  gaps leave the alert as it is. With ``nodata_after_s=None`` detection is off
  and an evaluation without data leaves the alert as it is.
  When data comes back, an alert that was firing resumes as firing (keeping
  ``fired_at`` and ``active_since``) and is evaluated as a firing alert: it
  stays firing while it is not clear, and otherwise resolves after
  ``keep_firing_for`` counted from the return. Any other alert is evaluated
  from inactive: a pending timer restarts at the return, since nothing says
  the condition held during the gap. The one transition emitted goes from
  ``nodata`` to the resulting state (``nodata -> inactive`` included).
- **Severities**: ``Observation.severity`` is the highest severity whose
  condition holds. A change while firing is a transition of kind
  ``severity``, not a new alert; an evaluation without a severity keeps the
  alert's (the hysteresis band).
- **Flapping**: state transitions that do not involve ``nodata`` are counted
  over the trailing ``window_s`` (times in ``(now - window_s, now]``); above
  ``changes`` the alert is flapping. Starting and stopping to flap are
  transitions of their own kinds, so that notifications can be held.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import NamedTuple

from edgewatch.model import Labels

TRANSITIONS_KEPT = 32
"""How many of its latest transitions an ``Alert`` carries (the full history is persisted)."""


class AlertState(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NODATA = "nodata"


class TransitionKind(enum.StrEnum):
    STATE = "state"
    SEVERITY = "severity"
    FLAPPING_STARTED = "flapping_started"
    FLAPPING_STOPPED = "flapping_stopped"


class Debounce(NamedTuple):
    """Fire when the condition held in ``k`` of the last ``n`` evaluations."""

    k: int
    n: int


class FlapPolicy(NamedTuple):
    """Flapping when more than ``changes`` state changes fall in ``window_s`` seconds."""

    changes: int
    window_s: float


@dataclass(frozen=True)
class AlertPolicy:
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    debounce: Debounce | None = None
    flap: FlapPolicy | None = None
    nodata_after_s: float | None = None
    severities: tuple[str, ...] = ()
    """Severity names from lowest to highest, e.g. ``("warning", "critical")``; empty: any."""

    def __post_init__(self) -> None:
        if self.for_s < 0:
            raise ValueError(f"for must be 0 or more seconds, got {self.for_s}")
        if self.keep_firing_for_s < 0:
            raise ValueError(
                f"keep_firing_for must be 0 or more seconds, got {self.keep_firing_for_s}"
            )
        if self.debounce is not None and not 1 <= self.debounce.k <= self.debounce.n:
            raise ValueError(
                f"debounce needs 1 <= k <= n, got k={self.debounce.k} n={self.debounce.n}"
            )
        if self.flap is not None and (self.flap.changes < 1 or self.flap.window_s <= 0):
            raise ValueError(
                "flap detection needs changes >= 1 and window > 0 seconds, got "
                f"changes={self.flap.changes} window={self.flap.window_s}"
            )
        if self.nodata_after_s is not None and self.nodata_after_s < 0:
            raise ValueError(f"nodata_after must be 0 or more seconds, got {self.nodata_after_s}")
        if len(set(self.severities)) != len(self.severities):
            raise ValueError(f"severities must be distinct, got {list(self.severities)}")


class Observation(NamedTuple):
    """One evaluation of a rule for one series."""

    time_s: float
    active: bool
    clear: bool | None = None
    """The ``clear`` condition holds; None when the rule has no clear expression."""
    severity: str | None = None
    value: float | None = None
    has_data: bool = True
    labels: Labels = ()


class Transition(NamedTuple):
    time_s: float
    from_state: AlertState
    to_state: AlertState
    value: float | None
    kind: TransitionKind = TransitionKind.STATE
    severity: str | None = None
    """The alert's severity after the transition."""
    previous_severity: str | None = None
    """For ``severity`` transitions: the severity before."""


@dataclass(frozen=True)
class Alert:
    labels: Labels = ()
    state: AlertState = AlertState.INACTIVE
    active_since: float | None = None
    """When the condition started to hold for this incident (Prometheus' ActiveAt)."""
    fired_at: float | None = None
    resolved_at: float | None = None
    last_value: float | None = None
    severity: str | None = None
    flapping: bool = False
    transitions: tuple[Transition, ...] = ()
    """The latest ``TRANSITIONS_KEPT`` transitions, oldest first."""
    recent: tuple[bool, ...] = ()
    """``active`` of the last n evaluations with data (debounce window), oldest first."""
    keep_firing_until: float | None = None
    """While firing and clear: the time from which it may resolve."""
    evaluated_s: float | None = None
    """Time of the last evaluation."""
    data_seen_s: float | None = None
    """Time of the last evaluation with data (or of the first evaluation)."""
    change_times: tuple[float, ...] = ()
    """Times of the state changes counted for flap detection, oldest first."""


def step(
    alert: Alert | None, obs: Observation, policy: AlertPolicy
) -> tuple[Alert, list[Transition]]:
    """Apply one evaluation; return the new alert and the transitions, in order."""
    if obs.severity is not None and policy.severities and obs.severity not in policy.severities:
        raise ValueError(
            f"severity {obs.severity!r} is not one of the rule's severities "
            f"{list(policy.severities)}"
        )
    if alert is None:
        alert = Alert(labels=obs.labels, data_seen_s=obs.time_s)
    else:
        if obs.labels and obs.labels != alert.labels:
            raise ValueError(f"observation for {obs.labels} applied to the alert of {alert.labels}")
        if alert.evaluated_s is not None and obs.time_s < alert.evaluated_s:
            raise ValueError(
                f"observation at {obs.time_s} is older than the last evaluation "
                f"at {alert.evaluated_s}"
            )
    if obs.has_data:
        new, changes = _with_data(alert, obs, policy)
    else:
        new, changes = _without_data(alert, obs, policy)
    new, changes = _detect_flapping(alert, new, changes, obs.time_s, policy)
    if changes:
        new = replace(new, transitions=(*new.transitions, *changes)[-TRANSITIONS_KEPT:])
    return new, changes


def _without_data(
    alert: Alert, obs: Observation, policy: AlertPolicy
) -> tuple[Alert, list[Transition]]:
    held = replace(alert, evaluated_s=obs.time_s)
    since = alert.data_seen_s if alert.data_seen_s is not None else obs.time_s
    if (
        policy.nodata_after_s is None
        or alert.state is AlertState.NODATA
        or obs.time_s - since < policy.nodata_after_s
    ):
        return held, []
    change = Transition(obs.time_s, alert.state, AlertState.NODATA, None, severity=alert.severity)
    return replace(held, state=AlertState.NODATA, keep_firing_until=None), [change]


def _with_data(
    alert: Alert, obs: Observation, policy: AlertPolicy
) -> tuple[Alert, list[Transition]]:
    recent: tuple[bool, ...] = ()
    if policy.debounce is None:
        holds = obs.active
    else:
        recent = (*alert.recent, obs.active)[-policy.debounce.n :]
        holds = sum(recent) >= policy.debounce.k
    clear = (not holds) if obs.clear is None else obs.clear
    base = replace(
        _resume(alert) if alert.state is AlertState.NODATA else alert,
        recent=recent,
        evaluated_s=obs.time_s,
        data_seen_s=obs.time_s,
        last_value=obs.value,
    )
    new, changes = _advance(base, obs, policy, holds=holds, clear=clear)
    if alert.state is AlertState.NODATA:
        if changes and changes[0].kind is TransitionKind.STATE:
            changes[0] = changes[0]._replace(from_state=AlertState.NODATA)
        else:
            back = Transition(
                obs.time_s, AlertState.NODATA, base.state, obs.value, severity=base.severity
            )
            changes.insert(0, back)
    return new, changes


def _resume(alert: Alert) -> Alert:
    """The state a ``nodata`` alert is evaluated from when data comes back."""
    if alert.fired_at is not None and alert.resolved_at is None:
        return replace(alert, state=AlertState.FIRING, keep_firing_until=None)
    return replace(
        alert,
        state=AlertState.INACTIVE,
        active_since=None,
        fired_at=None,
        resolved_at=None,
        keep_firing_until=None,
    )


def _advance(
    alert: Alert, obs: Observation, policy: AlertPolicy, *, holds: bool, clear: bool
) -> tuple[Alert, list[Transition]]:
    t = obs.time_s
    state = alert.state
    if state in (AlertState.INACTIVE, AlertState.RESOLVED):
        if not holds:
            return alert, []
        fresh = replace(
            alert,
            active_since=t,
            fired_at=None,
            resolved_at=None,
            keep_firing_until=None,
            severity=obs.severity,
        )
        return _pending_or_firing(fresh, state, obs, policy, since=t)
    if state is AlertState.PENDING:
        if not holds:
            change = Transition(t, state, AlertState.INACTIVE, obs.value, severity=alert.severity)
            return replace(alert, state=AlertState.INACTIVE, active_since=None), [change]
        severity = alert.severity if obs.severity is None else obs.severity
        since = t if alert.active_since is None else alert.active_since
        return _pending_or_firing(
            replace(alert, severity=severity), state, obs, policy, since=since
        )
    if state is AlertState.FIRING:
        return _firing(alert, obs, policy, holds=holds, clear=clear)
    raise ValueError(f"cannot evaluate an alert in state {state}")


def _pending_or_firing(
    alert: Alert, came_from: AlertState, obs: Observation, policy: AlertPolicy, *, since: float
) -> tuple[Alert, list[Transition]]:
    t = obs.time_s
    if t - since >= policy.for_s:
        new = replace(alert, state=AlertState.FIRING, fired_at=t)
    elif came_from is AlertState.PENDING:
        return alert, []
    else:
        new = replace(alert, state=AlertState.PENDING)
    return new, [Transition(t, came_from, new.state, obs.value, severity=new.severity)]


def _firing(
    alert: Alert, obs: Observation, policy: AlertPolicy, *, holds: bool, clear: bool
) -> tuple[Alert, list[Transition]]:
    t = obs.time_s
    if holds or not clear:
        new = replace(alert, keep_firing_until=None)
        if obs.severity is None or obs.severity == alert.severity:
            return new, []
        change = Transition(
            t,
            AlertState.FIRING,
            AlertState.FIRING,
            obs.value,
            kind=TransitionKind.SEVERITY,
            severity=obs.severity,
            previous_severity=alert.severity,
        )
        return replace(new, severity=obs.severity), [change]
    until = alert.keep_firing_until
    if until is None:
        until = t + policy.keep_firing_for_s
    if t < until:
        return replace(alert, keep_firing_until=until), []
    change = Transition(
        t, AlertState.FIRING, AlertState.RESOLVED, obs.value, severity=alert.severity
    )
    new = replace(alert, state=AlertState.RESOLVED, resolved_at=t, keep_firing_until=None)
    return new, [change]


def _detect_flapping(
    old: Alert, new: Alert, changes: list[Transition], now: float, policy: AlertPolicy
) -> tuple[Alert, list[Transition]]:
    if policy.flap is None:
        return new, changes
    counted = [
        c.time_s
        for c in changes
        if c.kind is TransitionKind.STATE and AlertState.NODATA not in (c.from_state, c.to_state)
    ]
    start = now - policy.flap.window_s
    times = tuple(x for x in (*old.change_times, *counted) if x > start)
    times = times[-(policy.flap.changes + 1) :]
    flapping = len(times) > policy.flap.changes
    new = replace(new, change_times=times, flapping=flapping)
    if flapping == old.flapping:
        return new, changes
    kind = TransitionKind.FLAPPING_STARTED if flapping else TransitionKind.FLAPPING_STOPPED
    marker = Transition(now, new.state, new.state, new.last_value, kind=kind, severity=new.severity)
    return new, [*changes, marker]


def rebase(alert: Alert, now_s: float) -> Alert:
    """``alert`` as seen from ``now_s`` after the clock stepped back before its last
    evaluation: every time after ``now_s`` becomes ``now_s``. A pending timer restarts
    from the step, a firing alert stays firing, a keep_firing_for count restarts."""

    def clamp(t: float | None) -> float | None:
        return None if t is None else min(t, now_s)

    return replace(
        alert,
        active_since=clamp(alert.active_since),
        fired_at=clamp(alert.fired_at),
        resolved_at=clamp(alert.resolved_at),
        evaluated_s=clamp(alert.evaluated_s),
        data_seen_s=clamp(alert.data_seen_s),
        keep_firing_until=None,
        change_times=tuple(min(t, now_s) for t in alert.change_times),
    )
