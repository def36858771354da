"""The rule groups the agent evaluates: the built-in pack and the configured files."""

from __future__ import annotations

import glob
import logging
from importlib import resources
from pathlib import Path

from edgewatch.alerting.evaluator import LoadedGroup
from edgewatch.alerting.rules import load_rule_file, parse_rule_file
from edgewatch.config.alerting import AlertingConfig
from edgewatch.config.errors import ConfigError, ConfigIssue

log = logging.getLogger(__name__)

BUILTIN = "builtin"
DEFAULT_RULES = "default_rules.yaml"
_GLOB_CHARS = frozenset("*?[")


def load_rule_groups(config: AlertingConfig) -> list[LoadedGroup]:
    """Every group of the built-in pack (when on) and of ``config.rule_files``.

    A rule of the configured files replaces the built-in rule with the same alert
    name (the way to change a default threshold). Raises ``ConfigError`` listing the
    problems of every bad file.
    """
    builtin: list[LoadedGroup] = []
    groups: list[LoadedGroup] = []
    issues: list[ConfigIssue] = []
    if config.default_rules:
        pack = resources.files("edgewatch.alerting").joinpath(DEFAULT_RULES)
        if pack.is_file():
            try:
                rules = parse_rule_file(pack.read_text(encoding="utf-8"), file=DEFAULT_RULES)
            except ConfigError as err:
                issues.extend(err.errors)
            else:
                builtin.extend(LoadedGroup(BUILTIN, g) for g in rules.groups)
    for path in rule_paths(config.rule_files):
        try:
            rules = load_rule_file(path)
        except ConfigError as err:
            issues.extend(err.errors)
        else:
            groups.extend(LoadedGroup(str(path), g) for g in rules.groups)
    if issues:
        raise ConfigError(issues)
    return _without_overridden(builtin, groups) + groups


def _without_overridden(builtin: list[LoadedGroup], user: list[LoadedGroup]) -> list[LoadedGroup]:
    """The built-in groups minus the alerting rules the user's files redefine."""
    names = {r.alert for g in user for r in g.group.rules if r.alert is not None}
    out: list[LoadedGroup] = []
    for loaded in builtin:
        rules = [r for r in loaded.group.rules if r.alert is None or r.alert not in names]
        if len(rules) < len(loaded.group.rules):
            dropped = sorted({r.name for r in loaded.group.rules} - {r.name for r in rules})
            log.info("rule files override built-in rules: %s", ", ".join(dropped))
        if rules:
            out.append(LoadedGroup(loaded.source, loaded.group.model_copy(update={"rules": rules})))
    return out


def rule_paths(patterns: list[Path]) -> list[Path]:
    """The files named by ``patterns``: plain paths as given, globs expanded and sorted."""
    out: list[Path] = []
    for pattern in patterns:
        text = str(pattern.expanduser())
        if _GLOB_CHARS & set(text):
            matched = sorted(glob.glob(text, recursive=True))
            if not matched:
                log.info("rule files: %s matches no file", text)
            out.extend(Path(m) for m in matched)
        else:
            out.append(Path(text))
    return list(dict.fromkeys(out))
