"""Regular expressions from users (selectors, ``label_replace``), matched in linear time.

Python's ``re`` backtracks: ``(.*.*)*x`` against a 30-character label value runs
for minutes while holding the GIL, freezing the whole agent, API included.
RE2 (Prometheus' own regex engine) never backtracks, so a label matcher costs
time proportional to the value it reads, whatever the pattern.
"""

from __future__ import annotations

from typing import Any

import re2

# Memory RE2 may use per compiled pattern; a pattern needing more is refused.
MAX_PATTERN_MEMORY = 8 << 20
MAX_PATTERN_CHARS = 4096


class RegexError(ValueError):
    """A pattern that does not compile; the message says why."""


def compile_anchored(pattern: str) -> Any:
    """``pattern`` compiled to match whole strings only (``fullmatch``), as Prometheus'
    label matchers do. Returns an RE2 pattern object (``fullmatch``, ``groupindex``)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexError(f"regular expression longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False  # RE2 would write to stderr; the error is raised instead
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(f"(?:{pattern})", options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(f"bad regular expression {pattern!r}: {reason}") from None
