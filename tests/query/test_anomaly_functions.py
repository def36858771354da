"""robust_zscore_over_time and ewma_zscore_over_time: parsing, values against a direct
numpy computation, invariances, and the edges (flat windows, few samples, NaN)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.alerting.rules import parse_rule_file
from edgewatch.commands.rules import rules_group
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import BadQuery, Engine
from edgewatch.query.anomaly import ewma_zscore, robust_zscore
from edgewatch.query.parse import parse
from edgewatch.store import Store, StoreOptions

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP = 10_000
N = 6 * 60 * 3  # three hours at 10 s
LATENCY = SeriesKey.of("inference_latency_seconds", model="yolo")
FLAT = SeriesKey.of("flat_gauge", job="x")
SPARSE = SeriesKey.of("sparse_gauge", job="x")
GAPPY = SeriesKey.of("gappy_gauge", job="x")


def _latency() -> np.ndarray:
    rng = np.random.default_rng(11)
    values = 0.05 + 0.01 * np.sin(np.arange(N) / 200) + rng.normal(0, 0.002, N)
    values[N - 30] = 0.2  # a spike, 5 minutes before the end
    return np.round(values, 6)


LATENCY_VALUES = _latency()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("anomaly")
    store = Store.open(path, StoreOptions(timestamp_tolerance=0.0))
    for j in range(N):
        ts = T0 + j * STEP
        samples = [Sample(LATENCY, float(LATENCY_VALUES[j])), Sample(FLAT, 7.0)]
        if j % 60 == 0:
            samples.append(Sample(SPARSE, float(j)))
        samples.append(Sample(GAPPY, float("nan") if j % 2 else float(j % 7)))
        store.append(ts, samples)
    store.commit()
    yield Engine(store)
    store.close()


# -- direct computations, written the obvious way ------------------------------------


def _robust_direct(window: np.ndarray) -> float:
    median = np.median(window)
    mad = np.median(np.abs(window - median))
    if mad > 0:
        return float((window[-1] - median) / (1.4826 * mad))
    mean_ad = np.mean(np.abs(window - median))
    return 0.0 if mean_ad == 0 else float((window[-1] - median) / (1.2533 * mean_ad))


def _ewma_direct(window: np.ndarray, alpha: float) -> float:
    mean, var = float(window[0]), 0.0
    for x in window[1:-1]:
        d = x - mean
        mean += alpha * d
        var = (1 - alpha) * (var + alpha * d * d)
    diff = float(window[-1]) - mean
    if var == 0:
        return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    return diff / float(np.sqrt(var))


def _window(at_index: int, range_steps: int) -> np.ndarray:
    """The samples ``x[w]`` sees at sample ``at_index``: both window ends included."""
    return LATENCY_VALUES[max(0, at_index - range_steps) : at_index + 1]


# -- parsing -------------------------------------------------------------------------


def test_parser_accepts_the_extension_functions() -> None:
    node = parse("robust_zscore_over_time(inference_latency_seconds[1h]) > 4")
    assert node.lhs.func.name == "robust_zscore_over_time"
    node = parse("ewma_zscore_over_time(x{a='b'}[30m], 0.1)")
    assert node.func.name == "ewma_zscore_over_time"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("robust_zscore_over_time(x)", "expected type matrix"),
        ("robust_zscore_over_time(x[5m], 2)", "expected 1 argument"),
        ("ewma_zscore_over_time(x[5m])", "expected 2 argument"),
    ],
)
def test_parser_checks_arguments(expr: str, message: str) -> None:
    with pytest.raises(BadQuery, match=message):
        parse(expr)


def test_rules_check_accepts_a_rule_file_using_them(tmp_path: Path) -> None:
    text = """\
groups:
  - name: anomalies
    rules:
      - alert: LatencyUnusual
        expr: robust_zscore_over_time(inference_latency_seconds[1h]) > 4
        for: 2m
      - alert: LatencyUnusualEwma
        expr: abs(ewma_zscore_over_time(inference_latency_seconds[1h], 0.05)) > 5
"""
    assert parse_rule_file(text, file="anomaly.yml").rule_count == 2
    path = tmp_path / "anomaly.yml"
    path.write_text(text)
    result = CliRunner().invoke(rules_group, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 group, 2 rules" in result.output


# -- values through the engine -------------------------------------------------------


@pytest.mark.parametrize("index", [40, 400, N - 30, N - 1])
def test_robust_zscore_matches_a_direct_computation(engine: Engine, index: int) -> None:
    result = engine.instant(
        "robust_zscore_over_time(inference_latency_seconds[10m])", T0 + index * STEP
    )
    assert [s.labels for s in result.series] == [{"model": "yolo"}]
    expected = _robust_direct(_window(index, 60))
    assert result.series[0].values[0] == pytest.approx(expected, rel=1e-9)


def test_the_spike_scores_high_and_normal_samples_do_not(engine: Engine) -> None:
    expr = "robust_zscore_over_time(inference_latency_seconds[1h]) > 4"
    assert len(engine.instant(expr, T0 + (N - 30) * STEP).series) == 1
    assert engine.instant(expr, T0 + (N - 40) * STEP).series == []


@pytest.mark.parametrize("alpha", [0.05, 0.3, 0.9])
def test_ewma_zscore_matches_the_incremental_recursion(engine: Engine, alpha: float) -> None:
    index = N - 30
    result = engine.instant(
        f"ewma_zscore_over_time(inference_latency_seconds[15m], {alpha})", T0 + index * STEP
    )
    expected = _ewma_direct(_window(index, 90), alpha)
    assert result.series[0].values[0] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    "expr",
    [
        "robust_zscore_over_time(inference_latency_seconds[20m])",
        "ewma_zscore_over_time(inference_latency_seconds[20m], 0.2)",
    ],
)
def test_range_agrees_with_instant(engine: Engine, expr: str) -> None:
    start, end = T0 + 100 * STEP, T0 + (N - 1) * STEP
    ranged = engine.range(expr, start, end, 60_000)
    (series,) = ranged.series
    for t, value in list(zip(series.ts.tolist(), series.values.tolist(), strict=True))[::17]:
        (point,) = engine.instant(expr, t).series
        assert point.values[0] == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_a_flat_window_scores_zero(engine: Engine) -> None:
    for fn in (
        "robust_zscore_over_time(flat_gauge[5m])",
        "ewma_zscore_over_time(flat_gauge[5m], 0.5)",
    ):
        (series,) = engine.instant(fn, T0 + 100 * STEP).series
        assert series.labels == {"job": "x"}
        assert series.values[0] == 0.0


def test_fewer_than_three_samples_give_no_output(engine: Engine) -> None:
    # one sample every 10 minutes: a 15-minute window holds 1 or 2
    for expr in (
        "robust_zscore_over_time(sparse_gauge[15m])",
        "ewma_zscore_over_time(sparse_gauge[15m], 0.5)",
    ):
        assert engine.instant(expr, T0 + 300 * STEP).series == []
    (series,) = engine.instant("robust_zscore_over_time(sparse_gauge[25m])", T0 + 300 * STEP).series
    assert np.isfinite(series.values[0])


def test_nan_samples_are_skipped(engine: Engine) -> None:
    index = 201  # odd indices hold NaN: the window's last real sample is index 200
    (series,) = engine.instant("robust_zscore_over_time(gappy_gauge[2m])", T0 + index * STEP).series
    window = np.array([float(j % 7) for j in range(index - 12, index + 1) if j % 2 == 0])
    assert series.values[0] == pytest.approx(_robust_direct(window))


def test_alpha_outside_zero_one_is_refused(engine: Engine) -> None:
    for alpha in ("0", "1", "-0.5", "2"):
        with pytest.raises(BadQuery, match="alpha must be between 0 and 1"):
            engine.instant(f"ewma_zscore_over_time(flat_gauge[5m], {alpha})", T0 + 100 * STEP)


def test_a_subquery_argument_is_refused(engine: Engine) -> None:
    with pytest.raises(BadQuery):
        engine.instant("robust_zscore_over_time(flat_gauge[5m:1m])", T0 + 100 * STEP)


# -- properties of the functions themselves ----------------------------------------

small_ints = st.lists(st.integers(-1000, 1000), min_size=3, max_size=40)


def _one_window(values: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.array(values, dtype=np.float64)
    return v, np.array([0], dtype=np.int64), np.array([len(v)], dtype=np.int64)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(values=small_ints, scale=st.sampled_from([-8.0, -1.0, 0.5, 2.0, 1000.0]),
       shift=st.integers(-10_000, 10_000))  # fmt: skip
def test_robust_zscore_is_shift_and_scale_invariant(
    values: list[int], scale: float, shift: int
) -> None:
    v, lo, hi = _one_window(values)
    (z,), _ = robust_zscore(v, lo, hi)
    (moved,), _ = robust_zscore(v * scale + shift, lo, hi)
    assert np.isfinite(z)
    assert moved == pytest.approx(np.sign(scale) * z, rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    values=st.lists(st.integers(-50, 50), min_size=1, max_size=120),
    width=st.integers(1, 30),
)
def test_robust_zscore_agrees_with_numpy_per_window(values: list[int], width: int) -> None:
    v = np.array(values, dtype=np.float64)
    hi = np.arange(1, len(v) + 1, dtype=np.int64)
    lo = np.maximum(hi - width, 0)
    z, ok = robust_zscore(v, lo, hi)
    for i in range(len(v)):
        window = v[lo[i] : hi[i]]
        assert ok[i] == (len(window) >= 3)
        if ok[i]:
            assert z[i] == pytest.approx(_robust_direct(window), rel=1e-9, abs=1e-12)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=60),
    alpha=st.floats(0.01, 0.99),
)
def test_ewma_zscore_agrees_with_the_recursion(values: list[float], alpha: float) -> None:
    v = np.array(values, dtype=np.float64)
    lo, hi = np.array([0], dtype=np.int64), np.array([len(v)], dtype=np.int64)
    (z,), (ok,) = ewma_zscore(v, lo, hi, np.array([alpha]))
    expected = _ewma_direct(v, alpha)
    assert ok
    if np.isinf(expected) or abs(expected) > 1e6:
        return  # a near-zero variance: rounding decides the magnitude, not the method
    assert z == pytest.approx(expected, rel=1e-6, abs=1e-6)
