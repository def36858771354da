"""The engine's own contract: instant and range agree, rollups for coarse steps, budgets,
errors. Exact PromQL semantics are checked against a real Prometheus in
test_promql_compat.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.config import QueryConfig
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import BadQuery, Engine, QueryExecutionError, QueryTimeout
from edgewatch.store import Store, StoreOptions

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP = 10_000
N = 6 * 60 * 24  # one day at 10 s
REQ = [SeriesKey.of("req_total", job="api", code=c) for c in ("200", "500")]
TEMP = [SeriesKey.of("temp_celsius", zone=z) for z in ("cpu", "gpu")]


def _values() -> dict[SeriesKey, np.ndarray]:
    rng = np.random.default_rng(7)
    out = {}
    for i, key in enumerate(REQ):
        counter = np.cumsum(rng.integers(0, 20 * (i + 1), N)).astype(np.float64)
        counter[N // 2 :] -= counter[N // 2]  # a restart: the counter starts over
        out[key] = counter
    for i, key in enumerate(TEMP):
        out[key] = np.round(45 + 10 * i + 5 * np.sin(np.arange(N) / 300), 2)
    return out


VALUES = _values()
TS = T0 + np.arange(N, dtype=np.int64) * STEP


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("engine")
    clock_s = (T0 + N * STEP + 3_600_000) / 1000  # an hour after the data: all compacted
    writer = Store.open(path, StoreOptions(timestamp_tolerance=0.0), clock=lambda: clock_s)
    for j, ts in enumerate(TS.tolist()):
        writer.append(ts, [Sample(k, float(v[j])) for k, v in VALUES.items()])
        if j % 5000 == 0:
            writer.commit()
    writer.commit()
    writer.maintain()
    writer.close()
    reader = Store.open(path, readonly=True)
    yield reader
    reader.close()


def _engine(store: Store, **limits: float) -> Engine:
    return Engine(store, QueryConfig(**limits))  # type: ignore[arg-type]


EXPRESSIONS = [
    "temp_celsius",
    "rate(req_total[5m])",
    "sum by (job) (increase(req_total[10m]))",
    "max_over_time(temp_celsius[15m]) - min_over_time(temp_celsius[15m])",
    "temp_celsius > bool 48",
    "topk(1, temp_celsius)",
    "req_total / ignoring(code) group_left sum by (job) (req_total)",
    "absent(nothing_here)",
    "time() - timestamp(temp_celsius)",
]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    expr=st.sampled_from(EXPRESSIONS),
    offset_steps=st.integers(min_value=0, max_value=N - 1),
    jitter=st.integers(min_value=0, max_value=STEP - 1),
)
def test_an_instant_query_equals_the_range_query_at_that_step(
    store: Store, expr: str, offset_steps: int, jitter: int
) -> None:
    engine = _engine(store, rollup_min_step=0)
    t = T0 + offset_steps * STEP + jitter
    instant = engine.instant(expr, t).to_prometheus()
    ranged = engine.range(expr, t - 2 * 60_000, t, 60_000).to_prometheus()
    at_t = {
        tuple(sorted(s["metric"].items())): s["values"][-1]
        for s in ranged["result"]
        if s["values"][-1][0] == instant_time(t)
    }
    got = {tuple(sorted(s["metric"].items())): s["value"] for s in instant["result"]}
    assert got == at_t


def instant_time(t: int) -> float | int:
    return t // 1000 if t % 1000 == 0 else t / 1000


def test_rate_handles_the_counter_reset(store: Store) -> None:
    t = int(TS[N // 2 + 10])  # 10 samples after the restart, inside a 5-minute window
    result = _engine(store).instant('increase(req_total{code="200"}[5m])', t)
    (series,) = result.series
    v = VALUES[REQ[0]]
    window = v[N // 2 + 10 - 30 : N // 2 + 11]  # [t - 5m, t]: 31 samples
    raw = window[-1] - window[0] + window[:-1][np.diff(window) < 0].sum()
    # 31 samples span exactly 5 minutes: no extrapolation.
    assert series.values[0] == pytest.approx(raw, rel=1e-12)
    assert raw > 0


def test_coarse_steps_read_rollups_and_agree_with_raw(store: Store) -> None:
    expr = 'temp_celsius{zone="cpu"}'
    start, end, step = T0 + 3_600_000, T0 + N * STEP - STEP, 3_600_000
    raw = _engine(store, rollup_min_step=0).range(expr, start, end, step)
    rolled = _engine(store).range(expr, start, end, step)
    assert rolled.samples_loaded < raw.samples_loaded / 5  # one per minute, not per 10 s
    assert rolled.series[0].ts.tolist() == raw.series[0].ts.tolist()
    # A rollup point is the last value of its minute: within a minute's change of raw.
    max_change_per_minute = np.abs(np.diff(VALUES[TEMP[0]])).max() * 6
    np.testing.assert_allclose(
        rolled.series[0].values, raw.series[0].values, atol=max_change_per_minute
    )
    peak = _engine(store).range(f"max_over_time({expr}[2h])", start, end, step)
    assert peak.series[0].values.max() == VALUES[TEMP[0]].max()


def test_too_many_samples_is_an_execution_error(store: Store) -> None:
    engine = _engine(store, max_samples=1000, rollup_min_step=0)
    with pytest.raises(QueryExecutionError, match="too many samples") as info:
        engine.instant("count_over_time(temp_celsius[1d])", T0 + N * STEP)
    assert info.value.status == 422 and info.value.error_type == "execution"


def test_a_query_past_its_time_budget_times_out(store: Store) -> None:
    ticks = iter(range(10_000))
    engine = Engine(store, QueryConfig(timeout=5), clock=lambda: float(next(ticks)))
    with pytest.raises(QueryTimeout) as info:
        engine.range("sum(rate(req_total[5m])) + sum(temp_celsius)", T0, T0 + 3_600_000, 60_000)
    assert info.value.status == 503


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e: e.range("temp_celsius", T0, T0 + 86_400_000, 1000), "maximum resolution"),
        (lambda e: e.range("temp_celsius", T0, T0 + 1000, 0), "zero or negative"),
        (lambda e: e.range("temp_celsius", T0 + 1000, T0, 1000), "before start"),
        (lambda e: e.range('"text"', T0, T0 + 1000, 1000), "range query"),
        (lambda e: e.range("temp_celsius[5m]", T0, T0 + 1000, 1000), "range query"),
        (lambda e: e.instant("rate(temp_celsius[5m:1m])", T0), "subqueries"),
        (lambda e: e.instant("sum(", T0), "parse error"),
        (lambda e: e.instant("", T0), "empty query"),
        (lambda e: e.instant("nosuch(temp_celsius)", T0), "unknown function"),
        (lambda e: e.instant('count_values("v", temp_celsius)', T0), "not supported"),
    ],
)
def test_bad_queries_are_bad_data(store: Store, call: object, message: str) -> None:
    with pytest.raises(BadQuery, match=message) as info:
        call(_engine(store))  # type: ignore[operator]
    assert info.value.status == 400 and info.value.error_type == "bad_data"


def test_series_that_collide_after_dropping_the_name_are_refused(store: Store) -> None:
    # Both zones become zone="x": two series with one label set at the same steps.
    with pytest.raises(QueryExecutionError, match="same labelset"):
        _engine(store).instant('label_replace(temp_celsius, "zone", "x", "", "")', T0 + 600_000)
    # Taking the name off leaves rate's two outputs apart: their codes differ.
    result = _engine(store).instant("rate(req_total[5m])", T0 + 600_000)
    assert sorted(s.labels["code"] for s in result.series) == ["200", "500"]


def test_topk_picks_per_step(store: Store) -> None:
    result = _engine(store).range("topk(1, temp_celsius)", T0, T0 + 600_000, 60_000)
    (series,) = result.series  # the gpu zone is always 10 degrees warmer
    assert series.labels == {"__name__": "temp_celsius", "zone": "gpu"}
    assert len(series.ts) == 11


@pytest.mark.parametrize(
    "expr",
    [
        "(" * 10_000 + "1" + ")" * 10_000,  # would overflow the parser's native stack
        "sum(" * 200 + "temp_celsius" + ")" * 200,
        "1" + "+1" * 5000,  # longer than MAX_QUERY_CHARS
        "-" * 3000 + "temp_celsius",
        "1" + "+1" * 4000,  # parses, but evaluates 4000 levels deep
    ],
)
def test_pathological_queries_are_refused_not_crashed(store: Store, expr: str) -> None:
    with pytest.raises(BadQuery):
        _engine(store).instant(expr, T0 + 600_000)


@pytest.mark.parametrize(
    "expr",
    [
        "temp_celsius @ 99999999999999",
        "temp_celsius @ 1e300",
        "temp_celsius offset 100000000y",
        "rate(req_total[100000000y])",
    ],
)
def test_times_out_of_range_are_bad_data(store: Store, expr: str) -> None:
    with pytest.raises(BadQuery):
        _engine(store).instant(expr, T0 + 600_000)


def test_a_backtracking_regex_costs_linear_time(store: Store) -> None:
    # (.*.*)*x against a long non-matching name takes Python's re minutes; RE2 microseconds.
    # No timing assertion: with backtracking this test would not finish at all.
    result = _engine(store).instant('{__name__=~"(.*.*)*x", zone=~"(.*.*)*z"}', T0 + 600_000)
    assert result.series == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$1", "cpu"),
        ("${1}-hot", "cpu-hot"),
        ("$1-hot", "cpu-hot"),
        ("$1x", ""),  # Go's rule: the name runs on, "1x" is no group
        ("$$1", "$1"),
        ("${kind}", "cpu"),
        ("$9", ""),
    ],
)
def test_label_replace_expands_like_prometheus(store: Store, template: str, expected: str) -> None:
    expr = f'label_replace(temp_celsius{{zone="cpu"}}, "x", "{template}", "zone", "(?P<kind>c.u)")'
    (series,) = _engine(store).instant(expr, T0 + 600_000).series
    assert series.labels.get("x", "") == expected
