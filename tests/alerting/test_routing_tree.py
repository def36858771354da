"""The route tree: config, inheritance, Alertmanager's matching, group keys."""

from __future__ import annotations

import textwrap

import pytest

from edgewatch.alerting.routing import RouteError, build_routes, match_routes
from edgewatch.config.errors import ConfigError
from edgewatch.config.loader import parse_yaml_model
from edgewatch.config.routing import InhibitRule, RootRoute, Route

TREE = """
receiver: ops
group_by: [alertname]
group_wait: 10s
mute_time_intervals: [bin-emptying]
escalation:
  steps: [{after: 15m, receiver: lead}]
routes:
  - matchers: ['severity="critical"']
    receiver: pager
    continue: true
    repeat_interval: 1h
    routes:
      - matchers: ['job=~"cam.*"']
        receiver: vision
        group_by: [job]
        escalation: {steps: []}
  - matchers: ['component="uplink"']
    receiver: network
    mute_time_intervals: []
  - matchers: ['severity=~"warning|critical"']
    receiver: mail
    group_by: ["..."]
"""


def load(text: str) -> RootRoute:
    return parse_yaml_model(textwrap.dedent(text), RootRoute, file="routes.yaml", environ={})


def receivers(root: RootRoute, **labels: str) -> list[str]:
    return [n.receiver for n in match_routes(build_routes(root), labels)]


def test_children_inherit_unset_values_and_get_path_ids() -> None:
    tree = build_routes(load(TREE))
    pager, network, mail = tree.children
    (vision,) = pager.children
    assert [n.id for n in tree.walk()] == ["0", "0.0", "0.0.0", "0.1", "0.2"]
    assert tree.group_wait_ms == 10_000
    assert tree.group_interval_ms == 300_000
    assert tree.repeat_interval_ms == 4 * 3600_000
    assert pager.group_by == ("alertname",)
    assert pager.repeat_interval_ms == 3600_000
    assert vision.repeat_interval_ms == 3600_000  # from its parent, not the root
    assert vision.group_by == ("job",)
    assert vision.group_wait_ms == 10_000
    assert pager.mute_time_intervals == ("bin-emptying",)
    assert network.mute_time_intervals == ()
    assert pager.escalation is not None and pager.escalation.steps[0].receiver == "lead"
    assert vision.escalation is None  # switched off with an empty step list
    assert mail.group_all and mail.continue_ is False
    assert pager.continue_ is True


def test_first_matching_child_wins_unless_continue() -> None:
    root = load(TREE)
    # critical cam: pager -> vision (deepest), continue -> mail also matches
    assert receivers(root, alertname="A", severity="critical", job="cam0") == ["vision", "mail"]
    # critical, not a camera: pager itself (no child matched), then mail
    assert receivers(root, alertname="A", severity="critical") == ["pager", "mail"]
    # warning on the uplink: network takes it and does not continue
    assert receivers(root, alertname="A", severity="warning", component="uplink") == ["network"]
    assert receivers(root, alertname="A", severity="warning") == ["mail"]
    # nothing matches: the root
    assert receivers(root, alertname="A", severity="info") == ["ops"]


def test_group_keys_are_stable_and_name_the_route() -> None:
    tree = build_routes(load(TREE))
    mail = tree.children[2]
    labels = {"alertname": "Disk", "severity": "warning", "mount": "/"}
    assert tree.group_key(labels) == '0:{alertname="Disk"}'
    assert tree.group_key({"x": "1"}) == "0:{}"
    # '...': every label but severity, sorted
    assert mail.group_key(labels) == '0.2:{alertname="Disk",mount="/"}'
    assert mail.group_key({**labels, "severity": "critical"}) == mail.group_key(labels)
    assert build_routes(load(TREE)).group_key(labels) == tree.group_key(labels)


def test_bad_matcher_is_a_config_error_with_its_path_and_line() -> None:
    with pytest.raises(ConfigError) as err:
        load(
            """
            receiver: ops
            routes:
              - receiver: x
                matchers: ['severity="critical"', 'job=~"(cam"']
            """
        )
    (issue,) = err.value.errors
    assert issue.field_path == "routes[0].matchers[1]"
    assert issue.line == 5
    assert "routes.yaml:5" in str(err.value)


def test_root_needs_a_receiver_and_unknown_keys_are_errors() -> None:
    with pytest.raises(ConfigError, match="receiver: required key is missing"):
        load("group_by: [alertname]\n")
    with pytest.raises(ConfigError, match="unknown key 'recevier'"):
        load("receiver: ops\nroutes: [{recevier: x}]\n")
    with pytest.raises(RouteError, match="needs a receiver"):
        build_routes(Route())


def test_escalation_steps_must_be_ordered_and_group_by_label_names() -> None:
    with pytest.raises(ConfigError, match="in order"):
        load(
            """
            receiver: ops
            escalation:
              steps: [{after: 30m, receiver: b}, {after: 10m, receiver: c}]
            """
        )
    with pytest.raises(ConfigError, match="not a label name"):
        load("receiver: ops\ngroup_by: [bad-name]\n")


def test_receivers_and_windows_named_in_the_tree() -> None:
    root = load(TREE)
    assert root.receivers() == {"ops", "lead", "pager", "vision", "network", "mail"}
    assert root.time_interval_names() == {"bin-emptying"}


def test_inhibit_rule_matchers_are_validated() -> None:
    rule = InhibitRule.model_validate(
        {"source_matchers": ['severity="critical"'], "target_matchers": ["severity=warning"]}
    )
    assert rule.equal == []
    with pytest.raises(ValueError, match="expected NAME OP VALUE"):
        InhibitRule.model_validate({"source_matchers": ["oops"], "target_matchers": ["a=b"]})
