"""Where the evaluator's samples come from: raw samples, or rollups for coarse steps.

A range query whose step is at least ``query.rollup_min_step`` reads the
store's 1-minute rollups (1-hour rollups from 60 times that) instead of raw
samples: each rollup bucket becomes one sample, stamped at the bucket's last millisecond,
carrying the bucket's last value (its min or max for ``min_over_time`` and
``max_over_time``). A 7-day chart at a 1-hour step then reads about 10 000
points per series instead of 600 000. Selectors with a range shorter than five
buckets fall back to the next finer level.
"""

from __future__ import annotations

from collections.abc import Callable

from edgewatch.config import QueryConfig
from edgewatch.query.errors import QueryExecutionError
from edgewatch.query.types import RawSeries, make_labels
from edgewatch.store.reader import Reader
from edgewatch.store.selector import Selector

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# A range-vector selector needs at least this many buckets in its range to use a tier.
MIN_BUCKETS_PER_RANGE = 5


class Source:
    def __init__(
        self,
        reader: Reader,
        limits: QueryConfig,
        *,
        step_ms: int,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        self.reader = reader
        self.check = check
        self.max_samples = limits.max_samples
        self.loaded = 0
        self.resolution_ms = _resolution(step_ms, int(limits.rollup_min_step * 1000))

    def tier_for(self, range_ms: int | None) -> int:
        """Bucket width to read (0: raw) for a selector with this range (None: instant)."""
        width = self.resolution_ms
        if range_ms is not None:
            while width and range_ms < MIN_BUCKETS_PER_RANGE * width:
                width = MINUTE_MS if width == HOUR_MS else 0
        return width

    def load(
        self,
        selector: Selector,
        start_ms: int,
        end_ms: int,
        *,
        range_ms: int | None = None,
        field: str = "last",
    ) -> list[RawSeries]:
        width = self.tier_for(range_ms)
        # Counted (and the deadline checked) series by series as they are decoded, so
        # an oversized query stops before it holds the whole store in memory.
        if width:
            tier = "1h" if width == HOUR_MS else "1m"
            data = self.reader.read(
                selector,
                start_ms - width,
                end_ms,
                width,
                agg=field,
                resolution=tier,
                progress=self._count,
            )
        else:
            data = self.reader.read(
                selector, start_ms, end_ms, resolution="raw", progress=self._count
            )
        out = []
        for d in data:
            # A bucket's point is stamped at its last millisecond: no query at time t
            # sees samples taken after t.
            ts = d.ts + (width - 1) if width else d.ts
            labels = make_labels([("__name__", d.key.name), *d.key.labels])
            out.append(RawSeries(labels, ts, d.values))
        return out

    def _count(self, points: int) -> None:
        self.loaded += points
        if self.loaded > self.max_samples:
            raise QueryExecutionError(
                "query processing would load too many samples into memory in query "
                f"execution (more than query.max_samples = {self.max_samples:,})"
            )
        self.check()


def _resolution(step_ms: int, min_step_ms: int) -> int:
    if min_step_ms <= 0 or step_ms < min_step_ms:
        return 0
    return HOUR_MS if step_ms >= 60 * min_step_ms else MINUTE_MS
