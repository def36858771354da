"""The ``edgewatch`` command: one group, subcommands registered from ``commands/``.

Internal errors become a one-line message and exit code 2 (``click.ClickException``
subclasses); exit 1 means a check found a problem; 0 means ok.
"""

from __future__ import annotations

import click

from edgewatch import __version__
from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.alerts import alerts_group
from edgewatch.commands.config import config_group
from edgewatch.commands.data import export_cmd, query_cmd, series_cmd
from edgewatch.commands.fleet import fleet_cmd
from edgewatch.commands.health import health_cmd
from edgewatch.commands.install import install_cmd
from edgewatch.commands.notify import notify_group
from edgewatch.commands.report import report_cmd
from edgewatch.commands.rules import rules_group
from edgewatch.commands.run import run_cmd
from edgewatch.commands.silence import ack_cmd, mute_cmd, silence_group
from edgewatch.commands.user import user_group


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="edgewatch")
def cli() -> None:
    """edgewatch: monitoring for edge devices and small Linux servers."""


cli.add_command(run_cmd)
cli.add_command(config_group)
cli.add_command(series_cmd)
cli.add_command(query_cmd)
cli.add_command(export_cmd)
cli.add_command(user_group)
cli.add_command(health_cmd)
cli.add_command(report_cmd)
cli.add_command(rules_group)
alerts_group.add_command(ack_cmd)
cli.add_command(alerts_group)
cli.add_command(silence_group)
cli.add_command(mute_cmd)
cli.add_command(notify_group)
cli.add_command(fleet_cmd)
cli.add_command(install_cmd)


def main() -> None:
    cli(prog_name="edgewatch")
