"""Points in time as people type them, and back."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edgewatch.timespec import format_time, parse_time

NOW = 1_700_006_400.25  # 2023-11-15T00:00:00.250Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("now", 1_700_006_400_250),
        ("", 1_700_006_400_250),
        ("  now ", 1_700_006_400_250),
        ("-1h", 1_700_002_800_250),
        ("now-15m", 1_700_005_500_250),
        ("now+30s", 1_700_006_430_250),
        ("-1h30m", 1_700_001_000_250),
        ("-500ms", 1_700_006_399_750),
        ("1700000000", 1_700_000_000_000),
        ("1700000000.5", 1_700_000_000_500),
        ("2023-11-15T00:00:00Z", 1_700_006_400_000),
        ("2023-11-15T00:00:00.123Z", 1_700_006_400_123),
        ("2023-11-15T02:00:00+02:00", 1_700_006_400_000),
        ("2023-11-14T19:00:00-05:00", 1_700_006_400_000),
    ],
)
def test_parse_time_forms(text: str, ms: int) -> None:
    assert parse_time(text, now=NOW) == ms


def test_parse_time_defaults_to_the_wall_clock() -> None:
    # parse_time rounds to the nearest millisecond: compare with rounded readings.
    before = round(time.time() * 1000)
    got = parse_time("now")
    assert before <= got <= round(time.time() * 1000)


@pytest.fixture
def tz_kathmandu(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Kathmandu")  # +05:45, no DST
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_naive_time_is_local_time(tz_kathmandu: None) -> None:
    assert parse_time("2023-11-15T05:45:00") == 1_700_006_400_000
    assert parse_time("2023-11-15 05:45:00.5") == 1_700_006_400_500


@pytest.mark.parametrize("text", ["yesterday", "now-", "-5x", "2023-13-01T00:00:00Z", "nan"])
def test_bad_input_raises_value_error_with_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=f"{text!r} is not a time") as info:
        parse_time(text, now=NOW)
    if not text.startswith(("-", "now-")):
        assert "use now, -1h, unix seconds or 2026-11-24T10:00:00Z" in str(info.value)


@pytest.mark.parametrize("text", ["inf", "1e400"])
def test_infinite_numbers_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time"):
        parse_time(text, now=NOW)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (1_700_006_400_000, "2023-11-15T00:00:00Z"),
        (1_700_006_400_120, "2023-11-15T00:00:00.120Z"),
        (1_700_006_400_001, "2023-11-15T00:00:00.001Z"),
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ],
)
def test_format_time(ms: int, text: str) -> None:
    assert format_time(ms) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**12), 4 * 10**12))
@example(16185)
def test_format_then_parse_is_exact(ms: int) -> None:
    assert parse_time(format_time(ms)) == ms


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4 * 10**12))
@example(1001)
def test_unix_seconds_with_milliseconds_are_exact(ms: int) -> None:
    assert parse_time(f"{ms // 1000}.{ms % 1000:03d}") == ms


@pytest.mark.parametrize("ms", [1_700_006_400_000, 1_700_006_400_123, 1_785_000_000_999])
def test_realistic_timestamps_round_trip(ms: int) -> None:
    assert parse_time(format_time(ms)) == ms
    assert parse_time(f"{ms // 1000}.{ms % 1000:03d}") == ms


def test_format_time_matches_datetime() -> None:
    stamp = dt.datetime(2024, 2, 29, 23, 59, 59, 999_000, tzinfo=dt.UTC)
    assert format_time(int(stamp.timestamp() * 1000)) == "2024-02-29T23:59:59.999Z"
