"""``edgewatch health``: the current health from the store, or one check run now.

The state is read from the ``edgewatch_check_*`` series the agent stores, so it
works whether the agent runs or not (a result older than three intervals is
marked stale). ``--check NAME`` builds that one check from the config and runs it
here, once.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.data import open_store, store_options
from edgewatch.config import Config, load_config, resolve_config_path, resolve_data_dir
from edgewatch.errors import UsageError
from edgewatch.health.model import CheckEnv, CheckResult, Status
from edgewatch.health.runner import HealthMonitor
from edgewatch.health.score import HealthSummary, summarise
from edgewatch.query import Engine, QueryError
from edgewatch.query.result import ResultSeries
from edgewatch.store import Store, StoreError
from edgewatch.timespec import format_time

STATUS_METRIC = "edgewatch_check_status"
VALUE_METRIC = "edgewatch_check_observed_value"
WINDOWS = ("24h", "7d")  # searched in turn for the latest results
WINDOW_MS = {"24h": 86_400_000, "7d": 7 * 86_400_000}
STALE_INTERVALS = 3
STORE_KINDS = ("metric", "disk")  # kinds that query the store
STATUS_BY_CODE = {s.code: s for s in Status}


@dataclass(frozen=True)
class Row:
    """A check's latest stored result; ``since_exact`` False: the status held all window."""

    result: CheckResult
    since_exact: bool
    stale: bool
    stored: bool = True  # False: a configured check with no result in the store


@click.command("health", context_settings=CONTEXT_SETTINGS)
@click.option("--check", "check_name", default=None, help="Run this check now, once, here.")
@store_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def health_cmd(
    check_name: str | None, config_file: str | None, data_dir: str | None, fmt: str
) -> None:
    """Show the health checks' current state, the components and the health score.

    \b
      edgewatch health                      # latest results stored by the agent
      edgewatch health --check camera-frame # run one check now

    Exits 0 when every check passes or warns, 1 when one fails (with --check: when
    it fails or is unknown), 2 when there is no such check or the store cannot be read.
    """
    config = load_config(resolve_config_path(config_file))
    if check_name is not None:
        code = _run_check(config, check_name, config_file, data_dir, fmt)
    else:
        code = _show_state(config, config_file, data_dir, fmt)
    sys.exit(code)


# ------------------------------------------------------------------ stored state


def _show_state(config: Config, config_file: str | None, data_dir: str | None, fmt: str) -> int:
    now_ms = round(time.time() * 1000)
    with open_store(config_file, data_dir) as store:
        rows = read_rows(Engine(store, config.query), config, now_ms)
    results = {name: row.result for name, row in rows.items()}
    summary = summarise(config.health, results)
    if fmt == "json":
        json.dump(_state_json(rows, summary), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _write_state(sys.stdout, rows, summary, now_ms)
    return 1 if any(r.status is Status.FAIL for r in results.values()) else 0


def read_rows(engine: Engine, config: Config, now_ms: int) -> dict[str, Row]:
    """The latest stored result of each configured check (unknown: none stored); with
    no checks in the config (not the agent's config?), of every check stored."""
    rows: dict[str, Row] = {}
    for window in WINDOWS:
        statuses = _latest(engine, f"{STATUS_METRIC}[{window}]", now_ms)
        if statuses:
            values = _latest(engine, f"{VALUE_METRIC}[{window}]", now_ms)
            rows = _rows(config, statuses, values, now_ms, WINDOW_MS[window])
            break
    if not config.health.checks:
        return rows
    out: dict[str, Row] = {}
    for check in config.health.checks:
        row = rows.get(check.name)
        if row is None:
            missing = CheckResult(
                name=check.name,
                kind=getattr(check, "kind", ""),
                component=check.component,
                status=Status.UNKNOWN,
                observed=Status.UNKNOWN,
                value=None,
                unit="",
                message="no result stored in the last 7 days",
                duration_s=0.0,
                time_ms=now_ms,
                since_ms=now_ms,
                critical=check.critical,
            )
            row = Row(missing, since_exact=False, stale=True, stored=False)
        out[check.name] = row
    return out


def _latest(engine: Engine, expr: str, now_ms: int) -> dict[str, ResultSeries]:
    """Per check, the series with the most recent sample."""
    try:
        result = engine.instant(expr, now_ms)
    except QueryError as exc:
        raise UsageError(f"cannot read the health results: {exc}") from None
    out: dict[str, ResultSeries] = {}
    for series in result.series:
        name = series.labels.get("check", "")
        if not name or not len(series.ts):
            continue
        seen = out.get(name)
        if seen is None or int(series.ts[-1]) > int(seen.ts[-1]):
            out[name] = series
    return out


def _rows(
    config: Config,
    statuses: dict[str, ResultSeries],
    values: dict[str, ResultSeries],
    now_ms: int,
    window_ms: int,
) -> dict[str, Row]:
    settings = {c.name: c for c in config.health.checks}
    rows: dict[str, Row] = {}
    for name, series in sorted(statuses.items()):
        codes = [int(v) for v in series.values.tolist()]
        stamps = [int(t) for t in series.ts.tolist()]
        status = STATUS_BY_CODE.get(codes[-1], Status.UNKNOWN)
        i = len(codes) - 1
        while i > 0 and codes[i - 1] == codes[-1]:
            i -= 1
        since_exact = i > 0 or stamps[0] - (now_ms - window_ms) > 120_000
        last_ms = stamps[-1]
        value_series = values.get(name)
        value = None
        if value_series is not None and int(value_series.ts[-1]) == last_ms:
            value = float(value_series.values[-1])
        check = settings.get(name)
        interval_ms = (check.interval if check is not None else 30.0) * 1000
        stale = now_ms - last_ms > STALE_INTERVALS * interval_ms
        age = max(0.0, (now_ms - last_ms) / 1000)
        message = f"last result {_ago(age)} ago: is the agent running?" if stale else ""
        result = CheckResult(
            name=name,
            kind=series.labels.get("kind", ""),
            component=series.labels.get("component", ""),
            status=status,
            observed=status,
            value=value,
            unit="",
            message=message,
            duration_s=0.0,
            time_ms=last_ms,
            since_ms=stamps[i],
            critical=check.critical if check is not None else False,
        )
        rows[name] = Row(result, since_exact, stale)
    return rows


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _write_state(out: IO[str], rows: dict[str, Row], summary: HealthSummary, now_ms: int) -> None:
    if not rows:
        out.write("no health results in the store (no checks configured, or none ran yet)\n")
        return
    table = [("CHECK", "COMPONENT", "STATUS", "VALUE", "SINCE", "MESSAGE")]
    for name, row in rows.items():
        r = row.result
        since = "-"
        if row.stored:
            since = _ago(max(0.0, (now_ms - r.since_ms) / 1000)) + " ago"
            since = since if row.since_exact else f">{since}"
        table.append(
            (
                name,
                r.component,
                r.status.value,
                _value(r.value),
                since,
                r.message,
            )
        )
    _write_table(out, table)
    score = "-" if summary.score is None else f"{summary.score:g}"
    out.write(f"\nscore {score} ({summary.status.value})")
    if summary.capped_by:
        out.write(f", capped: critical {', '.join(summary.capped_by)} failing")
    out.write("\n\n")
    comps = [("COMPONENT", "STATUS", "SCORE", "WEIGHT", "NOTE")]
    for c in summary.components.values():
        note = f"blocked by {', '.join(c.blocked_by)}" if c.blocked_by else ""
        comps.append(
            (
                c.name,
                c.status.value,
                "-" if c.score is None else f"{c.score:g}",
                f"{c.weight:g}",
                note,
            )
        )
    _write_table(out, comps)
    if summary.losses:
        out.write("\n")
        for loss in summary.losses:
            out.write(f"  -{loss.points:g} points: {loss.check} ({loss.status.value})\n")


def _write_table(out: IO[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")


def _state_json(rows: dict[str, Row], summary: HealthSummary) -> dict[str, Any]:
    return {
        "status": summary.status.value,
        "score": summary.score,
        "checks": [
            {
                "check": name,
                "component": row.result.component,
                "kind": row.result.kind,
                "status": row.result.status.value,
                "value": row.result.value,
                "time": format_time(row.result.time_ms) if row.stored else None,
                "since": format_time(row.result.since_ms) if row.stored else None,
                "since_exact": row.since_exact,
                "stale": row.stale,
                "message": row.result.message,
            }
            for name, row in rows.items()
        ],
        "components": {
            c.name: {
                "status": c.status.value,
                "score": c.score,
                "weight": c.weight,
                "blocked_by": list(c.blocked_by),
                "checks": list(c.checks),
            }
            for c in summary.components.values()
        },
        "explanation": [
            {
                "check": x.check,
                "component": x.component,
                "status": x.status.value,
                "points": x.points,
            }
            for x in summary.losses
        ],
        "capped_by": list(summary.capped_by),
    }


# ------------------------------------------------------------------ one check now


def _run_check(
    config: Config, name: str, config_file: str | None, data_dir: str | None, fmt: str
) -> int:
    settings = next((c for c in config.health.checks if c.name == name), None)
    if settings is None:
        names = ", ".join(c.name for c in config.health.checks) or "none"
        raise UsageError(f"no check named {name!r} in the config (checks: {names})")
    needs_store = getattr(settings, "kind", "") in STORE_KINDS
    store = _open_readonly(resolve_data_dir(data_dir, config)) if needs_store else None
    try:
        env = CheckEnv(engine=Engine(store, config.query) if store is not None else None)
        only = config.health.model_copy(update={"checks": [settings]})
        monitor = HealthMonitor(only, env, remediate=False)  # a manual run never acts
        result = asyncio.run(monitor.run_once(name))
    finally:
        if store is not None:
            store.close()
    if fmt == "json":
        json.dump(_result_json(result), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _write_result(sys.stdout, result)
    return 1 if result.status in (Status.FAIL, Status.UNKNOWN) else 0


def _open_readonly(directory: Path) -> Store | None:
    """The store for metric and disk checks; None when there is none (yet)."""
    try:
        return Store.open(directory, readonly=True)
    except StoreError as exc:
        click.echo(f"note: no store for metric checks: {exc}", err=True)
        return None


def _result_json(r: CheckResult) -> dict[str, Any]:
    return {
        "check": r.name,
        "component": r.component,
        "kind": r.kind,
        "status": r.status.value,
        "value": r.value,
        "unit": r.unit,
        "message": r.message,
        "duration_seconds": round(r.duration_s, 6),
        "time": format_time(r.time_ms),
    }


def _write_result(out: IO[str], r: CheckResult) -> None:
    value = _value(r.value) + (f" {r.unit}" if r.unit and r.value is not None else "")
    lines = [
        ("check", f"{r.name} ({r.kind}, component {r.component})"),
        ("status", r.status.value),
        ("value", value),
        ("took", f"{r.duration_s:.3f}s"),
        ("message", r.message),
    ]
    for key, text in lines:
        out.write(f"{key:<8} {text}\n")
