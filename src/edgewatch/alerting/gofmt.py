"""Go's ``fmt`` formatting of template values: ``%v`` of a float64, ``Sprint``, ``Sprintf``.

Alert templates print values the way Prometheus (a Go program) does, so that
an annotation reads the same whether edgewatch or Prometheus expands it:
``{{ $value }}`` of 1234567 is ``1.234567e+06``, ``printf "%.2f" 5`` is
``%!f(int=5)`` (an integer literal is not a float in Go).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

MAX_WIDTH = 1000
"""Widths and precisions above this are refused (``%999999999d`` would eat memory)."""


class FormatError(ValueError):
    """A value or format that cannot be formatted; the message says why."""


@dataclass(frozen=True)
class GoDuration:
    """A Go ``time.Duration`` (``toDuration``), printed as Go prints it (``1h2m5s``)."""

    seconds: float

    def __str__(self) -> str:
        return go_duration(self.seconds)


@dataclass(frozen=True)
class GoTime:
    """A Go ``time.Time`` in UTC (``toTime``), printed as Go prints it."""

    seconds: float

    def __str__(self) -> str:
        return go_time(self.seconds)


def go_float(v: float) -> str:
    """``fmt.Sprint(v)`` of a float64: the shortest digits, ``%e`` form for exponents
    below -4 or from 6 up (Go's ``%v``)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: checked above
    exp = len(digits) + exponent - 1
    if -4 <= exp < 6:
        text = format(Decimal(repr(v)).normalize(), "f")
        return text
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def go_g(v: float, precision: int) -> str:
    """``fmt.Sprintf("%.Ng", v)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.{precision}g}"


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String``: ``1h2m5s``, ``1.5s``, ``500ms``, ``0s``."""
    ns = int(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1000), ("ns", 1)):
            if ns >= size:
                return f"{sign}{_trim(Decimal(ns) / size)}{unit}"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{_trim(Decimal(rest) / 1_000_000_000)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _trim(d: Decimal) -> str:
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_time(seconds: float) -> str:
    """Go's ``time.Time.String`` in UTC: ``2024-01-02 03:04:05.5 +0000 UTC``."""
    ns = int(seconds * 1e9)
    whole, frac = divmod(ns, 1_000_000_000)
    stamp = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=whole)
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{stamp:%Y-%m-%d %H:%M:%S}{fraction} +0000 UTC"


def type_name(v: object) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "map[string]string"
    if isinstance(v, GoDuration):
        return "time.Duration"
    if isinstance(v, GoTime):
        return "*time.Time"
    if v is None:
        return "<nil>"
    return "[]interface {}"


def sprint_value(v: object) -> str:
    """``fmt.Sprint(v)`` for one value (how ``{{ v }}`` prints it, nil aside)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str | int | GoDuration | GoTime):
        return str(v)
    if v is None:
        return "<nil>"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{sprint_value(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, Sequence):
        return "[" + " ".join(sprint_value(x) for x in v) + "]"
    return str(v)


def sprint(args: Sequence[object]) -> str:
    """``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(sprint_value(arg))
    return "".join(out)


_VERB_RE = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])?")


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """``fmt.Sprintf`` for the verbs templates use: v s d f F e E g G x X q t c o b T %."""
    out: list[str] = []
    pos = 0
    next_arg = 0
    for match in _VERB_RE.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width_s, prec_s, verb = match.groups()
        if verb is None:
            out.append("%!(NOVERB)")
            continue
        if verb == "%":
            out.append("%")
            continue
        width = int(width_s) if width_s else None
        prec = int(prec_s or "0") if prec_s is not None else None
        if (width or 0) > MAX_WIDTH or (prec or 0) > MAX_WIDTH:
            raise FormatError(f"printf width or precision above {MAX_WIDTH} in {match.group()!r}")
        if next_arg >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[next_arg]
        next_arg += 1
        out.append(_format_one(arg, flags, width, prec, verb))
    out.append(fmt[pos:])
    if next_arg < len(args):
        extra = ", ".join(f"{type_name(a)}={sprint_value(a)}" for a in args[next_arg:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(text: str, flags: str, width: int | None, *, zero_ok: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if zero_ok and "0" in flags:
        sign = text[0] if text[:1] in "+- " and text[:1] != "" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _format_one(arg: object, flags: str, width: int | None, prec: int | None, verb: str) -> str:
    bad = f"%!{verb}({type_name(arg)}={sprint_value(arg)})"
    if verb == "T":
        return _pad(type_name(arg), flags, width)
    if verb == "v":
        return _pad(sprint_value(arg), flags, width)
    if verb == "t":
        return _pad(sprint_value(arg), flags, width) if isinstance(arg, bool) else bad
    if isinstance(arg, str | GoDuration | GoTime) and verb in "sqxX":
        text = str(arg)
        if verb == "s":
            return _pad(text if prec is None else text[:prec], flags, width)
        if verb == "q":
            return _pad(json.dumps(text, ensure_ascii=False), flags, width)
        hexed = text.encode().hex()
        return _pad(hexed.upper() if verb == "X" else hexed, flags, width)
    if isinstance(arg, Mapping) and verb in "sv":
        return _pad(sprint_value(arg), flags, width)
    if isinstance(arg, int) and not isinstance(arg, bool) and verb in "dxXobcq":
        if verb == "c":
            return _pad(chr(arg), flags, width)
        if verb == "q":
            return _pad("'" + chr(arg) + "'", flags, width)
        sign = "+" if "+" in flags else (" " if " " in flags else "")
        text = format(arg, f"{sign}{'d' if verb == 'd' else verb}")
        return _pad(text, flags, width, zero_ok=True)
    if isinstance(arg, float) and verb in "feEFgGx":
        return _format_float(arg, flags, width, prec, verb)
    return bad


def _format_float(v: float, flags: str, width: int | None, prec: int | None, verb: str) -> str:
    sign = "+" if "+" in flags else (" " if " " in flags else "")
    if math.isnan(v) or math.isinf(v):
        text = "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
        if math.isnan(v) and sign:
            text = sign + text
        return _pad(text, flags, width)
    if verb in "gG" and prec is None:
        text = go_float(v)
        text = text.upper() if verb == "G" else text
        if sign and not text.startswith("-"):
            text = sign + text
    elif verb == "x":
        text = v.hex()
    else:
        text = format(
            v, f"{sign}.{6 if prec is None else prec}{verb.lower() if verb == 'F' else verb}"
        )
    return _pad(text, flags, width, zero_ok=True)
