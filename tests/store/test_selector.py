"""Series selectors: parsing, error messages and Prometheus matching semantics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.model import SeriesKey
from edgewatch.store.selector import Matcher, SelectorError, parse_selector

CPU0 = SeriesKey.of("node_cpu_seconds_total", cpu="0", mode="idle")
CPU1 = SeriesKey.of("node_cpu_seconds_total", cpu="1", mode="user")
LOAD = SeriesKey.of("node_load1")
DISK = SeriesKey.of("node_disk_read_bytes_total", device="mmcblk0")
KEYS = [CPU0, CPU1, LOAD, DISK]


def _m(sel: str) -> list[tuple[str, str, str]]:
    return [(m.label, m.op, m.value) for m in parse_selector(sel).matchers]


def test_bare_name() -> None:
    assert _m("node_load1") == [("__name__", "=", "node_load1")]
    assert parse_selector("  node:recorded_rule:rate5m ").name == "node:recorded_rule:rate5m"


def test_name_with_matchers_and_all_four_operators() -> None:
    sel = 'node_cpu_seconds_total{cpu="0", mode!="user",device=~"sd.*", fs!~"tmp|proc"}'
    assert _m(sel) == [
        ("__name__", "=", "node_cpu_seconds_total"),
        ("cpu", "=", "0"),
        ("mode", "!=", "user"),
        ("device", "=~", "sd.*"),
        ("fs", "!~", "tmp|proc"),
    ]


def test_braces_only_and_name_label() -> None:
    assert _m('{job="x"}') == [("job", "=", "x")]
    sel = parse_selector('{__name__="node_load1"}')
    assert sel.name == "node_load1"
    assert sel.select(KEYS) == [LOAD]


def test_empty_text_and_empty_braces_match_everything() -> None:
    assert parse_selector("").select(KEYS) == KEYS
    assert parse_selector("{}").select(KEYS) == KEYS


def test_trailing_comma_and_spaces_are_accepted() -> None:
    assert _m('up{ a = "1" , b="2", }') == [
        ("__name__", "=", "up"),
        ("a", "=", "1"),
        ("b", "=", "2"),
    ]


def test_escapes_in_values() -> None:
    assert _m(r'x{a="q\"uote", b="back\\slash", c="new\nline", d="tab\t", e="\d+"}')[1:] == [
        ("a", "=", 'q"uote'),
        ("b", "=", "back\\slash"),
        ("c", "=", "new\nline"),
        ("d", "=", "tab\t"),
        ("e", "=", "\\d+"),  # unknown escapes stay for the regex engine
    ]
    assert _m("x{a='single \\' quote'}")[1] == ("a", "=", "single ' quote")
    assert _m('x{a="}{,"}')[1] == ("a", "=", "}{,")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1abc", "expected '{' at position 0"),
        ("up{", "expected '{' at position 2"),
        ("up}", "expected '{' at position 2"),
        ('up{a="1"', "expected '{'"),
        ('up{a="1}', "unterminated string"),
        ("up{a=1}", "expected quoted value after a="),
        ('up{="1"}', "expected label matcher"),
        ('up{1a="1"}', "expected label matcher"),
        ('up{a=="1"}', "expected quoted value after a="),
        ('up{a=~"("}', "bad regular expression '\\('"),
        ('up{a="1"}x}', "expected label matcher"),
    ],
)
def test_bad_selectors_raise_with_a_message(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message) as info:
        parse_selector(text)
    assert repr(text) in str(info.value) or "regular expression" in message
    assert isinstance(info.value, ValueError)


def test_unknown_operator_is_refused() -> None:
    with pytest.raises(SelectorError, match="unknown matcher operator '=='"):
        Matcher.make("a", "==", "x")


def test_missing_label_equals_empty_string() -> None:
    assert parse_selector('{device=""}').select(KEYS) == [CPU0, CPU1, LOAD]
    assert parse_selector('{device!=""}').select(KEYS) == [DISK]
    assert parse_selector('{device=~".*"}').select(KEYS) == KEYS
    assert parse_selector('{device=~".+"}').select(KEYS) == [DISK]
    assert parse_selector('{device!~"mmc.*"}').select(KEYS) == [CPU0, CPU1, LOAD]


def test_regex_is_fully_anchored() -> None:
    assert parse_selector('{__name__=~"node_cpu"}').select(KEYS) == []
    assert parse_selector('{__name__=~"cpu.*"}').select(KEYS) == []
    assert parse_selector('{__name__=~".*cpu.*"}').select(KEYS) == [CPU0, CPU1]
    assert parse_selector('{__name__=~"node_load1|node_disk.*"}').select(KEYS) == [LOAD, DISK]
    assert parse_selector('{mode!~"idl"}').select(KEYS) == KEYS
    assert parse_selector('{mode!~"idle"}').select(KEYS) == [CPU1, LOAD, DISK]
    # An alternation must not escape the anchors: "a|b" means ^(a|b)$.
    assert parse_selector('{cpu=~"1|0x"}').select(KEYS) == [CPU1]


def test_name_and_matchers_must_all_hold() -> None:
    assert parse_selector('node_cpu_seconds_total{mode="idle"}').select(KEYS) == [CPU0]
    assert parse_selector('node_load1{mode="idle"}').select(KEYS) == []


def test_matchers_compare_by_value_not_by_compiled_regex() -> None:
    assert parse_selector('a{b=~"x.*"}') == parse_selector('a{ b =~ "x.*" }')


label_values = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20
)


@settings(max_examples=200, deadline=None)
@given(label_values)
def test_any_label_value_round_trips_through_series_key_text(value: str) -> None:
    key = SeriesKey.of("m", lab=value)
    sel = parse_selector(str(key))
    assert sel.matches(SeriesKey("m", (("lab", value),)))
    assert [(m.label, m.op, m.value) for m in sel.matchers] == [
        ("__name__", "=", "m"),
        *([("lab", "=", value)] if value else []),
    ]
