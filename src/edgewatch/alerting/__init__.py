"""Alerting: rule files, and (later) the engine that evaluates them and notifies."""

from edgewatch.alerting.rules import (
    Debounce,
    Flap,
    Rule,
    RuleFile,
    RuleGroup,
    SeverityLevel,
    load_rule_file,
    parse_rule_file,
)

__all__ = [
    "Debounce",
    "Flap",
    "Rule",
    "RuleFile",
    "RuleGroup",
    "SeverityLevel",
    "load_rule_file",
    "parse_rule_file",
]
