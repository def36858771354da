"""The evaluator: PromQL expressions over the store, vectorised over a query's steps.

``Engine.range`` evaluates each node of the expression once for all steps
(an instant query is a range of one step), so a 24-hour chart at a 60 s step
is a handful of numpy passes, not 1440 evaluations. Semantics follow
Prometheus 2.x: the lookback delta, windows ``[t - range, t]``, counter resets
and extrapolation in ``rate``; docs/query.md lists what differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import promql_parser as pp

from edgewatch.config import QueryConfig
from edgewatch.query import aggregate as agg
from edgewatch.query import anomaly, binary, instfn, rangefn
from edgewatch.query.errors import BadQuery, QueryTimeout
from edgewatch.query.parse import duration_ms, matchers_of, parse, to_selector
from edgewatch.query.result import QueryResult, ResultSeries
from edgewatch.query.source import Source
from edgewatch.query.types import (
    Labels,
    Matrix,
    RawSeries,
    Series,
    Vector,
    drop_name,
    merge_same_labels,
)
from edgewatch.store.reader import Reader
from edgewatch.store.transforms import F64, I64

__all__ = ["Engine"]

# Offsets and ranges beyond this are refused (int64 milliseconds stay far from overflow).
MAX_SPAN_MS = 100 * 365 * 86_400_000
Value = F64 | Vector | Matrix | str  # scalar (one value per step), instant vector, range, string


class Engine:
    def __init__(
        self,
        reader: Reader,
        limits: QueryConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.limits = limits or QueryConfig()
        self._clock = clock

    def instant(self, expr: str, time_ms: int) -> QueryResult:
        node = parse(expr)
        ev = self._evaluator(np.array([time_ms], dtype=np.int64), step_ms=0)
        value = _evaluate(ev, node)
        if isinstance(value, str):
            return QueryResult("string", time_ms=time_ms, value=value)
        if isinstance(value, Matrix):
            series = [
                ResultSeries(dict(s.labels), *_window(s, int(value.refs[0]), value.range_ms))
                for s in value.series
            ]
            series = [s for s in series if len(s.ts)]
            return QueryResult("matrix", series=series, samples_loaded=ev.source.loaded)
        if isinstance(value, np.ndarray):
            return QueryResult("scalar", time_ms=time_ms, value=float(value[0]))
        vector = merge_same_labels(value)
        out = [
            ResultSeries(dict(s.labels), np.array([time_ms], dtype=np.int64), s.values[:1])
            for s in vector
            if s.ok[0]
        ]
        _order(out, node)
        return QueryResult("vector", series=out, samples_loaded=ev.source.loaded)

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        if step_ms <= 0:
            raise BadQuery(
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer"
            )
        if end_ms < start_ms:
            raise BadQuery("end timestamp must not be before start time")
        if (end_ms - start_ms) // step_ms + 1 > self.limits.max_points:
            raise BadQuery(
                f"exceeded maximum resolution of {self.limits.max_points:,} points per "
                "timeseries. Try decreasing the query resolution (?step=XX)"
            )
        node = parse(expr)
        steps = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        ev = self._evaluator(steps, step_ms=step_ms)
        value = _evaluate(ev, node)
        if isinstance(value, str | Matrix):
            kind = "string" if isinstance(value, str) else "range vector"
            raise BadQuery(
                f'invalid expression type "{kind}" for range query, must be Scalar or '
                "instant Vector"
            )
        if isinstance(value, np.ndarray):
            value = [Series((), value, np.ones(len(steps), dtype=bool))]
        out = [
            ResultSeries(dict(s.labels), steps[s.ok], s.values[s.ok])
            for s in merge_same_labels(value)
            if s.ok.any()
        ]
        out.sort(key=lambda s: sorted(s.labels.items()))
        return QueryResult("matrix", series=out, samples_loaded=ev.source.loaded)

    def _evaluator(self, steps: I64, step_ms: int) -> _Evaluator:
        deadline = self._clock() + self.limits.timeout

        def check() -> None:
            self._check(deadline)

        source = Source(self.reader, self.limits, step_ms=step_ms, check=check)
        return _Evaluator(steps, source, check, self.limits)

    def _check(self, deadline: float) -> None:
        if self._clock() > deadline:
            raise QueryTimeout(
                f"query timed out in expression evaluation ({self.limits.timeout:g}s)"
            )


def _evaluate(ev: _Evaluator, node: Any) -> Value:
    try:
        return ev.eval(node)
    except RecursionError:
        raise BadQuery("query nested too deeply to evaluate") from None


def _window(s: RawSeries, ref: int, range_ms: int) -> tuple[I64, F64]:
    lo, hi = np.searchsorted(s.ts, ref - range_ms, "left"), np.searchsorted(s.ts, ref, "right")
    return s.ts[lo:hi], s.values[lo:hi]


def _order(out: list[ResultSeries], node: Any) -> None:
    """Instant results: by value for sort()/sort_desc(), else by labels."""
    name = node.func.name if isinstance(node, pp.Call) else ""
    if name in ("sort", "sort_desc"):
        out.sort(key=lambda s: float(s.values[0]), reverse=name == "sort_desc")
    else:
        out.sort(key=lambda s: sorted(s.labels.items()))


class _Evaluator:
    def __init__(
        self, steps: I64, source: Source, check: Callable[[], None], limits: QueryConfig
    ) -> None:
        self.steps = steps
        self.n = len(steps)
        self.source = source
        self.check = check
        self.lookback_ms = int(limits.lookback_delta * 1000)

    # -- dispatch ----------------------------------------------------------------

    def eval(self, node: Any) -> Value:
        self.check()
        if isinstance(node, pp.NumberLiteral):
            return np.full(self.n, float(node.val))
        if isinstance(node, pp.StringLiteral):
            return str(node.val)
        if isinstance(node, pp.ParenExpr):
            return self.eval(node.expr)
        if isinstance(node, pp.UnaryExpr):
            return self._negate(self.eval(node.expr))
        if isinstance(node, pp.VectorSelector):
            return self._vector_selector(node)
        if isinstance(node, pp.MatrixSelector):
            return self._matrix_selector(node)
        if isinstance(node, pp.Call):
            return self._call(node)
        if isinstance(node, pp.AggregateExpr):
            return self._aggregate(node)
        if isinstance(node, pp.BinaryExpr):
            return self._binary(node)
        if isinstance(node, pp.SubqueryExpr):
            raise BadQuery("subqueries (expr[range:step]) are not supported")
        raise BadQuery(f"unsupported expression: {node}")

    def vector(self, node: Any) -> Vector:
        value = self.eval(node)
        if not isinstance(value, list):
            raise BadQuery(f"expected an instant vector, got {_kind(value)}")
        return value

    def scalar(self, node: Any) -> F64:
        value = self.eval(node)
        if not isinstance(value, np.ndarray):
            raise BadQuery(f"expected a scalar, got {_kind(value)}")
        return value

    # -- selectors ---------------------------------------------------------------

    def _refs(self, node: Any) -> I64:
        """Per step, the time the selector looks at: the step (or @ time) minus the offset."""
        base = self.steps
        at = node.at
        if at is not None:
            kind = str(at.type).rsplit(".", 1)[-1]
            if kind == "Start":
                base = np.full(self.n, self.steps[0])
            elif kind == "End":
                base = np.full(self.n, self.steps[-1])
            else:
                try:
                    at_ms = round(at.at.timestamp() * 1000)
                except (OverflowError, ValueError, OSError):
                    raise BadQuery("@ time out of range") from None
                base = np.full(self.n, at_ms)
        offset = duration_ms(node, "offset")
        if abs(offset) > MAX_SPAN_MS:
            raise BadQuery("offset out of range")
        return base - offset

    def _vector_selector(self, node: Any, *, sample_times: bool = False) -> Vector:
        refs = self._refs(node)
        lookback = max(self.lookback_ms, self.source.tier_for(None))
        data = self.source.load(to_selector(node), int(refs.min()) - lookback, int(refs.max()))
        out: Vector = []
        for s in data:
            idx = np.searchsorted(s.ts, refs, "right") - 1
            safe = np.maximum(idx, 0)
            if len(s.ts) == 0:
                continue
            ok = (idx >= 0) & (s.ts[safe] >= refs - lookback)
            values = s.ts[safe].astype(np.float64) / 1000 if sample_times else s.values[safe]
            out.append(Series(s.labels, values, ok))
        return out

    def _matrix_selector(self, node: Any, field: str = "last") -> Matrix:
        vs = node.vector_selector
        refs = self._refs(vs)
        range_ms = duration_ms(node, "range")
        if range_ms > MAX_SPAN_MS:
            raise BadQuery("range out of range: at most 100 years")
        data = self.source.load(
            to_selector(vs),
            int(refs.min()) - range_ms,
            int(refs.max()),
            range_ms=range_ms,
            field=field,
        )
        return Matrix(data, range_ms, refs)

    # -- operators ---------------------------------------------------------------

    def _negate(self, value: Value) -> Value:
        if isinstance(value, np.ndarray):
            return -value
        if isinstance(value, list):
            return [Series(drop_name(s.labels), -s.values, s.ok) for s in value]
        raise BadQuery(f"unary minus needs a scalar or an instant vector, got {_kind(value)}")

    def _binary(self, node: Any) -> Value:
        op = str(node.op)
        m = binary.matching_of(node.modifier, op)
        lhs, rhs = self.eval(node.lhs), self.eval(node.rhs)
        if isinstance(lhs, np.ndarray) and isinstance(rhs, np.ndarray):
            return binary.scalar_scalar(op, lhs, rhs)
        if isinstance(lhs, list) and isinstance(rhs, np.ndarray):
            return binary.vector_scalar(op, lhs, rhs, swap=False, return_bool=m.return_bool)
        if isinstance(lhs, np.ndarray) and isinstance(rhs, list):
            return binary.vector_scalar(op, rhs, lhs, swap=True, return_bool=m.return_bool)
        if isinstance(lhs, list) and isinstance(rhs, list):
            return binary.vector_vector(op, lhs, rhs, m)
        raise BadQuery(f"binary {op} needs scalars or instant vectors")

    def _aggregate(self, node: Any) -> Vector:
        op = str(node.op)
        names: list[str] = []
        without = False
        if node.modifier is not None:
            names = list(node.modifier.labels)
            without = str(node.modifier.type).endswith("Without")
        param = None
        if op in ("topk", "bottomk", "quantile"):
            param = self.scalar(node.param)
        elif op in ("count_values",):
            raise BadQuery(f"aggregation {op} is not supported")
        return agg.aggregate(op, self.vector(node.expr), names, without, param, self.n)

    # -- functions ---------------------------------------------------------------

    def _call(self, node: Any) -> Value:
        name = node.func.name
        args = list(node.args)
        if name in rangefn.RANGE_FUNCTIONS:
            matrix_arg = next(a for a in args if isinstance(a, pp.MatrixSelector | pp.SubqueryExpr))
            params = [self.scalar(a) for a in args if a is not matrix_arg]
            if isinstance(matrix_arg, pp.SubqueryExpr):
                raise BadQuery("subqueries (expr[range:step]) are not supported")
            field = {"min_over_time": "min", "max_over_time": "max"}.get(name, "last")
            matrix = self._matrix_selector(matrix_arg, field)
            result = rangefn.evaluate(name, matrix, params, self.steps, self.check)
            return merge_same_labels(result)
        if name in anomaly.ANOMALY_FUNCTIONS:  # extension functions (query/anomaly.py)
            if not isinstance(args[0], pp.MatrixSelector):
                raise BadQuery(f"{name}() takes a range-vector selector, not a subquery")
            params = [self.scalar(a) for a in args[1:]]
            matrix = self._matrix_selector(args[0])
            return merge_same_labels(anomaly.evaluate(name, matrix, params, self.check))
        if name == "absent_over_time":
            matrix = self._matrix_selector(args[0])
            any_present = np.zeros(self.n, dtype=bool)
            for s in matrix.series:
                lo, hi = rangefn.windows(s.ts, matrix.refs, matrix.range_ms)
                any_present |= hi > lo
            labels = instfn.absent_labels(matchers_of(args[0].vector_selector))
            return instfn.absent(any_present, labels)
        if name == "time":
            return instfn.step_seconds(self.steps)
        if name in instfn.INSTANT_FUNCTIONS:
            return self._instant_function(name, args)
        raise BadQuery(f"function {name}() is not supported")

    def _instant_function(self, name: str, args: list[Any]) -> Value:
        if name == "vector":
            return [Series((), self.scalar(args[0]), np.ones(self.n, dtype=bool))]
        if name in instfn._CALENDAR:
            if not args:
                return [Series((), instfn.calendar(name, instfn.step_seconds(self.steps)),
                               np.ones(self.n, dtype=bool))]  # fmt: skip
            return [
                Series(drop_name(s.labels), instfn.calendar(name, s.values), s.ok)
                for s in self.vector(args[0])
            ]
        if name == "timestamp":
            if isinstance(args[0], pp.VectorSelector):
                vector = self._vector_selector(args[0], sample_times=True)
            else:
                vector = [
                    Series(s.labels, instfn.step_seconds(self.steps), s.ok)
                    for s in self.vector(args[0])
                ]
            return [Series(drop_name(s.labels), s.values, s.ok) for s in vector]
        if name == "absent":
            vector = self.vector(args[0])
            any_present = np.zeros(self.n, dtype=bool)
            for s in vector:
                any_present |= s.ok
            labels: Labels = ()
            if isinstance(args[0], pp.VectorSelector):
                labels = instfn.absent_labels(matchers_of(args[0]))
            return instfn.absent(any_present, labels)
        vector = self.vector(args[0])
        if name == "scalar":
            return instfn.scalar_of(vector, self.n)
        if name in ("sort", "sort_desc"):
            return vector
        if name == "clamp":
            return instfn.clamp(vector, self.scalar(args[1]), self.scalar(args[2]))
        if name == "clamp_min":
            return instfn.clamp(vector, self.scalar(args[1]), None)
        if name == "clamp_max":
            return instfn.clamp(vector, None, self.scalar(args[1]))
        if name == "round":
            to = self.scalar(args[1]) if len(args) > 1 else np.ones(self.n)
            return instfn.round_to(vector, to)
        if name == "label_replace":
            dst, repl, src, regex = (self._string(a) for a in args[1:5])
            return merge_same_labels(instfn.label_replace(vector, dst, repl, src, regex))
        if name == "label_join":
            dst, sep, *sources = (self._string(a) for a in args[1:])
            return merge_same_labels(instfn.label_join(vector, dst, sep, sources))
        return merge_same_labels(instfn.elementwise(name, vector))

    def _string(self, node: Any) -> str:
        value = self.eval(node)
        if not isinstance(value, str):
            raise BadQuery(f"expected a string, got {_kind(value)}")
        return value


def _kind(value: Value) -> str:
    if isinstance(value, np.ndarray):
        return "scalar"
    if isinstance(value, list):
        return "instant vector"
    if isinstance(value, Matrix):
        return "range vector"
    return "string"
