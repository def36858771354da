"""Points in time as people type them: ``now``, ``-1h``, unix seconds, RFC 3339."""

from __future__ import annotations

import datetime as dt
import time

from edgewatch.config import parse_duration


def parse_time(text: str, *, now: float | None = None) -> int:
    """Milliseconds since the epoch for ``now``, ``-15m``/``now-15m``, ``1700000000`` or
    ``2026-11-24T10:00:00Z`` (a time without zone is local time). Raises ValueError."""
    now_s = time.time() if now is None else now
    s = text.strip()
    if s in ("", "now"):
        return round(now_s * 1000)
    rel = s[3:] if s.startswith("now") else s
    if rel.startswith(("-", "+")):
        sign = -1 if rel[0] == "-" else 1
        try:
            return round((now_s + sign * parse_duration(rel[1:])) * 1000)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{text!r} is not a time: {exc}") from None
    try:
        return round(float(s) * 1000)
    except OverflowError:
        raise ValueError(f"{text!r} is not a time: out of range") from None
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; use now, -1h, unix seconds or 2026-11-24T10:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return round(parsed.timestamp() * 1000)


def format_time(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds only when they are not zero."""
    stamp = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    text = stamp.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")
