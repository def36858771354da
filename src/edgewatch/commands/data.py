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
import numpy as np

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.config import load_config, parse_duration, resolve_config_path, resolve_data_dir
from edgewatch.errors import UsageError
from edgewatch.model import SeriesKey
from edgewatch.query import BadQuery, Engine, QueryError, QueryResult, parse_series_selector
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
@click.argument("expr")
@click.option("--time", "at", default=None, help="Instant query at this time (default: now).")
@click.option(
    "--start", default=None, help="Range query from this time: now, -1h, unix s, RFC 3339."
)
@click.option("--end", default=None, help="End of a range query (default: now).")
@click.option(
    "--step",
    default=None,
    help="Range query step (e.g. 1m). Omitted: a selector prints its raw samples, "
    "another expression gets about 240 points.",
)
@click.option(
    "--agg",
    type=click.Choice(AGGREGATES),
    default=None,
    help="With --step and a plain selector: aggregate each step's samples this way "
    "(buckets start on the step grid) instead of evaluating PromQL at each step.",
)
@click.option(
    "--resolution",
    type=click.Choice(["auto", "raw", "1m", "1h"]),
    default="auto",
    show_default=True,
    help="With --agg: raw samples or rollups (auto: by step).",
)
@store_options
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def query_cmd(
    expr: str,
    at: str | None,
    start: str | None,
    end: str | None,
    step: str | None,
    agg: str | None,
    resolution: str,
    config_file: str | None,
    data_dir: str | None,
    fmt: str,
) -> None:
    """Evaluate the PromQL expression EXPR, as an instant query or over a range.

    \b
      edgewatch query 'node_load1'                                   # now
      edgewatch query 'sum by (mode) (rate(node_cpu_seconds_total[5m]))' --start -6h --step 5m
      edgewatch query 'node_load1' --start -1h                       # raw samples

    Exits 1 when nothing matches or the query exceeds its budget (query.timeout,
    query.max_samples), 2 on a malformed expression or bad time.
    """
    if at is not None and start is not None:
        raise UsageError("give --time (instant query) or --start (range query), not both")
    if end is not None and start is None:
        raise UsageError("--end needs --start (a range query)")
    end = end or "now"
    config = load_config(resolve_config_path(config_file))
    with open_store(config_file, data_dir) as store:
        if agg is not None:
            if start is None or step is None:
                raise UsageError("--agg needs --start and --step")
            data = _read(store, expr, start, end, step, agg, resolution)
        else:
            data = _evaluate(Engine(store, config.query), expr, at, start, end, step)
    if not data:
        click.echo(f"no series match {expr}", err=True)
        sys.exit(1)
    WRITERS[fmt](sys.stdout, data)


def _evaluate(
    engine: Engine, expr: str, at: str | None, start: str | None, end: str, step: str | None
) -> list[SeriesData]:
    try:
        if start is None:
            time_ms = parse_time(at or "now")
            return _to_series(engine.instant(expr, time_ms))
        start_ms, end_ms = parse_time(start), parse_time(end)
        if end_ms < start_ms:
            raise UsageError(f"--end ({end}) is before --start ({start})")
        if step is not None:
            step_ms = int(parse_duration(step) * 1000)
            if step_ms <= 0:
                raise UsageError("--step must be positive")
        elif _is_selector(expr):  # the samples themselves
            return _to_series(engine.instant(f"{expr}[{end_ms - start_ms + 1}ms]", end_ms))
        else:
            step_ms = max(1000, (end_ms - start_ms) // 240 // 1000 * 1000)
        return _to_series(engine.range(expr, start_ms, end_ms, step_ms))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except QueryError as exc:
        if isinstance(exc, BadQuery):
            raise UsageError(str(exc)) from None
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _is_selector(expr: str) -> bool:
    try:
        parse_series_selector(expr)
    except BadQuery:
        return False
    return True


def _to_series(result: QueryResult) -> list[SeriesData]:
    if result.result_type in ("scalar", "string"):
        value = result.value
        number = float(value) if isinstance(value, float) else math.nan
        ts = np.array([result.time_ms], dtype=np.int64)
        return [SeriesData(SeriesKey(result.result_type), ts, np.array([number]))]
    out = []
    for s in result.series:
        labels = dict(s.labels)
        name = labels.pop("__name__", "") or ("" if labels else "{}")  # "{}": no labels at all
        out.append(SeriesData(SeriesKey.of(name, labels), s.ts, s.values))
    return out


output_option = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    required=True,
    help="File to write ('-' for standard output).",
)


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[IO[str]]:
    """A text file that appears at ``target`` only once fully written (a reader never sees
    half a file); a clear UsageError when it cannot be written."""
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh:
            yield fh
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror}") from None


@click.command("export", context_settings=CONTEXT_SETTINGS)
@click.argument("selector")
@range_options
@store_options
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@output_option
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
    with atomic_output(Path(output)) as fh:
        WRITERS[fmt](fh, data)
    points = sum(len(s.ts) for s in data)
    click.echo(f"wrote {points} points of {len(data)} series to {output}", err=True)
