"""Query results, and their Prometheus HTTP API JSON form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgewatch.store.transforms import F64, I64

ResultType = Literal["matrix", "vector", "scalar", "string"]


def format_value(v: float) -> str:
    """A sample value as Prometheus writes it in JSON: shortest round-trip, NaN, +Inf, -Inf."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    text = repr(float(v))
    # Go's strconv.FormatFloat(v, 'f', -1, 64) never uses an exponent.
    if "e" in text:
        text = np.format_float_positional(v, unique=True, trim="-")
    return text


def format_time(ms: int) -> float | int:
    """A timestamp in the API's unit: seconds, as a number with up to 3 decimals."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


@dataclass
class ResultSeries:
    """One series of a result: labels (``__name__`` included when kept) and its points."""

    labels: dict[str, str]
    ts: I64  # milliseconds
    values: F64

    def points(self) -> list[list[Any]]:
        return [
            [format_time(int(t)), format_value(float(v))]
            for t, v in zip(self.ts, self.values, strict=True)
        ]


@dataclass
class QueryResult:
    """What ``Engine.instant`` and ``Engine.range`` return.

    ``matrix`` (range queries) and ``vector`` (instant queries; one point per
    series) use ``series``; ``scalar`` and ``string`` use ``time_ms`` and ``value``.
    """

    result_type: ResultType
    series: list[ResultSeries] = field(default_factory=list)
    time_ms: int = 0
    value: float | str = 0.0
    samples_loaded: int = 0

    def to_prometheus(self) -> dict[str, Any]:
        """The ``data`` member of a Prometheus ``/api/v1/query(_range)`` response."""
        if self.result_type == "matrix":
            result: Any = [{"metric": s.labels, "values": s.points()} for s in self.series]
        elif self.result_type == "vector":
            result = [{"metric": s.labels, "value": s.points()[0]} for s in self.series]
        elif self.result_type == "scalar":
            assert isinstance(self.value, float)
            result = [format_time(self.time_ms), format_value(self.value)]
        else:
            result = [format_time(self.time_ms), str(self.value)]
        return {"resultType": self.result_type, "result": result}
