"""Label matchers in Alertmanager's syntax, shared by routes, silences and inhibition.

``parse_matchers('{severity="critical", job=~"cam.*"}')`` or
``parse_matcher('severity != warning')``: ``=``, ``!=``, ``=~``, ``!~``; values
quoted or bare; regular expressions are anchored and run in RE2 (linear time).
A matcher for a label the alert lacks sees the empty string, as in Alertmanager.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgewatch.store.regex import RegexError, compile_anchored


class MatchOp(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


_MATCHER_RE = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|[^"]*?)\s*$""",
    re.X | re.S,
)


class MatcherError(ValueError):
    """A matcher that does not parse; the message quotes it and says why."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    _regex: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                object.__setattr__(self, "_regex", compile_anchored(self.value))
            except RegexError as exc:
                raise MatcherError(str(exc)) from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op is MatchOp.EQUAL:
            return got == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return got != self.value
        hit = self._regex.fullmatch(got) is not None
        return hit if self.op is MatchOp.REGEX else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{json.dumps(self.value, ensure_ascii=False)}"

    def to_dict(self) -> dict[str, object]:
        """Alertmanager's v2 API shape (``isRegex``, ``isEqual``)."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX),
            "isEqual": self.op in (MatchOp.EQUAL, MatchOp.REGEX),
        }


def parse_matcher(text: str) -> Matcher:
    """One matcher such as ``severity="critical"`` or ``job =~ cam.*``."""
    m = _MATCHER_RE.match(text)
    if m is None:
        raise MatcherError(
            f"bad matcher {text!r}: expected NAME OP VALUE with OP one of =, !=, =~, !~"
        )
    raw = m["value"]
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise MatcherError(f"bad matcher {text!r}: bad quoting in the value") from None
    else:
        value = raw
    return Matcher(m["name"], MatchOp(m["op"]), value)


def parse_matchers(text: str) -> list[Matcher]:
    """Matchers separated by commas, optionally in braces: ``{a="1", b=~"x|y"}``."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    return [parse_matcher(part) for part in _split(body) if part.strip()]


def _split(body: str) -> list[str]:
    """``body`` split at the commas outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in body:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quoted:
        raise MatcherError(f"bad matchers {body!r}: a quoted value is never closed")
    parts.append("".join(current))
    return parts


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
