"""The ``maintenance:`` section: planned windows (the bin's nightly emptying, a
firmware update) that availability reports leave out and, with the alerting
engine, that mute alerts."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edgewatch.config.section import Section
from edgewatch.config.units import Duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class MaintenanceWindow(Section):
    """Either weekly (``days``, ``at``, ``duration``, ``timezone``) or once (``start``, ``end``)."""

    name: str = Field(description="What the window is for; shown in reports.")
    days: tuple[Weekday, ...] = Field(
        default=(), description="Weekly: the days it starts on (empty: every day)."
    )
    at: str | None = Field(default=None, description="Weekly: local start time HH:MM.")
    duration: Duration | None = Field(
        default=None, gt=0, le=7 * 86400, description="Weekly: how long it lasts (e.g. 45m)."
    )
    timezone: str = Field(default="UTC", description="Weekly: IANA time zone of from and to.")
    start: dt.datetime | None = Field(
        default=None, description="Once: start, RFC 3339 with an offset."
    )
    end: dt.datetime | None = Field(default=None, description="Once: end, RFC 3339.")

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and not _CLOCK_RE.match(value):
            raise ValueError(f"{value!r} is not a time of day; use HH:MM, e.g. 02:30")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (e.g. Asia/Jakarta)") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> MaintenanceWindow:
        weekly = self.at is not None or self.duration is not None
        once = self.start is not None or self.end is not None
        if weekly == once:
            raise ValueError("give either at and duration (weekly) or start and end (once)")
        if weekly and (self.at is None or self.duration is None):
            raise ValueError("a weekly window needs at and duration")
        if once:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs start and end")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a UTC offset, e.g. 2026-12-01T02:00:00+07:00")
            if self.end <= self.start:
                raise ValueError("end is not after start")
        return self
