"""Series selectors: ``name{label="v", other=~"re.*"}`` with Prometheus' four matchers.

This is the selector part of PromQL only; the query engine parses the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgewatch.model import LABEL_NAME_RE, SeriesKey
from edgewatch.store.regex import RegexError, compile_anchored

_OPS = ("=~", "!~", "!=", "=")
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class SelectorError(ValueError):
    """A selector that does not parse; the message says where."""


@dataclass(frozen=True)
class Matcher:
    label: str  # "__name__" matches the metric name
    op: str
    value: str
    _regex: Any = field(default=None, compare=False, repr=False)  # RE2, linear time

    @classmethod
    def make(cls, label: str, op: str, value: str) -> Matcher:
        if op not in _OPS:
            raise SelectorError(f"unknown matcher operator {op!r}")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = compile_anchored(value)
            except RegexError as exc:
                raise SelectorError(str(exc)) from None
        return cls(label, op, value, regex)

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = self._regex is not None and self._regex.fullmatch(value) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    matchers: tuple[Matcher, ...]

    @property
    def name(self) -> str | None:
        for m in self.matchers:
            if m.label == "__name__" and m.op == "=":
                return m.value
        return None

    def matches(self, key: SeriesKey) -> bool:
        labels = dict(key.labels)
        for m in self.matchers:
            value = key.name if m.label == "__name__" else labels.get(m.label, "")
            if not m.matches(value):
                return False
        return True

    def select(self, keys: Sequence[SeriesKey]) -> list[SeriesKey]:
        name = self.name
        if name is not None:  # most selectors name their metric: a cheap first cut
            keys = [k for k in keys if k.name == name]
        return [k for k in keys if self.matches(k)]


def parse_selector(text: str) -> Selector:
    """Parse ``name``, ``name{...}`` or ``{...}``; an empty text matches everything."""
    s = text.strip()
    matchers: list[Matcher] = []
    pos = 0
    m = _NAME_RE.match(s)
    if m:
        matchers.append(Matcher.make("__name__", "=", m.group()))
        pos = m.end()
    if pos < len(s):
        if s[pos] != "{" or not s.endswith("}"):
            raise SelectorError(f"expected '{{' at position {pos} in {text!r}")
        matchers.extend(_parse_matchers(s[pos + 1 : -1], text))
    return Selector(tuple(matchers))


def _parse_matchers(body: str, text: str) -> list[Matcher]:
    out: list[Matcher] = []
    i = 0
    while i < len(body):
        while i < len(body) and body[i] in " ,":
            i += 1
        if i >= len(body):
            break
        m = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*").match(body, i)
        if not m or not LABEL_NAME_RE.match(m.group(1)):
            raise SelectorError(f"expected label matcher at {body[i:]!r} in {text!r}")
        label, op = m.group(1), m.group(2)
        i = m.end()
        if i >= len(body) or body[i] not in "\"'":
            raise SelectorError(f"expected quoted value after {label}{op} in {text!r}")
        value, i = _read_string(body, i, text)
        out.append(Matcher.make(label, op, value))
    return out


def _read_string(body: str, i: int, text: str) -> tuple[str, int]:
    quote = body[i]
    i += 1
    chars: list[str] = []
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            chars.append(escapes.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
            continue
        if c == quote:
            return "".join(chars), i + 1
        chars.append(c)
        i += 1
    raise SelectorError(f"unterminated string in {text!r}")
