"""The query engine against a real Prometheus given the same samples (docs/query.md).

Every expression of the table is asked as an instant query at a few times (near
a gap, on sample boundaries, between samples, after the data's end) and as range
queries; edgewatch's ``to_prometheus()`` must equal Prometheus' ``data``: the
same result type, label sets and timestamps, values within 1e-9 relative.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx
import pytest
from promql_peer import (
    END_MS,
    HOUR_MS,
    MIN_MS,
    T0_MS,
    build_dataset,
    diff_data,
    open_store,
    prom_instant,
    prom_range,
    require_binaries,
    running_prometheus,
    write_store,
)

from edgewatch.config import QueryConfig
from edgewatch.model import SeriesKey
from edgewatch.query import BadQuery, Engine


class Peers(NamedTuple):
    engine: Engine  # QueryConfig defaults
    raw_engine: Engine  # never reads rollups
    base_url: str
    client: httpx.Client


@pytest.fixture(scope="session")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    """The same dataset in an edgewatch store (with its engine) and in a live Prometheus."""
    require_binaries()
    workdir = tmp_path_factory.mktemp("promql")
    dataset = build_dataset()
    write_store(dataset, workdir / "store")
    store = open_store(workdir / "store")
    try:
        with running_prometheus(dataset, workdir / "prom") as prom, httpx.Client() as client:
            raw = Engine(store, QueryConfig(rollup_min_step=0))
            yield Peers(Engine(store, QueryConfig()), raw, prom.base_url, client)
    finally:
        store.close()


# --------------------------------------------------------------------- the table

SELECTORS = [
    "requests_total",
    'requests_total{job="api"}',
    'requests_total{code!="200"}',
    'node_cpu_seconds_total{mode=~"user|system"}',
    'node_cpu_seconds_total{mode!~"idle|sys.*",cpu="1"}',
    '{__name__=~"temperature_.*"}',
    "temperature_celsius offset 10m",
    "link_up",
    'memory_used_bytes{kind=~"app"}',
]

FUNCTIONS = [
    "rate(requests_total[5m])",
    "rate(node_cpu_seconds_total[2m])",
    "irate(node_cpu_seconds_total[1m])",
    'increase(requests_total{job="api"}[10m])',
    "rate(requests_total[5m] offset 30m)",
    "delta(temperature_celsius[15m])",
    "deriv(memory_used_bytes[10m])",
    "predict_linear(memory_used_bytes[30m], 3600)",
    "avg_over_time(temperature_celsius[5m])",
    "min_over_time(signal_offset[7m])",
    "max_over_time(signal_offset[7m])",
    "sum_over_time(queue_depth[10m])",
    "count_over_time(link_up[10m])",
    "quantile_over_time(0.9, temperature_celsius[10m])",
    "quantile_over_time(0.25, signal_offset[5m])",
    "last_over_time(link_up[30m])",
    "stddev_over_time(temperature_celsius[10m])",
    "changes(queue_depth[15m])",
    "resets(node_cpu_seconds_total[1h])",
    'absent(nonexistent_metric{job="x"})',
    "absent(requests_total)",
    'absent_over_time(link_up{iface="wlan0"}[2m])',
    "abs(signal_offset)",
    "clamp_min(signal_offset, 0)",
    "clamp_max(temperature_celsius, 60)",
    "round(temperature_celsius)",
    "round(signal_offset, 0.25)",
    "time()",
    "timestamp(link_up)",
    "time() - timestamp(temperature_celsius)",
]

AGGREGATIONS = [
    "sum(rate(requests_total[5m]))",
    "sum by (job) (rate(requests_total[5m]))",
    "avg without (cpu) (rate(node_cpu_seconds_total[5m]))",
    "min by (mode) (node_cpu_seconds_total)",
    "max without (sensor) (temperature_celsius)",
    "count by (iface) (link_up)",
    "count(requests_total)",
    # topk/bottomk over values without ties: which of two equal values wins is an
    # implementation detail of Prometheus (its heap order), not a documented semantic.
    "topk(2, rate(node_cpu_seconds_total[5m]))",
    "bottomk(1, temperature_celsius)",
    "topk by (job) (1, requests_total)",
    "quantile(0.5, temperature_celsius)",
    "quantile by (code) (0.9, rate(requests_total[5m]))",
    "avg(signal_offset)",
]

OPERATORS = [
    "memory_used_bytes / 1024 / 1024",
    '1 - memory_used_bytes{kind="app"} / ignoring(kind) memory_total_bytes',
    "temperature_celsius > 56",
    "temperature_celsius > bool 56",
    "signal_offset <= 0",
    "queue_depth == bool 0",
    "2 ^ 3 * 4 - 1",
    "1 < bool 2",
    "-signal_offset",
    "temperature_celsius % 7",
    'rate(requests_total{code="500"}[5m]) / ignoring(code) rate(requests_total{code="200"}[5m])',
    "sum by (job, instance) (rate(requests_total{code='500'}[5m]))"
    " / on(job, instance) sum by (job, instance) (rate(requests_total[5m]))",
    'memory_used_bytes{kind="app"} > ignoring(kind) memory_total_bytes * 0.3',
    'link_up and link_up{iface="wlan0"}',
    'requests_total unless requests_total{code="500"}',
    'requests_total{code="500"} or on(job, instance) requests_total{code="200"}',
    'temperature_celsius unless on(sensor) temperature_celsius{sensor="gpu"}',
]

NESTED = [
    '100 * (1 - avg by (cpu) (rate(node_cpu_seconds_total{mode="idle"}[5m])))',
    'round(avg_over_time(temperature_celsius{sensor!="board"}[10m]) * 10) / 10',
    "topk(3, sum by (cpu, mode) (increase(node_cpu_seconds_total[15m])))",
    "abs(delta(signal_offset[5m])) > bool 1",
    "clamp_max(clamp_min(signal_offset, -1), 1)",
    "count(count by (cpu) (node_cpu_seconds_total))",
    "-(sum by (mode) (irate(node_cpu_seconds_total[1m])) > 0.01)",
]

EXPRESSIONS = SELECTORS + FUNCTIONS + AGGREGATIONS + OPERATORS + NESTED


class Case(NamedTuple):
    kind: str  # "instant" | "range"
    start_ms: int
    end_ms: int = 0
    step_ms: int = 0
    rollups: bool = False  # the engine may read rollups (QueryConfig defaults)


CASES = {
    # wlan0 stopped 3m07s ago: still inside the 5 m lookback.
    "instant-gap": Case("instant", T0_MS + HOUR_MS + 3 * MIN_MS + 7_000),
    # Exactly on sample timestamps of every interval: window boundaries matter.
    "instant-aligned": Case("instant", T0_MS + 100 * MIN_MS),
    # Between samples, with milliseconds; gpu ended 1m13.5s ago.
    "instant-ms": Case("instant", T0_MS + 151 * MIN_MS + 13_500),
    # After the data's end, inside the lookback.
    "instant-end": Case("instant", END_MS + 2 * MIN_MS + 30_000),
    # Two hours, step on the sample grid.
    "range-60s": Case("range", T0_MS + 30 * MIN_MS, T0_MS + 150 * MIN_MS, 60_000),
    # Off-grid step, over the gap and past the data's end by more than the lookback.
    "range-37s": Case("range", T0_MS + HOUR_MS + 7_000, END_MS + 7 * MIN_MS, 37_000),
    # The whole dataset at a 5-minute step, from raw samples (rollup_min_step=0).
    "range-5m": Case("range", T0_MS + 10 * MIN_MS, END_MS + 5 * MIN_MS, 300_000),
}

# The same 5-minute step with the default QueryConfig: the engine reads 1-minute
# rollups (QueryConfig.rollup_min_step), which approximate (see DIFFERENCES).
ROLLUP_CASE = CASES["range-5m"]._replace(rollups=True)
CASES_WITH_ROLLUPS = {**CASES, "range-5m-rollups": ROLLUP_CASE}

ROLLUPS = (
    "range queries with a step of at least query.rollup_min_step read 1-minute rollups: "
    "one point per minute, stamped at the minute's last millisecond, carrying its last (min, max) "
    "value, so values differ by up to a minute's change"
)
MEAN = (
    "avg_over_time is sum/count (exact here: the board sensor moves in halves); "
    "Prometheus 2.42's incremental mean is one ulp lower, which round() turns into 0.1"
)

# Deliberate differences: (expression, case, reason), each an xfail(strict=True):
# the day edgewatch agrees with Prometheus the entry must go. See docs/query.md.
DIFFERENCES: list[tuple[str, str, str]] = [
    ("temperature_celsius", "range-5m-rollups", ROLLUPS),
    ("rate(requests_total[10m])", "range-5m-rollups", ROLLUPS),
    ("avg_over_time(temperature_celsius[10m])", "range-5m-rollups", ROLLUPS),
    ("max_over_time(signal_offset[10m])", "range-5m-rollups", ROLLUPS),
    ("sum by (job) (rate(requests_total[5m]))", "range-5m-rollups", ROLLUPS),
    (
        'round(avg_over_time(temperature_celsius{sensor="board"}[10m]) * 10) / 10',
        "range-37s",
        MEAN,
    ),
]


def _ask(peers: Peers, expr: str, case: Case) -> tuple[Any, dict[str, Any]]:
    engine = peers.engine if case.rollups else peers.raw_engine
    if case.kind == "instant":
        expected = prom_instant(peers.client, peers.base_url, expr, case.start_ms)
        got = engine.instant(expr, case.start_ms).to_prometheus()
    else:
        expected = prom_range(
            peers.client, peers.base_url, expr, case.start_ms, case.end_ms, case.step_ms
        )
        got = engine.range(expr, case.start_ms, case.end_ms, case.step_ms).to_prometheus()
    return expected, got


def _check(peers: Peers, expr: str, case: Case) -> None:
    expected, got = _ask(peers, expr, case)
    assert expected["status"] == "success", f"Prometheus refused {expr!r}: {expected}"
    problems = diff_data(expected["data"], got)
    assert not problems, f"{expr} ({case}):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("case_id", list(CASES))
@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_engine_matches_prometheus(peers: Peers, expr: str, case_id: str) -> None:
    _check(peers, expr, CASES[case_id])


@pytest.mark.parametrize(
    ("expr", "case_id"),
    [
        pytest.param(e, c, marks=pytest.mark.xfail(strict=True, reason=r), id=f"{e}-{c}")
        for e, c, r in DIFFERENCES
    ],
)
def test_deliberate_differences(peers: Peers, expr: str, case_id: str) -> None:
    _check(peers, expr, CASES_WITH_ROLLUPS[case_id])


def test_table_is_large_and_distinct() -> None:
    assert len(EXPRESSIONS) >= 45
    assert len(set(EXPRESSIONS)) == len(EXPRESSIONS)
    assert len(DIFFERENCES) == len({(e, c) for e, c, _ in DIFFERENCES})


# ------------------------------------------------------------ the dataset itself


def test_prometheus_and_store_hold_the_same_samples(peers: Peers) -> None:
    """The reference is only worth something if both sides were given the same data."""
    body = prom_instant(peers.client, peers.base_url, '{__name__=~".+"}[4h]', END_MS)
    assert body["status"] == "success"
    prom = {
        SeriesKey.of(item["metric"].pop("__name__"), item["metric"]): item["values"]
        for item in body["data"]["result"]
    }
    reader = peers.engine.reader
    ours = {d.key: d for d in reader.read('{__name__=~".+"}', T0_MS - HOUR_MS, END_MS)}
    assert prom.keys() == ours.keys()
    assert len(prom) == 27
    for key, values in prom.items():
        d = ours[key]
        assert [round(float(t) * 1000) for t, _ in values] == d.ts.tolist(), key
        assert [float(v) for _, v in values] == d.values.tolist(), key


# -------------------------------------------------------------------- bad input

MALFORMED = [
    "rate(foo)",
    "sum by (",
    "nosuchfn(x)",
    "foo{bar=}",
    "1 +",
    "rate(foo[5x])",
    "topk(foo, bar)",
    "{}",
    'foo{job=~"("}',
]


@pytest.mark.parametrize("expr", MALFORMED)
def test_malformed_expressions_are_bad_queries_on_both(peers: Peers, expr: str) -> None:
    body = prom_instant(peers.client, peers.base_url, expr, END_MS)
    assert body["_http_status"] == 400 and body["errorType"] == "bad_data", body
    with pytest.raises(BadQuery) as info:
        peers.engine.instant(expr, END_MS)
    assert info.value.status == 400 and info.value.error_type == "bad_data"
    assert str(info.value)
    with pytest.raises(BadQuery):
        peers.engine.range(expr, END_MS - HOUR_MS, END_MS, 60_000)


def test_range_query_of_a_range_vector_is_refused_by_both(peers: Peers) -> None:
    expr = "requests_total[5m]"
    body = prom_range(peers.client, peers.base_url, expr, END_MS - HOUR_MS, END_MS, 60_000)
    assert body["_http_status"] == 400 and body["errorType"] == "bad_data", body
    with pytest.raises(BadQuery):
        peers.engine.range(expr, END_MS - HOUR_MS, END_MS, 60_000)
