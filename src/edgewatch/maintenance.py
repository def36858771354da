"""Maintenance windows as concrete time intervals.

``intervals(windows, start_ms, end_ms)`` lists the [start, end) milliseconds,
merged and clipped to the span, during which any window is open. A weekly
window is computed day by day in its own time zone, so it follows daylight
saving time (its start is local; its duration is elapsed time).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence

from edgewatch.config.maintenance import MaintenanceWindow

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def intervals(
    windows: Sequence[MaintenanceWindow], start_ms: int, end_ms: int
) -> list[tuple[int, int]]:
    raw: list[tuple[int, int]] = []
    for w in windows:
        raw.extend(_one(w, start_ms, end_ms))
    return _merge(
        [(max(a, start_ms), min(b, end_ms)) for a, b in raw if b > start_ms and a < end_ms]
    )


def active(windows: Sequence[MaintenanceWindow], now_ms: int) -> list[str]:
    """Names of the windows open at ``now_ms``."""
    return [w.name for w in windows if any(a <= now_ms < b for a, b in _one(w, now_ms, now_ms + 1))]


def _one(w: MaintenanceWindow, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    if w.start is not None and w.end is not None:
        return [(_ms(w.start), _ms(w.end))]
    assert w.at is not None and w.duration is not None
    zone = zoneinfo.ZoneInfo(w.timezone)
    span_days = int(w.duration // 86400) + 1  # a window may have started days before
    first = dt.datetime.fromtimestamp(start_ms / 1000, zone).date() - dt.timedelta(days=span_days)
    last = dt.datetime.fromtimestamp(end_ms / 1000, zone).date()
    out: list[tuple[int, int]] = []
    day = first
    while day <= last:
        if not w.days or _DAYS[day.weekday()] in w.days:
            begin = _ms(dt.datetime.combine(day, _clock(w.at), zone))
            out.append((begin, begin + round(w.duration * 1000)))
        day += dt.timedelta(days=1)
    return out


def _clock(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
