"""The real agent scrapes a prometheus_client app on loopback: its series reach the store
(read by a separate reader) and the dashboard explorer's API; a target that goes down, and
one that serves malformed text, are each one log line, not one per interval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from scrape_server import Answer, exposition_server

from agent_process import read_all, wait_for
from edgewatch.model import SeriesKey
from scraping_agent import ApiAgent, scrape_config, scraping_agent


class VisionApp:
    """A prometheus_client app serving its metrics on a loopback port from a thread."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        Gauge("vision_fps", "Frames per second.", registry=self.registry).set(29.5)
        detections = Counter("vision_detections", "Detections.", ["class"], registry=self.registry)
        detections.labels("bottle").inc(7)
        latency = Histogram(
            "vision_inference_seconds", "Latency.", buckets=(0.02, 0.05), registry=self.registry
        )
        latency.observe(0.03)
        self.server, self.thread = start_http_server(0, "127.0.0.1", registry=self.registry)
        self.port = self.server.server_port
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(10)


@pytest.fixture
def app() -> Iterator[VisionApp]:
    vision = VisionApp()
    try:
        yield vision
    finally:
        vision.stop()


def down_lines(agent: ApiAgent, job: str) -> int:
    return sum(
        1
        for line in agent.process.log().splitlines()
        if f"scrape {job} (" in line and "is down" in line
    )


@pytest.mark.slow
def test_scraped_series_reach_the_store_and_the_explorer(app: VisionApp, tmp_path: Path) -> None:
    with exposition_server() as bad:
        bad.answers["/metrics"] = Answer(b"vision_ok 1\nvision_bad{oops} 1\n")
        config = scrape_config(
            {"job": "vision", "url": app.url, "labels": {"camera": "front"}},
            {"job": "broken", "url": bad.url("/metrics")},
        )
        with scraping_agent(tmp_path, config) as agent:
            labels = {"camera": "front", "instance": f"127.0.0.1:{app.port}", "job": "vision"}
            inst = f'camera="front",instance="127.0.0.1:{app.port}",job="vision"'
            fps = f"vision_fps{{{inst}}}"
            # The store, read by a separate reader.
            stored = wait_for(
                lambda: (s := read_all(agent.process.store_file)).get(fps) and s,
                30,
                f"{fps} in the store",
            )
            assert set(stored[fps].values()) == {29.5}
            detections = SeriesKey.of("vision_detections_total", labels, **{"class": "bottle"})
            assert set(stored[str(detections)].values()) == {7}
            bucket = f'vision_inference_seconds_bucket{{{inst},le="0.05"}}'
            assert set(stored[bucket].values()) == {1.0}
            assert not any("_created" in key for key in stored)

            # The explorer's API: series list and a range query.
            series = agent.get("/api/v1/series", **{"match[]": '{job="vision"}'})["data"]
            names = {s["__name__"] for s in series}
            assert {
                "vision_fps",
                "vision_detections_total",
                "vision_inference_seconds_bucket",
                "vision_inference_seconds_sum",
                "vision_inference_seconds_count",
                "up",
                "scrape_duration_seconds",
            } <= names
            matrix = agent.query_range('vision_fps{job="vision"}')
            assert len(matrix) == 1
            assert matrix[0]["metric"] == {
                "__name__": "vision_fps",
                "camera": "front",
                "instance": f"127.0.0.1:{app.port}",
                "job": "vision",
            }
            assert {float(v) for _, v in matrix[0]["values"]} == {29.5}
            assert agent.query('up{job="vision"}') == {
                f'__name__="up",{inst}': 1.0,
            }

            # Malformed text: up=0, counted on every scrape, logged once.
            failures = 'edgewatch_scrape_failures_total{job="broken",reason="malformed"}'
            wait_for(lambda: _value(agent, failures) >= 3, 30, f"{failures} >= 3")
            assert _value(agent, 'up{job="broken"}') == 0.0
            assert down_lines(agent, "broken") == 1
            assert "is down: bad exposition text: Invalid labels: oops" in agent.process.log()

            # The app goes away: up=0 and one log line, however many intervals pass.
            app.stop()
            wait_for(lambda: _value(agent, 'up{job="vision"}') == 0.0, 30, "vision up=0")
            gone = 'edgewatch_scrape_failures_total{job="vision",reason="unreachable"}'
            wait_for(lambda: _value(agent, gone) >= 3, 30, f"{gone} >= 3")
            assert down_lines(agent, "vision") == 1
            assert down_lines(agent, "broken") == 1


def _value(agent: ApiAgent, expr: str) -> float:
    found = agent.query(expr)
    return next(iter(found.values())) if len(found) == 1 else float("nan")
