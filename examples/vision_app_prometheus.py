"""A vision loop that exposes its figures with prometheus_client, for edgewatch to scrape.

The loop stands in for a real pipeline (camera frame -> detector -> results):
it reports frames per second, an inference latency histogram and detections
per class, on a loopback port. Run it beside the agent::

    python examples/vision_app_prometheus.py --port 8000

and tell the agent to scrape it (edgewatch.yaml)::

    collectors:
      scrape:
        targets:
          - job: vision
            url: http://127.0.0.1:8000/metrics

The series then appear as ``vision_fps{job="vision",instance="127.0.0.1:8000"}``,
``vision_inference_seconds_bucket{le="0.05",...}`` and
``vision_detections_total{class="bottle",...}``; see docs/scrape.md.
"""

from __future__ import annotations

import argparse
import logging
import random
import time

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

CLASSES = ("bottle", "can", "carton")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5)

log = logging.getLogger("vision")


class VisionMetrics:
    """The pipeline's figures, registered in ``registry`` (the process-wide one by default,
    which also brings prometheus_client's process_* and python_* series)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.fps = Gauge(
            "vision_fps", "Frames processed per second, over the last second.", registry=registry
        )
        self.inference = Histogram(
            "vision_inference_seconds",
            "Time the detector took per frame.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # Exposed as vision_detections_total: prometheus_client adds the _total.
        self.detections = Counter(
            "vision_detections", "Objects detected, by class.", ["class"], registry=registry
        )
        for name in CLASSES:
            self.detections.labels(name)  # every class shows from the start, at 0


def infer(rng: random.Random) -> list[str]:
    """A stand-in for the detector: takes 20-60 ms, finds 0-3 objects."""
    time.sleep(rng.uniform(0.02, 0.06))
    return [rng.choice(CLASSES) for _ in range(rng.randint(0, 3))]


def run(metrics: VisionMetrics, seconds: float, rng: random.Random) -> None:
    """The vision loop; ``seconds`` 0 runs until interrupted."""
    deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
    window_start, frames = time.monotonic(), 0
    while time.monotonic() < deadline:
        with metrics.inference.time():
            found = infer(rng)
        for name in found:
            metrics.detections.labels(name).inc()
        frames += 1
        now = time.monotonic()
        if now - window_start >= 1.0:
            metrics.fps.set(round(frames / (now - window_start), 2))
            window_start, frames = now, 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to serve /metrics on")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fake detector")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    metrics = VisionMetrics()
    server, thread = start_http_server(args.port, addr=args.host)
    log.info("serving metrics on http://%s:%d/metrics", args.host, server.server_port)
    try:
        run(metrics, args.seconds, random.Random(args.seed))
    except KeyboardInterrupt:
        log.info("interrupted; stopping")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


if __name__ == "__main__":
    main()
