"""A static check of alert templates (Go ``text/template`` syntax, as Prometheus uses).

Not a template engine: it finds each ``{{ ... }}`` action and refuses what Go's
parser would refuse when Prometheus loads the rule — an action left open, a
``$variable`` that is neither one Prometheus defines nor one the template
declares, and a function that is not in Prometheus' template function set.
Which labels an alert will carry cannot be known here, so ``$labels.x`` is not
checked.
"""

from __future__ import annotations

import re

# Variables Prometheus defines before expanding a rule's labels and annotations.
PREDEFINED_VARIABLES = frozenset({"labels", "externalLabels", "externalURL", "value"})

# Go's built-in template functions and those Prometheus adds (template/template.go).
FUNCTIONS = frozenset(
    {
        # Go text/template
        "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print",
        "printf", "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
        # Prometheus
        "query", "first", "label", "value", "strvalue", "args", "reReplaceAll",
        "safeHtml", "match", "title", "toUpper", "toLower", "graphLink", "tableLink",
        "sortByLabel", "humanize", "humanize1024", "humanizeDuration",
        "humanizePercentage", "humanizeTimestamp", "toTime", "toDuration",
        "pathPrefix", "externalURL", "parseDuration", "stripPort", "stripDomain",
    }
)  # fmt: skip
KEYWORDS = frozenset(
    {
        "if", "else", "end", "range", "with", "define", "template", "block",
        "break", "continue", "nil", "true", "false",
    }
)  # fmt: skip

_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|\'(?:[^\'\\\n]|\\.)*\'|/\*.*?\*/', re.S)
_DECLARED_RE = re.compile(r"\$(\w+)\s*(?:,\s*\$(\w+)\s*)?:=")
_VARIABLE_RE = re.compile(r"\$(\w*)")
_IDENT_RE = re.compile(r"(?<![\w.$])([A-Za-z_]\w*)")


def template_problems(text: str) -> list[str]:
    """What is wrong with the template ``text``, as messages; empty when nothing is."""
    actions, problems = _actions(text)
    cleaned = [_STRING_RE.sub('""', action) for action in actions]
    declared = set(PREDEFINED_VARIABLES)
    for action in cleaned:
        for match in _DECLARED_RE.finditer(action):
            declared.update(name for name in match.groups() if name)
    for action in cleaned:
        for name in _VARIABLE_RE.findall(action):
            if name and name not in declared:
                problems.append(
                    f"template uses undefined variable ${name}; "
                    f"defined are {', '.join('$' + v for v in sorted(PREDEFINED_VARIABLES))}"
                )
        for name in _IDENT_RE.findall(action):
            if name not in FUNCTIONS and name not in KEYWORDS:
                problems.append(f"template calls unknown function {name!r}")
    return list(dict.fromkeys(problems))


def _actions(text: str) -> tuple[list[str], list[str]]:
    """The inside of every ``{{ ... }}`` action, and an error for one left open."""
    actions: list[str] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return actions, []
        end = _action_end(text, start + 2)
        if end < 0:
            column = start + 1
            return actions, [f"template action '{{{{' at character {column} is never closed"]
        actions.append(text[start + 2 : end])
        pos = end + 2


def _action_end(text: str, pos: int) -> int:
    """Index of the ``}}`` closing the action starting at ``pos``, skipping quoted strings."""
    while pos < len(text):
        if text.startswith("}}", pos):
            return pos
        quote = text[pos]
        if quote in "\"'`":
            match = _STRING_RE.match(text, pos)
            pos = match.end() if match else len(text)
        else:
            pos += 1
    return -1
