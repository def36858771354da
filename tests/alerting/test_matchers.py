"""Alertmanager-syntax label matchers (edgewatch.alerting.matchers)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgewatch.alerting.matchers import (
    MatcherError,
    MatchOp,
    matches_all,
    parse_matcher,
    parse_matchers,
)


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('severity="critical"', "severity", MatchOp.EQUAL, "critical"),
        ("severity = critical", "severity", MatchOp.EQUAL, "critical"),
        ('job!="cam"', "job", MatchOp.NOT_EQUAL, "cam"),
        ('job=~"cam.*"', "job", MatchOp.REGEX, "cam.*"),
        ("job !~ cam.*", "job", MatchOp.NOT_REGEX, "cam.*"),
        ('msg="say \\"hi\\""', "msg", MatchOp.EQUAL, 'say "hi"'),
        ('empty=""', "empty", MatchOp.EQUAL, ""),
    ],
)
def test_parse_matcher_reads_name_op_and_value(
    text: str, name: str, op: MatchOp, value: str
) -> None:
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == (name, op, value)


def test_regex_is_anchored_and_missing_label_is_empty() -> None:
    m = parse_matcher('job=~"cam"')
    assert m.matches({"job": "cam"})
    assert not m.matches({"job": "camera"})
    assert not m.matches({"job": "webcam"})
    assert parse_matcher('job=""').matches({})
    assert parse_matcher('job!~".+"').matches({"other": "x"})
    assert not parse_matcher('job!="x"').matches({"job": "x"})


def test_parse_matchers_splits_at_commas_outside_quotes() -> None:
    ms = parse_matchers('{a="1,2", b=~"x|y" , c!=3}')
    assert [str(m) for m in ms] == ['a="1,2"', 'b=~"x|y"', 'c!="3"']
    assert matches_all(ms, {"a": "1,2", "b": "y", "c": "4"})
    assert not matches_all(ms, {"a": "1,2", "b": "z", "c": "4"})
    assert parse_matchers("{}") == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("severity", "expected NAME OP VALUE"),
        ("1abc=x", "expected NAME OP VALUE"),
        ('a="x', "expected NAME OP VALUE"),
    ],
)
def test_bad_matcher_is_named_in_the_error(text: str, needle: str) -> None:
    with pytest.raises(MatcherError) as err:
        parse_matcher(text)
    assert needle in str(err.value)
    assert repr(text) in str(err.value)


def test_unclosed_quote_in_a_list_is_an_error() -> None:
    with pytest.raises(MatcherError, match="never closed"):
        parse_matchers('a="x, b=y')


def test_bad_regex_is_a_matcher_error() -> None:
    with pytest.raises(MatcherError):
        parse_matcher('job=~"(unclosed"')


def test_to_dict_is_alertmanager_v2_shape() -> None:
    assert parse_matcher('a!~"x"').to_dict() == {
        "name": "a",
        "value": "x",
        "isRegex": True,
        "isEqual": False,
    }


@given(
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    op=st.sampled_from([MatchOp.EQUAL, MatchOp.NOT_EQUAL]),
    value=st.text(max_size=20),
)
def test_str_parses_back_to_the_same_matcher(name: str, op: MatchOp, value: str) -> None:
    m = parse_matcher(f"{name}{op.value}{json.dumps(value)}")
    assert (m.name, m.op, m.value) == (name, op, value)
    assert parse_matcher(str(m)) == m
    assert parse_matchers(f"{{{m}, {m}}}") == [m, m]
