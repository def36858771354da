"""Rule files: Prometheus' rule-file format, plus edgewatch's optional additions.

A Prometheus rule file loads unchanged. Each alerting rule may also say
``clear`` (hysteresis), ``debounce`` (k of n), ``flap``, ``severities`` and
``nodata_after``; they are validated here and evaluated by the alert engine.
Every problem is reported with its file, line and key (``ConfigError``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from edgewatch.alerting.lifecycle import AlertPolicy, FlapPolicy
from edgewatch.alerting.lifecycle import Debounce as DebounceK
from edgewatch.alerting.templates import template_problems
from edgewatch.config.errors import ConfigError, ConfigIssue
from edgewatch.config.loader import parse_yaml_model, read_text_file
from edgewatch.config.units import Duration
from edgewatch.config.yamltree import PathPart, dotted, locate
from edgewatch.query.errors import BadQuery
from edgewatch.query.parse import parse

_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DEFAULT_INTERVAL_S = 60.0


def _check_expr(expr: str) -> str:
    try:
        parse(expr)
    except BadQuery as err:
        raise ValueError(f"invalid expression: {err}") from None
    return expr


def _check_metric_name(name: str) -> str:
    if not _METRIC_NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a valid name; use letters, digits, '_' and ':'")
    return name


def _check_label_name(name: str) -> str:
    if not _LABEL_NAME_RE.match(name):
        raise ValueError(
            f"{name!r} is not a valid label name; use letters, digits and '_', "
            "not starting with a digit"
        )
    return name


def _check_template(text: str) -> str:
    problems = template_problems(text)
    if problems:
        raise ValueError("; ".join(problems))
    return text


PromQL = Annotated[str, AfterValidator(_check_expr)]
"""A query expression that the query engine's parser accepts."""
LabelName = Annotated[str, AfterValidator(_check_label_name)]
Template = Annotated[str, AfterValidator(_check_template)]
"""Text with ``{{ $value }}``/``{{ $labels.x }}`` templates, checked statically."""
Interval = Annotated[Duration, Field(gt=0)]
Wait = Annotated[Duration, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Debounce(_Model):
    """Fire when the condition held in ``k`` of the last ``n`` evaluations."""

    k: Annotated[int, Field(ge=1, le=100)]
    n: Annotated[int, Field(ge=1, le=100)]

    @model_validator(mode="after")
    def _k_within_n(self) -> Self:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not be more than n ({self.n})")
        return self


class Flap(_Model):
    """More than ``changes`` state changes within ``window`` mark the alert flapping."""

    changes: Annotated[int, Field(ge=1)]
    window: Interval


class SeverityLevel(_Model):
    """One threshold of a rule with several: the alert has ``severity`` while ``expr`` holds."""

    severity: Annotated[str, Field(min_length=1)]
    expr: PromQL


class Rule(_Model):
    """An alerting rule (``alert``) or a recording rule (``record``), never both."""

    alert: Annotated[str, AfterValidator(_check_metric_name)] | None = None
    record: Annotated[str, AfterValidator(_check_metric_name)] | None = None
    expr: PromQL
    for_: Annotated[Wait, Field(alias="for")] = 0.0
    keep_firing_for: Wait = 0.0
    labels: dict[LabelName, Template] = Field(default_factory=dict)
    annotations: dict[LabelName, Template] = Field(default_factory=dict)
    # edgewatch's additions (alerting rules only)
    clear: PromQL | None = None
    debounce: Debounce | None = None
    flap: Flap | None = None
    severities: Annotated[list[SeverityLevel], Field(min_length=1)] | None = None
    nodata_after: Interval | None = None

    model_config = ConfigDict(populate_by_name=True)

    @property
    def name(self) -> str:
        return self.alert or self.record or ""

    @property
    def is_alerting(self) -> bool:
        return self.alert is not None

    def policy(self) -> AlertPolicy:
        """The lifecycle policy of this alerting rule (``for``, debounce, flap, ...)."""
        return AlertPolicy(
            for_s=self.for_,
            keep_firing_for_s=self.keep_firing_for,
            debounce=None if self.debounce is None else DebounceK(self.debounce.k, self.debounce.n),
            flap=None if self.flap is None else FlapPolicy(self.flap.changes, self.flap.window),
            nodata_after_s=self.nodata_after,
            severities=tuple(level.severity for level in self.severities or ()),
        )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.alert is None) == (self.record is None):
            raise ValueError("a rule needs exactly one of 'alert' or 'record'")
        if self.record is not None:
            alert_only = ALERT_ONLY_KEYS & self.model_fields_set
            if alert_only:
                keys = ", ".join(sorted(_key(k) for k in alert_only))
                raise ValueError(f"recording rule {self.record!r} cannot have: {keys}")
        if self.severities is not None:
            if "severity" in self.labels:
                raise ValueError("give the severity in 'severities' or in labels, not both")
            names = [level.severity for level in self.severities]
            if len(set(names)) != len(names):
                raise ValueError(f"severities must be distinct, got {names}")
        return self


ALERT_ONLY_KEYS = frozenset(
    {
        "for_",
        "keep_firing_for",
        "annotations",
        "clear",
        "debounce",
        "flap",
        "severities",
        "nodata_after",
    }
)


def _key(field: str) -> str:
    return "for" if field == "for_" else field


class RuleGroup(_Model):
    """Rules evaluated together every ``interval``; ``limit`` caps alerts/series (0: none)."""

    name: Annotated[str, Field(min_length=1)]
    interval: Interval = DEFAULT_INTERVAL_S
    limit: Annotated[int, Field(ge=0)] = 0
    query_offset: Wait = 0.0
    rules: list[Rule] = Field(default_factory=list)


class RuleFile(_Model):
    groups: list[RuleGroup] = Field(default_factory=list)

    @property
    def rule_count(self) -> int:
        return sum(len(group.rules) for group in self.groups)


def load_rule_file(path: Path) -> RuleFile:
    """The rule file at ``path``; raises ``ConfigError`` listing every problem."""
    return parse_rule_file(read_text_file(path, "rule file"), file=str(path))


def parse_rule_file(text: str, *, file: str) -> RuleFile:
    """``text`` (YAML) as a rule file; ``file`` is the name used in errors.

    Unlike the config, a rule file takes no ``${NAME}`` references: it means
    what it would mean to Prometheus.
    """
    # "$${" is the loader's escape for a literal "${": nothing is substituted.
    rules = parse_yaml_model(text.replace("${", "$${"), RuleFile, file=file, environ={})
    problems = _duplicate_groups(rules)
    if problems:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:  # pragma: no cover - a file with groups has a root
            raise ConfigError([ConfigIssue(file, None, "", msg) for _, msg in problems])
        raise ConfigError(
            [ConfigIssue(file, locate(root, path), dotted(path), msg) for path, msg in problems]
        )
    return rules


def _duplicate_groups(rules: RuleFile) -> list[tuple[list[PathPart], str]]:
    first: dict[str, int] = {}
    problems: list[tuple[list[PathPart], str]] = []
    for index, group in enumerate(rules.groups):
        if group.name in first:
            problems.append(
                (
                    ["groups", index, "name"],
                    f"group name {group.name!r} is already used by groups[{first[group.name]}]",
                )
            )
        else:
            first.setdefault(group.name, index)
    return problems
