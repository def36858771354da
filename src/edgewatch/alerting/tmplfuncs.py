"""The functions alert templates may call: Go's built-ins and Prometheus' helpers.

Each takes already-evaluated arguments and returns a value; a bad argument
raises ``ValueError`` with a message the template error repeats. ``query`` and
the helpers that only consume its results are refused: templates never run
queries in edgewatch.
"""

from __future__ import annotations

import html
import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote_plus, urlsplit

import re2

from edgewatch.alerting.gofmt import (
    GoDuration,
    GoTime,
    go_g,
    go_time,
    sprint,
    sprint_value,
    sprintf,
    type_name,
)
from edgewatch.config.units import parse_duration

Func = Callable[..., object]
MAX_PATTERN_CHARS = 4096
_REGEX_MEMORY = 8 << 20
_EXPAND_RE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def truth(v: object) -> bool:
    """Go's template truth: false, 0, nil and empty strings, maps and lists are false."""
    if v is None:
        return False
    if isinstance(v, bool | int | float):
        return bool(v)
    if isinstance(v, str | Mapping | Sequence):
        return len(v) > 0
    return True


def to_float(v: object) -> float:
    """Prometheus' ``convertToFloat``: numbers, numeric strings and durations."""
    if isinstance(v, bool):
        raise ValueError(f"can't convert bool {sprint_value(v)} to float")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, GoDuration):
        return v.seconds
    if isinstance(v, str):
        try:
            return float(v.strip()) if v.strip() else _bad_float(v)
        except ValueError:
            return _bad_float(v)
    raise ValueError(f"can't convert {type_name(v)} to float")


def _bad_float(v: str) -> float:
    raise ValueError(f'strconv.ParseFloat: parsing "{v}": invalid syntax')


def humanize(v: object) -> str:
    x = to_float(v)
    if x == 0 or math.isnan(x) or math.isinf(x):
        return go_g(x, 4)
    prefix = ""
    if abs(x) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(x) < 1000:
                break
            prefix, x = p, x / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(x) >= 1:
                break
            prefix, x = p, x * 1000
    return go_g(x, 4) + prefix


def humanize1024(v: object) -> str:
    x = to_float(v)
    if abs(x) <= 1 or math.isnan(x) or math.isinf(x):
        return go_g(x, 4)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(x) < 1024:
            break
        prefix, x = p, x / 1024
    return go_g(x, 4) + prefix


def humanize_duration(v: object) -> str:
    x = to_float(v)
    if math.isnan(x) or math.isinf(x):
        return go_g(x, 4)
    if x == 0:
        return go_g(x, 4) + "s"
    if abs(x) >= 1:
        sign = "-" if x < 0 else ""
        whole = int(abs(x))
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g(abs(x), 4)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(x) >= 1:
            break
        prefix, x = p, x * 1000
    return f"{go_g(x, 4)}{prefix}s"


def humanize_timestamp(v: object) -> str:
    x = v.seconds if isinstance(v, GoTime) else to_float(v)
    if math.isnan(x) or math.isinf(x):
        return go_g(x, 4)
    return go_time(x)


def _regex(pattern: object) -> object:
    text = _string(pattern, "pattern")
    if len(text) > MAX_PATTERN_CHARS:
        raise ValueError(f"regular expression longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _REGEX_MEMORY
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        raise ValueError(f"bad regular expression {text!r}: {exc}") from None


def re_replace_all(pattern: object, repl: object, text: object) -> str:
    """Go's ``Regexp.ReplaceAllString``: ``$1``, ``${name}`` and ``$$`` in ``repl``."""
    regex = _regex(pattern)
    template = _string(repl, "replacement")

    def expand(m: re.Match[str]) -> str:
        def group(g: re.Match[str]) -> str:
            name = g.group(1) or g.group(2)
            if name is None:
                return "$"
            key: int | str = int(name) if name.isdigit() else name
            try:
                return str(m.group(key) or "")
            except (IndexError, KeyError):
                return ""

        return _EXPAND_RE.sub(group, template)

    return str(regex.sub(expand, _string(text, "text")))  # type: ignore[attr-defined]


def match(pattern: object, text: object) -> bool:
    return regex_search(_regex(pattern), _string(text, "text"))


def regex_search(regex: object, text: str) -> bool:
    return regex.search(text) is not None  # type: ignore[attr-defined]


def title(v: object) -> str:
    """Go's ``strings.Title``: upper-case the first letter of every word."""
    out: list[str] = []
    prev_sep = True
    for ch in _string(v, "text"):
        out.append(ch.upper() if prev_sep else ch)
        if ord(ch) <= 0x7F:
            prev_sep = not (ch.isalnum() or ch == "_")
        else:
            prev_sep = not ch.isalnum() and ch.isspace()
    return "".join(out)


def _split_host_port(text: str) -> tuple[str, str] | None:
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":" or ":" in text[end + 2 :]:
            return None
        return text[1:end], text[end + 2 :]
    if text.count(":") != 1:
        return None
    host, port = text.split(":")
    return host, port


def strip_port(v: object) -> str:
    text = _string(v, "hostPort")
    split = _split_host_port(text)
    return text if split is None else split[0]


def strip_domain(v: object) -> str:
    text = _string(v, "hostPort")
    split = _split_host_port(text)
    host, port = split if split is not None else (text, "")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = host.split(".")[0]
        if not port:
            return host
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return text


def js_escape(args: Sequence[object]) -> str:
    out: list[str] = []
    for ch in sprint(args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def html_escape(args: Sequence[object]) -> str:
    text = html.escape(sprint(args), quote=False)
    return text.replace("'", "&#39;").replace('"', "&#34;").replace("\x00", "\ufffd")


def length(v: object) -> int:
    if isinstance(v, str | Mapping) or (isinstance(v, Sequence) and not isinstance(v, str)):
        return len(v)
    raise ValueError(f"len of type {type_name(v)}")


def index(item: object, *keys: object) -> object:
    for key in keys:
        if isinstance(item, Mapping):
            item = item.get(_string(key, "map key"), "")
        elif isinstance(item, Sequence | str) and isinstance(key, int):
            if not 0 <= key < len(item):
                raise ValueError(f"index out of range: {key}")
            item = item[key]
        else:
            raise ValueError(f"can't index item of type {type_name(item)}")
    return item


def slice_(item: object, *bounds: object) -> object:
    if not isinstance(item, str | Sequence) or not all(isinstance(b, int) for b in bounds):
        raise ValueError(f"can't slice item of type {type_name(item)}")
    if len(bounds) > 2:
        raise ValueError("slice takes at most 2 indexes here")
    ints = [int(b) for b in bounds if isinstance(b, int)]
    start = ints[0] if ints else 0
    end = ints[1] if len(ints) > 1 else len(item)
    if not 0 <= start <= end <= len(item):
        raise ValueError(f"slice index out of range: {start}:{end}")
    return item[start:end]


def _string(v: object, what: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{what} must be a string, got {type_name(v)} {sprint_value(v)}")
    return v


def _compare(op: str) -> Func:
    def compare(a: object, b: object) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            if op not in ("eq", "ne") or not isinstance(a, bool) or not isinstance(b, bool):
                raise ValueError(f"{op}: invalid type for comparison")
        elif isinstance(a, int | float) != isinstance(b, int | float) or (
            isinstance(a, str) != isinstance(b, str)
        ):
            raise ValueError(f"{op}: incompatible types for comparison")
        elif not isinstance(a, int | float | str):
            raise ValueError(f"{op}: invalid type for comparison")
        checks: dict[str, Callable[[object, object], bool]] = {
            "eq": lambda x, y: x == y,
            "ne": lambda x, y: x != y,
            "lt": lambda x, y: x < y,  # type: ignore[operator]
            "le": lambda x, y: x <= y,  # type: ignore[operator]
            # Go: gt is "not le" and ge is "not lt", which matters for NaN.
            "gt": lambda x, y: not (x < y or x == y),  # type: ignore[operator]
            "ge": lambda x, y: not x < y,  # type: ignore[operator]
        }
        return checks[op](a, b)

    return compare


def _eq(a: object, *others: object) -> bool:
    if not others:
        raise ValueError("missing argument for comparison")
    return any(_compare("eq")(a, b) for b in others)


def _refuse(name: str, why: str) -> Func:
    def refused(*args: object) -> object:
        raise ValueError(f"{name}() is not supported in edgewatch templates{why}")

    return refused


def functions(external_url: str) -> dict[str, Func]:
    """The function table of one template execution."""
    no_query = " (no queries from templates)"
    return {
        "and": lambda *a: next((x for x in a if not truth(x)), a[-1]),
        "or": lambda *a: next((x for x in a if truth(x)), a[-1]),
        "not": lambda a: not truth(a),
        "len": length,
        "index": index,
        "slice": slice_,
        "print": lambda *a: sprint(a),
        "println": lambda *a: " ".join(sprint_value(x) for x in a) + "\n",
        "printf": lambda f, *a: sprintf(_string(f, "format"), a),
        "html": lambda *a: html_escape(a),
        "js": lambda *a: js_escape(a),
        "urlquery": lambda *a: quote_plus(sprint(a), safe=""),
        "eq": _eq,
        "ne": _compare("ne"),
        "lt": _compare("lt"),
        "le": _compare("le"),
        "gt": _compare("gt"),
        "ge": _compare("ge"),
        "call": _refuse("call", ""),
        "query": _refuse("query", ""),
        "first": _refuse("first", no_query),
        "label": _refuse("label", no_query),
        "value": _refuse("value", no_query),
        "strvalue": _refuse("strvalue", no_query),
        "sortByLabel": _refuse("sortByLabel", no_query),
        "args": lambda *a: {f"arg{i}": x for i, x in enumerate(a)},
        "reReplaceAll": re_replace_all,
        "safeHtml": lambda s: _string(s, "text"),
        "match": match,
        "title": title,
        "toUpper": lambda s: _string(s, "text").upper(),
        "toLower": lambda s: _string(s, "text").lower(),
        "graphLink": lambda e: f"/graph?g0.expr={quote_plus(_string(e, 'expr'), safe='')}&g0.tab=0",
        "tableLink": lambda e: f"/graph?g0.expr={quote_plus(_string(e, 'expr'), safe='')}&g0.tab=1",
        "humanize": humanize,
        "humanize1024": humanize1024,
        "humanizeDuration": humanize_duration,
        "humanizePercentage": lambda v: go_g(to_float(v) * 100, 4) + "%",
        "humanizeTimestamp": humanize_timestamp,
        "toTime": lambda v: GoTime(to_float(v)),
        "toDuration": lambda v: GoDuration(to_float(v)),
        "pathPrefix": lambda: urlsplit(external_url).path,
        "externalURL": lambda: external_url,
        "parseDuration": lambda s: parse_duration(_string(s, "duration")),
        "stripPort": strip_port,
        "stripDomain": strip_domain,
    }
