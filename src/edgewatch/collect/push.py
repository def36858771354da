"""Custom application metrics pushed over HTTP: parsing, validation and limits.

Two input forms, both all-or-nothing (one bad line or item rejects the batch,
and the error names it):

- the Prometheus text format 0.0.4 (``name{label="v"} value [timestamp_ms]``,
  ``# HELP`` / ``# TYPE`` lines kept as metadata);
- JSON: ``[{"name": ..., "labels": {...}, "value": ..., "timestamp": ...}]``
  with optional ``"help"`` and ``"type"`` (counter, gauge, untyped).

Values are floats; ``NaN`` and ``±Inf`` are accepted (a summary without
observations reports NaN quantiles). Label values must be strings. A JSON
timestamp above 1e11 is in milliseconds, else in seconds (1e11 s is the year
5138, 1e11 ms is 1973). No web framework here: the endpoint maps
``PushRejected.status`` to the HTTP answer.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any, NamedTuple

from edgewatch.export.exposition import FamilyMeta
from edgewatch.model import LABEL_NAME_RE, METRIC_NAME_RE, SeriesKey

MAX_FUTURE_MS = 5 * 60 * 1000
MS_THRESHOLD = 1e11
PUSH_TYPES = ("counter", "gauge", "untyped")
_TEXT_TYPES = (*PUSH_TYPES, "histogram", "summary")
_PARTS = ("_bucket", "_sum", "_count", "_created")
_NAME_AT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_AT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Unambiguous (one way to match any text): an ambiguous grammar such as \d+\.?\d*
# backtracks quadratically on a long run of digits followed by a bad character.
FLOAT_RE = re.compile(r"[+-]?(?:inf(?:inity)?|nan|(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)", re.I)
_INT = re.compile(r"-?\d+")
MAX_LINE = 64 * 1024  # characters of one text-format line
MAX_TOKEN = 128  # characters of a value or a timestamp
_SPECIAL = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "-inf": -math.inf}


class PushRejected(Exception):
    """A push that stores nothing; ``status`` is the HTTP answer, str() the message."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class PushedSample(NamedTuple):
    key: SeriesKey
    value: float
    ts_ms: int


class PushBatch(NamedTuple):
    samples: list[PushedSample]
    metadata: dict[str, FamilyMeta]


# ------------------------------------------------------------------ text form


def parse_text(text: str, *, now_ms: int) -> PushBatch:
    """Parse the Prometheus text format; PushRejected(400) names the first bad line."""
    samples: list[PushedSample] = []
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    for n, raw in enumerate(text.split("\n"), start=1):
        if len(raw) > MAX_LINE:
            raise PushRejected(400, f"line {n}: longer than {MAX_LINE} characters")
        line = raw.strip()
        if not line:
            continue
        try:
            if line.startswith("#"):
                if line == "# EOF":
                    break
                _comment(line, types, helps)
            else:
                samples.append(_sample_line(line, now_ms))
        except ValueError as exc:
            raise PushRejected(400, f"line {n}: {exc}: {_clip(line)}") from None
    return PushBatch(samples, _text_metadata(samples, types, helps))


def _comment(line: str, types: dict[str, str], helps: dict[str, str]) -> None:
    parts = line[1:].lstrip().split(None, 2)
    if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
        return  # an ordinary comment
    name = parts[1]
    if not METRIC_NAME_RE.fullmatch(name):
        raise ValueError(f"bad metric name {name!r}")
    rest = parts[2] if len(parts) > 2 else ""
    if parts[0] == "HELP":
        helps[name] = _unescape(rest, quote=False)
        return
    kind = rest.strip().lower()
    if kind not in _TEXT_TYPES:
        raise ValueError(f"unknown metric type {kind!r} (expected one of {', '.join(_TEXT_TYPES)})")
    types[name] = kind


def _sample_line(line: str, now_ms: int) -> PushedSample:
    m = _NAME_AT.match(line)
    if not m:
        raise ValueError("bad metric name (expected [a-zA-Z_:][a-zA-Z0-9_:]* first)")
    name, pos = m.group(), m.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        pos = _labels(line, pos + 1, labels)
    if pos >= len(line) or not line[pos].isspace():
        raise ValueError("expected a space and a value after the series")
    fields = line[pos:].split()
    if len(fields) > 2:
        raise ValueError("too many fields after the series (value and timestamp expected)")
    value = parse_float(fields[0])
    ts = now_ms
    if len(fields) == 2:
        if len(fields[1]) > MAX_TOKEN or not _INT.fullmatch(fields[1]):
            raise ValueError(f"bad timestamp {_clip(fields[1])} (integer milliseconds expected)")
        ts = int(fields[1])
    return PushedSample(make_key(name, labels), value, check_timestamp(ts, now_ms))


def _labels(line: str, pos: int, labels: dict[str, str]) -> int:
    end = len(line)
    while True:
        while pos < end and line[pos] in " \t":
            pos += 1
        if pos < end and line[pos] == "}":
            return pos + 1
        m = _LABEL_AT.match(line, pos)
        if not m:
            raise ValueError(f"bad label name at column {pos + 1}")
        label, pos = m.group(), m.end()
        while pos < end and line[pos] in " \t":
            pos += 1
        if line[pos : pos + 2] != '="':
            raise ValueError(f'expected ="..." after label {label!r}')
        pos += 2
        chars: list[str] = []
        while True:
            if pos >= end:
                raise ValueError(f"unterminated value of label {label!r}")
            c = line[pos]
            if c == '"':
                pos += 1
                break
            if c == "\\" and pos + 1 < end:
                nxt = line[pos + 1]
                chars.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
                pos += 2
                continue
            chars.append(c)
            pos += 1
        if label in labels:
            raise ValueError(f"label {label!r} given twice")
        labels[label] = "".join(chars)
        while pos < end and line[pos] in " \t":
            pos += 1
        if pos < end and line[pos] == ",":
            pos += 1
        elif not (pos < end and line[pos] == "}"):
            raise ValueError(f"expected , or }} after label {label!r}")


def _text_metadata(
    samples: list[PushedSample], types: dict[str, str], helps: dict[str, str]
) -> dict[str, FamilyMeta]:
    """Metadata per sample name; histogram and summary parts become untyped series."""
    meta: dict[str, FamilyMeta] = {}
    for name in {s.key.name for s in samples}:
        if types.get(name) in PUSH_TYPES:
            meta[name] = FamilyMeta(types[name], helps.get(name, ""))
            continue
        for part in _PARTS:
            base = name.removesuffix(part)
            if base != name and types.get(base) in ("histogram", "summary"):
                meta[name] = FamilyMeta("untyped", f"{helps.get(base, base)} ({part[1:]})")
                break
        else:
            meta[name] = FamilyMeta("untyped", helps.get(name, ""))
    return meta


def _unescape(text: str, *, quote: bool) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in ("n\\" + ('"' if quote else "")):
            out.append("\n" if text[i + 1] == "n" else text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _clip(line: str) -> str:
    return repr(line if len(line) <= 120 else line[:117] + "...")


# ------------------------------------------------------------------ JSON form

_JSON_KEYS = frozenset({"name", "labels", "value", "timestamp", "help", "type"})


def parse_json(body: bytes, *, now_ms: int) -> PushBatch:
    """Parse the JSON form; PushRejected(400) names the first bad item."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PushRejected(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise PushRejected(400, "JSON body must be a list of {name, labels, value, timestamp}")
    samples: list[PushedSample] = []
    meta: dict[str, FamilyMeta] = {}
    for i, item in enumerate(data):
        try:
            sample, fam = _json_item(item, now_ms)
        except ValueError as exc:
            raise PushRejected(400, f"item {i}: {exc}") from None
        samples.append(sample)
        if fam is not None or sample.key.name not in meta:
            meta[sample.key.name] = fam or FamilyMeta("untyped", "")
    return PushBatch(samples, meta)


def _json_item(item: Any, now_ms: int) -> tuple[PushedSample, FamilyMeta | None]:
    if not isinstance(item, dict):
        raise ValueError("each item must be an object")
    unknown = sorted(set(item) - _JSON_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_JSON_KEYS))})")
    name = item.get("name")
    if not isinstance(name, str):
        raise ValueError('"name" must be a string')
    labels = item.get("labels", {})
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise ValueError('"labels" must be an object of strings')
    for lname, lvalue in labels.items():
        if not isinstance(lvalue, str):
            raise ValueError(f"label {lname!r}: value must be a string, not {_json_type(lvalue)}")
    if "value" not in item:
        raise ValueError('"value" is missing')
    value = json_value(item["value"])
    ts = now_ms if item.get("timestamp") is None else json_timestamp(item["timestamp"])
    fam = None
    if "type" in item or "help" in item:
        kind, help_ = item.get("type", "untyped"), item.get("help", "")
        if kind not in PUSH_TYPES or not isinstance(help_, str):
            raise ValueError(f'"type" must be one of {", ".join(PUSH_TYPES)}; "help" a string')
        fam = FamilyMeta(kind, help_)
    return PushedSample(make_key(name, labels), value, check_timestamp(ts, now_ms)), fam


def json_value(value: Any) -> float:
    """A number, or one of the strings "NaN", "Inf", "+Inf", "-Inf"."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f'"value" must be a number, not {_json_type(value)}')
    if isinstance(value, str):
        special = _SPECIAL.get(value.lower())
        if special is None:
            raise ValueError(f'"value" {value!r} is not a number (strings: NaN, +Inf, -Inf)')
        return special
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f'"value" {value} does not fit a float64') from None


def json_timestamp(value: Any) -> int:
    """Unix time in seconds, or in milliseconds when above 1e11."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f'"timestamp" must be a number, not {_json_type(value)}')
    try:
        seconds_or_ms = float(value)
    except OverflowError:
        raise ValueError('"timestamp" is far too large') from None
    if not math.isfinite(seconds_or_ms) or seconds_or_ms < 0:
        raise ValueError(f'"timestamp" {value} is not a time')
    return round(seconds_or_ms if seconds_or_ms > MS_THRESHOLD else seconds_or_ms * 1000)


def _json_type(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return {bool: "a boolean", type(None): "null", dict: "an object", list: "a list"}.get(
        type(value), type(value).__name__
    )


# ------------------------------------------------------------------ shared rules


def make_key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    """Validate a metric name and labels (Prometheus' rules) and build the series key."""
    if not METRIC_NAME_RE.fullmatch(name):
        raise ValueError(f"bad metric name {name!r} (expected [a-zA-Z_:][a-zA-Z0-9_:]*)")
    for lname in labels:
        if not LABEL_NAME_RE.fullmatch(lname):
            raise ValueError(f"bad label name {lname!r} (expected [a-zA-Z_][a-zA-Z0-9_]*)")
        if lname.startswith("__"):
            raise ValueError(f"label name {lname!r} is reserved (starts with __)")
    return SeriesKey.of(name, labels)


def parse_float(text: str) -> float:
    """A sample value of the text format (Go's ParseFloat syntax, no hex, no underscores)."""
    if len(text) > MAX_TOKEN:
        raise ValueError(f"value longer than {MAX_TOKEN} characters")
    if not FLOAT_RE.fullmatch(text):
        raise ValueError(f"bad value {_clip(text)}")
    return float(text)


def check_timestamp(ts_ms: int, now_ms: int) -> int:
    if ts_ms < 0:
        raise ValueError(f"timestamp {ts_ms} is before 1970")
    if ts_ms > now_ms + MAX_FUTURE_MS:
        raise ValueError(f"timestamp {ts_ms} is more than 5 minutes in the future")
    return ts_ms


def check_batch(
    batch: PushBatch, *, max_series: int, reserved: Collection[str] = frozenset()
) -> set[SeriesKey]:
    """The batch's distinct series; rejects too many (413), reserved names and duplicates (400)."""
    seen: set[tuple[SeriesKey, int]] = set()
    keys: set[SeriesKey] = set()
    for i, s in enumerate(batch.samples):
        if s.key.name in reserved:
            raise PushRejected(
                400, f"sample {i}: {s.key.name!r} is a built-in edgewatch metric; pick another name"
            )
        if (s.key, s.ts_ms) in seen:
            raise PushRejected(400, f"sample {i}: {s.key} given twice for timestamp {s.ts_ms}")
        seen.add((s.key, s.ts_ms))
        keys.add(s.key)
        if len(keys) > max_series:
            raise PushRejected(
                413, f"more than {max_series} series in one request (push.max_series_per_request)"
            )
    return keys


class NewSeriesLimiter:
    """At most ``per_minute`` new series admitted in any sliding window of ``window`` seconds."""

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float] = time.monotonic, window: float = 60.0
    ) -> None:
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        self._admitted: deque[tuple[float, int]] = deque()
        self._count = 0

    def admit(self, new: int) -> None:
        """Count ``new`` series, or raise PushRejected(429) with a Retry-After in seconds."""
        if new <= 0:
            return
        now = self._clock()
        while self._admitted and self._admitted[0][0] <= now - self.window:
            self._count -= self._admitted.popleft()[1]
        limit = f"push.max_new_series_per_minute is {self.per_minute}"
        if new > self.per_minute:
            raise PushRejected(
                429, f"{new} new series in one request; {limit}", retry_after=math.ceil(self.window)
            )
        over = self._count + new - self.per_minute
        if over > 0:
            freed, wait = 0, self.window
            for at, n in self._admitted:
                freed += n
                if freed >= over:
                    wait = at + self.window - now
                    break
            raise PushRejected(
                429,
                f"too many new series: {new} more would exceed the limit ({limit})",
                retry_after=max(1, math.ceil(wait)),
            )
        self._admitted.append((now, new))
        self._count += new
