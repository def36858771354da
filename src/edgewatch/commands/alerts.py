"""``edgewatch alerts``: the alerts saved in the store and their history, read offline.

Both commands read the store file directly (read-only), so they work whether
the agent runs or not; what they show is as of the agent's last evaluation.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from edgewatch.alerting.lifecycle import AlertState
from edgewatch.alerting.state import HistoryEntry, StoredAlert, read_alerts, read_history
from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.data import store_options
from edgewatch.config import load_config, parse_duration, resolve_config_path, resolve_data_dir
from edgewatch.errors import UsageError
from edgewatch.timespec import format_time
from edgewatch.web.accounts import db_file

_HIDDEN = frozenset({"alertname"})


@click.group("alerts", context_settings=CONTEXT_SETTINGS)
def alerts_group() -> None:
    """Show the alerts and their history, from the store (agent running or not)."""


@alerts_group.command("list", context_settings=CONTEXT_SETTINGS)
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(config_file: str | None, data_dir: str | None, as_json: bool) -> None:
    """List the alerts that are pending, firing, in nodata or recently resolved."""
    path = _store_file(config_file, data_dir)
    try:
        alerts = [a for a in read_alerts(path) if a.alert.state is not AlertState.INACTIVE]
    except (sqlite3.Error, OSError) as exc:
        raise UsageError(f"cannot read the alerts in {path}: {exc}") from None
    alerts.sort(key=lambda a: (a.rule, a.fingerprint))
    if as_json:
        _dump([_alert_json(a) for a in alerts])
        return
    if not alerts:
        click.echo("no alerts")
        return
    rows = [("ALERT", "STATE", "SEVERITY", "VALUE", "SINCE", "LABELS")]
    for a in alerts:
        since = a.alert.fired_at or a.alert.active_since or a.alert.resolved_at
        rows.append(
            (
                a.rule,
                a.alert.state.value + (" (flapping)" if a.alert.flapping else ""),
                a.alert.severity or a.labels.get("severity", "-"),
                _value(a.alert.last_value),
                "-" if since is None else format_time(round(since * 1000)),
                _labels(a.labels),
            )
        )
    _table(sys.stdout, rows)


@alerts_group.command("history", context_settings=CONTEXT_SETTINGS)
@click.option("--since", default="7d", show_default=True, help="How far back: 1h, 7d, 30d...")
@click.option("--rule", default=None, help="Only the alerts of this rule (alert name).")
@click.option(
    "--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True,
    help="Most transitions shown.",
)  # fmt: skip
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def history_cmd(
    since: str,
    rule: str | None,
    limit: int,
    config_file: str | None,
    data_dir: str | None,
    as_json: bool,
) -> None:
    """Show the alerts' state changes, newest first: when, which alert, from and to
    which state, the value and severity then.

    \b
      edgewatch alerts history --since 7d
      edgewatch alerts history --since 24h --rule DiskAlmostFull --json
    """
    try:
        since_ms = round((time.time() - parse_duration(since)) * 1000)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    path = _store_file(config_file, data_dir)
    try:
        entries = read_history(path, since_ms=since_ms, rule=rule, limit=limit)
    except (sqlite3.Error, OSError) as exc:
        raise UsageError(f"cannot read the alert history in {path}: {exc}") from None
    if as_json:
        _dump([_entry_json(e) for e in entries])
        return
    if not entries:
        click.echo(f"no alert state changes in the last {since}")
        return
    rows = [("TIME", "ALERT", "CHANGE", "VALUE", "SEVERITY", "LABELS")]
    for e in entries:
        change = f"{e.from_state} -> {e.to_state}"
        if e.kind != "state":
            change = f"{e.kind} ({e.to_state})"
        rows.append(
            (
                format_time(e.time_ms),
                e.rule,
                change,
                _value(e.value),
                e.severity or "-",
                _labels(e.labels),
            )
        )
    _table(sys.stdout, rows)


def _store_file(config_file: str | None, data_dir: str | None) -> Path:
    config = load_config(resolve_config_path(config_file))
    path = db_file(resolve_data_dir(data_dir, config))
    if not path.exists():
        raise UsageError(f"no edgewatch store at {path}")
    return path


def _alert_json(a: StoredAlert) -> dict[str, Any]:
    alert = a.alert
    return {
        "rule": a.rule,
        "group": a.group_key,
        "fingerprint": a.fingerprint,
        "state": alert.state.value,
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "severity": alert.severity or a.labels.get("severity"),
        "value": alert.last_value,
        "active_since": _time(alert.active_since),
        "fired_at": _time(alert.fired_at),
        "resolved_at": _time(alert.resolved_at),
        "flapping": alert.flapping,
    }


def _entry_json(e: HistoryEntry) -> dict[str, Any]:
    return {
        "time": format_time(e.time_ms),
        "rule": e.rule,
        "group": e.group,
        "fingerprint": e.fingerprint,
        "labels": dict(e.labels),
        "from": e.from_state,
        "to": e.to_state,
        "kind": e.kind,
        "value": e.value,
        "severity": e.severity,
    }


def _time(seconds: float | None) -> str | None:
    return None if seconds is None else format_time(round(seconds * 1000))


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _labels(labels: dict[str, str] | Any) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _HIDDEN)


def _dump(data: object) -> None:
    json.dump(data, sys.stdout, indent=1)
    sys.stdout.write("\n")


def _table(out: IO[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
