"""Functions of a range vector (``rate(x[5m])``, ``avg_over_time(x[1h])``, ...).

Each is computed for one series at every step at once: ``searchsorted`` gives
each step's window ``[ref - range, ref]`` (both ends included, as Prometheus
2.x does), and cumulative sums turn window sums into two lookups. Functions
with no closed form (regression, quantiles) loop over the windows in numpy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgewatch.query.types import Mask, Matrix, RawSeries, Series, Vector, drop_name
from edgewatch.store.transforms import F64, I64

Params = list[F64]  # scalar arguments, one value per step
Windows = tuple[I64, I64]  # per step: first index, one past the last index
Check = Callable[[], None]  # raises when the query's time is up


def windows(ts: I64, refs: I64, range_ms: int) -> Windows:
    lo = np.searchsorted(ts, refs - range_ms, "left").astype(np.int64)
    hi = np.searchsorted(ts, refs, "right").astype(np.int64)
    return lo, np.maximum(hi, lo)


def _cumulative(x: F64) -> F64:
    return np.concatenate(([0.0], np.cumsum(x)))


def _window_sum(x: F64, lo: I64, hi: I64) -> F64:
    c = _cumulative(x)
    return c[hi] - c[lo]


def _pairs_count(flags: F64, lo: I64, hi: I64) -> F64:
    """Sum of ``flags[j]`` for j in (lo, hi): flags about the pair (j-1, j)."""
    c = _cumulative(flags)
    return np.where(hi - lo >= 2, c[np.maximum(hi, 1)] - c[np.minimum(lo + 1, hi)], 0.0)


def _extrapolated(
    s: RawSeries, lo: I64, hi: I64, m: Matrix, *, counter: bool, rate: bool
) -> tuple[F64, Mask]:
    ts, v = s.ts, s.values
    ok = hi - lo >= 2
    if len(v) == 0:  # matched, but no sample in the span read
        return np.zeros(len(lo)), ok
    first_i, last_i = np.where(ok, lo, 0), np.where(ok, hi - 1, 0)
    first, last = v[first_i], v[last_i]
    result = last - first
    if counter:
        prev = np.concatenate(([0.0], v[:-1]))
        resets = np.where(v < prev, prev, 0.0)
        resets[:1] = 0.0
        result = result + _pairs_count(resets, lo, hi)
    range_start = (m.refs - m.range_ms).astype(np.float64)
    range_end = m.refs.astype(np.float64)
    t_first, t_last = ts[first_i].astype(np.float64), ts[last_i].astype(np.float64)
    to_start = (t_first - range_start) / 1000
    to_end = (range_end - t_last) / 1000
    sampled = (t_last - t_first) / 1000
    n = np.maximum(hi - lo - 1, 1).astype(np.float64)
    average = sampled / n
    with np.errstate(divide="ignore", invalid="ignore"):
        if counter:
            to_zero = sampled * (first / result)
            use_zero = (result > 0) & (first >= 0) & (to_zero < to_start)
            to_start = np.where(use_zero, to_zero, to_start)
        threshold = average * 1.1
        interval = sampled.copy()
        interval += np.where(to_start < threshold, to_start, average / 2)
        interval += np.where(to_end < threshold, to_end, average / 2)
        factor = interval / sampled
        if rate:
            factor = factor / (m.range_ms / 1000)
        out = result * factor
    return out, ok


def _instant_pair(s: RawSeries, lo: I64, hi: I64, *, rate: bool) -> tuple[F64, Mask]:
    ok = hi - lo >= 2
    last_i = np.where(ok, hi - 1, 1)
    prev_i = last_i - 1
    if len(s.values) < 2:
        return np.zeros(len(lo)), np.zeros(len(lo), dtype=bool)
    last, prev = s.values[last_i], s.values[prev_i]
    if not rate:
        return last - prev, ok
    result = np.where(last < prev, last, last - prev)
    interval = (s.ts[last_i] - s.ts[prev_i]).astype(np.float64)
    ok = ok & (interval != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return result / (interval / 1000), ok


def _reduce_windows(ufunc: np.ufunc, v: F64, lo: I64, hi: I64) -> F64:
    """``ufunc.reduce(v[lo:hi])`` for every window (meaningless where empty)."""
    padded = np.append(v, 0.0)
    idx = np.stack([np.minimum(lo, len(v)), hi]).T.ravel()
    return np.asarray(ufunc.reduceat(padded, idx)[::2], dtype=np.float64)


WindowFn = Callable[[I64, F64, float, int], float]  # (ts, values, param, step ms)


def _per_window(
    s: RawSeries,
    lo: I64,
    hi: I64,
    need: int,
    fn: WindowFn,
    params: Params,
    steps: I64,
    check: Check,
) -> tuple[F64, Mask]:
    out = np.zeros(len(lo))
    ok = hi - lo >= need
    param = params[0] if params else np.zeros(len(lo))
    for n, i in enumerate(np.flatnonzero(ok)):
        if n % 256 == 0:
            check()
        a, b = int(lo[i]), int(hi[i])
        out[i] = fn(s.ts[a:b], s.values[a:b], float(param[i]), int(steps[i]))
    return out, ok


def _linear_regression(ts: I64, v: F64, intercept_ms: int) -> tuple[float, float]:
    if (v == v[0]).all():
        if np.isinf(v[0]):
            return float("nan"), float("nan")
        return 0.0, float(v[0])
    x = (ts - intercept_ms).astype(np.float64) / 1000
    n = float(len(v))
    sum_x, sum_y = float(x.sum()), float(v.sum())
    cov = float((x * v).sum()) - sum_x * sum_y / n
    var = float((x * x).sum()) - sum_x * sum_x / n
    slope = cov / var if var else float("nan")
    return slope, sum_y / n - slope * sum_x / n


def _quantile(q: float, values: F64) -> float:
    """Prometheus' quantile: linear interpolation between closest ranks."""
    if np.isnan(q) or len(values) == 0:
        return float("nan")
    if q < 0:
        return float("-inf")
    if q > 1:
        return float("inf")
    ordered = np.sort(values)
    rank = q * (len(ordered) - 1)
    lower = max(0, int(np.floor(rank)))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - np.floor(rank)
    return float(ordered[lower] * (1 - weight) + ordered[upper] * weight)


def _stdvar(v: F64) -> float:
    mean = v.mean()
    return float(((v - mean) ** 2).mean())


def _deriv(ts: I64, v: F64, _param: float, _step: int) -> float:
    return _linear_regression(ts, v, int(ts[0]))[0]


def _predict_linear(ts: I64, v: F64, horizon_s: float, step: int) -> float:
    slope, intercept = _linear_regression(ts, v, step)
    return slope * horizon_s + intercept


def _quantile_window(ts: I64, v: F64, q: float, _step: int) -> float:
    return _quantile(q, v)


def _stddev_window(ts: I64, v: F64, _param: float, _step: int) -> float:
    return float(np.sqrt(_stdvar(v)))


def _stdvar_window(ts: I64, v: F64, _param: float, _step: int) -> float:
    return _stdvar(v)


# Functions computed window by window: the function, and the samples it needs.
_WINDOWED: dict[str, tuple[WindowFn, int]] = {
    "deriv": (_deriv, 2),
    "predict_linear": (_predict_linear, 2),
    "quantile_over_time": (_quantile_window, 1),
    "stddev_over_time": (_stddev_window, 1),
    "stdvar_over_time": (_stdvar_window, 1),
}


def evaluate(name: str, m: Matrix, params: Params, steps: I64, check: Check) -> Vector:
    out: Vector = []
    for s in m.series:
        check()
        lo, hi = windows(s.ts, m.refs, m.range_ms)
        count = (hi - lo).astype(np.float64)
        v = s.values
        if name in ("rate", "increase", "delta"):
            values, ok = _extrapolated(s, lo, hi, m, counter=name != "delta", rate=name == "rate")
        elif name in ("irate", "idelta"):
            values, ok = _instant_pair(s, lo, hi, rate=name == "irate")
        elif name == "count_over_time":
            values, ok = count, count > 0
        elif name == "present_over_time":
            values, ok = np.ones(len(lo)), count > 0
        elif name == "sum_over_time":
            values, ok = _window_sum(v, lo, hi), count > 0
        elif name == "avg_over_time":
            with np.errstate(divide="ignore", invalid="ignore"):
                values, ok = _window_sum(v, lo, hi) / count, count > 0
        elif name in ("min_over_time", "max_over_time"):
            ufunc = np.fmin if name == "min_over_time" else np.fmax
            values, ok = _reduce_windows(ufunc, v, lo, hi), count > 0
        elif name == "last_over_time":
            values, ok = v[np.maximum(hi - 1, 0)] if len(v) else count, count > 0
        elif name == "changes":
            prev = np.concatenate(([v[0] if len(v) else 0.0], v[:-1]))
            flags = ((v != prev) & ~(np.isnan(v) & np.isnan(prev))).astype(np.float64)
            values, ok = _pairs_count(flags, lo, hi), count > 0
        elif name == "resets":
            prev = np.concatenate(([v[0] if len(v) else 0.0], v[:-1]))
            values, ok = _pairs_count((v < prev).astype(np.float64), lo, hi), count > 0
        elif name in _WINDOWED:
            fn, need = _WINDOWED[name]
            values, ok = _per_window(s, lo, hi, need, fn, params, steps, check)
        else:
            raise AssertionError(f"range function {name} not dispatched")
        labels = s.labels if name == "last_over_time" else drop_name(s.labels)
        out.append(Series(labels, np.asarray(values, dtype=np.float64), ok))
    return out


RANGE_FUNCTIONS = frozenset(
    {
        "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear",
        "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
        "count_over_time", "quantile_over_time", "last_over_time", "stddev_over_time",
        "stdvar_over_time", "present_over_time", "changes", "resets",
    }
)  # fmt: skip
