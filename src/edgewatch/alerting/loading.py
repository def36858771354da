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

    Raises ``ConfigError`` listing the problems of every bad file.
    """
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
                groups.extend(LoadedGroup(BUILTIN, g) for g in rules.groups)
    for path in rule_paths(config.rule_files):
        try:
            rules = load_rule_file(path)
        except ConfigError as err:
            issues.extend(err.errors)
        else:
            groups.extend(LoadedGroup(str(path), g) for g in rules.groups)
    if issues:
        raise ConfigError(issues)
    return groups


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
