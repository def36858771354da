"""The two vision examples run against the real agent: one scraped, one pushing; their
figures (FPS, inference latency histogram, detections per class) reach the agent's API."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent_process import wait_for
from scraping_agent import ApiAgent, scrape_config, scraping_agent

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SERVING = re.compile(r"serving metrics on (http://127\.0\.0\.1:\d+/metrics)")
DOC_QUERIES = (
    'rate(vision_detections_total{job="vision"}[1m])',
    'rate(vision_inference_seconds_sum{job="vision"}[1m])'
    ' / rate(vision_inference_seconds_count{job="vision"}[1m])',
    'rate(vision_inference_seconds_bucket{job="vision",le="0.5"}[1m])'
    ' / ignoring(le) rate(vision_inference_seconds_count{job="vision"}[1m])',
)


@contextmanager
def example(tmp: Path, name: str, *args: str) -> Iterator[Path]:
    """Run examples/NAME with ARGS for at most 120 s; yields its log file."""
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), "--seconds", "120", "--seed", "7", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def series(agent: ApiAgent, match: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = agent.get("/api/v1/series", **{"match[]": match})["data"]
    return found


def figures_arrived(agent: ApiAgent, selector: str) -> bool:
    """FPS above 0, the histogram with observations, detections of every class."""
    fps = agent.query(f"vision_fps{selector}")
    count = agent.query(f"vision_inference_seconds_count{selector}")
    inf = agent.query(f'vision_inference_seconds_bucket{selector[:-1]},le="+Inf"}}')
    classes = agent.query(f"vision_detections_total{selector}")
    return (
        len(fps) == 1
        and next(iter(fps.values())) > 0
        and len(count) == 1
        and next(iter(count.values())) > 0
        and list(inf.values()) == list(count.values())
        and len(classes) == 3
    )


def _positive(agent: ApiAgent, expr: str) -> bool:
    """The query answers, and some of its values are above 0."""
    return any(v > 0 for v in agent.query(expr).values())


@pytest.mark.slow
def test_both_examples_report_to_a_real_agent(tmp_path: Path) -> None:
    with example(tmp_path, "vision_app_prometheus.py", "--port", "0") as app_log:
        url = wait_for(
            lambda: (m := SERVING.search(app_log.read_text())) and m.group(1), 30, "the app's URL"
        )
        config = scrape_config({"job": "vision", "url": url})
        with scraping_agent(tmp_path, config) as agent:
            instance = url.split("/")[2]
            scraped = f'{{job="vision",instance="{instance}"}}'
            wait_for(lambda: figures_arrived(agent, scraped), 60, "the scraped figures")
            buckets = series(agent, f"vision_inference_seconds_bucket{scraped}")
            assert {s["le"] for s in buckets} == {
                "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "+Inf",
            }  # fmt: skip
            classes = series(agent, f"vision_detections_total{scraped}")
            assert {s["class"] for s in classes} == {"bottle", "can", "carton"}
            # The queries docs/scrape.md shows.
            for expr in DOC_QUERIES:
                wait_for(lambda e=expr: _positive(agent, e), 30, expr)

            with example(
                tmp_path, "vision_app_push.py", "--url", agent.url, "--every", "1", "--job", "push"
            ) as push_log:
                pushed = '{job="push"}'
                wait_for(lambda: figures_arrived(agent, pushed), 60, "the pushed figures")
                pushed_buckets = series(agent, f"vision_inference_seconds_bucket{pushed}")
                # The same names and bucket bounds as the scraped app's.
                assert {s["le"] for s in pushed_buckets} == {s["le"] for s in buckets}
                assert "push failed" not in push_log.read_text()
