"""``metric``: any query expression, its first value checked against the thresholds
(e.g. inference FPS below 5, GPU temperature above 85 °C).

The kind reports pass with the value; the runner turns ``warn_``/``fail_above``/
``below`` into warn or fail. A query that returns nothing gets the ``absent``
status; a query that cannot be answered is unknown, with the engine's message.
"""

from __future__ import annotations

import math

from edgewatch.config.health import MetricCheck
from edgewatch.health.blocking import run_blocking
from edgewatch.health.model import CheckEnv, Observation, Status
from edgewatch.query.errors import QueryError
from edgewatch.query.result import QueryResult

ABSENT_MESSAGE = "query returned nothing"


class MetricKind:
    def __init__(self, settings: MetricCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env

    async def observe(self) -> Observation:
        engine = self.env.engine
        if engine is None:
            return Observation(Status.UNKNOWN, message="no query engine (the store is not open)")
        now_ms = round(self.env.clock() * 1000)
        try:
            result: QueryResult = await run_blocking(engine.instant, self.settings.query, now_ms)
        except QueryError as exc:
            return Observation(Status.UNKNOWN, message=f"query error: {exc}")
        value, labels = _first_value(result)
        if value is None:
            return Observation(Status(self.settings.absent), message=ABSENT_MESSAGE)
        if math.isnan(value):
            return Observation(Status.UNKNOWN, message=f"{labels}value is NaN")
        return Observation(Status.PASS, value, f"{labels}{value:g}")


def _first_value(result: QueryResult) -> tuple[float | None, str]:
    """The first series' latest value (or the scalar) and its labels as ``{a="b"} ``."""
    if result.result_type == "scalar" and isinstance(result.value, float):
        return result.value, ""
    if result.result_type not in ("vector", "matrix") or not result.series:
        return None, ""
    first = result.series[0]
    if not len(first.values):
        return None, ""
    shown = ",".join(f'{k}="{v}"' for k, v in sorted(first.labels.items()) if k != "__name__")
    return float(first.values[-1]), f"{{{shown}}} " if shown else ""
