"""The alert state machine: exact transitions for each rule, and properties."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.alerting.lifecycle import (
    TRANSITIONS_KEPT,
    Alert,
    AlertPolicy,
    AlertState,
    Debounce,
    FlapPolicy,
    Observation,
    Transition,
    TransitionKind,
    step,
)

INA, P, F, R, N = (
    AlertState.INACTIVE,
    AlertState.PENDING,
    AlertState.FIRING,
    AlertState.RESOLVED,
    AlertState.NODATA,
)
LABELS = (("instance", "shop-1"),)


def replay(
    policy: AlertPolicy, observations: Sequence[Observation], alert: Alert | None = None
) -> tuple[Alert, list[Transition]]:
    every: list[Transition] = []
    for obs in observations:
        alert, changes = step(alert, obs, policy)
        every.extend(changes)
    assert alert is not None
    return alert, every


def states(transitions: Sequence[Transition]) -> list[tuple[float, AlertState, AlertState]]:
    return [(t.time_s, t.from_state, t.to_state) for t in transitions]


def threshold(times_values: Sequence[tuple[float, float]], above: float) -> list[Observation]:
    return [Observation(t, v > above, value=v, labels=LABELS) for t, v in times_values]


def flags(*pattern: int, every: float = 10.0) -> list[Observation]:
    return [Observation(i * every, bool(p), value=float(p)) for i, p in enumerate(pattern)]


# --- inactive -> pending -> firing -> resolved ----------------------------------------------


@pytest.mark.parametrize(
    ("for_s", "pattern", "expected"),
    [
        # for=0: straight to firing, resolved on the first evaluation without the condition
        (0, (0, 1, 1, 0), [(10, INA, F), (30, F, R)]),
        # for=20: pending at 10, firing once held 20 s (at 30), resolved at 40
        (20, (0, 1, 1, 1, 0), [(10, INA, P), (30, P, F), (40, F, R)]),
        # stops before for: back to inactive, timer restarts
        (20, (1, 1, 0, 1, 1, 1), [(0, INA, P), (20, P, INA), (30, INA, P), (50, P, F)]),
        # a resolved alert that comes back is a new incident, starting at pending
        (10, (1, 1, 0, 1, 1), [(0, INA, P), (10, P, F), (20, F, R), (30, R, P), (40, P, F)]),
        # for=0 and a resolved alert that comes back: straight to firing again
        (0, (1, 0, 1), [(0, INA, F), (10, F, R), (20, R, F)]),
    ],
)
def test_alert_goes_pending_then_firing_after_for(
    for_s: float, pattern: tuple[int, ...], expected: list[tuple[float, AlertState, AlertState]]
) -> None:
    _, transitions = replay(AlertPolicy(for_s=for_s), flags(*pattern))
    assert states(transitions) == expected


def test_transitions_carry_value_and_timestamps() -> None:
    obs = threshold([(0, 50), (60, 95), (120, 97), (180, 40)], above=90)
    alert, transitions = replay(AlertPolicy(for_s=60), obs)
    assert [(t.time_s, t.to_state, t.value) for t in transitions] == [
        (60, P, 95.0),
        (120, F, 97.0),
        (180, R, 40.0),
    ]
    assert alert.state is R
    assert (alert.active_since, alert.fired_at, alert.resolved_at) == (60, 120, 180)
    assert alert.last_value == 40.0
    assert alert.labels == LABELS
    assert alert.transitions == tuple(transitions)


def test_new_incident_clears_previous_times() -> None:
    alert, _ = replay(AlertPolicy(for_s=10), flags(1, 1, 0, 1))
    assert alert.state is P
    assert (alert.active_since, alert.fired_at, alert.resolved_at) == (30, None, None)


def test_alert_resolves_after_keep_firing_for() -> None:
    policy = AlertPolicy(for_s=0, keep_firing_for_s=25)
    # firing at 0; quiet from 10: deadline 35, so still firing at 20 and 30, resolved at 40
    alert, transitions = replay(policy, flags(1, 0, 0, 0, 0))
    assert states(transitions) == [(0, INA, F), (40, F, R)]
    assert alert.resolved_at == 40


def test_keep_firing_for_restarts_when_the_condition_returns() -> None:
    policy = AlertPolicy(keep_firing_for_s=20)
    _, transitions = replay(policy, flags(1, 0, 1, 0, 0, 0))
    # quiet at 10 (deadline 30), active at 20 (deadline dropped), quiet from 30: resolves at 50
    assert states(transitions) == [(0, INA, F), (50, F, R)]
    mid, _ = replay(policy, flags(1, 0))
    assert (mid.state, mid.keep_firing_until) == (F, 30)


# --- hysteresis -------------------------------------------------------------------------------


def hysteresis(times_values: Sequence[tuple[float, float]]) -> list[Observation]:
    """Fires above 90, clears only below 80."""
    return [Observation(t, v > 90, clear=v < 80, value=v) for t, v in times_values]


def test_hysteresis_keeps_firing_in_the_band() -> None:
    obs = hysteresis([(0, 95), (10, 85), (20, 85), (30, 89), (40, 79)])
    _, transitions = replay(AlertPolicy(), obs)
    assert states(transitions) == [(0, INA, F), (40, F, R)]
    assert transitions[-1].value == 79.0


def test_hysteresis_band_after_clear_restarts_keep_firing() -> None:
    obs = hysteresis([(0, 95), (10, 70), (20, 85), (30, 70), (40, 70)])
    _, transitions = replay(AlertPolicy(keep_firing_for_s=10), obs)
    # clear at 10 (deadline 20), band at 20 resets it, clear from 30: resolved at 40
    assert states(transitions) == [(0, INA, F), (40, F, R)]


def test_without_hysteresis_85_resolves() -> None:
    obs = threshold([(0, 95), (10, 85)], above=90)
    _, transitions = replay(AlertPolicy(), obs)
    assert states(transitions) == [(0, INA, F), (10, F, R)]


def test_hysteresis_does_not_hold_a_pending_alert() -> None:
    obs = hysteresis([(0, 95), (10, 85)])
    _, transitions = replay(AlertPolicy(for_s=30), obs)
    assert states(transitions) == [(0, INA, P), (10, P, INA)]


# --- k-of-n debounce --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # one blip is not enough
        ((1, 0, 0, 1, 0, 0), []),
        # 2 of the last 3: fires at the second hit even with a miss between, and
        # resolves when fewer than 2 of the last 3 hold
        ((1, 0, 1, 0, 0), [(20, INA, F), (30, F, R)]),
        # stays firing through single misses while 2 of the last 3 hold
        ((1, 1, 0, 1, 1, 0, 0), [(10, INA, F), (60, F, R)]),
    ],
)
def test_debounce_two_of_three(
    pattern: tuple[int, ...], expected: list[tuple[float, AlertState, AlertState]]
) -> None:
    _, transitions = replay(AlertPolicy(debounce=Debounce(2, 3)), flags(*pattern))
    assert states(transitions) == expected


def test_debounce_with_for_counts_from_the_debounced_start() -> None:
    policy = AlertPolicy(for_s=20, debounce=Debounce(2, 3))
    _, transitions = replay(policy, flags(1, 1, 0, 1, 1))
    assert states(transitions) == [(10, INA, P), (30, P, F)]


# --- nodata -----------------------------------------------------------------------------------


def gap(t: float) -> Observation:
    return Observation(t, False, has_data=False)


def test_nodata_never_resolves_a_firing_alert() -> None:
    policy = AlertPolicy(nodata_after_s=30)
    obs = [Observation(0, True, value=1.0), *(gap(t) for t in range(10, 200, 10))]
    alert, transitions = replay(policy, obs)
    assert states(transitions) == [(0, INA, F), (30, F, N)]
    assert transitions[-1].value is None
    assert alert.state is N
    assert (alert.fired_at, alert.resolved_at, alert.last_value) == (0, None, 1.0)


def test_short_gap_holds_the_alert_as_it_is() -> None:
    policy = AlertPolicy(for_s=30, nodata_after_s=30)
    obs = [Observation(0, True), gap(10), gap(20), Observation(30, True)]
    _, transitions = replay(policy, obs)
    assert states(transitions) == [(0, INA, P), (30, P, F)]


def test_without_nodata_policy_a_gap_changes_nothing() -> None:
    obs = [Observation(0, True), *(gap(t) for t in range(10, 1000, 10))]
    alert, transitions = replay(AlertPolicy(), obs)
    assert states(transitions) == [(0, INA, F)]
    assert (alert.state, alert.evaluated_s, alert.data_seen_s) == (F, 990, 0)


def test_nodata_from_inactive_and_from_the_very_first_evaluation() -> None:
    policy = AlertPolicy(nodata_after_s=20)
    _, transitions = replay(policy, [gap(0), gap(10), gap(20)])
    assert states(transitions) == [(20, INA, N)]
    _, transitions = replay(policy, [Observation(0, False), gap(10), gap(20)])
    assert states(transitions) == [(20, INA, N)]


def test_data_back_keeps_fired_at_when_the_condition_still_holds() -> None:
    policy = AlertPolicy(for_s=10, nodata_after_s=20)
    obs = [Observation(0, True), Observation(10, True), gap(20), gap(30), Observation(40, True)]
    alert, transitions = replay(policy, obs)
    assert states(transitions) == [(0, INA, P), (10, P, F), (30, F, N), (40, N, F)]
    assert (alert.state, alert.active_since, alert.fired_at) == (F, 0, 10)


def test_data_back_with_the_condition_gone_resolves_not_inactive() -> None:
    policy = AlertPolicy(nodata_after_s=10, keep_firing_for_s=10)
    obs = [Observation(0, True), gap(10), Observation(20, False), Observation(30, False)]
    _, transitions = replay(policy, obs)
    assert states(transitions) == [(0, INA, F), (10, F, N), (20, N, F), (30, F, R)]


def test_data_back_restarts_a_pending_timer() -> None:
    policy = AlertPolicy(for_s=30, nodata_after_s=10)
    obs = [Observation(0, True), gap(10), Observation(20, True), Observation(40, True)]
    _, transitions = replay(policy, obs)
    assert states(transitions) == [(0, INA, P), (10, P, N), (20, N, P)]
    _, transitions = replay(policy, [*obs, Observation(50, True)])
    assert states(transitions)[-1] == (50, P, F)


def test_data_back_without_the_condition_is_inactive() -> None:
    policy = AlertPolicy(nodata_after_s=0)
    _, transitions = replay(policy, [gap(0), Observation(10, False)])
    assert states(transitions) == [(0, INA, N), (10, N, INA)]


# --- severities -------------------------------------------------------------------------------


def test_severity_moves_within_one_alert() -> None:
    policy = AlertPolicy(severities=("warning", "critical"))
    obs = [
        Observation(0, True, severity="warning", value=85),
        Observation(10, True, severity="critical", value=96),
        Observation(20, True, severity="critical", value=97),
        Observation(30, True, severity="warning", value=86),
        Observation(40, False, value=50),
    ]
    alert, transitions = replay(policy, obs)
    assert [
        (t.time_s, t.kind, t.from_state, t.to_state, t.previous_severity, t.severity)
        for t in transitions
    ] == [
        (0, TransitionKind.STATE, INA, F, None, "warning"),
        (10, TransitionKind.SEVERITY, F, F, "warning", "critical"),
        (30, TransitionKind.SEVERITY, F, F, "critical", "warning"),
        (40, TransitionKind.STATE, F, R, None, "warning"),
    ]
    assert (alert.fired_at, alert.severity) == (0, "warning")


def test_severity_in_hysteresis_band_is_kept() -> None:
    policy = AlertPolicy(severities=("warning", "critical"))
    obs = [
        Observation(0, True, clear=False, severity="critical", value=95),
        Observation(10, False, clear=False, severity=None, value=85),
    ]
    alert, transitions = replay(policy, obs)
    assert len(transitions) == 1
    assert (alert.state, alert.severity) == (F, "critical")


def test_pending_severity_changes_are_not_transitions() -> None:
    policy = AlertPolicy(for_s=20, severities=("warning", "critical"))
    obs = [
        Observation(0, True, severity="warning"),
        Observation(10, True, severity="critical"),
        Observation(20, True, severity="critical"),
    ]
    _, transitions = replay(policy, obs)
    assert [(t.to_state, t.kind, t.severity) for t in transitions] == [
        (P, TransitionKind.STATE, "warning"),
        (F, TransitionKind.STATE, "critical"),
    ]


def test_unknown_severity_is_refused() -> None:
    policy = AlertPolicy(severities=("warning", "critical"))
    with pytest.raises(ValueError, match="severity 'page' is not one of the rule's severities"):
        step(None, Observation(0, True, severity="page"), policy)


# --- flapping ---------------------------------------------------------------------------------


def test_alternating_condition_flaps_and_settles() -> None:
    policy = AlertPolicy(flap=FlapPolicy(changes=3, window_s=60))
    # alternating every 10 s for 60 s, then steady firing
    alert, transitions = replay(policy, flags(1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1))
    markers = [(t.time_s, t.kind) for t in transitions if t.kind is not TransitionKind.STATE]
    # changes at 0, 10, 20, 30, 40: the 4th (> 3) at 30 starts flapping; at 70 the
    # window (10, 70] holds 3 changes (20, 30, 40), so flapping stops there
    state_changes = [t for t in transitions if t.kind is TransitionKind.STATE]
    assert states(state_changes) == [(0, INA, F), (10, F, R), (20, R, F), (30, F, R), (40, R, F)]
    assert markers == [(30, TransitionKind.FLAPPING_STARTED), (70, TransitionKind.FLAPPING_STOPPED)]
    assert not alert.flapping


def test_flapping_is_set_on_the_alert_while_it_flaps() -> None:
    policy = AlertPolicy(flap=FlapPolicy(changes=2, window_s=100))
    alert, _ = replay(policy, flags(1, 0, 1))
    assert alert.flapping
    alert, _ = replay(policy, flags(1, 0))
    assert not alert.flapping


def test_without_flap_policy_nothing_flaps() -> None:
    alert, transitions = replay(AlertPolicy(), flags(*([1, 0] * 20)))
    assert not alert.flapping
    assert all(t.kind is TransitionKind.STATE for t in transitions)
    assert len(alert.transitions) == TRANSITIONS_KEPT


# --- input errors and immutability ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"for_s": -1}, "for must be 0 or more seconds, got -1"),
        ({"keep_firing_for_s": -5}, "keep_firing_for must be 0 or more seconds, got -5"),
        ({"debounce": Debounce(4, 3)}, "debounce needs 1 <= k <= n, got k=4 n=3"),
        ({"flap": FlapPolicy(0, 60)}, "flap detection needs changes >= 1"),
        ({"nodata_after_s": -1}, "nodata_after must be 0 or more seconds, got -1"),
        ({"severities": ("warning", "warning")}, "severities must be distinct"),
    ],
)
def test_bad_policy_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        AlertPolicy(**kwargs)  # type: ignore[arg-type]


def test_time_going_backwards_is_refused() -> None:
    alert, _ = step(None, Observation(100, True), AlertPolicy())
    with pytest.raises(ValueError, match="observation at 50 is older than the last evaluation"):
        step(alert, Observation(50, True), AlertPolicy())


def test_observation_of_another_series_is_refused() -> None:
    alert, _ = step(None, Observation(0, True, labels=LABELS), AlertPolicy())
    with pytest.raises(ValueError, match="applied to the alert of"):
        step(alert, Observation(10, True, labels=(("instance", "other"),)), AlertPolicy())


def test_step_leaves_the_given_alert_unchanged() -> None:
    alert, _ = step(None, Observation(0, True), AlertPolicy(for_s=10))
    before = alert
    step(alert, Observation(10, True), AlertPolicy(for_s=10))
    assert alert == before and alert.state is P
    with pytest.raises(FrozenInstanceError):
        alert.state = F  # type: ignore[misc]


# --- properties -------------------------------------------------------------------------------

gaps = st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    gaps=gaps,
    conditions=st.lists(st.booleans(), min_size=40, max_size=40),
    for_s=st.integers(min_value=0, max_value=60),
)
def test_fires_exactly_when_held_continuously_for_for(
    gaps: list[int], conditions: list[bool], for_s: int
) -> None:
    policy = AlertPolicy(for_s=for_s)
    alert: Alert | None = None
    t = 0
    run_start: int | None = None
    for gap_s, active in zip(gaps, conditions, strict=False):
        t += gap_s
        alert, _ = step(alert, Observation(t, active), policy)
        if not active:
            run_start = None
        elif run_start is None:
            run_start = t
        expected_firing = run_start is not None and t - run_start >= for_s
        assert (alert.state is F) == expected_firing


observations = st.builds(
    Observation,
    time_s=st.integers(min_value=0, max_value=30),  # a gap, summed below
    active=st.booleans(),
    clear=st.one_of(st.none(), st.booleans()),
    severity=st.sampled_from([None, "warning", "critical"]),
    value=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    has_data=st.booleans(),
    labels=st.just(LABELS),
)
policies = st.builds(
    AlertPolicy,
    for_s=st.integers(min_value=0, max_value=60),
    keep_firing_for_s=st.integers(min_value=0, max_value=60),
    debounce=st.one_of(st.none(), st.just(Debounce(2, 3)), st.just(Debounce(1, 1))),
    flap=st.one_of(st.none(), st.just(FlapPolicy(2, 50))),
    nodata_after_s=st.one_of(st.none(), st.integers(min_value=0, max_value=40)),
    severities=st.just(("warning", "critical")),
)


def timed(raw: list[Observation]) -> list[Observation]:
    out, t = [], 0.0
    for obs in raw:
        t += obs.time_s
        out.append(obs._replace(time_s=t))
    return out


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(observations, min_size=1, max_size=50), policy=policies)
def test_a_firing_alert_never_goes_to_inactive(raw: list[Observation], policy: AlertPolicy) -> None:
    _, transitions = replay(policy, timed(raw))
    last_condition_state = INA
    for t in transitions:
        if t.kind is not TransitionKind.STATE:
            assert t.from_state == t.to_state
            continue
        assert (t.from_state, t.to_state) != (F, INA)
        if t.from_state is N and t.to_state is INA:
            # through nodata neither: a firing alert comes back firing or resolved
            assert last_condition_state is not F
        if t.to_state is not N:
            last_condition_state = t.to_state


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(observations, min_size=1, max_size=50),
    policy=policies,
    cut=st.integers(min_value=0, max_value=50),
)
def test_replay_is_pure(raw: list[Observation], policy: AlertPolicy, cut: int) -> None:
    obs = timed(raw)
    first = replay(policy, obs)
    assert replay(policy, obs) == first
    # resuming from the alert as it stood after `cut` evaluations (a restart from the
    # persisted row) gives the same transitions afterwards
    cut = min(cut, len(obs) - 1)
    head_alert, head = replay(policy, obs[: cut + 1])
    tail_alert, tail = replay(policy, obs[cut + 1 :], alert=head_alert)
    assert (tail_alert, head + tail) == first
