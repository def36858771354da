"""Parsing what prometheus_client exposes gives back every sample, in both formats (property)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector

from edgewatch.collect.scrape_fetch import ScrapeFailure, parse

# No colons: prometheus_client's OpenMetrics writer escapes them to underscores.
NAMES = st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,20}\Z").filter(
    lambda n: not n.endswith(("_created", "_total", "_info", "_count", "_sum", "_bucket"))
)
LABELS = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_]{0,10}\Z")
LABEL_VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
VALUES = st.floats(allow_nan=False) | st.sampled_from([math.inf, -math.inf])


class Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


@st.composite
def expositions(draw: st.DrawFn) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name in draw(st.sets(NAMES, min_size=1, max_size=4)):
        label_names = draw(st.lists(LABELS, unique=True, max_size=3))
        rows = draw(
            st.lists(
                st.tuples(st.tuples(*[LABEL_VALUES] * len(label_names)), VALUES),
                unique_by=lambda r: r[0],
                min_size=1,
                max_size=4,
            )
        )
        out[name] = [(dict(zip(label_names, lv, strict=True)), v) for lv, v in rows]
    return out


@settings(max_examples=60, deadline=None)
@given(expositions(), st.booleans())
def test_parse_gives_back_what_prometheus_client_exposes(
    data: dict[str, list[tuple[dict[str, str], float]]], openmetrics: bool
) -> None:
    metrics: list[Metric] = []
    for name, rows in data.items():
        fam = GaugeMetricFamily(name, "help", labels=list(rows[0][0]))
        for labels, value in rows:
            fam.add_metric(list(labels.values()), value)
        metrics.append(fam)
    registry = CollectorRegistry()
    registry.register(Fixed(metrics))
    if openmetrics:
        body, ctype = generate_openmetrics(registry), "application/openmetrics-text"
    else:
        body, ctype = generate_latest(registry), "text/plain; version=0.0.4"
    parsed = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in parse(body, ctype)}
    expected = {
        (name, tuple(sorted(labels.items()))): value
        for name, rows in data.items()
        for labels, value in rows
    }
    assert parsed == expected


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_as_malformed(body: bytes) -> None:
    for ctype in ("text/plain", "application/openmetrics-text"):
        try:
            parse(body, ctype)
        except ScrapeFailure as exc:
            assert exc.reason == "malformed"


@pytest.mark.parametrize("ctype", ["text/plain", "application/openmetrics-text"])
def test_parse_stops_at_the_first_sample_past_the_limit(ctype: str) -> None:
    lines = b"# TYPE app_items gauge\n" + b"".join(b'app_items{n="%d"} 1\n' % i for i in range(4))
    assert len(parse(lines + b"# EOF\n", ctype, sample_limit=4)) == 4
    # The bad line after the limit is never read: the failure is the limit, not the text.
    with pytest.raises(ScrapeFailure) as info:
        parse(lines + b"bad{ 1\n", ctype, sample_limit=3)
    assert (info.value.reason, str(info.value)) == (
        "sample_limit",
        "more than 3 samples (sample_limit)",
    )


def test_a_bad_byte_is_named_by_its_offset_in_the_answer() -> None:
    with pytest.raises(ScrapeFailure) as info:
        parse(b"app_ok 1\napp_\xff 1\n", "text/plain")
    assert (info.value.reason, str(info.value)) == ("malformed", "answer is not UTF-8 (byte 13)")
