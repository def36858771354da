"""Anomaly scores over a range vector: edgewatch's extension functions to PromQL.

``robust_zscore_over_time(v[w])``
    How far the last sample in the window lies from the window's median, in
    robust standard deviations: ``(last - median) / (1.4826 * MAD)``, MAD being
    the median absolute deviation from the median. 1.4826 makes ``1.4826 *
    MAD`` equal the standard deviation for normally distributed data. When
    more than half the window holds one value, the MAD is 0: the score then
    falls back to the mean absolute deviation from the median, times 1.2533
    (sqrt(pi/2), its own normal-consistency constant), as Iglewicz and
    Hoaglin's modified z-score does. That is 0 only when every sample equals
    the median, the last one included, so the score is then 0: the result is
    always finite for finite samples.

``ewma_zscore_over_time(v[w], alpha)``
    The z-score of the last sample against the exponentially weighted mean and
    variance of the earlier samples in the window (smoothing factor ``alpha``,
    0 < alpha < 1; weights per sample, not per second). The weighted variance
    is the one West's incremental update computes, started at the window's
    first sample. When it is 0 (the earlier samples all equal), the score is 0
    if the last sample equals them, else +Inf or -Inf: a flat signal that
    moves is infinitely unusual by this measure.

Both need at least 3 samples in the window (else no output at that step),
skip NaN samples, and drop the metric name, like the other ``*_over_time``
functions.

promql-parser refuses function names it does not know, so the parser learns
ours through its own extension API (``register_extra_functions``, with exact
argument types: the parser checks arity and that the first argument is a
range vector). The registration is process-wide and idempotent; ``parse``
calls :func:`register_functions` before its first parse.

Evaluation is vectorised over steps: every step's window is laid out as a
row of a padded 2-D block (chunks of bounded size), then sorted or weighted
along rows by numpy. A range query costs O(steps x window samples x log);
an alert's instant evaluation is one row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import promql_parser as pp

from edgewatch.query.errors import BadQuery
from edgewatch.query.types import Mask, Matrix, RawSeries, Series, Vector, drop_name
from edgewatch.store.transforms import F64, I64

__all__ = [
    "ANOMALY_FUNCTIONS",
    "MIN_SAMPLES",
    "evaluate",
    "ewma_zscore",
    "register_functions",
    "robust_zscore",
]

MIN_SAMPLES = 3
MAD_SCALE = 1.4826  # 1 / Phi^-1(3/4): MAD to standard deviation for normal data
MEAN_AD_SCALE = 1.2533  # sqrt(pi / 2): mean absolute deviation to standard deviation
BLOCK_CELLS = 1 << 21  # most cells (rows x window width) of one padded block: 16 MiB

ROBUST = "robust_zscore_over_time"
EWMA = "ewma_zscore_over_time"
ANOMALY_FUNCTIONS = frozenset({ROBUST, EWMA})


Check = Callable[[], None]


def _no_check() -> None:
    pass


@functools.cache
def register_functions() -> None:
    """Teach promql-parser our functions' names and argument types (once per process)."""
    matrix, scalar, vector = pp.ValueType.Matrix, pp.ValueType.Scalar, pp.ValueType.Vector
    pp.register_extra_functions(
        [
            pp.Function(ROBUST, [matrix], vector),
            pp.Function(EWMA, [matrix, scalar], vector),
        ]
    )


def evaluate(name: str, m: Matrix, params: list[F64], check: Check = _no_check) -> Vector:
    """``name`` over every series of ``m`` at every step; ``params``: scalars per step.

    ``check`` raises when the query's time is up; it is called between blocks.
    """
    if name == EWMA:
        alpha = params[0]
        bad = ~((alpha > 0) & (alpha < 1))
        if bad.any():
            raise BadQuery(
                f"{EWMA}: alpha must be between 0 and 1 (exclusive), got {alpha[bad][0]:g}"
            )
    out: Vector = []
    for s in m.series:
        ts, values = _without_nan(s)
        lo = np.searchsorted(ts, m.refs - m.range_ms, "left").astype(np.int64)
        hi = np.maximum(np.searchsorted(ts, m.refs, "right").astype(np.int64), lo)
        if name == ROBUST:
            z, ok = robust_zscore(values, lo, hi, check)
        else:
            z, ok = ewma_zscore(values, lo, hi, params[0], check)
        out.append(Series(drop_name(s.labels), z, ok))
    return out


def _without_nan(s: RawSeries) -> tuple[I64, F64]:
    keep = ~np.isnan(s.values)
    if keep.all():
        return s.ts, s.values
    return s.ts[keep], s.values[keep]


def _block(values: F64, lo: I64, width: int) -> F64:
    """Rows ``values[lo[i] : lo[i] + width]``, NaN-padded past the end."""
    idx = lo[:, None] + np.arange(width, dtype=np.int64)[None, :]
    inside = idx < len(values)
    return np.where(inside, values[np.minimum(idx, max(len(values) - 1, 0))], np.nan)


def _chunks(lo: I64, hi: I64) -> list[tuple[int, int, int]]:
    """Slices ``[a, b)`` of the steps to evaluate, with the widest window among them."""
    ok = np.flatnonzero(hi - lo >= MIN_SAMPLES)
    if len(ok) == 0:
        return []
    width = int((hi - lo)[ok].max())
    rows = max(1, BLOCK_CELLS // width)
    return [(int(a), int(min(a + rows, len(lo))), width) for a in range(0, len(lo), rows)]


def _median_of_rows(sorted_rows: F64, count: I64) -> F64:
    r = np.arange(len(count))
    return (sorted_rows[r, (count - 1) // 2] + sorted_rows[r, count // 2]) / 2


def robust_zscore(values: F64, lo: I64, hi: I64, check: Check = _no_check) -> tuple[F64, Mask]:
    """Per step, the robust z-score of ``values[hi - 1]`` within ``values[lo:hi]``."""
    count_all = hi - lo
    ok = count_all >= MIN_SAMPLES
    out = np.zeros(len(lo))
    for a, b, width in _chunks(lo, hi):
        check()
        rows_ok = ok[a:b]
        if not rows_ok.any():
            continue
        sel = np.flatnonzero(rows_ok) + a
        count = count_all[sel]
        rows = _block(values, lo[sel], width)
        rows[np.arange(width)[None, :] >= count[:, None]] = np.nan  # NaN sorts last
        median = _median_of_rows(np.sort(rows, axis=1), count)
        deviation = np.abs(rows - median[:, None])
        mad = _median_of_rows(np.sort(deviation, axis=1), count)
        mean_ad = np.nansum(deviation, axis=1) / count
        scale = np.where(mad > 0, MAD_SCALE * mad, MEAN_AD_SCALE * mean_ad)
        diff = values[hi[sel] - 1] - median
        with np.errstate(divide="ignore", invalid="ignore"):
            out[sel] = np.where(scale > 0, diff / scale, 0.0)
    return out, ok


def ewma_zscore(
    values: F64, lo: I64, hi: I64, alpha: F64, check: Check = _no_check
) -> tuple[F64, Mask]:
    """Per step, the z-score of ``values[hi - 1]`` against the EWMA of ``values[lo:hi-1]``."""
    count_all = hi - lo
    ok = count_all >= MIN_SAMPLES
    out = np.zeros(len(lo))
    for a, b, width in _chunks(lo, hi):
        check()
        rows_ok = ok[a:b]
        if not rows_ok.any():
            continue
        sel = np.flatnonzero(rows_ok) + a
        k = count_all[sel] - 1  # earlier samples
        rows = _block(values, lo[sel], width - 1)
        pos = np.arange(width - 1)[None, :]
        inside = pos < k[:, None]
        keep = (1 - alpha[sel])[:, None]
        # The sample at position i weighs alpha * (1 - alpha)^(k - 1 - i); the first
        # one (the recursion's start) takes the remainder (1 - alpha)^(k - 1).
        power = np.where(inside, k[:, None] - 1 - pos, 0).astype(np.float64)
        weights = np.where(pos == 0, keep**power, alpha[sel][:, None] * keep**power)
        weights = np.where(inside, weights, 0.0)
        # Relative to each window's first sample: equal samples give exactly 0.
        first = rows[:, 0]
        rows = np.where(inside, rows - first[:, None], 0.0)
        mean = (weights * rows).sum(axis=1)
        var = (weights * (rows - mean[:, None]) ** 2).sum(axis=1)
        diff = values[hi[sel] - 1] - first - mean
        with np.errstate(divide="ignore", invalid="ignore"):
            flat = np.where(diff == 0, 0.0, np.copysign(np.inf, diff))
            out[sel] = np.where(var > 0, diff / np.sqrt(var), flat)
    return out, ok
