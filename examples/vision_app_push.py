"""The same vision loop as vision_app_prometheus.py, pushing its figures to edgewatch.

For an application that cannot serve HTTP (no spare port, a sandbox, a short
job): every few seconds it sends its figures with ``edgewatch.client.push``
(standard library only) to the agent's ``POST /api/push``. Run it beside the
agent::

    python examples/vision_app_push.py --url http://127.0.0.1:8700

The series carry the same names as the scraped ones, with ``job="vision"``
added: ``vision_fps``, ``vision_inference_seconds_bucket{le=...}`` /
``_sum`` / ``_count`` and ``vision_detections_total{class=...}``, so the same
queries and rules work for both; see docs/scrape.md.
"""

from __future__ import annotations

import argparse
import bisect
import logging
import math
import os
import random
import time
from typing import Any

from edgewatch.client import PushError, push

CLASSES = ("bottle", "can", "carton")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, math.inf)

log = logging.getLogger("vision")


class VisionFigures:
    """FPS, a cumulative latency histogram and detections per class, as the JSON push form."""

    def __init__(self) -> None:
        self.fps = 0.0
        self.buckets = [0] * len(LATENCY_BUCKETS)  # observations per bucket, not cumulative
        self.latency_sum = 0.0
        self.detections = dict.fromkeys(CLASSES, 0)

    def observe(self, seconds: float, found: list[str]) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        for name in found:
            self.detections[name] += 1

    def items(self) -> list[dict[str, Any]]:
        fps = {"name": "vision_fps", "value": self.fps, "type": "gauge"}
        out: list[dict[str, Any]] = [{**fps, "help": "Frames processed per second."}]
        cumulative = 0
        for le, count in zip(LATENCY_BUCKETS, self.buckets, strict=True):
            cumulative += count
            bound = "+Inf" if math.isinf(le) else repr(le)
            out.append(
                {"name": "vision_inference_seconds_bucket", "labels": {"le": bound},
                 "value": cumulative}
            )  # fmt: skip
        out.append({"name": "vision_inference_seconds_sum", "value": self.latency_sum})
        out.append({"name": "vision_inference_seconds_count", "value": cumulative})
        for name, count in self.detections.items():
            out.append(
                {"name": "vision_detections_total", "labels": {"class": name}, "value": count,
                 "type": "counter", "help": "Objects detected, by class."}
            )  # fmt: skip
        return out


def infer(rng: random.Random) -> list[str]:
    """A stand-in for the detector: takes 20-60 ms, finds 0-3 objects."""
    time.sleep(rng.uniform(0.02, 0.06))
    return [rng.choice(CLASSES) for _ in range(rng.randint(0, 3))]


def run(args: argparse.Namespace, rng: random.Random) -> None:
    figures = VisionFigures()
    token = os.environ.get("EDGEWATCH_TOKEN")  # only needed off loopback
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else math.inf
    window_start, frames = time.monotonic(), 0
    next_push = time.monotonic() + args.every
    while time.monotonic() < deadline:
        start = time.perf_counter()
        found = infer(rng)
        figures.observe(time.perf_counter() - start, found)
        frames += 1
        now = time.monotonic()
        if now - window_start >= 1.0:
            figures.fps = round(frames / (now - window_start), 2)
            window_start, frames = now, 0
        if now >= next_push:
            next_push = now + args.every
            try:
                push(figures.items(), url=args.url, token=token, labels={"job": args.job})
            except PushError as exc:
                # The counts are cumulative: the next push carries what this one lost.
                log.warning("push failed, retrying in %gs: %s", args.every, exc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default="http://127.0.0.1:8700", help="the edgewatch agent")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between pushes")
    parser.add_argument("--job", default="vision", help="the job label of every series")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fake detector")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    log.info("pushing to %s every %gs", args.url, args.every)
    try:
        run(args, random.Random(args.seed))
    except KeyboardInterrupt:
        log.info("interrupted; stopping")


if __name__ == "__main__":
    main()
