"""The scrape collector against a real loopback HTTP server: names, labels, guards, failures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from collect_helpers import values
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from scrape_server import OPENMETRICS, Answer, ExpositionServer, exposition_server

from edgewatch.collect.registry import load_collector_class
from edgewatch.collect.scrape import ScrapeCollector, builtin_metric_names, tick_seconds
from edgewatch.config.scrape import ScrapeTarget
from edgewatch.config.secret import Secret
from edgewatch.model import Collector

LOGGER = "edgewatch.collect.scrape"


class Clock:
    def __init__(self) -> None:
        self.now = 1_200_000.0  # a multiple of every interval below

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[ExpositionServer]:
    with exposition_server() as srv:
        yield srv


def vision_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("vision_fps", "Frames per second.", registry=registry).set(29.5)
    detections = Counter("vision_detections", "Detections.", ["class"], registry=registry)
    detections.labels("bottle").inc(3)
    detections.labels("can").inc(2)
    latency = Histogram(
        "vision_inference_seconds", "Latency.", buckets=(0.01, 0.1), registry=registry
    )
    latency.observe(0.05)
    return registry


def collector(
    server: ExpositionServer, clock: Clock, *targets: dict[str, Any], **kw: Any
) -> ScrapeCollector:
    base = {"job": "vision", "url": server.url("/metrics")}
    specs = [ScrapeTarget(**{**base, **t}) for t in targets or [{}]]
    return ScrapeCollector(targets=specs, clock=clock, **kw)


def scrape(col: ScrapeCollector, clock: Clock, step: float = 15.0) -> dict[str, float]:
    out = values(col.collect())
    clock.now += step
    return out


def app_series(found: dict[str, float]) -> dict[str, float]:
    own = ("up{", "scrape_", "edgewatch_scrape_")
    return {k: v for k, v in found.items() if not k.startswith(own)}


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_series_keep_their_names_and_get_job_and_instance(
    server: ExpositionServer, fmt: str
) -> None:
    registry = vision_registry()
    if fmt == "text":
        server.answers["/metrics"] = Answer(generate_latest(registry))
    else:
        server.answers["/metrics"] = Answer(generate_openmetrics(registry), OPENMETRICS)
    clock = Clock()
    found = scrape(collector(server, clock), clock)
    inst = f'instance="127.0.0.1:{server.port}",job="vision"'
    assert app_series(found) == {
        f"vision_fps{{{inst}}}": 29.5,
        f'vision_detections_total{{class="bottle",{inst}}}': 3.0,
        f'vision_detections_total{{class="can",{inst}}}': 2.0,
        f'vision_inference_seconds_bucket{{{inst},le="0.01"}}': 0.0,
        f'vision_inference_seconds_bucket{{{inst},le="0.1"}}': 1.0,
        f'vision_inference_seconds_bucket{{{inst},le="+Inf"}}': 1.0,
        f"vision_inference_seconds_sum{{{inst}}}": 0.05,
        f"vision_inference_seconds_count{{{inst}}}": 1.0,
    }  # no _created timestamps
    assert found[f"up{{{inst}}}"] == 1.0
    assert found[f"scrape_samples_scraped{{{inst}}}"] == 8.0
    assert found[f"scrape_samples_post_metric_relabeling{{{inst}}}"] == 8.0
    assert 0.0 < found[f"scrape_duration_seconds{{{inst}}}"] < 10.0
    assert found[f'edgewatch_scrape_samples_refused_total{{{inst},reason="series_limit"}}'] == 0


def test_keep_and_drop_match_whole_names(server: ExpositionServer) -> None:
    server.answers["/metrics"] = Answer(generate_latest(vision_registry()))
    clock = Clock()
    col = collector(server, clock, {"keep": ["vision_.*"], "drop": ["vision_inference_.*", "fps"]})
    names = {k.split("{")[0] for k in app_series(scrape(col, clock))}
    # "fps" does not match the whole of "vision_fps": kept.
    assert names == {"vision_fps", "vision_detections_total"}


def test_honor_labels(server: ExpositionServer) -> None:
    server.answers["/metrics"] = Answer(b'app_jobs{job="resize",site="a"} 4\n')
    clock = Clock()
    ours = collector(server, clock, {"labels": {"site": "shop-12"}})
    inst = f'instance="127.0.0.1:{server.port}"'
    assert app_series(scrape(ours, clock)) == {
        f'app_jobs{{exported_job="resize",exported_site="a",{inst},job="vision",site="shop-12"}}': 4
    }
    theirs = collector(server, clock, {"labels": {"site": "shop-12"}, "honor_labels": True})
    assert app_series(scrape(theirs, clock)) == {f'app_jobs{{{inst},job="resize",site="a"}}': 4}


def test_series_beyond_max_series_are_refused_counted_and_logged_once(
    server: ExpositionServer, caplog: pytest.LogCaptureFixture
) -> None:
    lines = "".join(f'app_items{{n="{i}"}} {i}\n' for i in range(5))
    server.answers["/metrics"] = Answer(lines.encode())
    clock = Clock()
    col = collector(server, clock, {"max_series": 3})
    caplog.set_level(logging.WARNING, LOGGER)
    first = scrape(col, clock)
    second = scrape(col, clock)
    for found in (first, second):
        assert sorted(v for v in app_series(found).values()) == [0, 1, 2]
    refused = [v for k, v in second.items() if 'reason="series_limit"' in k]
    assert refused == [4.0]  # two refused per scrape
    assert first[next(k for k in first if k.startswith("up{"))] == 1.0
    assert caplog.text.count("more than 3 series (max_series)") == 1


def test_builtin_names_are_refused_like_push_refuses_them(
    server: ExpositionServer, caplog: pytest.LogCaptureFixture
) -> None:
    reserved = builtin_metric_names()
    for name in ("system_cpu_usage_ratio", "edgewatch_process_resident_memory_bytes", "up"):
        assert name in reserved
    server.answers["/metrics"] = Answer(b"system_cpu_usage_ratio 0.5\nup 1\napp_ok 1\n")
    clock = Clock()
    col = collector(server, clock)
    caplog.set_level(logging.WARNING, LOGGER)
    scrape(col, clock)
    found = scrape(col, clock)
    assert [k.split("{")[0] for k in app_series(found)] == ["app_ok"]
    assert found[next(k for k in found if 'reason="builtin_name"' in k)] == 4.0
    assert caplog.text.count("'system_cpu_usage_ratio' is a built-in edgewatch metric") == 1
    assert caplog.text.count("'up' is a built-in edgewatch metric") == 1


def test_a_target_going_down_is_one_log_line_and_up_0(
    server: ExpositionServer, caplog: pytest.LogCaptureFixture
) -> None:
    gone = ScrapeTarget(job="gone", url=server.url("/gone"))
    server.answers["/metrics"] = Answer(b"app_ok 1\n")
    clock = Clock()
    col = ScrapeCollector(
        targets=[ScrapeTarget(job="vision", url=server.url("/metrics")), gone], clock=clock
    )
    caplog.set_level(logging.INFO, LOGGER)
    ups = []
    for _ in range(3):
        found = scrape(col, clock)
        ups.append(found[f'up{{instance="127.0.0.1:{server.port}",job="gone"}}'])
    assert ups == [0.0, 0.0, 0.0]
    assert caplog.text.count("scrape gone (") == 1
    assert "is down: HTTP 404 Not Found (http_status); up=0 until it answers again" in caplog.text
    server.answers["/gone"] = Answer(b"app_back 1\n")
    found = scrape(col, clock)
    assert found[f'up{{instance="127.0.0.1:{server.port}",job="gone"}}'] == 1.0
    assert caplog.text.count("scrape gone (") == 2
    assert f"scrape gone (http://127.0.0.1:{server.port}/gone) is up again" in caplog.text
    assert "scrape vision" not in caplog.text


def test_malformed_text_is_counted_and_logged_once(
    server: ExpositionServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.answers["/metrics"] = Answer(b"app_ok 1\napp_bad{oops} 1\n")
    clock = Clock()
    col = collector(server, clock)
    caplog.set_level(logging.WARNING, LOGGER)
    counts = []
    for _ in range(3):
        found = scrape(col, clock)
        counts.append(found[next(k for k in found if 'reason="malformed"' in k)])
        assert app_series(found) == {}
        assert found[next(k for k in found if k.startswith("up{"))] == 0.0
    assert counts == [1.0, 2.0, 3.0]
    assert caplog.text.count("is down: bad exposition text: Invalid labels: oops") == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(b"x", status=500), "http_status"),
        (Answer(b"app 1\n" * 100), "too_large"),
        (Answer(b"\xff\xfe 1\n"), "malformed"),
        (Answer(b"app_ok 1\n", OPENMETRICS), "malformed"),  # no "# EOF"
        (Answer(b"app_ok 1\n", delay=5.0), "timeout"),
    ],
)
def test_failures_are_classified(server: ExpositionServer, answer: Answer, reason: str) -> None:
    server.answers["/metrics"] = answer
    clock = Clock()
    col = collector(server, clock, {"timeout": 0.3}, body_size_limit=200)
    found = scrape(col, clock)
    assert found[next(k for k in found if k.startswith("edgewatch_scrape_failures_total"))] == 1
    assert next(k for k in found if k.startswith("edgewatch_scrape_failures_total")).endswith(
        f'reason="{reason}"}}'
    )
    assert app_series(found) == {}


def test_unreachable_target(caplog: pytest.LogCaptureFixture) -> None:
    with exposition_server() as srv:
        url = srv.url("/metrics")  # a port nobody listens on once the server is gone
    clock = Clock()
    col = ScrapeCollector(targets=[ScrapeTarget(job="vision", url=url)], clock=clock)
    found = scrape(col, clock)
    assert next(k for k in found if "failures" in k).endswith('reason="unreachable"}')


def test_secrets_in_the_url_stay_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with exposition_server() as srv:
        url = f"http://127.0.0.1:{srv.port}/metrics?token=s3cret"
    clock = Clock()
    target = ScrapeTarget(job="vision", url=url, bearer_token=Secret("hunter2"))
    col = ScrapeCollector(targets=[target], clock=clock)
    caplog.set_level(logging.INFO, LOGGER)
    col.collect()
    assert f"scrape vision (http://127.0.0.1:{srv.port}/metrics) is down" in caplog.text
    assert "hunter2" not in caplog.text and "s3cret" not in caplog.text
    assert "hunter2" not in repr(target) and "hunter2" not in repr(col._targets)


def test_more_samples_than_sample_limit_fail_the_scrape_before_the_rest_is_parsed(
    server: ExpositionServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Five samples, then a line the parser would refuse: stopping at the sixth sample
    # means the parser never reached it (a "malformed" failure would mean it did).
    lines = "".join(f'app_items{{n="{i}"}} {i}\n' for i in range(6)) + "app_bad{oops} 1\n"
    server.answers["/metrics"] = Answer(lines.encode())
    clock = Clock()
    col = collector(server, clock, {"sample_limit": 5})
    caplog.set_level(logging.WARNING, LOGGER)
    found = [scrape(col, clock) for _ in range(3)][-1]
    inst = f'instance="127.0.0.1:{server.port}",job="vision"'
    assert app_series(found) == {}
    assert found[f"up{{{inst}}}"] == 0.0
    assert found[f'edgewatch_scrape_failures_total{{{inst},reason="sample_limit"}}'] == 3.0
    assert not any('reason="malformed"' in k for k in found)
    assert caplog.text.count("is down: more than 5 samples (sample_limit)") == 1


def test_sample_limit_counts_samples_not_created_timestamps(server: ExpositionServer) -> None:
    server.answers["/metrics"] = Answer(generate_latest(vision_registry()))  # 8 + 3 _created
    clock = Clock()
    found = scrape(collector(server, clock, {"sample_limit": 8}), clock)
    assert found[f'up{{instance="127.0.0.1:{server.port}",job="vision"}}'] == 1.0
    assert len(app_series(found)) == 8


def test_the_section_sample_limit_applies_to_targets_that_set_none(
    server: ExpositionServer,
) -> None:
    server.answers["/metrics"] = Answer(b"app_a 1\napp_b 2\napp_c 3\n")
    clock = Clock()
    found = scrape(
        collector(server, clock, {}, {"job": "big", "sample_limit": 3}, sample_limit=2), clock
    )
    ups = {k: v for k, v in found.items() if k.startswith("up{")}
    assert sorted(ups.values()) == [0.0, 1.0]
    assert found[next(k for k in found if 'job="vision",reason="sample_limit"' in k)] == 1.0


@pytest.mark.parametrize("content_length", [True, False])
def test_an_answer_over_body_size_limit_is_abandoned(
    server: ExpositionServer, content_length: bool
) -> None:
    body = b"app_ok 1\n" * 50_000  # 450 KB
    server.answers["/metrics"] = Answer(body, content_length=content_length)
    clock = Clock()
    col = collector(server, clock, {"body_size_limit": "64KiB"})
    found = scrape(col, clock)
    assert found[next(k for k in found if k.startswith("up{"))] == 0.0
    failures = [k for k in found if k.startswith("edgewatch_scrape_failures_total")]
    assert len(failures) == 1 and failures[0].endswith('reason="too_large"}')
    bigger = collector(server, clock, {"body_size_limit": "1MiB"})
    assert values(bigger.collect())[f'up{{instance="127.0.0.1:{server.port}",job="vision"}}'] == 1


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        ({"bearer_token": "t0ken"}, "Bearer t0ken"),
        (
            {"basic_auth": {"username": "edgewatch", "password": "pa:ss"}},
            "Basic ZWRnZXdhdGNoOnBhOnNz",  # base64("edgewatch:pa:ss")
        ),
        ({}, None),
    ],
)
def test_credentials_are_sent_in_the_authorization_header(
    server: ExpositionServer, auth: dict[str, Any], header: str | None
) -> None:
    server.answers["/metrics"] = Answer(b"app_ok 1\n")
    clock = Clock()
    found = scrape(collector(server, clock, auth), clock)
    assert found[f'up{{instance="127.0.0.1:{server.port}",job="vision"}}'] == 1.0
    assert server.authorization == {"/metrics": header}


def test_credentials_do_not_follow_a_redirect(server: ExpositionServer) -> None:
    server.answers["/metrics"] = Answer(b"", status=302, location=server.url("/moved"))
    server.answers["/moved"] = Answer(b"app_ok 1\n")
    clock = Clock()
    found = scrape(collector(server, clock, {"bearer_token": "t0ken"}), clock)
    assert found[f'up{{instance="127.0.0.1:{server.port}",job="vision"}}'] == 1.0
    assert server.authorization == {"/metrics": "Bearer t0ken", "/moved": None}


def test_each_target_is_scraped_once_per_slot_of_its_interval(server: ExpositionServer) -> None:
    server.answers["/fast"] = Answer(b"app_fast 1\n")
    server.answers["/slow"] = Answer(b"app_slow 1\n")
    clock = Clock()
    col = ScrapeCollector(
        interval=2.0,
        targets=[
            ScrapeTarget(job="fast", url=server.url("/fast")),
            ScrapeTarget(job="slow", url=server.url("/slow"), interval=6.0),
        ],
        clock=clock,
    )
    assert col.interval == 2.0
    for _ in range(6):  # 12 s: 6 slots of 2 s, 2 of 6 s (the clock starts on a slot edge)
        col.collect()
        col.collect()  # a second call in the same slot scrapes nothing
        clock.now += 2.0
    assert server.hits == {"/fast": 6, "/slow": 2}


def test_tick_is_the_gcd_of_the_intervals() -> None:
    assert tick_seconds([15_000, 10_000]) == 5.0
    assert tick_seconds([15_000, 14_500]) == 1.0  # at least a second...
    assert tick_seconds([500, 750]) == 0.5  # ...unless a target asks for less
    assert tick_seconds([]) is None


def test_the_registry_builds_it_like_any_collector() -> None:
    cls = load_collector_class("scrape")
    col = cls(interval=15.0, proc_root="/proc", sys_root="/sys")
    assert isinstance(col, Collector)
    assert col.available() == "no scrape targets configured (collectors.scrape.targets)"
    assert {f.name for f in col.families()} >= {"up", "scrape_duration_seconds"}
