"""Escalation: steps after un-acknowledged delays, repeat, ack stops, resolve ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from edgewatch.alerting.dispatch import Dispatcher
from edgewatch.alerting.notice import Notice, NoticeStatus, Notification, NotificationKind
from edgewatch.config.routing import RootRoute

S = 1000
M = 60 * S
T0 = 1_700_000_000_000
ROUTE = RootRoute.model_validate(
    {
        "receiver": "ops",
        "group_by": ["alertname"],
        "group_wait": "30s",
        "escalation": {
            "steps": [{"after": "10m", "receiver": "lead"}, {"after": "30m", "receiver": "boss"}],
            "repeat": 1,
        },
    }
)


def fire(name: str, **labels: str) -> Notice:
    return Notice(labels={"alertname": name, **labels}, starts_at_ms=T0)


def escalations(d: Dispatcher, start: int, end: int, step: int = S) -> list[tuple[int, str]]:
    """(seconds after T0, receiver) of each escalation sent while ticking."""
    out: list[tuple[int, str]] = []
    for t in range(start, end + 1, step):
        for n in d.tick(t):
            if n.kind is NotificationKind.ESCALATION:
                out.append(((t - T0) // S, n.receiver))
    return out


def test_steps_are_sent_once_each_and_the_list_repeats() -> None:
    d = Dispatcher(ROUTE, db_path=None)
    d.update([fire("Door")], T0)
    got = escalations(d, T0, T0 + 120 * M)
    # round 1: 10m, 30m; round 2 continues from the last step: 40m, 60m; then it stops
    assert got == [(600, "lead"), (1800, "boss"), (2400, "lead"), (3600, "boss")]


def test_escalation_message_shape_and_keys() -> None:
    d = Dispatcher(ROUTE, db_path=None, ack_url=lambda key, fps: f"https://dev/ack?g={key}")
    a = fire("Door", door="front")
    d.update([a], T0)
    sent: list[Notification] = []
    for t in range(T0, T0 + 10 * M + 1, S):
        sent += [n for n in d.tick(t) if n.kind is NotificationKind.ESCALATION]
    (n,) = sent
    assert n.alerts == (a,)
    assert n.dedupe_key == 'lead/0:{alertname="Door"}/escalation/0'
    assert n.ack_url == 'https://dev/ack?g=0:{alertname="Door"}'


def test_ack_stops_escalation_and_a_new_unacked_alert_resumes_it() -> None:
    acks: dict[str, str] = {}
    d = Dispatcher(ROUTE, db_path=None, acked_by=acks.get)
    a = fire("Door", door="front")
    d.update([a], T0)
    assert escalations(d, T0, T0 + 10 * M) == [(600, "lead")]
    acks[a.fingerprint] = "ana"
    assert escalations(d, T0 + 10 * M + S, T0 + 35 * M) == []
    b = fire("Door", door="back")
    d.update([b], T0 + 35 * M)
    assert escalations(d, T0 + 35 * M, T0 + 36 * M) == [(2100, "boss")]
    acks[b.fingerprint] = "ana"
    assert escalations(d, T0 + 36 * M + S, T0 + 120 * M, step=10 * S) == []


def test_resolve_ends_escalation() -> None:
    d = Dispatcher(ROUTE, db_path=None)
    a = fire("Door")
    d.update([a], T0)
    assert escalations(d, T0, T0 + 15 * M) == [(600, "lead")]
    d.update([replace(a, status=NoticeStatus.RESOLVED)], T0 + 15 * M)
    assert escalations(d, T0 + 15 * M, T0 + 120 * M, step=10 * S) == []
    assert d.groups() == []
    # a new incident starts its own timer
    d.update([a], T0 + 200 * M)
    assert escalations(d, T0 + 200 * M, T0 + 211 * M) == [(200 * 60 + 600, "lead")]


def test_muted_group_does_not_escalate_and_a_long_pause_sends_the_latest_step_only() -> None:
    def silenced(labels: Mapping[str, str], now: int) -> list[str]:
        return ["s1"] if now < T0 + 35 * M else []

    d = Dispatcher(ROUTE, db_path=None, silenced_by=silenced)
    d.update([fire("Door")], T0)
    assert escalations(d, T0, T0 + 35 * M - S, step=10 * S) == []
    # unmuted at 35m: steps at 10m and 30m are both due; only the later one (boss) goes
    assert escalations(d, T0 + 35 * M, T0 + 45 * M) == [(2100, "boss"), (2400, "lead")]


def test_routes_without_policy_never_escalate() -> None:
    route = ROUTE.model_copy(update={"escalation": None})
    d = Dispatcher(route, db_path=None)
    d.update([fire("Door")], T0)
    assert escalations(d, T0, T0 + 120 * M, step=10 * S) == []
