"""Maintenance windows: weekly in a time zone (DST included) or once, as intervals.
(A configured window leaving an outage out of a report: tests/health/test_health_report.py.)"""

from __future__ import annotations

import datetime as dt

import pytest

from edgewatch.config.maintenance import MaintenanceWindow
from edgewatch.maintenance import active, intervals

HOUR = 3_600_000


def _ms(text: str) -> int:
    return round(dt.datetime.fromisoformat(text).timestamp() * 1000)


def _window(**fields: object) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", **fields})


def test_weekly_window_on_its_days_in_its_time_zone() -> None:
    w = _window(days=["mon", "wed"], at="02:30", duration="30m", timezone="Asia/Jakarta")
    # 2026-01-05 is a Monday; Jakarta is UTC+7 all year.
    got = intervals([w], _ms("2026-01-04T00:00:00+00:00"), _ms("2026-01-11T00:00:00+00:00"))
    assert got == [
        (_ms("2026-01-05T02:30:00+07:00"), _ms("2026-01-05T03:00:00+07:00")),
        (_ms("2026-01-07T02:30:00+07:00"), _ms("2026-01-07T03:00:00+07:00")),
    ]
    assert active([w], _ms("2026-01-05T02:45:00+07:00")) == ["w"]
    assert active([w], _ms("2026-01-06T02:45:00+07:00")) == []


def test_weekly_window_follows_daylight_saving_time() -> None:
    w = _window(at="12:00", duration="1h", timezone="Europe/Berlin")
    # Berlin leaves summer time on 2026-10-25: noon is 10:00Z before and 11:00Z after.
    got = intervals([w], _ms("2026-10-24T00:00:00+00:00"), _ms("2026-10-27T00:00:00+00:00"))
    starts = [dt.datetime.fromtimestamp(a / 1000, dt.UTC).strftime("%d %H:%M") for a, _ in got]
    assert starts == ["24 10:00", "25 11:00", "26 11:00"]
    assert all(b - a == HOUR for a, b in got)


def test_a_window_running_into_the_span_is_clipped_and_overlaps_merge() -> None:
    nightly = _window(at="23:00", duration="3h")
    once = _window(start="2026-01-02T01:00:00Z", end="2026-01-02T04:00:00Z")
    got = intervals([nightly, once], _ms("2026-01-02T00:00:00+00:00"),
                    _ms("2026-01-02T12:00:00+00:00"))  # fmt: skip
    # yesterday's 23:00-02:00 is clipped at midnight and merges with 01:00-04:00
    assert got == [(_ms("2026-01-02T00:00:00+00:00"), _ms("2026-01-02T04:00:00+00:00"))]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"at": "25:00", "duration": "1h"}, "not a time of day"),
        ({"at": "02:00"}, "needs at and duration"),
        ({"at": "02:00", "duration": "1h", "timezone": "Mars/Base"}, "not a known time zone"),
        ({"start": "2026-01-02T01:00:00", "end": "2026-01-02T02:00:00"}, "UTC offset"),
        ({"start": "2026-01-02T02:00:00Z", "end": "2026-01-02T01:00:00Z"}, "not after start"),
        ({"at": "02:00", "duration": "1h", "start": "2026-01-02T01:00:00Z"}, "either"),
        ({}, "either"),
    ],
)
def test_bad_windows_are_config_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _window(**fields)
