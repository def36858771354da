"""Durations and sizes as people write them: ``10s``, ``14d``, ``512MiB``.

The parsers take what YAML gives (numbers or strings) and return base units
(float seconds, int bytes); the formatters give back the shortest exact
spelling, so ``parse_duration(format_duration(x)) == x``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_NUMBER = r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_BARE_NUMBER_RE = re.compile(rf"^(?:{_NUMBER})$")

# --- durations -------------------------------------------------------------

_DURATION_UNITS_MS: dict[str, int] = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
# Units used when formatting, largest first (weeks are accepted, not written:
# "14d" reads better than "2w").
_DURATION_FORMAT_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))
_DURATION_PART_RE = re.compile(rf"({_NUMBER})(ms|s|m|h|d|w)")
_DURATION_RE = re.compile(rf"^(?:(?:{_NUMBER})(?:ms|s|m|h|d|w))+$")
_DURATION_HINT = "use e.g. 10s, 5m, 2h, 14d (or a number of seconds)"


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string such as ``500ms``, ``1h30m``, ``14d``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if _BARE_NUMBER_RE.match(text):
            return float(Fraction(text))
        if _DURATION_RE.match(text):
            total_ms = sum(
                (
                    Fraction(num) * _DURATION_UNITS_MS[unit]
                    for num, unit in _DURATION_PART_RE.findall(text)
                ),
                Fraction(0),
            )
            return float(total_ms / 1000)
    raise ValueError(f"{value!r} is not a duration; {_DURATION_HINT}")


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 10.0 -> ``10s``, 1209600 -> ``14d``, 0.5 -> ``500ms``."""
    if seconds == 0:
        return "0s"
    ms = round(seconds * 1000)
    if ms != 0 and ms / 1000 == seconds:
        for suffix, unit_ms in _DURATION_FORMAT_UNITS:
            if ms % unit_ms == 0:
                return f"{ms // unit_ms}{suffix}"
        return f"{ms}ms"
    return f"{seconds!r}s"


# --- sizes -----------------------------------------------------------------

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_FORMAT_UNITS = (
    ("TiB", 1024**4),
    ("GiB", 1024**3),
    ("MiB", 1024**2),
    ("KiB", 1024),
    ("TB", 1000**4),
    ("GB", 1000**3),
    ("MB", 1000**2),
    ("KB", 1000),
)
_SIZE_RE = re.compile(rf"^({_NUMBER})\s*([a-zA-Z]*)$")
_SIZE_HINT = "use e.g. 512MiB, 2GiB, 1GB (or a number of bytes)"


def parse_size(value: object) -> int:
    """Bytes from a number (bytes) or a string such as ``512MiB``, ``2GiB``, ``1GB``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size; {_SIZE_HINT}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a size; {_SIZE_HINT}")
        return round(value)
    if isinstance(value, str):
        match = _SIZE_RE.match(value.strip())
        if match:
            number, unit = match.groups()
            multiplier = _SIZE_UNITS.get(unit.lower() or "b")
            if multiplier is not None:
                return round(Fraction(number) * multiplier)
    raise ValueError(f"{value!r} is not a size; {_SIZE_HINT}")


def format_size(size: int) -> str | int:
    """The shortest exact spelling: 2147483648 -> ``2GiB``; plain bytes stay an int."""
    if size == 0:
        return 0
    for suffix, unit in _SIZE_FORMAT_UNITS:
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return size


# --- pydantic types ----------------------------------------------------------


def _schema(kind: str, pattern: str, example: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": pattern},
        ],
        "description": f"A {kind}: a number, or a string such as {example}.",
    }


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(_schema("duration in seconds", _DURATION_RE.pattern, "500ms, 10s, 5m, 2h, 14d")),
]
"""Seconds (float); YAML may say ``10``, ``10s``, ``5m``, ``2h``, ``14d``, ``1w``."""

Size = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(format_size, return_type=str | int, when_used="json"),
    WithJsonSchema(
        _schema(
            "size in bytes",
            r"^\s*\d+(\.\d*)?\s*([KkMmGgTt][Ii]?[Bb]|[Bb])?\s*$",
            "512MiB, 2GiB, 1GB",
        )
    ),
]
"""Bytes (int); YAML may say ``1048576``, ``512MiB``, ``2GiB``, ``1GB``."""
