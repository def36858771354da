"""Aggregation operators: ``sum by (job) (...)``, ``topk(3, ...)``, ``quantile(0.9, ...)``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from edgewatch.query.errors import BadQuery
from edgewatch.query.rangefn import _quantile
from edgewatch.query.types import (
    NAME,
    Labels,
    Mask,
    Series,
    Vector,
    drop_these,
    keep_only,
)
from edgewatch.store.transforms import F64

AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk",
     "quantile"}
)  # fmt: skip


def group_labels(labels: Labels, names: Sequence[str], without: bool) -> Labels:
    if without:
        return drop_these(labels, [*names, NAME])
    return keep_only(labels, names)


def aggregate(
    op: str, vector: Vector, names: Sequence[str], without: bool, param: F64 | None, steps: int
) -> Vector:
    if op not in AGGREGATIONS:
        raise BadQuery(f"aggregation {op!r} is not supported")
    groups: dict[Labels, list[Series]] = defaultdict(list)
    for s in vector:
        groups[group_labels(s.labels, names, without)].append(s)
    out: Vector = []
    for labels, members in groups.items():
        values = np.stack([m.values for m in members])
        ok = np.stack([m.ok for m in members])
        if op in ("topk", "bottomk"):
            assert param is not None
            out.extend(_select_k(members, values, ok, param, top=op == "topk"))
            continue
        any_ok: Mask = np.asarray(ok.any(axis=0), dtype=bool)
        count = ok.sum(axis=0).astype(np.float64)
        masked_zero = np.where(ok, values, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if op == "sum":
                result = masked_zero.sum(axis=0)
            elif op == "avg":
                result = masked_zero.sum(axis=0) / count
            elif op == "count":
                result = count
            elif op == "group":
                result = np.ones(steps)
            elif op in ("min", "max"):
                masked_nan = np.where(ok, values, np.nan)
                reduce = np.fmin if op == "min" else np.fmax
                result = reduce.reduce(masked_nan, axis=0)
            elif op in ("stddev", "stdvar"):
                mean = masked_zero.sum(axis=0) / count
                var = (np.where(ok, values - mean, 0.0) ** 2).sum(axis=0) / count
                result = np.sqrt(var) if op == "stddev" else var
            else:  # quantile
                assert param is not None
                result = np.array(
                    [
                        _quantile(float(param[i]), values[ok[:, i], i]) if any_ok[i] else 0.0
                        for i in range(steps)
                    ]
                )
        out.append(Series(labels, np.asarray(result, dtype=np.float64), any_ok))
    return out


def _select_k(members: list[Series], values: F64, ok: Mask, k: F64, *, top: bool) -> Vector:
    """topk/bottomk: the k largest (smallest) series at each step; NaN ranks last."""
    n_series, n_steps = values.shape
    # Sort key per step: absent series last, NaN after every number.
    key = -values if top else values.copy()
    key = np.where(np.isnan(key), np.inf, key)
    key = np.where(ok, key, np.inf)
    rank_nan = np.where(ok, np.isnan(values), True)
    order = np.lexsort((key, rank_nan), axis=0)  # per column: best first
    chosen: Mask = np.zeros(ok.shape, dtype=bool)
    kk = np.clip(np.nan_to_num(k, nan=0.0), 0, n_series).astype(np.int64)
    for step in range(n_steps):
        take = order[: kk[step], step]
        chosen[take, step] = True
    chosen &= ok
    return [Series(m.labels, m.values, chosen[i]) for i, m in enumerate(members)]
