"""Availability and incidents of checks, from their stored ``edgewatch_check_status``.

Each stored status holds from its sample until the next one, but never longer
than ``max_gap`` (a few intervals): beyond that the time is *no data*, counted
neither up nor down (the agent was off, or the check did not run). Up is
``pass`` and ``warn`` (the service works, degraded); down is ``fail``;
``unknown`` is no data too. Availability = up / (up + down).

An incident is a run of consecutive ``fail`` samples, held like the down time
(until the next sample, at most ``max_gap`` after the last fail, within the
period): its start, end (None while open), duration and message-free worst
status; MTTR is the mean duration of the closed ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgewatch.health.model import Status
from edgewatch.store import SeriesData
from edgewatch.store.reader import Reader
from edgewatch.store.selector import Matcher, Selector
from edgewatch.store.transforms import F64, I64

MINUTE_MS = 60_000
STATUS_BY_CODE = {0: Status.PASS, 1: Status.WARN, 2: Status.FAIL, 3: Status.UNKNOWN}


@dataclass(frozen=True)
class Incident:
    check: str
    start_ms: int
    end_ms: int | None  # None: still failing at the end of the period
    worst: Status

    def duration_ms(self, now_ms: int) -> int:
        return (self.end_ms if self.end_ms is not None else now_ms) - self.start_ms


@dataclass(frozen=True)
class Availability:
    check: str
    up_ms: int
    down_ms: int
    no_data_ms: int
    incidents: tuple[Incident, ...]

    @property
    def ratio(self) -> float | None:
        """Up time over measured time; None when nothing was measured."""
        measured = self.up_ms + self.down_ms
        return None if measured == 0 else self.up_ms / measured

    @property
    def mttr_ms(self) -> float | None:
        closed = [i.duration_ms(0) for i in self.incidents if i.end_ms is not None]
        return None if not closed else float(np.mean(closed))


def status_selector(check: str) -> Selector:
    return Selector(
        (
            Matcher.make("__name__", "=", "edgewatch_check_status"),
            Matcher.make("check", "=", check),
        )
    )


def status_samples(
    reader: Reader, selector: Selector, start_ms: int, end_ms: int, *, max_gap_ms: int
) -> tuple[I64, F64]:
    """Status samples of [start_ms - max_gap_ms, end_ms], sorted by time.

    Raw samples where they are kept (``store.retention.raw``, 14 days by default);
    before the first of them, the 1-minute rollups (kept 90 days): each minute
    becomes samples spaced closer than ``max_gap_ms``, carrying the minute's last
    status, so a 30-day report still covers 30 days (to within a minute per change).
    """
    ts, codes = _sorted(reader.read(selector, start_ms - max_gap_ms, end_ms, resolution="raw"))
    first_raw = int(ts[0]) if len(ts) else end_ms + 1
    if first_raw - start_ms <= max_gap_ms:
        return ts, codes
    old = reader.read(
        selector, start_ms - MINUTE_MS, first_raw - 1, MINUTE_MS, agg="last", resolution="1m"
    )
    ots, ocodes = _sorted(old)
    per = max(1, math.ceil(MINUTE_MS / max(1, max_gap_ms // 2)))
    spread = (ots[:, None] + np.arange(per, dtype=np.int64) * (MINUTE_MS // per)).ravel()
    ocodes = np.repeat(ocodes, per)
    keep = spread < first_raw
    return np.concatenate([spread[keep], ts]), np.concatenate([ocodes[keep], codes])


def _sorted(data: list[SeriesData]) -> tuple[I64, F64]:
    if not data:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    ts = np.concatenate([d.ts for d in data])
    vals = np.concatenate([d.values for d in data])
    order = np.argsort(ts, kind="stable")
    return ts[order], vals[order]


def availability(
    reader: Reader, check: str, start_ms: int, end_ms: int, *, max_gap_ms: int
) -> Availability:
    ts, codes = status_samples(
        reader, status_selector(check), start_ms, end_ms, max_gap_ms=max_gap_ms
    )
    return from_samples(check, ts, codes, start_ms, end_ms, max_gap_ms=max_gap_ms)


def from_samples(
    check: str, ts: I64, codes: F64, start_ms: int, end_ms: int, *, max_gap_ms: int
) -> Availability:
    """The same from status samples (sorted by time) directly."""
    if len(ts) == 0:
        return Availability(check, 0, 0, end_ms - start_ms, ())
    # Each sample holds until the next one, at most max_gap, clipped to the period.
    held_from = np.clip(ts, start_ms, end_ms)
    nxt = np.append(ts[1:], end_ms)
    held_to = np.clip(np.minimum(nxt, ts + max_gap_ms), start_ms, end_ms)
    span = np.maximum(held_to - held_from, 0)
    up = int(span[(codes == 0) | (codes == 1)].sum())
    down = int(span[codes == 2].sum())
    no_data = (end_ms - start_ms) - up - down
    return Availability(
        check, up, down, no_data, tuple(_incidents(check, ts, codes, start_ms, end_ms, max_gap_ms))
    )


def _incidents(
    check: str, ts: I64, codes: F64, start_ms: int, end_ms: int, max_gap_ms: int
) -> list[Incident]:
    """Runs of fail samples, each held as the down time is: until the next sample but at
    most ``max_gap_ms`` past the last fail, clipped to [start_ms, end_ms]."""
    out: list[Incident] = []
    failing = codes == 2
    i = 0
    n = len(ts)
    while i < n:
        if not failing[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and failing[j + 1]:
            j += 1
        held_to = int(ts[j]) + max_gap_ms
        if j + 1 < n:
            held_to = min(held_to, int(ts[j + 1]))
        begin = max(int(ts[i]), start_ms)
        if held_to > begin:  # else it ended before the period began
            out.append(Incident(check, begin, held_to if held_to <= end_ms else None, Status.FAIL))
        i = j + 1
    return out
