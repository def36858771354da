"""``edgewatch report``: an availability report of the health checks from the store."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.data import atomic_output, open_store, output_option, store_options
from edgewatch.commands.health import read_rows
from edgewatch.config import load_config, resolve_config_path
from edgewatch.errors import UsageError
from edgewatch.health.report import build_report, parse_period
from edgewatch.health.report_render import RENDERERS
from edgewatch.health.score import summarise
from edgewatch.maintenance import intervals
from edgewatch.query import Engine
from edgewatch.timespec import parse_time


@click.command("report", context_settings=CONTEXT_SETTINGS)
@click.option("--period", default="7d", show_default=True, help="Time covered: 24h, 7d, 30d...")
@click.option("--end", default="now", show_default=True, help="End: now, -1d, unix s, RFC 3339.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(RENDERERS)),
    default="html",
    show_default=True,
)
@output_option
@store_options
def report_cmd(
    period: str,
    end: str,
    fmt: str,
    output: str,
    config_file: str | None,
    data_dir: str | None,
) -> None:
    """Write an availability report of the health checks: per check and component,
    availability over the period and its last 24h, 7d and 30d, incidents and MTTR.

    \b
      edgewatch report --period 7d --format html -o health.html
      edgewatch report --period 24h --format md -o -

    The HTML report is one self-contained file (inline SVG charts), readable
    offline and printable. See docs/health.md, "Reports".
    """
    try:
        period_ms = parse_period(period)
        end_ms = parse_time(end)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = load_config(resolve_config_path(config_file))
    now_ms = round(time.time() * 1000)
    with open_store(config_file, data_dir) as store:
        rows = read_rows(Engine(store, config.query), config, min(now_ms, end_ms))
        summary = summarise(config.health, {n: r.result for n, r in rows.items()})
        report = build_report(
            store,
            config.health,
            end_ms - period_ms,
            end_ms,
            summary=summary if rows and end_ms >= now_ms - 60_000 else None,  # current: ends now
            maintenance=intervals(config.maintenance, end_ms - period_ms, end_ms),
            generated_ms=now_ms,
        )
    text = RENDERERS[fmt](report)
    if output == "-":
        sys.stdout.write(text)
        return
    with atomic_output(Path(output)) as fh:
        fh.write(text)
    click.echo(
        f"wrote the {fmt} report of {len(report.checks)} checks "
        f"({len(report.components)} components) to {output}",
        err=True,
    )
