"""Grouping timers: group_wait, group_interval, repeat_interval, resolved messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from edgewatch.alerting.dispatch import Dispatcher
from edgewatch.alerting.notice import Notice, NoticeStatus, Notification, NotificationKind
from edgewatch.config.routing import RootRoute

S = 1000
T0 = 1_700_000_000_000


def fire(name: str, **labels: str) -> Notice:
    return Notice(labels={"alertname": name, **labels}, starts_at_ms=T0)


def resolve(n: Notice) -> Notice:
    return replace(n, status=NoticeStatus.RESOLVED, ends_at_ms=T0)


def dispatcher(send_resolved: Callable[[str], bool] = lambda r: True, **route: Any) -> Dispatcher:
    base = {"receiver": "ops", "group_by": ["alertname"], "group_wait": "30s"}
    base |= {"group_interval": "5m", "repeat_interval": "4h"}
    return Dispatcher(
        RootRoute.model_validate(base | route), db_path=None, send_resolved=send_resolved
    )


def run(d: Dispatcher, start_ms: int, end_ms: int) -> list[Notification]:
    """Tick every second from start to end (inclusive)."""
    out: list[Notification] = []
    for t in range(start_ms, end_ms + 1, S):
        out += d.tick(t)
    return out


def names(n: Notification) -> list[tuple[str, str]]:
    return [(a.labels.get("host", ""), a.status.value) for a in n.alerts]


def test_group_waits_then_sends_all_its_alerts_in_one_message() -> None:
    d = dispatcher()
    d.update([fire("Disk", host="a")], T0)
    d.update([fire("Disk", host="b"), fire("Cpu", host="a")], T0 + 10 * S)
    assert run(d, T0, T0 + 29 * S) == []
    sent = run(d, T0 + 30 * S, T0 + 40 * S)
    assert [(n.group_key, names(n)) for n in sent] == [
        ('0:{alertname="Disk"}', [("a", "firing"), ("b", "firing")]),
        ('0:{alertname="Cpu"}', [("a", "firing")]),
    ]
    disk = sent[0]
    assert disk.receiver == "ops" and disk.kind is NotificationKind.NOTIFY
    assert disk.dedupe_key == 'ops/0:{alertname="Disk"}/notify/0'
    assert disk.group_labels == {"alertname": "Disk"}


def test_new_alert_waits_for_group_interval_and_repeat_after_repeat_interval() -> None:
    d = dispatcher()
    d.update([fire("Disk", host="a")], T0)
    assert len(run(d, T0, T0 + 30 * S)) == 1  # first flush at +30s
    d.update([fire("Disk", host="b")], T0 + 60 * S)
    assert run(d, T0 + 31 * S, T0 + 329 * S) == []
    (second,) = run(d, T0 + 330 * S, T0 + 331 * S)  # +30s + 5m
    assert names(second) == [("a", "firing"), ("b", "firing")]
    assert second.dedupe_key.endswith("/notify/1")
    # unchanged: nothing until 4h after the last message (on a group_interval tick)
    quiet_until = T0 + 330 * S + 4 * 3600 * S
    assert run(d, T0 + 332 * S, quiet_until - S) == []
    (repeat,) = run(d, quiet_until, quiet_until + 300 * S)
    assert names(repeat) == names(second)
    assert repeat.dedupe_key.endswith("/notify/2")


def test_resolved_message_then_group_removed() -> None:
    d = dispatcher()
    a, b = fire("Disk", host="a"), fire("Disk", host="b")
    d.update([a, b], T0)
    run(d, T0, T0 + 30 * S)
    d.update([resolve(a)], T0 + 40 * S)
    (partial,) = run(d, T0 + 31 * S, T0 + 330 * S)
    assert names(partial) == [("b", "firing"), ("a", "resolved")]
    assert partial.status is NoticeStatus.FIRING
    d.update([resolve(b)], T0 + 400 * S)
    (done,) = run(d, T0 + 331 * S, T0 + 630 * S)
    assert names(done) == [("b", "resolved")]
    assert done.status is NoticeStatus.RESOLVED
    assert d.groups() == [] and d.alerts() == []
    # the same group firing again later is a new incident with fresh keys
    d.update([a], T0 + 700 * S)
    (again,) = run(d, T0 + 700 * S, T0 + 730 * S)
    assert again.dedupe_key.endswith("/notify/3")


def test_receiver_without_resolved_messages() -> None:
    d = dispatcher(send_resolved=lambda receiver: receiver != "ops")
    a, b = fire("Disk", host="a"), fire("Disk", host="b")
    d.update([a, b], T0)
    run(d, T0, T0 + 30 * S)
    d.update([resolve(a)], T0 + 40 * S)
    d.update([resolve(b)], T0 + 50 * S)
    assert run(d, T0 + 31 * S, T0 + 1000 * S) == []
    assert d.groups() == []


def test_alert_resolved_before_group_wait_is_never_sent() -> None:
    d = dispatcher()
    a = fire("Disk", host="a")
    d.update([a], T0)
    d.update([resolve(a)], T0 + 5 * S)
    assert run(d, T0, T0 + 100 * S) == []
    assert d.groups() == []
    d.update([resolve(fire("Unknown"))], T0 + 101 * S)  # an unknown alert resolving: nothing
    assert d.alerts() == []


def test_severity_change_is_news_and_continue_reaches_two_receivers() -> None:
    d = dispatcher(
        routes=[
            {"matchers": ['severity=~"warning|critical"'], "receiver": "mail", "continue": True},
            {"matchers": ['severity="critical"'], "receiver": "pager"},
        ]
    )
    warn = fire("Temp", host="a", severity="warning")
    d.update([warn], T0)
    assert [n.receiver for n in run(d, T0, T0 + 30 * S)] == ["mail"]
    crit = fire("Temp", host="a", severity="critical")
    assert crit.fingerprint == warn.fingerprint
    d.update([crit], T0 + 40 * S)
    sent = run(d, T0 + 31 * S, T0 + 330 * S)
    assert sorted((n.receiver, n.alerts[0].labels["severity"]) for n in sent) == [
        ("mail", "critical"),
        ("pager", "critical"),
    ]
    assert len(d.alerts()) == 1


def test_value_updates_refresh_the_alert_without_a_message() -> None:
    d = dispatcher()
    a = replace(fire("Disk", host="a"), value=91.0)
    d.update([a], T0)
    run(d, T0, T0 + 30 * S)
    d.update([replace(a, value=95.0)], T0 + 60 * S)
    assert run(d, T0 + 31 * S, T0 + 1000 * S) == []
    assert d.alerts()[0].value == 95.0


def test_ack_url_gets_group_key_and_fingerprints() -> None:
    seen: list[tuple[str, list[str]]] = []

    def ack_url(key: str, fps: Any) -> str:
        seen.append((key, list(fps)))
        return f"https://dev/ack/{len(seen)}"

    d = Dispatcher(RootRoute(receiver="ops", group_wait=0), db_path=None, ack_url=ack_url)
    a = fire("Disk", host="a")
    d.update([a], T0)
    (n,) = d.tick(T0)
    assert n.ack_url == "https://dev/ack/1"
    assert seen == [("0:{}", [a.fingerprint])]
