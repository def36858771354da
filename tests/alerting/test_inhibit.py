"""Inhibition: Alertmanager's rules and component dependencies."""

from __future__ import annotations

from edgewatch.alerting.inhibit import Inhibitor
from edgewatch.alerting.notice import Notice, NoticeStatus
from edgewatch.config.routing import InhibitRule


def alert(status: NoticeStatus = NoticeStatus.FIRING, **labels: str) -> Notice:
    return Notice(labels=labels, status=status)


CRIT_MUTES_WARN = InhibitRule(
    source_matchers=['severity="critical"'],
    target_matchers=['severity="warning"'],
    equal=["instance"],
)


def test_critical_mutes_warning_with_equal_labels() -> None:
    inh = Inhibitor([CRIT_MUTES_WARN])
    crit = alert(alertname="DiskFull", severity="critical", instance="a")
    other = alert(alertname="DiskFull", severity="critical", instance="b")
    warn = {"alertname": "DiskSlow", "severity": "warning", "instance": "a"}
    assert inh.inhibited_by(warn, [crit, other]) == [crit.fingerprint]
    assert inh.inhibited_by({**warn, "instance": "b"}, [crit]) == []
    # a label missing on both sides is equal
    assert (
        inh.inhibited_by(
            {"alertname": "X", "severity": "warning"}, [alert(alertname="Y", severity="critical")]
        )
        != []
    )
    # targets must match the target matchers
    assert inh.inhibited_by({**warn, "severity": "info"}, [crit]) == []


def test_resolved_sources_and_self_do_not_inhibit() -> None:
    rule = InhibitRule(source_matchers=['alertname=~".+"'], target_matchers=['alertname=~".+"'])
    inh = Inhibitor([rule])
    me = alert(alertname="A", severity="warning")
    gone = alert(NoticeStatus.RESOLVED, alertname="B")
    assert inh.inhibited_by(me.labels, [me, gone]) == []
    # the same alert with another severity is still itself (severity is not in the fingerprint)
    assert inh.inhibited_by({**me.labels, "severity": "critical"}, [me]) == []


def test_component_dependencies_inhibit_transitively() -> None:
    deps = {"remote_api": ["uplink"], "cloud_sync": ["remote_api"], "camera": []}
    inh = Inhibitor([], deps)
    uplink = alert(alertname="HealthCheckFailing", component="uplink", check="ping")
    assert inh.dependents("uplink") == {"remote_api", "cloud_sync"}
    for comp in ("remote_api", "cloud_sync"):
        labels = {"alertname": "HealthCheckFailing", "component": comp}
        assert inh.inhibited_by(labels, [uplink]) == [uplink.fingerprint]
    for labels in ({"alertname": "X", "component": "camera"}, {"alertname": "X"}):
        assert inh.inhibited_by(labels, [uplink]) == []
    # the dependency does not go the other way
    api = alert(alertname="HealthCheckFailing", component="remote_api")
    assert inh.inhibited_by(uplink.labels, [api]) == []


def test_dependency_cycles_do_not_hang() -> None:
    inh = Inhibitor([], {"a": ["b"], "b": ["a"]})
    assert inh.dependents("a") == {"b"}
    src = alert(alertname="X", component="a")
    assert inh.inhibited_by({"alertname": "Y", "component": "b"}, [src]) == [src.fingerprint]
