"""``edgewatch series|query|export``: read the store directly, agent running or not."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.config import load_config, parse_duration, resolve_config_path, resolve_data_dir
from edgewatch.errors import UsageError
from edgewatch.store import SeriesData, Store, StoreError
from edgewatch.store.reader import AGGREGATES
from edgewatch.store.selector import Selector, SelectorError, parse_selector
from edgewatch.timespec import format_time, parse_time

F = TypeVar("F", bound=Callable[..., Any])


def store_options(func: F) -> F:
    """--config and --data-dir, resolved as ``edgewatch run`` resolves them."""
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        envvar="EDGEWATCH_DATA_DIR",
        help="Data directory of the store. Env: EDGEWATCH_DATA_DIR.",
    )(func)
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        envvar="EDGEWATCH_CONFIG",
        help="Config file (for its data_dir). Env: EDGEWATCH_CONFIG.",
    )(func)


@contextlib.contextmanager
def open_store(config_file: str | None, data_dir: str | None) -> Iterator[Store]:
    config = load_config(resolve_config_path(config_file))
    directory = resolve_data_dir(data_dir, config)
    try:
        store = Store.open(directory, readonly=True)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


def to_selector(text: str | None) -> Selector | None:
    """A selector, or a metric name with ``*`` wildcards (``node_*``)."""
    if not text:
        return None
    if "*" in text and "{" not in text:
        regex = ".*".join(re.escape(part) for part in text.split("*"))
        text = f'{{__name__=~"{regex}"}}'
    try:
        return parse_selector(text)
    except SelectorError as exc:
        raise UsageError(str(exc)) from None


FORMATS = click.Choice(["table", "json", "csv"])


@click.command("series", context_settings=CONTEXT_SETTINGS)
@click.argument("match", required=False)
@store_options
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def series_cmd(match: str | None, config_file: str | None, data_dir: str | None, fmt: str) -> None:
    """List the series in the store, optionally those matching MATCH.

    MATCH is a selector (node_cpu_seconds_total{mode="idle"}) or a name with
    * wildcards (node_network_*).
    """
    selector = to_selector(match)
    with open_store(config_file, data_dir) as store:
        keys = store.series(selector)
    out = sys.stdout
    if fmt == "json":
        json.dump([{"name": k.name, "labels": dict(k.labels)} for k in keys], out, indent=1)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["series", "name", "labels"])
        for k in keys:
            writer.writerow([str(k), k.name, json.dumps(dict(k.labels), sort_keys=True)])
    else:
        for k in keys:
            out.write(f"{k}\n")
        click.echo(f"{len(keys)} series", err=True)


def range_options(func: F) -> F:
    for opt in reversed(
        [
            click.option(
                "--start", default="-1h", show_default=True, help="now, -1h, unix s, RFC 3339."
            ),
            click.option("--end", default="now", show_default=True),
            click.option(
                "--step", default=None, help="One point per step (e.g. 1m); raw samples if omitted."
            ),
            click.option(
                "--agg",
                type=click.Choice(AGGREGATES),
                default="avg",
                show_default=True,
                help="How a step's samples become one point.",
            ),
            click.option(
                "--resolution",
                type=click.Choice(["auto", "raw", "1m", "1h"]),
                default="auto",
                show_default=True,
                help="Raw samples or rollups (auto: by step).",
            ),
        ]
    ):
        func = opt(func)
    return func


def _read(
    store: Store, selector: str, start: str, end: str, step: str | None, agg: str, resolution: str
) -> list[SeriesData]:
    sel = to_selector(selector)
    if sel is None:
        raise UsageError("give a series name or selector")
    try:
        start_ms, end_ms = parse_time(start), parse_time(end)
        step_ms = int(parse_duration(step) * 1000) if step else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if end_ms < start_ms:
        raise UsageError(f"--end ({end}) is before --start ({start})")
    if step_ms is not None and step_ms <= 0:
        raise UsageError("--step must be positive")
    return store.read(sel, start_ms, end_ms, step_ms, agg=agg, resolution=resolution)


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value) if value != int(value) or abs(value) >= 1e16 else str(int(value))


def write_table(out: IO[str], data: list[SeriesData]) -> None:
    for i, series in enumerate(data):
        if i:
            out.write("\n")
        out.write(f"{series.key}\n")
        for ts, value in zip(series.ts.tolist(), series.values.tolist(), strict=True):
            out.write(f"  {format_time(ts):<26} {_number(value)}\n")


def write_csv(out: IO[str], data: list[SeriesData]) -> None:
    writer = csv.writer(out)
    writer.writerow(["series", "timestamp", "unix_ms", "value"])
    for series in data:
        name = str(series.key)
        for ts, value in zip(series.ts.tolist(), series.values.tolist(), strict=True):
            writer.writerow([name, format_time(ts), ts, _number(value)])


def write_json(out: IO[str], data: list[SeriesData]) -> None:
    """One JSON document, written series by series (no whole-result string in memory)."""
    out.write("[")
    for i, series in enumerate(data):
        head = {
            "series": str(series.key),
            "name": series.key.name,
            "labels": dict(series.key.labels),
        }
        out.write(("," if i else "") + "\n" + json.dumps(head)[:-1] + ', "points": [')
        points = zip(series.ts.tolist(), series.values.tolist(), strict=True)
        out.write(",".join(f'[{ts / 1000:.3f},"{_number(v)}"]' for ts, v in points))
        out.write("]}")
    out.write("\n]\n")


WRITERS: dict[str, Callable[[IO[str], list[SeriesData]], None]] = {
    "table": write_table,
    "csv": write_csv,
    "json": write_json,
}


@click.command("query", context_settings=CONTEXT_SETTINGS)
@click.argument("selector")
@range_options
@store_options
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def query_cmd(
    selector: str,
    start: str,
    end: str,
    step: str | None,
    agg: str,
    resolution: str,
    config_file: str | None,
    data_dir: str | None,
    fmt: str,
) -> None:
    """Print the samples of SELECTOR (a series name or selector) over a time range."""
    with open_store(config_file, data_dir) as store:
        data = _read(store, selector, start, end, step, agg, resolution)
    if not data:
        click.echo(f"no series match {selector}", err=True)
        sys.exit(1)
    WRITERS[fmt](sys.stdout, data)


@click.command("export", context_settings=CONTEXT_SETTINGS)
@click.argument("selector")
@range_options
@store_options
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    required=True,
    help="File to write ('-' for standard output).",
)
def export_cmd(
    selector: str,
    start: str,
    end: str,
    step: str | None,
    agg: str,
    resolution: str,
    config_file: str | None,
    data_dir: str | None,
    fmt: str,
    output: str,
) -> None:
    """Write the samples of SELECTOR over a time range to a CSV or JSON file."""
    with open_store(config_file, data_dir) as store:
        data = _read(store, selector, start, end, step, agg, resolution)
    if output == "-":
        WRITERS[fmt](sys.stdout, data)
        return
    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh:
            WRITERS[fmt](fh, data)
        partial.replace(target)  # a reader never sees half a file
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    points = sum(len(s.ts) for s in data)
    click.echo(f"wrote {points} points of {len(data)} series to {output}", err=True)
