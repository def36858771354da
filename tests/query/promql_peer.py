"""A real Prometheus as the reference for the query engine (imported by name by the tests).

One deterministic dataset is written twice: into an edgewatch store, and as an
OpenMetrics file that ``promtool tsdb create-blocks-from openmetrics`` backfills
into a Prometheus TSDB. A ``prometheus`` process then serves that TSDB on a
loopback port, and the same expression is asked of both.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN_MS = 60_000
HOUR_MS = 3_600_000
END_MS = T0_MS + 3 * HOUR_MS  # no sample at or after this
SEED = 20260101
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SeriesSpec:
    name: str
    labels: dict[str, str]
    ts: np.ndarray  # int64 ms
    values: np.ndarray  # float64


def _ticks(interval_s: int, start_ms: int = T0_MS, end_ms: int = END_MS) -> np.ndarray:
    return np.arange(start_ms, end_ms, interval_s * 1000, dtype=np.int64)


def _counter(rng: np.random.Generator, n: int, scale: float, resets: list[int]) -> np.ndarray:
    """A counter with fractional increments that restarts from a small value at ``resets``."""
    values = np.cumsum(np.round(rng.exponential(scale, n), 3)) + 1000.0
    for at in resets:
        values[at:] -= values[at] - np.round(rng.uniform(0, scale), 3)
    return np.round(values, 3)


def build_dataset(seed: int = SEED) -> list[SeriesSpec]:
    """About 40 series over 3 hours: counters with resets, gauges, gaps, late starts."""
    rng = np.random.default_rng(seed)
    out: list[SeriesSpec] = []
    t15 = _ticks(15)
    n15 = len(t15)
    # node_cpu_seconds_total{cpu, mode}: counters at 15 s; some reset (a reboot).
    cpu_resets = {("1", "user"): [320], ("0", "system"): [150, 600]}
    for cpu in ("0", "1"):
        for mode, scale in (("idle", 14.0), ("user", 0.8), ("system", 0.25)):
            vals = _counter(rng, n15, scale, cpu_resets.get((cpu, mode), []))
            out.append(SeriesSpec("node_cpu_seconds_total", {"cpu": cpu, "mode": mode}, t15, vals))
    # requests_total{job, instance, code}: integer increments; one reset, one late starter.
    for job in ("api", "web"):
        for instance in ("a:9100", "b:9100"):
            for code, lam in (("200", 40.0), ("500", 1.5)):
                ts = t15
                if (job, instance, code) == ("web", "b:9100", "500"):
                    ts = _ticks(15, T0_MS + HOUR_MS + 7 * MIN_MS)
                vals = np.cumsum(rng.poisson(lam, len(ts))).astype(np.float64)
                if (job, instance, code) == ("api", "b:9100", "200"):
                    vals[400:] -= vals[400] - 3.0
                labels = {"job": job, "instance": instance, "code": code}
                out.append(SeriesSpec("requests_total", labels, ts, vals))
    # temperature_celsius{sensor}: 10 s gauges; gpu stops 30 min before the end,
    # board moves in steps of 0.5 (round() halves).
    t10 = _ticks(10)
    walk = np.cumsum(rng.normal(0, 0.3, len(t10)))
    out.append(SeriesSpec("temperature_celsius", {"sensor": "cpu"}, t10, np.round(55 + walk, 2)))
    t_gpu = _ticks(10, T0_MS, END_MS - 30 * MIN_MS)
    gpu = 62 + 8 * np.sin(np.arange(len(t_gpu)) / 90) + rng.normal(0, 0.05, len(t_gpu))
    out.append(SeriesSpec("temperature_celsius", {"sensor": "gpu"}, t_gpu, gpu))
    board = np.round((40 + np.cumsum(rng.normal(0, 0.2, len(t10)))) * 2) / 2
    out.append(SeriesSpec("temperature_celsius", {"sensor": "board"}, t10, board))
    # memory_used_bytes{kind}, memory_total_bytes: 30 s, large integers, total constant.
    t30 = _ticks(30)
    for kind, base in (("app", 2.5e9), ("cache", 1.2e9)):
        used = np.round(base + np.cumsum(rng.normal(0, 4e6, len(t30))))
        out.append(SeriesSpec("memory_used_bytes", {"kind": kind}, t30, used))
    out.append(SeriesSpec("memory_total_bytes", {}, t30, np.full(len(t30), 8_000_000_000.0)))
    # signal_offset{channel}: negative and crossing zero, fractions.
    for channel, mid in (("a", -2.0), ("b", 0.25)):
        vals = mid + 3 * np.sin(np.arange(n15) / 37.0) + rng.normal(0, 0.1, n15)
        out.append(SeriesSpec("signal_offset", {"channel": channel}, t15, vals))
    # Constants.
    out.append(SeriesSpec("build_info", {"version": "1.2.3"}, t15, np.ones(n15)))
    out.append(SeriesSpec("queue_capacity", {}, t15, np.full(n15, 100.0)))
    # queue_depth: integer steps that change now and then (changes()).
    steps = rng.integers(-2, 3, n15) * (rng.random(n15) < 0.2)
    out.append(SeriesSpec("queue_depth", {"queue": "inbox"}, t15, np.abs(np.cumsum(steps)) * 1.0))
    # link_up{iface}: wlan0 has a gap from 1 h to 1 h 30 m and ends at 2 h; eth0 is steady.
    gap = (t15 < T0_MS + HOUR_MS) | ((t15 >= T0_MS + 90 * MIN_MS) & (t15 < T0_MS + 2 * HOUR_MS))
    wlan = (rng.random(n15) > 0.1).astype(np.float64)
    out.append(SeriesSpec("link_up", {"iface": "wlan0"}, t15[gap], wlan[gap]))
    out.append(SeriesSpec("link_up", {"iface": "eth0"}, t15, np.ones(n15)))
    return out


# ------------------------------------------------------------------ writers


def write_store(dataset: list[SeriesSpec], data_dir: Path) -> Path:
    """Write the dataset into an edgewatch store (exact timestamps), compact what the
    store would have compacted by the data's end, and close it."""

    def clock() -> float:
        return END_MS / 1000

    store = Store.open(data_dir, StoreOptions(timestamp_tolerance=0), clock=clock)
    try:
        by_ts: dict[int, list[Sample]] = {}
        for spec in dataset:
            key = SeriesKey.of(spec.name, spec.labels)
            for t, v in zip(spec.ts.tolist(), spec.values.tolist(), strict=True):
                by_ts.setdefault(t, []).append(Sample(key, v))
        for t in sorted(by_ts):
            store.append(t, by_ts[t])
        assert store.commit(), "the store refused the commit"
        store.maintain()  # chunks and rollups for all but the last bucket
    finally:
        store.close()
    return data_dir


def open_store(data_dir: Path) -> Store:
    """Reopen a store written by ``write_store``: the engine reads what was committed."""
    return Store.open(data_dir, StoreOptions(timestamp_tolerance=0), clock=lambda: END_MS / 1000)


def _om_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def write_openmetrics(dataset: list[SeriesSpec], path: Path) -> Path:
    """The dataset as OpenMetrics text: one contiguous family each, type gauge (no
    _total suffix rules), timestamps in seconds, ``# EOF`` last."""
    families: dict[str, list[SeriesSpec]] = {}
    for spec in dataset:
        families.setdefault(spec.name, []).append(spec)
    lines: list[str] = []
    for name, specs in families.items():
        lines.append(f"# TYPE {name} gauge")
        for spec in specs:
            inner = ",".join(f'{k}="{v}"' for k, v in sorted(spec.labels.items()))
            series = f"{name}{{{inner}}}" if inner else name
            for t, v in zip(spec.ts.tolist(), spec.values.tolist(), strict=True):
                assert t % 1000 == 0, "whole seconds only: promtool parses float seconds"
                lines.append(f"{series} {_om_value(v)} {t // 1000}")
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- Prometheus


def require_binaries() -> None:
    """Skip when the Prometheus binaries are missing, unless CI=true (then fail)."""
    missing = [p for p in (PROMETHEUS, PROMTOOL) if not os.access(p, os.X_OK)]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (Debian package prometheus)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


def backfill(openmetrics: Path, tsdb: Path) -> None:
    proc = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(tsdb)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrometheusPeer:
    """A ``prometheus`` process over a backfilled TSDB, on a loopback port."""

    def __init__(self, tsdb: Path, workdir: Path) -> None:
        self.tsdb = tsdb
        self.workdir = workdir
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = workdir / "prometheus.log"

    def start(self) -> None:
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  evaluation_interval: 1h\nscrape_configs: []\n")
        for _attempt in range(3):  # the free port may be taken between probe and bind
            port = _free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            with self._log.open("ab") as log:
                self._proc = subprocess.Popen(
                    [
                        PROMETHEUS,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.tsdb}",
                        "--storage.tsdb.retention.time=100y",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--log.level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                )
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"prometheus did not become ready: {self.log_tail()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    return False
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.base_url}/-/ready").status_code == 200:
                        return True
                time.sleep(0.2)
        return False

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_prometheus(dataset: list[SeriesSpec], workdir: Path) -> Iterator[PrometheusPeer]:
    """Backfill the dataset and serve it; the process is stopped on exit."""
    tsdb = workdir / "tsdb"
    tsdb.mkdir(parents=True)
    backfill(write_openmetrics(dataset, workdir / "data.om.txt"), tsdb)
    peer = PrometheusPeer(tsdb, workdir)
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


# ------------------------------------------------------------------- queries


def seconds(ms: int) -> str:
    """A time parameter of Prometheus' API (seconds, up to 3 decimals)."""
    return f"{ms // 1000}.{ms % 1000:03d}"


def prom_get(client: httpx.Client, base_url: str, path: str, params: dict[str, str]) -> Any:
    """GET an API path; the whole JSON body (status, data or errorType/error)."""
    response = client.get(f"{base_url}{path}", params=params, timeout=30.0)
    body = response.json()
    body["_http_status"] = response.status_code
    return body


def prom_instant(client: httpx.Client, base_url: str, expr: str, time_ms: int) -> Any:
    return prom_get(client, base_url, "/api/v1/query", {"query": expr, "time": seconds(time_ms)})


def prom_range(
    client: httpx.Client, base_url: str, expr: str, start_ms: int, end_ms: int, step_ms: int
) -> Any:
    params = {
        "query": expr,
        "start": seconds(start_ms),
        "end": seconds(end_ms),
        "step": seconds(step_ms),
    }
    return prom_get(client, base_url, "/api/v1/query_range", params)


# ---------------------------------------------------------------- comparison


def _same_value(expected: str, got: str, rel: float, abs_tol: float) -> bool:
    e, g = float(expected), float(got)
    if math.isnan(e) or math.isnan(g):
        return math.isnan(e) and math.isnan(g)
    if math.isinf(e) or math.isinf(g):
        return e == g
    return math.isclose(e, g, rel_tol=rel, abs_tol=abs_tol)


def _points(item: dict[str, Any]) -> list[list[Any]]:
    return item["values"] if "values" in item else [item["value"]]


def _ms(t: float | int | str) -> int:
    return round(float(t) * 1000)


def diff_data(
    expected: dict[str, Any], got: dict[str, Any], rel: float = 1e-9, abs_tol: float = 1e-12
) -> list[str]:
    """The differences between two ``data`` members (Prometheus' first); empty if equal.

    Series are matched by label set; timestamps must be equal, values equal within
    ``rel`` (``abs_tol`` near zero), NaN equal to NaN.
    """
    problems: list[str] = []
    if expected["resultType"] != got.get("resultType"):
        return [f"resultType: expected {expected['resultType']!r}, got {got.get('resultType')!r}"]
    if expected["resultType"] in ("scalar", "string"):
        e, g = expected["result"], got["result"]
        if _ms(e[0]) != _ms(g[0]):
            problems.append(f"time: expected {e[0]}, got {g[0]}")
        same = (
            e[1] == g[1]
            if expected["resultType"] == "string"
            else _same_value(e[1], g[1], rel, abs_tol)
        )
        if not same:
            problems.append(f"value: expected {e[1]}, got {g[1]}")
        return problems

    def index(result: list[dict[str, Any]], who: str) -> dict[tuple[tuple[str, str], ...], Any]:
        out: dict[tuple[tuple[str, str], ...], Any] = {}
        for item in result:
            key = tuple(sorted(item["metric"].items()))
            if key in out:
                problems.append(f"{who}: duplicate series {dict(key)}")
            out[key] = item
        return out

    e_idx, g_idx = index(expected["result"], "prometheus"), index(got["result"], "edgewatch")
    for key in sorted(e_idx.keys() - g_idx.keys()):
        problems.append(f"missing series {dict(key)} ({len(_points(e_idx[key]))} points)")
    for key in sorted(g_idx.keys() - e_idx.keys()):
        problems.append(f"extra series {dict(key)} ({len(_points(g_idx[key]))} points)")
    for key in sorted(e_idx.keys() & g_idx.keys()):
        e_pts = {_ms(t): v for t, v in _points(e_idx[key])}
        g_pts = {_ms(t): v for t, v in _points(g_idx[key])}
        where = dict(key)
        missing = sorted(e_pts.keys() - g_pts.keys())
        extra = sorted(g_pts.keys() - e_pts.keys())
        if missing:
            problems.append(f"{where}: missing points at {_times(missing)}")
        if extra:
            problems.append(f"{where}: extra points at {_times(extra)}")
        bad = [
            t
            for t in sorted(e_pts.keys() & g_pts.keys())
            if not _same_value(e_pts[t], g_pts[t], rel, abs_tol)
        ]
        for t in bad[:5]:
            problems.append(f"{where} at {_iso(t)}: expected {e_pts[t]}, got {g_pts[t]}")
        if len(bad) > 5:
            problems.append(f"{where}: {len(bad) - 5} more differing values")
    return problems


def _iso(ms: int) -> str:
    off = ms - T0_MS
    sign = "-" if off < 0 else "+"
    off = abs(off)
    h, rest = divmod(off, HOUR_MS)
    m, rest = divmod(rest, MIN_MS)
    return f"T0{sign}{h}h{m:02d}m{rest / 1000:06.3f}s"


def _times(ms_list: list[int]) -> str:
    shown = ", ".join(_iso(t) for t in ms_list[:4])
    return shown + (f" … ({len(ms_list)} in all)" if len(ms_list) > 4 else "")
