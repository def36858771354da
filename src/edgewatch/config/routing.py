"""The ``route:`` tree and ``inhibit_rules:``: where notifications go and what mutes what.

A route has matchers (Alertmanager syntax), a receiver, grouping timers, the
maintenance windows that mute it and an optional escalation policy. A child
route that leaves a value unset (``None`` here) inherits it from its parent,
as in Alertmanager; the tree with every value resolved is built by
:func:`edgewatch.alerting.routing.build_routes`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from edgewatch.config.section import Section
from edgewatch.config.units import Duration

if TYPE_CHECKING:
    from edgewatch.alerting.matchers import Matcher

GROUP_BY_ALL = "..."
"""``group_by: ["..."]``: every label (but ``severity``) is a grouping label."""
ANY_WINDOW = "*"
"""``mute_time_intervals: ["*"]``: muted during any maintenance window."""

_LABEL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_matcher(text: str) -> str:
    # Imported here: edgewatch.alerting imports the config package (no import cycle).
    from edgewatch.alerting.matchers import MatcherError, parse_matchers

    try:
        parse_matchers(text)
    except MatcherError as err:
        raise ValueError(str(err)) from None
    return text


def _check_label(name: str) -> str:
    if name != GROUP_BY_ALL and not _LABEL_NAME_RE.match(name):
        raise ValueError(
            f"{name!r} is not a label name; use letters, digits and '_' (or '...' for all labels)"
        )
    return name


MatcherText = Annotated[str, AfterValidator(_check_matcher)]
"""One matcher such as ``severity="critical"`` or ``job=~"cam.*"``."""
LabelName = Annotated[str, AfterValidator(_check_label)]


def parsed(matchers: list[str]) -> list[Matcher]:
    """The matchers of a validated ``matchers:`` list."""
    from edgewatch.alerting.matchers import parse_matchers

    return [m for text in matchers for m in parse_matchers(text)]


class EscalationStep(Section):
    after: Duration = Field(
        ge=0, description="Time since the group first fired, un-acknowledged, before this step."
    )
    receiver: str = Field(min_length=1, description="Receiver notified by this step.")


class EscalationPolicy(Section):
    steps: list[EscalationStep] = Field(
        default_factory=list,
        description="Steps in order of their delay (empty: no escalation, e.g. to switch off "
        "a parent's policy in a child route).",
    )
    repeat: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Times the whole step list runs again after its last step; each round's "
        "delays continue from the previous round's last step.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        afters = [step.after for step in self.steps]
        if afters != sorted(afters):
            raise ValueError("escalation steps must be in order of their 'after' delay")
        if self.repeat and self.steps and self.steps[-1].after <= 0:
            raise ValueError("repeat needs a last step with an 'after' delay above 0")
        return self


class Route(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    receiver: str | None = Field(
        default=None, description="Receiver of this route's notifications (unset: the parent's)."
    )
    matchers: list[MatcherText] = Field(
        default_factory=list,
        description='Label matchers an alert must all satisfy, e.g. severity="critical".',
    )
    group_by: list[LabelName] | None = Field(
        default=None,
        description="Labels whose values form one notification group ('...': every label; "
        "unset: the parent's; the root's default is one group for all alerts).",
    )
    group_wait: Duration | None = Field(
        default=None, ge=0, description="Wait before a new group's first notification (30s)."
    )
    group_interval: Duration | None = Field(
        default=None, gt=0, description="Least time between two notifications of a group (5m)."
    )
    repeat_interval: Duration | None = Field(
        default=None, gt=0, description="Resend an unchanged firing group after this long (4h)."
    )
    continue_: bool = Field(
        default=False,
        alias="continue",
        description="Go on matching the next sibling routes after this one matched.",
    )
    routes: list[Route] = Field(default_factory=list, description="Child routes, tried in order.")
    mute_time_intervals: list[str] | None = Field(
        default=None,
        description="Names of maintenance windows that mute this route ('*': any; [] : "
        "none; unset: the parent's, at the root '*').",
    )
    escalation: EscalationPolicy | None = Field(
        default=None, description="Escalation of un-acknowledged groups (unset: the parent's)."
    )

    def receivers(self) -> set[str]:
        """Every receiver named in this tree (routes and escalation steps)."""
        names = {self.receiver} if self.receiver else set()
        if self.escalation is not None:
            names.update(step.receiver for step in self.escalation.steps)
        for child in self.routes:
            names |= child.receivers()
        return names

    def time_interval_names(self) -> set[str]:
        """Every maintenance window named in this tree (``*`` left out)."""
        names = {n for n in self.mute_time_intervals or () if n != ANY_WINDOW}
        for child in self.routes:
            names |= child.time_interval_names()
        return names


class RootRoute(Route):
    """The top of the tree: it needs a receiver; it catches every alert no child takes."""

    receiver: str = Field(min_length=1, description="Receiver of the alerts no child route takes.")


class InhibitRule(Section):
    source_matchers: list[MatcherText] = Field(
        min_length=1, description="Matchers of the firing alerts that mute others."
    )
    target_matchers: list[MatcherText] = Field(
        min_length=1, description="Matchers of the alerts that are muted."
    )
    equal: list[LabelName] = Field(
        default_factory=list,
        description="Labels that must have the same value in source and target (e.g. instance).",
    )
