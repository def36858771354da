"""``edgewatch rules check``: validate alerting and recording rule files."""

from __future__ import annotations

from pathlib import Path

import click

from edgewatch.alerting.rules import load_rule_file
from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.config import ConfigError


@click.group("rules", context_settings=CONTEXT_SETTINGS)
def rules_group() -> None:
    """Check alerting and recording rule files (Prometheus' format)."""


@rules_group.command("check", context_settings=CONTEXT_SETTINGS)
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
def check_cmd(files: tuple[Path, ...]) -> None:
    """Check rule files: prints 'FILE: N groups, M rules', or each error and exits 2."""
    failed = False
    for file in files:
        try:
            rules = load_rule_file(file)
        except ConfigError as err:
            err.show()
            failed = True
        else:
            groups = len(rules.groups)
            click.echo(
                f"{file}: {groups} group{'s' * (groups != 1)}, "
                f"{rules.rule_count} rule{'s' * (rules.rule_count != 1)}"
            )
    if failed:
        raise SystemExit(ConfigError.exit_code)
