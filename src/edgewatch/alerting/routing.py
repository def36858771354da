"""The routing tree with every inherited value resolved, and Alertmanager's matching.

``build_routes(config.route)`` gives a :class:`RouteNode` tree; each node has a
stable id, its path from the root (``"0"``, ``"0.1"``, ``"0.1.0"``), which
names its notification groups. ``match_routes(root, labels)`` walks it
depth-first: the first child that matches takes the alert (its own children
first), later siblings are tried only when that child says ``continue``, and
a node none of whose children match takes the alert itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

from edgewatch.alerting.matchers import Matcher, matches_all
from edgewatch.config.routing import (
    ANY_WINDOW,
    GROUP_BY_ALL,
    EscalationPolicy,
    Route,
    parsed,
)

DEFAULT_GROUP_WAIT_S = 30.0
DEFAULT_GROUP_INTERVAL_S = 300.0
DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0


class RouteError(ValueError):
    """A route tree that cannot be used (the root has no receiver)."""


@dataclass(frozen=True)
class RouteNode:
    id: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]
    group_all: bool
    group_wait_ms: int
    group_interval_ms: int
    repeat_interval_ms: int
    continue_: bool
    mute_time_intervals: tuple[str, ...]
    escalation: EscalationPolicy | None
    children: tuple[RouteNode, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The values of this route's ``group_by`` labels that the alert has."""
        if self.group_all:
            return {k: v for k, v in sorted(labels.items()) if k != "severity"}
        return {k: labels[k] for k in sorted(self.group_by) if k in labels}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """``ROUTE_ID:{name="value",...}``: the id of the alert's group on this route."""
        inner = ",".join(
            f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in self.group_labels(labels).items()
        )
        return f"{self.id}:{{{inner}}}"

    def muted_by(self, open_windows: list[str]) -> list[str]:
        """The open maintenance windows that mute this route."""
        if ANY_WINDOW in self.mute_time_intervals:
            return list(open_windows)
        return [w for w in open_windows if w in self.mute_time_intervals]

    def walk(self) -> list[RouteNode]:
        """This node and its descendants, depth-first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def build_routes(root: Route) -> RouteNode:
    """The tree of ``root`` with inherited values resolved (Alertmanager's defaults)."""
    if not root.receiver:
        raise RouteError("the root route needs a receiver")
    return _build(root, None, "0")


def _build(route: Route, parent: RouteNode | None, node_id: str) -> RouteNode:
    def pick(own: float | None, inherited: int | None, default: float) -> int:
        if own is not None:
            return round(own * 1000)
        return inherited if inherited is not None else round(default * 1000)

    if route.group_by is not None:
        group_by = tuple(n for n in route.group_by if n != GROUP_BY_ALL)
        group_all = GROUP_BY_ALL in route.group_by
    else:
        group_by = parent.group_by if parent else ()
        group_all = parent.group_all if parent else False
    if route.mute_time_intervals is not None:
        mute = tuple(route.mute_time_intervals)
    else:
        # At the root: every maintenance window mutes (that is what they are declared for).
        mute = parent.mute_time_intervals if parent else (ANY_WINDOW,)
    escalation = route.escalation
    if escalation is None and parent is not None:
        escalation = parent.escalation
    receiver = route.receiver or (parent.receiver if parent else "")
    node = RouteNode(
        id=node_id,
        receiver=receiver,
        matchers=tuple(parsed(route.matchers)),
        group_by=group_by,
        group_all=group_all,
        group_wait_ms=pick(
            route.group_wait, parent.group_wait_ms if parent else None, DEFAULT_GROUP_WAIT_S
        ),
        group_interval_ms=pick(
            route.group_interval,
            parent.group_interval_ms if parent else None,
            DEFAULT_GROUP_INTERVAL_S,
        ),
        repeat_interval_ms=pick(
            route.repeat_interval,
            parent.repeat_interval_ms if parent else None,
            DEFAULT_REPEAT_INTERVAL_S,
        ),
        continue_=route.continue_,
        mute_time_intervals=mute,
        escalation=escalation if escalation is not None and escalation.steps else None,
    )
    children = tuple(_build(child, node, f"{node_id}.{i}") for i, child in enumerate(route.routes))
    return replace(node, children=children)


def match_routes(node: RouteNode, labels: Mapping[str, str]) -> list[RouteNode]:
    """The routes that take an alert with ``labels`` (never empty from the root)."""
    return _match(node, labels) or [node]


def _match(node: RouteNode, labels: Mapping[str, str]) -> list[RouteNode]:
    if not node.matches(labels):
        return []
    found: list[RouteNode] = []
    for child in node.children:
        hits = _match(child, labels)
        found.extend(hits)
        if hits and not child.continue_:
            break
    return found or [node]
