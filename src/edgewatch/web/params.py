"""Request parameters of the query endpoints, parsed and checked as Prometheus does.

Times are unix seconds (a float) or RFC 3339, durations float seconds or a
Prometheus duration (``5m``, ``1h30m``); all become integer milliseconds. Times
must lie in 1970..9999 (``MIN_TIME_MS``..``MAX_TIME_MS``). A bad parameter raises
BadQuery naming it, answered as Prometheus' ``bad_data`` error.
Shared by ``/api/v1/*`` (web/api_prom.py) and ``/api/export`` (web/api_export.py).
"""

from __future__ import annotations

import datetime as dt
import math

from edgewatch.config import parse_duration
from edgewatch.query import BadQuery, Engine
from edgewatch.web.context import AppContext

# |durations| beyond this (about 146 million years) are refused rather than overflowing.
MAX_ABS_TIME_MS = 2**62
# Times a request may name: from the Unix epoch to the last millisecond Python's datetime
# (hence RFC 3339 in responses and export file names) can write.
MIN_TIME_MS = 0
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
TIME_RANGE = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"


def bad_param(name: str, message: str) -> BadQuery:
    return BadQuery(f'invalid parameter "{name}": {message}')


def parse_time_param(name: str, text: str | None, default_ms: int) -> int:
    """Unix seconds (a float) or RFC 3339 -> milliseconds; raises BadQuery naming ``name``."""
    if text is None or text == "":
        return default_ms
    try:
        seconds = float(text)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise bad_param(name, f'cannot parse "{text}" to a valid timestamp') from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        seconds = parsed.timestamp()
    # seconds * 1000 of a finite float near its maximum is infinite: test it too.
    if not math.isfinite(seconds) or not math.isfinite(seconds * 1000):
        raise bad_param(name, f'cannot parse "{text}" to a valid timestamp')
    ms = round(seconds * 1000)
    if not MIN_TIME_MS <= ms <= MAX_TIME_MS:
        raise bad_param(name, f'"{text}" is outside the supported time range ({TIME_RANGE})')
    return ms


def parse_duration_param(name: str, text: str) -> int:
    """Float seconds or a Prometheus duration (``5m``, ``1h30m``) -> milliseconds."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise bad_param(name, f'cannot parse "{text}" to a valid duration') from None
    if not math.isfinite(seconds) or abs(seconds * 1000) > MAX_ABS_TIME_MS:
        raise bad_param(name, f'cannot parse "{text}" to a valid duration')
    return round(seconds * 1000)


def range_params(
    ctx: AppContext, start: str | None, end: str | None, step: str | None
) -> tuple[int, int, int]:
    """Validated (start_ms, end_ms, step_ms) of a range query, as Prometheus checks them."""
    if not start:
        raise bad_param("start", "missing; give unix seconds or an RFC 3339 time")
    if not end:
        raise bad_param("end", "missing; give unix seconds or an RFC 3339 time")
    if not step:
        raise bad_param("step", "missing; give seconds or a duration such as 15s")
    start_ms = parse_time_param("start", start, 0)
    end_ms = parse_time_param("end", end, 0)
    if end_ms < start_ms:
        raise bad_param("end", "end timestamp must not be before start time")
    step_ms = parse_duration_param("step", step)
    if step_ms <= 0:
        raise bad_param(
            "step",
            "zero or negative query resolution step widths are not accepted. "
            "Try a positive integer",
        )
    limit = ctx.config.query.max_points
    if (end_ms - start_ms) // step_ms + 1 > limit:  # the points of one series, as the engine
        raise BadQuery(
            f"exceeded maximum resolution of {limit:,} points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    return start_ms, end_ms, step_ms


def engine_for(ctx: AppContext, timeout: str | None) -> Engine:
    """The context's engine, or one with a shorter time budget when ``timeout`` asks."""
    if not timeout:
        return ctx.engine
    timeout_ms = parse_duration_param("timeout", timeout)
    if timeout_ms <= 0:
        raise bad_param("timeout", "must be positive")
    limits = ctx.config.query
    if timeout_ms / 1000 >= limits.timeout:
        return ctx.engine
    return Engine(ctx.reader, limits.model_copy(update={"timeout": timeout_ms / 1000}))


def check_query(query: str | None) -> str:
    """The ``query`` parameter, refused when missing or blank."""
    if query is None or not query.strip():
        raise bad_param("query", "missing; give a PromQL expression")
    return query
