"""Muting in the dispatcher: silences, inhibition, maintenance windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from edgewatch.alerting.dispatch import AlertMuting, Dispatcher
from edgewatch.alerting.notice import Notice, NoticeStatus, Notification
from edgewatch.config.routing import InhibitRule, RootRoute

S = 1000
T0 = 1_700_000_000_000
ROUTE = RootRoute.model_validate(
    {
        "receiver": "ops",
        "group_wait": 0,
        "group_interval": "1m",
        "routes": [
            {
                "matchers": ["alertname=BinFull"],
                "receiver": "bins",
                "mute_time_intervals": ["bin-emptying"],
            },
            {"matchers": ["alertname=Door"], "receiver": "door", "mute_time_intervals": ["*"]},
        ],
    }
)


def fire(name: str, **labels: str) -> Notice:
    return Notice(labels={"alertname": name, **labels}, starts_at_ms=T0)


def hosts(sent: list[Notification]) -> list[list[tuple[str, str]]]:
    return [[(a.labels.get("host", ""), a.status.value) for a in n.alerts] for n in sent]


def run(d: Dispatcher, start: int, end: int) -> list[Notification]:
    out: list[Notification] = []
    for t in range(start, end + 1, S):
        out += d.tick(t)
    return out


class Silences:
    """Stands in for the silence store: host=b silenced during [start, end)."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def __call__(self, labels: Mapping[str, str], now: int) -> list[str]:
        hit = labels.get("host") == "b" and self.start <= now < self.end
        return ["sil-1"] if hit else []


def test_silenced_alert_is_left_out_and_sent_again_when_the_silence_ends() -> None:
    silences = Silences(T0 + 30 * S, T0 + 200 * S)
    d = Dispatcher(ROUTE, db_path=None, silenced_by=silences)
    d.update([fire("Disk", host="a"), fire("Disk", host="b")], T0)
    assert hosts(d.tick(T0)) == [[("a", "firing"), ("b", "firing")]]
    # silenced at +30s: the next flushes do not call it resolved
    assert run(d, T0 + S, T0 + 199 * S) == []
    assert d.status({"alertname": "Disk", "host": "b"}, T0 + 100 * S) == AlertMuting(
        silenced_by=("sil-1",)
    )
    # the silence ends at +200s: the next flush (+240s) sends b again as new
    assert hosts(run(d, T0 + 200 * S, T0 + 240 * S)) == [[("a", "firing"), ("b", "firing")]]


def test_alert_silenced_from_the_start_is_sent_when_the_silence_ends() -> None:
    silences = Silences(T0, T0 + 90 * S)
    d = Dispatcher(ROUTE, db_path=None, silenced_by=silences)
    d.update([fire("Disk", host="b")], T0)
    assert run(d, T0, T0 + 89 * S) == []
    assert hosts(run(d, T0 + 90 * S, T0 + 120 * S)) == [[("b", "firing")]]


def test_silenced_alert_that_resolves_is_not_reported() -> None:
    d = Dispatcher(ROUTE, db_path=None, silenced_by=Silences(T0 + S, T0 + 10_000 * S))
    b = fire("Disk", host="b")
    d.update([fire("Disk", host="a"), b], T0)
    d.tick(T0)
    d.update([replace(b, status=NoticeStatus.RESOLVED)], T0 + 10 * S)
    assert run(d, T0 + S, T0 + 600 * S) == []  # it was forgotten when it became muted


def test_critical_inhibits_warning_until_it_resolves() -> None:
    rule = InhibitRule(
        source_matchers=["severity=critical"], target_matchers=["severity=warning"], equal=["host"]
    )
    route = ROUTE.model_copy(update={"group_by": ["alertname"]})
    d = Dispatcher(route, [rule], db_path=None)
    warn = fire("TempHigh", host="a", severity="warning")
    crit = fire("TempCritical", host="a", severity="critical")
    d.update([warn, crit], T0)
    assert hosts(d.tick(T0)) == [[("a", "firing")]]  # only the critical group sends
    muting = d.status(warn.labels, T0)
    assert muting.inhibited_by == (crit.fingerprint,) and muting.muted
    d.update([replace(crit, status=NoticeStatus.RESOLVED)], T0 + 10 * S)
    sent = run(d, T0 + S, T0 + 60 * S)
    assert sorted((n.alerts[0].name, n.status.value) for n in sent) == [
        ("TempCritical", "resolved"),
        ("TempHigh", "firing"),
    ]
    assert not d.status(warn.labels, T0 + 61 * S).muted


def test_component_dependency_mutes_remote_checks() -> None:
    d = Dispatcher(ROUTE, db_path=None, component_deps={"remote_api": ["uplink"]})
    d.update(
        [fire("HealthCheck", component="uplink"), fire("HealthCheck", component="remote_api")], T0
    )
    (n,) = d.tick(T0)
    assert [a.labels["component"] for a in n.alerts] == ["uplink"]


def test_maintenance_window_mutes_only_routes_that_name_it() -> None:
    open_windows: list[str] = ["bin-emptying"]
    route = ROUTE.model_copy(update={"mute_time_intervals": []})  # the root mutes in none
    d = Dispatcher(route, db_path=None, maintenance=lambda now: list(open_windows))
    bin_full, door, disk = fire("BinFull"), fire("Door"), fire("Disk")
    d.update([bin_full, door, disk], T0)
    assert [n.receiver for n in d.tick(T0)] == ["ops"]
    assert d.status(bin_full.labels, T0).muted_by == ("bin-emptying",)
    assert d.status(door.labels, T0).muted_by == ("bin-emptying",)  # '*': any window
    assert d.status(disk.labels, T0) == AlertMuting()
    open_windows[:] = ["firmware-update"]
    assert [n.receiver for n in run(d, T0 + S, T0 + 60 * S)] == ["bins"]
    open_windows.clear()
    assert [n.receiver for n in run(d, T0 + 61 * S, T0 + 120 * S)] == ["door"]


def test_by_default_every_maintenance_window_mutes_the_root_route() -> None:
    open_windows: list[str] = ["nightly"]
    d = Dispatcher(
        RootRoute(receiver="ops", group_wait=0),
        db_path=None,
        maintenance=lambda now: list(open_windows),
    )
    disk = fire("Disk")
    d.update([disk], T0)
    assert d.tick(T0) == []
    assert d.status(disk.labels, T0).muted_by == ("nightly",)
    open_windows.clear()  # notified at the group's next flush (group_interval, 5m)
    assert [n.receiver for n in run(d, T0 + S, T0 + 301 * S)] == ["ops"]
