"""remote_write benchmark: back-filling a 6-hour backlog from the store.

A realistic device's series (about 270: per-core CPU counters and ratios,
memory, disks, network, processes, sensors, GPU, health checks, edgewatch's own
figures) at a 10 s interval for 6 hours are written into a store and compacted,
as they would be after a 6-hour uplink outage. One sender then back-fills them:

1. into a real VictoriaMetrics (``/usr/bin/victoria-metrics``, when installed),
   as fast as it goes, and VictoriaMetrics is asked how many samples it holds;
2. into a minimal loopback HTTP sink in another process that reads each body
   and answers 204 (so the receiver's CPU is not ours), as fast as it goes;
3. into the same sink, paced at 50,000 samples/s by the bandwidth cap: the
   CPU this costs is the figure the target (below 25 % of one core) is about.

CPU is this process's time (user + system, every thread: store reads,
encoding, snappy, HTTP) over wall time, as a share of one core.

    python bench/remote_write.py              # 6 h backlog (about a minute on 2 cores)
    python bench/remote_write.py --hours 1

The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.export.remote_write_sender import EndpointSender
from edgewatch.model import SeriesKey
from edgewatch.store import Store, StoreOptions

STEP_MS = 10_000
TARGET_RATE = 50_000
VICTORIA = "/usr/bin/victoria-metrics"
SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def device_series() -> list[tuple[SeriesKey, str]]:
    """(key, kind) of a vision box's series; kind picks how its values move."""
    out: list[tuple[SeriesKey, str]] = []
    modes = ("user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice")
    for cpu in range(8):
        for mode in modes:
            out.append((SeriesKey.of("node_cpu_seconds_total", cpu=str(cpu), mode=mode), "ctr2"))
        out.append((SeriesKey.of("system_cpu_usage_ratio", cpu=str(cpu)), "ratio"))
    for what in ("total", "available", "used", "cached", "buffers", "free", "swap_used"):
        out.append((SeriesKey.of(f"system_memory_{what}_bytes"), "bytes"))
    for dev in ("mmcblk0", "nvme0n1", "sda", "dm-0"):
        for what in ("read_bytes", "written_bytes", "reads", "writes", "io_time_seconds"):
            out.append((SeriesKey.of(f"disk_{what}_total", device=dev), "ctr"))
        out.append((SeriesKey.of("disk_used_ratio", device=dev), "ratio"))
    for iface in ("eth0", "wlan0", "wwan0"):
        for what in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errs", "tx_errs"):
            out.append((SeriesKey.of(f"network_{what}_total", interface=iface), "ctr"))
        out.append((SeriesKey.of("network_up", interface=iface), "const"))
    for p in range(20):
        name = f"proc{p}"
        out.append((SeriesKey.of("process_cpu_seconds_total", name=name), "ctr2"))
        out.append((SeriesKey.of("process_resident_memory_bytes", name=name), "bytes"))
        out.append((SeriesKey.of("process_threads", name=name), "const"))
    for zone in ("cpu", "gpu", "soc0", "soc1", "soc2", "board", "tj", "nvme", "wifi", "pmic"):
        out.append((SeriesKey.of("sensor_temperature_celsius", sensor=zone), "temp"))
    for what in ("utilization_ratio", "memory_used_bytes", "power_watts", "sm_clock_hertz"):
        out.append((SeriesKey.of(f"gpu_{what}", gpu="0"), "float"))
    for c in range(20):
        out.append((SeriesKey.of("health_check_up", check=f"check{c}"), "const"))
        out.append((SeriesKey.of("health_check_duration_seconds", check=f"check{c}"), "float"))
    for what in ("fps", "inference_seconds", "detections_total", "frames_dropped_total"):
        out.append((SeriesKey.of(f"vision_{what}", camera="0"), "float"))
    for i in range(16):
        out.append((SeriesKey.of(f"edgewatch_figure_{i}"), "ctr"))
    return out


def values(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "ctr":
        return np.cumsum(rng.integers(0, 5000, n)).astype(np.float64)
    if kind == "ctr2":
        return np.round(np.cumsum(rng.uniform(0, 3, n)), 2)
    if kind == "ratio":
        return np.round(rng.uniform(0, 1, n), 4)
    if kind == "bytes":
        return 2e9 + np.cumsum(rng.integers(-40960, 40960, n)).astype(np.float64)
    if kind == "temp":
        return np.round(50 + np.cumsum(rng.normal(0, 0.1, n)), 1)
    if kind == "const":
        return np.ones(n)
    return rng.uniform(0, 100, n)  # full-precision floats


def build_store(path: Path, start_ms: int, end_ms: int) -> tuple[Store, int]:
    store = Store.open(path, StoreOptions(), clock=lambda: end_ms / 1000)
    ticks = np.arange(start_ms, end_ms, STEP_MS, dtype=np.int64)
    rng = np.random.default_rng(7)
    series = device_series()
    sids = np.array([store.series_id(k) for k, _ in series], dtype=np.int32)
    cols = np.stack([values(kind, len(ticks), rng) for _, kind in series], axis=1)
    for i, t in enumerate(ticks.tolist()):
        store.append_ids(t, sids, cols[i])
        if i % 360 == 359:
            store.commit()
    store.commit()
    store.maintain()  # the backlog lies in compressed chunks, as after a real outage
    return store, len(ticks) * len(series)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ok(url: str, proc: subprocess.Popen[Any]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


async def backfill(
    store: Store, url: str, name: str, start_ms: int, now_ms: int, **kw: Any
) -> dict[str, float]:
    ep = RemoteWriteEndpoint.model_validate({"url": url, "name": name, **kw})
    sender = EndpointSender(
        ep, store, Checkpoints(store.path), clock=lambda: now_ms / 1000, start_ms=start_ms
    )
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        for _ in range(1_000_000):
            if not await sender.step():
                break
    finally:
        await sender.client.aclose()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "samples": sender.samples_sent,
        "samples_per_s": sender.samples_sent / wall,
        "bytes_per_sample": sender.bytes_sent / max(sender.samples_sent, 1),
        "cpu_core_ratio": cpu / wall,
        "cpu_us_per_sample": cpu / max(sender.samples_sent, 1) * 1e6,
        "requests": sender.requests,
        "failures": sender.failures,
    }


def victoria_count(base: str, end_ms: int) -> int:
    httpx.get(f"{base}/internal/force_flush", timeout=30).raise_for_status()
    query = 'sum(count_over_time({__name__=~".+"}[7h]))'
    r = httpx.get(f"{base}/api/v1/query", params={"query": query, "time": end_ms / 1000})
    r.raise_for_status()
    result = r.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=6.0, help="backlog length")
    args = parser.parse_args()
    end_ms = int(time.time() // 60 * 60_000)
    start_ms = end_ms - int(args.hours * 3_600_000)
    now_ms = end_ms + 60_000  # the sender's clock: the outage is over, the backlog waits
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ew-bench-rw-") as tmp:
        built = time.perf_counter()
        store, total = build_store(Path(tmp) / "data", start_ms, end_ms)
        print(f"backlog: {len(device_series())} series x {args.hours:g} h at 10 s = "
              f"{total} samples (store built in {time.perf_counter() - built:.1f} s)")  # fmt: skip
        procs: list[subprocess.Popen[Any]] = []
        runs: dict[str, dict[str, float]] = {}
        try:
            if Path(VICTORIA).exists():
                port = free_port()
                vm = subprocess.Popen(
                    [VICTORIA, f"-httpListenAddr=127.0.0.1:{port}",
                     f"-storageDataPath={tmp}/vm", "-loggerLevel=ERROR"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                procs.append(vm)
                base = f"http://127.0.0.1:{port}"
                wait_ok(f"{base}/health", vm)
                runs["victoria"] = asyncio.run(
                    backfill(store, f"{base}/api/v1/write", "vm", start_ms - 1, now_ms)
                )
                runs["victoria"]["stored"] = victoria_count(base, end_ms)
            else:
                print(f"{VICTORIA} not installed: the loopback sink only")
            sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
            procs.append(sink)
            assert sink.stdout is not None
            url = f"http://127.0.0.1:{int(sink.stdout.readline())}/api/v1/write"
            runs["sink"] = asyncio.run(backfill(store, url, "sink", start_ms - 1, now_ms))
            cap = int(TARGET_RATE * runs["sink"]["bytes_per_sample"])
            runs["sink_50k"] = asyncio.run(
                backfill(store, url, "paced", start_ms - 1, now_ms, bandwidth_limit=cap)
            )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=20)
            store.close()
    print()
    print(f"{'run':34} {'samples/s':>11} {'B/sample':>9} {'CPU %core':>10} {'µs/sample':>10}")
    labels = {
        "victoria": "VictoriaMetrics, full speed",
        "sink": "loopback discard sink, full speed",
        "sink_50k": "sink, paced at 50k samples/s",
    }
    for key, r in runs.items():
        print(f"{labels[key]:34} {r['samples_per_s']:>11,.0f} {r['bytes_per_sample']:>9.2f} "
              f"{r['cpu_core_ratio'] * 100:>9.1f}% {r['cpu_us_per_sample']:>10.2f}")  # fmt: skip
        assert r["samples"] == total, f"{key}: sent {r['samples']} of {total}"
    if "victoria" in runs:
        vm_run = runs["victoria"]
        faster = (
            "VictoriaMetrics"
            if vm_run["samples_per_s"] >= runs["sink"]["samples_per_s"]
            else "the sink"
        )
        print(f"VictoriaMetrics holds {vm_run['stored']} of {total} samples; "
              f"faster receiver: {faster}")  # fmt: skip
    best = runs.get("victoria", runs["sink"])
    figures = {
        "backlog_samples": total,
        "receiver": "victoria-metrics" if "victoria" in runs else "loopback-sink",
        "samples_per_s": round(best["samples_per_s"]),
        "sink_samples_per_s": round(runs["sink"]["samples_per_s"]),
        "bytes_per_sample": round(runs["sink"]["bytes_per_sample"], 3),
        "cpu_core_ratio_full_speed": round(runs["sink"]["cpu_core_ratio"], 3),
        "cpu_core_ratio_at_50k": round(runs["sink_50k"]["cpu_core_ratio"], 3),
        "cpu_us_per_sample": round(runs["sink"]["cpu_us_per_sample"], 3),
        "vm_samples_stored": int(runs["victoria"]["stored"]) if "victoria" in runs else None,
        "cores": os.cpu_count(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
