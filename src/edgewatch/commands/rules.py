"""``edgewatch rules check``: validate alerting and recording rule files."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from edgewatch.alerting.evaluator import LoadedGroup
from edgewatch.alerting.rules import load_rule_file
from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.data import open_store, store_options
from edgewatch.config import ConfigError, QueryConfig, format_duration, parse_duration
from edgewatch.errors import UsageError
from edgewatch.query import Engine, format_value
from edgewatch.store import StoreError
from edgewatch.timespec import format_time, parse_time

if TYPE_CHECKING:  # the backtest and unit-test engines load with their commands, not at start
    from edgewatch.alerting.backtest import Incident, RuleBacktest


@click.group("rules", context_settings=CONTEXT_SETTINGS)
def rules_group() -> None:
    """Check, unit-test and backtest alerting and recording rule files (Prometheus' format)."""


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


@rules_group.command("test", context_settings=CONTEXT_SETTINGS)
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
def test_cmd(files: tuple[Path, ...]) -> None:
    """Run rule unit tests (promtool's test-file format).

    Exits 0 when every test passes, 1 when one fails, 2 when a file cannot be read.
    """
    from edgewatch.alerting.unittest import SeriesError, run_test_file

    failed = broken = False
    for file in files:
        click.echo(f"Unit Testing:  {file}")
        try:
            result = run_test_file(file)
        except ConfigError as err:
            err.show()
            broken = True
            continue
        except (SeriesError, StoreError, OSError) as err:
            click.echo(f"  FAILED:\n    {err}", err=True)
            broken = True
            continue
        if not result.failures:
            click.echo("  SUCCESS\n")
            continue
        failed = True
        click.echo("  FAILED:")
        for failure in result.failures:
            click.echo(f"    {failure.group}: {failure.what}")
            click.echo(textwrap.indent(f"exp:\n{textwrap.indent(failure.expected, '  ')}", " " * 8))
            click.echo(textwrap.indent(f"got:\n{textwrap.indent(failure.got, '  ')}", " " * 8))
        click.echo("")
    if broken:
        raise SystemExit(ConfigError.exit_code)
    if failed:
        raise SystemExit(1)


@rules_group.command("backtest", context_settings=CONTEXT_SETTINGS)
@click.argument("file", metavar="FILE", type=click.Path(path_type=Path))
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help="Start: a duration back from --until (7d), or a time (-2h, RFC 3339).",
)
@click.option(
    "--until", default="now", show_default=True, help="End: now, -1h, unix seconds or RFC 3339."
)
@click.option(
    "--repeat-interval",
    default="4h",
    show_default=True,
    help="How often a firing alert is notified again.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@store_options
def backtest_cmd(
    file: Path,
    since: str,
    until: str,
    repeat_interval: str,
    as_json: bool,
    config_file: str | None,
    data_dir: str | None,
) -> None:
    """Replay the alerting rules of FILE over the stored history.

    Prints, per rule, when it would have fired and resolved, and how many
    notifications it would have sent (before grouping). The store is read-only.
    """
    from edgewatch.alerting.backtest import backtest

    try:
        rules = load_rule_file(file)
    except ConfigError as err:
        err.show()
        raise SystemExit(ConfigError.exit_code) from None
    try:
        end_ms = parse_time(until)
        start_ms = _since(since, end_ms)
        repeat_s = parse_duration(repeat_interval)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    groups = [LoadedGroup(str(file), group) for group in rules.groups]
    limits = QueryConfig(rollup_min_step=0.0, timeout=600.0)  # raw samples, as live rules read
    with open_store(config_file, data_dir) as store:
        try:
            results = backtest(groups, Engine(store, limits), start_ms, end_ms,
                               repeat_interval_s=repeat_s)  # fmt: skip
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps([backtest_json(r) for r in results], indent=2))
    else:
        for result in results:
            click.echo(backtest_text(result))


def _since(text: str, end_ms: int) -> int:
    try:
        return end_ms - round(parse_duration(text) * 1000)
    except ValueError:
        return parse_time(text)


def backtest_json(r: RuleBacktest) -> dict[str, Any]:
    return {
        "rule": r.rule,
        "group": r.group,
        "interval_s": r.interval_s,
        "start": format_time(r.start_ms),
        "end": format_time(r.end_ms),
        "error": r.error or None,
        "notifications": r.notifications,
        "fired": r.fired,
        "resolved": r.resolved,
        "repeats": r.repeats,
        "severity_changes": r.severity_changes,
        "nodata": r.nodata,
        "near_misses": r.near_misses,
        "incidents": [
            {
                "labels": dict(i.labels),
                "fired_at": format_time(i.fired_at_ms),
                "resolved_at": None if i.resolved_at_ms is None else format_time(i.resolved_at_ms),
                "duration_s": i.duration_s(r.end_ms),
                "peak": None if i.peak is None or not math.isfinite(i.peak) else i.peak,
            }
            for i in r.incidents
        ],
    }


def backtest_text(r: RuleBacktest) -> str:
    head = f"{r.rule} (group {r.group}, every {format_duration(r.interval_s)})"
    if r.error:
        return f"{head}: cannot be replayed: {r.error}\n"
    parts = [f"{r.fired} firing", f"{r.resolved} resolved",
             f"{r.repeats} repeat{'s' * (r.repeats != 1)}"]  # fmt: skip
    parts += [f"{n} {name}" for n, name in ((r.severity_changes, "severity changes"),
                                            (r.nodata, "nodata")) if n]  # fmt: skip
    summary = (
        f"{head}: {len(r.incidents)} incident{'s' * (len(r.incidents) != 1)}, "
        f"{r.notifications} notification{'s' * (r.notifications != 1)} ({', '.join(parts)})"
    )
    if r.near_misses:
        summary += f", {r.near_misses} pending without firing"
    rows = [("LABELS", "FIRED AT", "RESOLVED AT", "DURATION", "PEAK")]
    rows += [_incident_row(i, r.end_ms) for i in r.incidents]
    if len(rows) == 1:
        return summary + "\n"
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    table = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    return "\n".join([summary, *table]) + "\n"


def _incident_row(i: Incident, end_ms: int) -> tuple[str, str, str, str, str]:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(i.labels.items()) if k != "alertname")
    resolved = "(firing)" if i.resolved_at_ms is None else format_time(i.resolved_at_ms)
    peak = "" if i.peak is None else format_value(i.peak)
    return (f"{{{labels}}}", format_time(i.fired_at_ms), resolved,
            _span(i.duration_s(end_ms)), peak)  # fmt: skip


def _span(seconds: float) -> str:
    """``4h 55m``, ``25m``, ``1d 2h``: whole units, zeros left out."""
    whole = int(seconds)
    parts = [(whole // 86400, "d"), (whole // 3600 % 24, "h"), (whole // 60 % 60, "m"),
             (whole % 60, "s")]  # fmt: skip
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
