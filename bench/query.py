"""Query engine benchmark: latency of typical dashboard range queries.

Builds a store in a temporary directory with 24 hours of 10 s samples for 50
series of a counter family and 50 of a gauge family (and 7 days of one counter
for the long-range case), then times the engine (no HTTP) on:

- ``rate(bench_requests_total{i="0"}[5m])`` over 24 h at step 60 s (one series)
- ``avg_over_time(bench_temperature{i="0"}[5m])`` over 24 h at step 60 s (one series)
- ``sum by (group) (rate(bench_requests_total[5m]))`` over 24 h at step 60 s (50 series)
- ``rate(bench_week_total[5m])`` over 7 days at step 1 h (one series)

    python bench/query.py               # about a minute on 2 cores
    python bench/query.py --reps 50

Then starts a real agent (``edgewatch run`` on a free loopback port, default
collectors) and sends ``GET /api/system`` from 50 concurrent clients
(httpx, one asyncio loop in this process, sharing the machine's cores with the
agent), with ``GET /livez`` the same way as the framework's floor.

Prints p50 and p99 in milliseconds per query and the samples each loaded (the
7-day case reads 1-minute rollups), the API's requests/s, p50 and p99, the
issue's targets, and as the last line one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from edgewatch.config import QueryConfig
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions

STEP_S = 10
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
N_SERIES = 50
GROUPS = 5
END_MS = 1_790_000_040_000  # minute-aligned; the store's clock is pinned here
TARGET_P50_MS = 50.0
TARGET_API_P99_MS = 20.0
CLIENTS = 50
API_REQUESTS = 3000  # per endpoint, spread over the clients


def build_store(path: Path, seed: int = 11) -> tuple[int, float]:
    """Fill a store at ``path``; returns (samples written, seconds taken)."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    store = Store.open(path, StoreOptions(), clock=lambda: END_MS / 1000)
    written = 0
    try:
        day = np.arange(END_MS - DAY_MS, END_MS, STEP_S * 1000, dtype=np.int64)
        counters = np.cumsum(rng.poisson(30.0, (len(day), N_SERIES)), axis=0).astype(np.float64)
        gauges = np.round(50 + np.cumsum(rng.normal(0, 0.2, (len(day), N_SERIES)), axis=0), 2)
        c_keys = [
            SeriesKey.of("bench_requests_total", i=str(i), group=str(i % GROUPS))
            for i in range(N_SERIES)
        ]
        g_keys = [
            SeriesKey.of("bench_temperature", i=str(i), group=str(i % GROUPS))
            for i in range(N_SERIES)
        ]
        week = np.arange(END_MS - WEEK_MS, END_MS, STEP_S * 1000, dtype=np.int64)
        week_vals = np.cumsum(rng.poisson(5.0, len(week))).astype(np.float64)
        week_key = SeriesKey.of("bench_week_total", i="0")
        in_day = len(week) - len(day)
        for j, t in enumerate(week.tolist()):
            samples = [Sample(week_key, float(week_vals[j]))]
            if j >= in_day:
                k = j - in_day
                samples += [
                    Sample(key, v) for key, v in zip(c_keys, counters[k].tolist(), strict=True)
                ]
                samples += [
                    Sample(key, v) for key, v in zip(g_keys, gauges[k].tolist(), strict=True)
                ]
            store.append(t, samples)
            written += len(samples)
            # Commit every hour of ticks (the head holds at most max_pending_samples
            # uncommitted) and compact once a day, as the agent's writer would.
            if j % 360 == 359:
                store.commit()
            if j % 8640 == 8639:
                store.maintain()
        store.commit()
        store.maintain()
    finally:
        store.close()
    return written, time.perf_counter() - started


def measure(run: Callable[[], object], reps: int) -> tuple[float, float, int]:
    """(p50 ms, p99 ms, repetitions) of ``run`` after one warm-up call."""
    run()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99, len(times)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))]


async def _hammer(base_url: str, path: str, total: int, clients: int) -> dict[str, float]:
    """``total`` GETs of ``path`` from ``clients`` concurrent clients: req/s, p50, p99."""
    latencies: list[float] = []
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            for _ in remaining:
                t = time.perf_counter()
                r = await client.get(path)
                latencies.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()

        for _ in range(clients):  # warm the connections up
            (await client.get(path)).raise_for_status()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
    }


def api_tool() -> str:
    """wrk (Debian package) when installed: a C load generator leaves the agent the
    CPU; else httpx in this process, which on 2 cores measures mostly itself."""
    return "wrk" if shutil.which("wrk") else "httpx"


def _wrk(base_url: str, path: str, clients: int, seconds: int = 8) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", base_url + path],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    figures: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            figures[f"p{parts[0][:2]}_ms"] = _ms(parts[1])
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return figures


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(f"unexpected wrk latency {text!r}")


def _load(base_url: str, path: str) -> dict[str, float]:
    if api_tool() == "wrk":
        return _wrk(base_url, path, CLIENTS)
    return asyncio.run(_hammer(base_url, path, API_REQUESTS, CLIENTS))


def api_benchmark(tmp: Path) -> dict[str, float]:
    """Start ``edgewatch run`` on a free port, hammer /api/system and /livez, stop it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
    log_path = tmp / "agent.log"
    cmd = [sys.executable, "-m", "edgewatch", "run", "--listen", f"127.0.0.1:{port}"]
    with log_path.open("wb") as log:
        agent = subprocess.Popen(
            [*cmd, "--data-dir", str(tmp / "agent")], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # ready, and a first CPU collection in the snapshot
            if agent.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the agent did not start; see {log_path}")
            try:
                body = httpx.get(f"{base}/api/system", timeout=2).json()
                if body.get("cpu", {}).get("usage_ratio") is not None:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        time.sleep(2)  # a few collections: the snapshot holds every family
        system = _load(base, "/api/system")
        livez = _load(base, "/livez")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    out = {f"api_system_{k}": round(v, 2) for k, v in system.items()}
    out.update({f"api_livez_{k}": round(v, 2) for k, v in livez.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="repetitions per query (>= 20)")
    parser.add_argument("--no-api", action="store_true", help="skip the HTTP benchmark")
    args = parser.parse_args(argv)
    reps = max(20, args.reps)
    with tempfile.TemporaryDirectory(prefix="edgewatch-bench-query-") as tmp:
        path = Path(tmp) / "data"
        written, build_s = build_store(path)
        print(f"store: {written:,} samples written in {build_s:.1f} s")
        store = Store.open(path, StoreOptions(), clock=lambda: END_MS / 1000)
        try:
            engine = Engine(store, QueryConfig())
            day = (END_MS - DAY_MS, END_MS, 60_000)
            week = (END_MS - WEEK_MS, END_MS, 3_600_000)
            cases = [
                ("rate_1_series_24h", 'rate(bench_requests_total{i="0"}[5m])', day),
                ("avg_over_time_1_series_24h", 'avg_over_time(bench_temperature{i="0"}[5m])', day),
                (
                    "sum_by_rate_50_series_24h",
                    "sum by (group) (rate(bench_requests_total[5m]))",
                    day,
                ),
                ("rate_1_series_7d_step_1h", "rate(bench_week_total[5m])", week),
            ]
            figures: dict[str, float] = {}
            header = f"{'query':60s} {'range':>6s} {'step':>5s} {'p50 ms':>8s} {'p99 ms':>8s}"
            print(f"\n{header} {'n':>4s} {'samples':>9s}")
            for name, expr, (start, end, step) in cases:

                def run(
                    expr: str = expr, start: int = start, end: int = end, step: int = step
                ) -> object:
                    return engine.range(expr, start, end, step)

                p50, p99, n = measure(run, reps)
                loaded = engine.range(expr, start, end, step).samples_loaded
                span = "24h" if end - start == DAY_MS else "7d"
                timing = f"{p50:8.2f} {p99:8.2f} {n:4d} {loaded:9,d}"
                print(f"{expr:60s} {span:>6s} {step // 1000:>4d}s {timing}")
                figures[f"{name}_p50_ms"] = round(p50, 3)
                figures[f"{name}_p99_ms"] = round(p99, 3)
        finally:
            store.close()
    worst = max(figures["rate_1_series_24h_p50_ms"], figures["avg_over_time_1_series_24h_p50_ms"])
    verdict = "met" if worst < TARGET_P50_MS else "MISSED"
    print(
        f"\ntarget: 24 h range query over one series under {TARGET_P50_MS:g} ms p50: "
        f"{worst:.2f} ms ({verdict})"
    )
    figures["store_build_s"] = round(build_s, 2)
    if not args.no_api:
        with tempfile.TemporaryDirectory(prefix="edgewatch-bench-api-") as tmp:
            api = api_benchmark(Path(tmp))
        print(f"\n{'endpoint':14s} {'clients':>7s} {'req/s':>8s} "
              f"{'p50 ms':>8s} {'p99 ms':>8s}")  # fmt: skip
        for name in ("system", "livez"):
            path = "/api/system" if name == "system" else "/livez"
            rps, p50 = api[f"api_{name}_rps"], api[f"api_{name}_p50_ms"]
            print(f"{path:14s} {CLIENTS:7d} {rps:8.0f} {p50:8.2f} {api[f'api_{name}_p99_ms']:8.2f}")
        how = "8 s per endpoint" if api_tool() == "wrk" else f"{API_REQUESTS} requests each"
        print(f"load generator: {api_tool()}, {how}, on this machine beside the agent")
        p99 = api["api_system_p99_ms"]
        verdict = "met" if p99 < TARGET_API_P99_MS else "MISSED"
        print(
            f"target: /api/system p99 under {TARGET_API_P99_MS:g} ms at {CLIENTS} concurrent "
            f"clients: {p99:.2f} ms ({verdict})"
        )
        figures.update(api)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
