"""A realistic edgewatch for the dashboard's screenshots and benchmark: the real agent
(``python -m edgewatch run``) on a loopback port over a store holding three hours of
history, a reverse-vending machine's health checks, and a firing alert.

How the history is made: a first, short run of the agent on a scratch data directory
shows which series this machine has (their exact names and labels) and how fast each
counter grows; three hours of those series, shaped from those figures, are written into
the real data directory, then the agent is started on it. A background thread plays
the vision pipeline: it pushes ``vision_fps`` (low: the VisionFpsLow alert fires, the
``vision-fps`` check warns) and touches the camera's frame file.
"""

from __future__ import annotations

import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store

HISTORY_S = 3 * 3600
HISTORY_STEP_S = 15
DISCOVERY_S = 8.0
START_TIMEOUT_S = 30.0
FPS_SERIES = SeriesKey.of("vision_fps", pipeline="detector")

CONFIG = """\
listen: 127.0.0.1:{port}
store:
  commit_interval: 1s
health:
  components:
    camera: {{weight: 2}}
    vision: {{weight: 3, depends_on: [camera]}}
    network: {{weight: 1}}
  checks:
    - kind: file
      name: camera-frame
      component: camera
      path: {frame}
      max_age: 30s
      interval: 5s
      timeout: 3s
    - kind: metric
      name: vision-fps
      component: vision
      query: avg_over_time(vision_fps[1m])
      warn_below: 10
      fail_below: 5
      interval: 5s
      timeout: 3s
    - kind: tcp
      name: uplink
      component: network
      host: 127.0.0.1
      port: {port}
      interval: 5s
      timeout: 3s
alerting:
  rule_files: [{rules}]
"""

RULES = """\
groups:
  - name: rvm
    interval: 5s
    rules:
      - alert: VisionFpsLow
        expr: avg_over_time(vision_fps[1m]) < 10
        labels: {severity: warning}
        annotations: {summary: "vision pipeline at {{ $value | humanize }} fps"}
      - alert: DiskAlmostFull
        expr: system_filesystem_usage_ratio > 0.95
        for: 10m
        labels: {severity: critical}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    url: str
    pid: int
    data_dir: Path


class AgentRun:
    """One ``edgewatch run`` subprocess on ``data_dir``, its log in ``log_path``."""

    def __init__(self, root: Path, data_dir: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = data_dir
        self.config = root / f"edgewatch-{port}.yaml"
        frame, rules = root / "last-frame.jpg", root / "rules.yml"
        frame.write_bytes(b"\xff\xd8\xff\xd9")
        rules.write_text(RULES)
        self.config.write_text(CONFIG.format(port=port, frame=frame, rules=rules))
        self.log_path = root / f"agent-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
        argv = [sys.executable, "-m", "edgewatch", "run", "--config", str(self.config)]
        argv += ["--data-dir", str(self.data_dir)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the agent exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the agent did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def push_fps(url: str, value: float) -> None:
    body = f'vision_fps{{pipeline="detector"}} {value:.2f}\n'
    httpx.post(f"{url}/api/push", content=body, headers={"content-type": "text/plain"}, timeout=5)


def discover(root: Path) -> dict[SeriesKey, tuple[float, float]]:
    """Every series a short run of the agent writes: its last value and, for a counter,
    its growth per second."""
    run = AgentRun(root, root / "discovery", free_port())
    run.start()
    try:
        push_fps(run.url, 28.0)
        time.sleep(DISCOVERY_S)
        end = time.time()
        params: dict[str, str | float] = {"query": '{__name__=~".+"}', "step": 1}
        params.update(start=end - DISCOVERY_S, end=end)
        body = httpx.get(f"{run.url}/api/v1/query_range", params=params, timeout=30).json()
    finally:
        run.stop()
    found: dict[SeriesKey, tuple[float, float]] = {}
    for series in body["data"]["result"]:
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        points = [(float(t), float(v)) for t, v in series["values"]]
        (t0, v0), (t1, v1) = points[0], points[-1]
        rate = (v1 - v0) / (t1 - t0) if name.endswith("_total") and t1 > t0 else 0.0
        found[SeriesKey.of(name, **labels)] = (v1, max(rate, 0.0))
    return found


def shaped(key: SeriesKey, last: float, rate: float, ago_s: float, rng: random.Random) -> float:
    """The value ``ago_s`` seconds before ``last``: counters grow, ratios wander."""
    if key.name.endswith("_total"):
        return max(0.0, last - rate * ago_s * (1 + 0.3 * math.sin(ago_s / 900)))
    if key.name.startswith(("edgewatch_check", "edgewatch_health")) or last == 0:
        return last
    wave = 0.25 * math.sin(ago_s / 1100 + zlib.crc32(str(key).encode()) % 7) + rng.uniform(
        -0.08, 0.08
    )
    value = last * (1 + wave)
    return min(1.0, max(0.0, value)) if key.name.endswith("_ratio") else value


def fps_at(ago_s: float, rng: random.Random) -> float:
    """The pipeline ran at ~29 fps until 20 minutes ago, then fell to ~8."""
    base = 8.0 if ago_s < 1200 else 29.0
    return base + rng.uniform(-1.2, 1.2)


def backfill(data_dir: Path, series: dict[SeriesKey, tuple[float, float]], now_s: float) -> int:
    rng = random.Random(6)
    store = Store.open(data_dir)
    written = 0
    try:
        for ago in range(HISTORY_S, 0, -HISTORY_STEP_S):
            samples = [Sample(k, shaped(k, v, r, ago, rng)) for k, (v, r) in series.items()]
            samples.append(Sample(FPS_SERIES, fps_at(ago, rng)))
            store.append(int((now_s - ago) * 1000), samples)
            written += len(samples)
        if not store.commit():
            raise RuntimeError(f"cannot write the history into {data_dir}")
    finally:
        store.close()
    return written


class Pipeline:
    """The vision pipeline's stand-in: pushes a low fps and touches the camera frame."""

    def __init__(self, url: str, frame: Path) -> None:
        self.url, self.frame = url, frame
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-pipeline", daemon=True)
        self.errors = 0

    def _run(self) -> None:
        rng = random.Random(7)
        while not self._stop.is_set():
            try:
                push_fps(self.url, fps_at(0, rng))
                self.frame.touch()
            except (httpx.HTTPError, OSError):
                self.errors += 1  # the agent is stopping; counted, shown by the caller
            self._stop.wait(2.0)

    def __enter__(self) -> Pipeline:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def wait_until(url: str, path: str, ok: str, timeout_s: float = 60.0) -> None:
    """Poll ``url + path`` until its body contains ``ok``."""
    deadline = time.monotonic() + timeout_s
    while ok not in httpx.get(f"{url}{path}", timeout=5).text:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} never showed {ok!r}")
        time.sleep(0.5)


@contextmanager
def demo_agent(root: Path) -> Iterator[Demo]:
    """The real agent with three hours of history, its checks run, VisionFpsLow firing."""
    series = discover(root)
    data_dir = root / "data"
    written = backfill(data_dir, series, time.time())
    print(f"history: {len(series) + 1} series, {written:,} samples over {HISTORY_S // 3600} h")
    run = AgentRun(root, data_dir, free_port())
    run.start()
    try:
        with Pipeline(run.url, root / "last-frame.jpg"):
            wait_until(run.url, "/api/alerts?state=firing", "VisionFpsLow")
            wait_until(run.url, "/api/health", "uplink")
            if run.proc is None:
                raise RuntimeError("the agent is not running")
            yield Demo(run.url, run.proc.pid, data_dir)
    finally:
        run.stop()
