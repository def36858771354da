"""``edgewatch series|query|export`` on a store filled by the test."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from edgewatch.cli import cli
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

T0 = 1_700_006_400_000  # 2023-11-15T00:00:00Z
CPU0 = SeriesKey.of("node_cpu_seconds_total", cpu="0", mode="idle")
CPU1 = SeriesKey.of("node_cpu_seconds_total", cpu="1", mode="idle")
LOAD = SeriesKey.of("node_load1")
NET = SeriesKey.of("node_network_receive_bytes_total", device="eth0")
TEMP = SeriesKey.of("edgewatch_thermal_celsius", zone='a"b')
KEYS = [CPU0, CPU1, LOAD, NET, TEMP]
N = 120  # samples per series, every 10 s from T0


def _values(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return {
        0: np.cumsum(rng.integers(0, 100, N)) / 100,
        1: np.cumsum(rng.integers(0, 100, N)) / 100,
        2: rng.normal(1.0, 0.3, N),
        3: np.cumsum(rng.integers(0, 10**6, N)).astype(np.float64),
        4: np.round(rng.uniform(30, 80, N), 1),
    }[i]


VALUES = {key: _values(i) for i, key in enumerate(KEYS)}
TS = T0 + np.arange(N, dtype=np.int64) * 10_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "data"
    path.mkdir()
    store = Store.open(path, StoreOptions(timestamp_tolerance=0.0), clock=lambda: T0 / 1000)
    for j, ts in enumerate(TS.tolist()):
        store.append(ts, [Sample(k, float(VALUES[k][j])) for k in KEYS])
    store.commit()
    store.maintain()
    store.close()
    return path


Run = Callable[..., Result]


@pytest.fixture
def run(data_dir: Path) -> Iterator[Run]:
    runner = CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_DATA_DIR": None})

    def _run(*args: str) -> Result:
        return runner.invoke(cli, [*args, "--data-dir", str(data_dir)])

    yield _run


RANGE = ["--start", str(T0 // 1000), "--end", str((T0 + N * 10_000) // 1000)]


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


# ------------------------------------------------------------------ series


def test_series_table_lists_every_series_sorted(run: Run) -> None:
    result = run("series")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(k) for k in sorted(KEYS)]
    assert result.stderr.strip() == f"{len(KEYS)} series"


def test_series_match_selector_and_wildcard(run: Run) -> None:
    result = run("series", 'node_cpu_seconds_total{cpu="1"}')
    assert result.stdout.splitlines() == [str(CPU1)]
    result = run("series", "node_*")
    assert result.stdout.splitlines() == [str(k) for k in sorted([CPU0, CPU1, LOAD, NET])]
    result = run("series", "*_total")
    assert result.stdout.splitlines() == [str(k) for k in sorted([CPU0, CPU1, NET])]
    result = run("series", "nothing_*")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_series_json_and_csv(run: Run) -> None:
    result = run("series", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"name": k.name, "labels": dict(k.labels)} for k in sorted(KEYS)
    ]
    result = run("series", "edgewatch_*", "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [["series", "name", "labels"], [str(TEMP), TEMP.name, '{"zone": "a\\"b"}']]


def test_series_bad_selector_exits_2_without_traceback(run: Run) -> None:
    result = run("series", "up{a=}")
    assert result.exit_code == 2
    assert "Error: expected quoted value after a=" in result.stderr
    _no_traceback(result)


def test_missing_store_exits_2(tmp_path: Path) -> None:
    runner = CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_DATA_DIR": None})
    result = runner.invoke(cli, ["series", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no edgewatch store" in result.stderr
    _no_traceback(result)


# ------------------------------------------------------------------ query


def test_query_table(run: Run) -> None:
    result = run("query", "node_load1", *RANGE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "node_load1"
    assert len(lines) == 1 + N
    stamp, value = lines[1].split()
    assert stamp == "2023-11-15T00:00:00Z"
    assert float(value) == VALUES[LOAD][0]
    assert lines[2].split()[0] == "2023-11-15T00:00:10Z"


def test_query_json_round_trips_the_values(run: Run) -> None:
    result = run("query", "node_cpu_seconds_total", *RANGE, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [d["series"] for d in doc] == [str(CPU0), str(CPU1)]
    for d, key in zip(doc, [CPU0, CPU1], strict=True):
        assert d["name"] == key.name and d["labels"] == dict(key.labels)
        assert [round(p[0] * 1000) for p in d["points"]] == TS.tolist()
        assert [float(p[1]) for p in d["points"]] == VALUES[key].tolist()


def test_query_csv_round_trips_the_values(run: Run) -> None:
    result = run("query", 'edgewatch_thermal_celsius{zone="a\\"b"}', *RANGE, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["series"] for r in rows} == {str(TEMP)}
    assert [int(r["unix_ms"]) for r in rows] == TS.tolist()
    assert [float(r["value"]) for r in rows] == VALUES[TEMP].tolist()
    assert rows[1]["timestamp"] == "2023-11-15T00:00:10Z"


@pytest.mark.parametrize("agg", ["avg", "min", "max", "sum", "count", "last"])
def test_query_step_and_agg(run: Run, agg: str) -> None:
    result = run("query", "node_load1", *RANGE, "--step", "1m", "--agg", agg, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["unix_ms"]) for r in rows] == [T0 + i * 60_000 for i in range(N // 6)]
    per_minute = VALUES[LOAD].reshape(-1, 6)
    fn = {
        "avg": lambda v: v.mean(),
        "min": lambda v: v.min(),
        "max": lambda v: v.max(),
        "sum": lambda v: v.sum(),
        "count": lambda v: float(len(v)),
        "last": lambda v: v[-1],
    }[agg]
    np.testing.assert_allclose(
        [float(r["value"]) for r in rows], [fn(v) for v in per_minute], rtol=1e-12
    )


def test_query_rfc3339_start_and_end(run: Run) -> None:
    result = run(
        "query",
        "node_load1",
        "--start",
        "2023-11-15T00:01:00Z",
        "--end",
        "2023-11-15T01:01:30+01:00",
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["unix_ms"]) for r in rows] == TS[6:10].tolist()


def test_query_relative_times(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    store = Store.open(tmp_path)
    for minutes in (90, 30, 2):
        store.append(now - minutes * 60_000, [Sample(LOAD, float(minutes))])
    store.close()
    runner = CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_DATA_DIR": str(tmp_path)})
    result = runner.invoke(cli, ["query", "node_load1", "--format", "csv"])  # instant, now
    assert [float(r["value"]) for r in csv.DictReader(io.StringIO(result.stdout))] == [2.0]
    result = runner.invoke(cli, ["query", "node_load1", "--start", "-1h", "--format", "csv"])
    assert [float(r["value"]) for r in csv.DictReader(io.StringIO(result.stdout))] == [30.0, 2.0]
    result = runner.invoke(
        cli, ["query", "node_load1", "--start", "now-2h", "--end", "-10m", "--format", "csv"]
    )
    assert [float(r["value"]) for r in csv.DictReader(io.StringIO(result.stdout))] == [90.0, 30.0]


def test_query_evaluates_promql_at_each_step(run: Run) -> None:
    start = "2023-11-15T00:05:00Z"
    result = run(
        "query",
        'sum(increase(node_cpu_seconds_total{mode="idle"}[1m]))',
        "--start", start, "--end", "2023-11-15T00:15:00Z", "--step", "1m", "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["series"] for r in rows] == ["{}"] * 11
    for row in rows:
        t = int(row["unix_ms"])
        in_window = (t - 60_000 <= TS) & (t >= TS)
        # Samples every 10 s cover the 1-minute window exactly: no extrapolation.
        expected = sum(VALUES[k][in_window][-1] - VALUES[k][in_window][0] for k in (CPU0, CPU1))
        assert float(row["value"]) == pytest.approx(expected, rel=1e-12)


def test_query_instant_scalar(run: Run) -> None:
    result = run("query", "2 * 21", "--time", "2023-11-15T00:05:00Z", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc[0]["name"] == "scalar" and doc[0]["points"] == [[1700006700.0, "42"]]


def test_query_over_budget_exits_1(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "small.yaml"
    config.write_text("query:\n  timeout: 0.000001\n", encoding="utf-8")
    expr = "sum(rate(node_cpu_seconds_total[1m])) + sum(rate(node_cpu_seconds_total[2m]))"
    result = run("query", expr, *RANGE, "--step", "10s", "--config", str(config))
    assert result.exit_code == 1
    assert "timed out" in result.stderr


def test_query_no_match_exits_1(run: Run) -> None:
    result = run("query", "no_such_metric", *RANGE)
    assert result.exit_code == 1
    assert "no series match no_such_metric" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up{"], "parse error"),
        (["rate(node_load1)"], "expected type matrix"),
        (["nosuchfn(node_load1)"], "unknown function"),
        (["node_load1", "--time", "now", "--start", "-1h"], "not both"),
        (["node_load1", "--start", "yesterday"], "'yesterday' is not a time"),
        (["node_load1", "--start", "-1h", "--end", "now-5x"], "is not a time"),
        (["node_load1", "--end", "now"], "--end needs --start"),
        (["sum(node_load1)", "--start", "-1h", "--agg", "avg"], "--agg needs"),
        (["node_load1", "--start", "-1h", "--end", "-2h"], "is before --start"),
        (["node_load1", "--start", "-1h", "--step", "0"], "--step must be positive"),
        (["node_load1", "--start", "-1h", "--step", "often"], "'often' is not a duration"),
    ],
)
def test_query_bad_input_exits_2_with_a_message(run: Run, args: list[str], message: str) -> None:
    result = run("query", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    _no_traceback(result)


def test_query_infinite_time_exits_2(run: Run) -> None:
    result = run("query", "node_load1", "--start", "inf")
    assert result.exit_code == 2
    _no_traceback(result)


def test_query_while_a_writer_holds_the_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        store.append(T0, [Sample(LOAD, 2.5)])
        store.commit()
        runner = CliRunner(env={"EDGEWATCH_CONFIG": None, "EDGEWATCH_DATA_DIR": str(tmp_path)})
        result = runner.invoke(cli, ["query", "node_load1", *RANGE, "--format", "csv"])
        assert result.exit_code == 0, result.output
        assert [r["value"] for r in csv.DictReader(io.StringIO(result.stdout))] == ["2.5"]
    finally:
        store.close()


# ------------------------------------------------------------------ export


def test_export_csv_file(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = run("export", "node_*", *RANGE, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {4 * N} points of 4 series to {out}" in result.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for key in (CPU0, CPU1, LOAD, NET):
        mine = [r for r in rows if r["series"] == str(key)]
        assert [int(r["unix_ms"]) for r in mine] == TS.tolist()
        assert [float(r["value"]) for r in mine] == VALUES[key].tolist()
    assert not (tmp_path / "out.csv.partial").exists()


def test_export_json_file(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run("export", '{__name__=~".+"}', *RANGE, "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert {d["series"] for d in doc} == {str(k) for k in KEYS}
    for d in doc:
        key = SeriesKey(d["name"], tuple(sorted(d["labels"].items())))
        assert [round(p[0] * 1000) for p in d["points"]] == TS.tolist()
        assert [float(p[1]) for p in d["points"]] == VALUES[key].tolist()


def test_export_to_stdout(run: Run) -> None:
    result = run("export", "node_load1", *RANGE, "-o", "-")
    assert result.exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == N


def test_export_to_an_unwritable_path_exits_2(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "out.csv"
    result = run("export", "node_load1", *RANGE, "-o", str(target))
    assert result.exit_code == 2
    assert f"cannot write {target}" in result.stderr
    _no_traceback(result)
    result = run("export", "node_load1", *RANGE, "-o", str(tmp_path))
    assert result.exit_code == 2
    _no_traceback(result)
