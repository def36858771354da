"""remote_write into a real Prometheus and a real VictoriaMetrics, across an outage.

Samples are written into a real store every 100 ms while the service the agent
runs (``RemoteWriteService``: one sender per engine) forwards them. Both
receivers are stopped for a while, samples keep coming, then each is started
again on the same port and data directory. Every sample must arrive, in order
(Prometheus refuses out-of-order samples, so one sent late would be missing),
and each engine's raw data must equal the store's.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.export.remote_write import RemoteWriteService
from edgewatch.export.remote_write_checkpoint import Checkpoints
from edgewatch.export.remote_write_client import HEADERS
from edgewatch.export.remote_write_encode import Encoder, Part
from edgewatch.export.remote_write_sender import EndpointSender
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

PROMETHEUS = "/usr/bin/prometheus"
VICTORIA = "/usr/bin/victoria-metrics"
TICK_S = 0.1
READY_S = 60.0
SERIES = [
    SeriesKey.of("ewtest_requests_total", code="200"),
    SeriesKey.of("ewtest_requests_total", code="500"),
    SeriesKey.of("ewtest_temperature_celsius", sensor="gpu"),
    SeriesKey.of("ewtest_fps"),
    SeriesKey.of("ewtest_disk_read_bytes_total", device="mmcblk0"),  # clashes with `device`
]
DEVICE = {"device": "rvm-test", "site": "lab"}

pytestmark = pytest.mark.slow


def _need(binary: str, package: str) -> None:
    if not Path(binary).exists():
        reason = f"{binary} is missing (Debian package {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Engine:
    """A receiver process that can be stopped and started again on its port and data dir."""

    def __init__(self, argv: list[str], ready_path: str, port: int, log: Path) -> None:
        self.argv, self.ready_path, self.port, self.log = argv, ready_path, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_S
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if client.get(self.base + self.ready_path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.argv[0]} did not become ready: {tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    _need(PROMETHEUS, "prometheus")
    _need(VICTORIA, "victoria-metrics")
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 1h\n")
    prom_port, vm_port = free_port(), free_port()
    prom = Engine(
        [
            PROMETHEUS,
            f"--config.file={conf}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--web.enable-remote-write-receiver",
        ],
        "/-/ready",
        prom_port,
        tmp_path / "prometheus.log",
    )
    vm = Engine(
        [
            VICTORIA,
            f"-httpListenAddr=127.0.0.1:{vm_port}",
            f"-storageDataPath={tmp_path / 'vm'}",
        ],
        "/health",
        vm_port,
        tmp_path / "victoria.log",
    )
    started: list[Engine] = []
    try:
        for engine in (prom, vm):
            started.append(engine)
            engine.start()
        yield {"prometheus": prom, "victoria": vm}
    finally:
        for engine in started:
            engine.stop()


def _write_loop(store: Store, stop: threading.Event) -> None:
    """One sample per series every 100 ms, stamped with the wall clock."""
    i = 0
    while not stop.wait(TICK_S):
        ts = round(time.time() * 10) * 100
        vals = [float(i * 3), float(i // 7), 55 + 5 * math.sin(i / 9), 29.5 + (i % 3) / 4]
        vals.append(4096.0 * i)
        store.append(ts, [Sample(k, v) for k, v in zip(SERIES, vals, strict=True)])
        i += 1


def _labels(metric: dict[str, str]) -> SeriesKey:
    name = metric.pop("__name__")
    for label in DEVICE:
        assert metric.pop(label) == DEVICE[label]  # the extra labels arrived, and won
    if "exported_device" in metric:  # the series' own `device`, moved aside
        metric["device"] = metric.pop("exported_device")
    return SeriesKey.of(name, metric)


def prometheus_samples(base: str, end_ms: int) -> dict[SeriesKey, list[tuple[int, float]]]:
    """Raw samples, from a range-vector instant query (no step interpolation)."""
    query = '{__name__=~"ewtest_.*"}[10m]'
    r = httpx.get(f"{base}/api/v1/query", params={"query": query, "time": end_ms / 1000 + 1})
    r.raise_for_status()
    out = {}
    for item in r.json()["data"]["result"]:
        out[_labels(item["metric"])] = [(round(t * 1000), float(v)) for t, v in item["values"]]
    return out


def victoria_samples(base: str) -> dict[SeriesKey, list[tuple[int, float]]]:
    """Raw samples from the export API (JSON lines), after a flush of VM's buffers."""
    httpx.get(f"{base}/internal/force_flush").raise_for_status()
    r = httpx.get(f"{base}/api/v1/export", params={"match[]": '{__name__=~"ewtest_.*"}'})
    r.raise_for_status()
    out: dict[SeriesKey, list[tuple[int, float]]] = {}
    for line in r.text.splitlines():
        item: dict[str, Any] = json.loads(line)
        pairs = zip(item["timestamps"], item["values"], strict=True)
        out.setdefault(_labels(item["metric"]), []).extend((int(t), float(v)) for t, v in pairs)
    return {k: sorted(v) for k, v in out.items()}


def test_outage_is_backfilled_in_order_into_prometheus_and_victoria(
    tmp_path: Path, engines: dict[str, Engine]
) -> None:
    store = Store.open(tmp_path / "data", StoreOptions(timestamp_tolerance=0))
    common = {
        "extra_labels": DEVICE,
        "keep": "ewtest_.*",
        "delay": "1s",
        "interval": "200ms",
        "batch_size": 100,  # several requests per window
        "backoff_initial": "200ms",
        "backoff_max": "1s",
    }
    endpoints = [
        RemoteWriteEndpoint.model_validate(
            {"url": f"{engine.base}/api/v1/write", "name": name, **common}
        )
        for name, engine in engines.items()
    ]
    service = RemoteWriteService(endpoints, store, db_path=store.path, sink=store.append)
    stop_writing = threading.Event()
    writer = threading.Thread(target=_write_loop, args=(store, stop_writing), daemon=True)
    outage: dict[str, int] = {}

    async def scenario() -> None:
        for sender in service.senders:
            sender.cursor = round(time.time() * 1000) - 1  # from the first sample on
        service.start()
        writer.start()
        await asyncio.sleep(3)
        outage["start"] = round(time.time() * 1000)
        for engine in engines.values():
            await asyncio.to_thread(engine.stop)
        await asyncio.sleep(6)  # samples keep being written; the senders retry
        outage["end"] = round(time.time() * 1000)
        assert all(s.failures > 0 for s in service.senders)
        for engine in engines.values():
            await asyncio.to_thread(engine.start)
        await asyncio.sleep(2)
        stop_writing.set()
        await asyncio.to_thread(writer.join, 5)
        last = max(int(d.ts[-1]) for d in store.read('{__name__=~"ewtest_.*"}', 0, 2**62))
        for _ in range(300):  # bounded: at most ~30 s to catch up
            if all(s.cursor >= last for s in service.senders):
                break
            await asyncio.sleep(0.1)
        await service.close()

    try:
        asyncio.run(scenario())
        want = {
            d.key: list(zip(d.ts.tolist(), d.values.tolist(), strict=True))
            for d in store.read('{__name__=~"ewtest_.*"}', 0, 2**62, resolution="raw")
        }
    finally:
        stop_writing.set()
        store.close()
    assert set(want) == set(SERIES)
    in_outage = [t for t, _ in want[SERIES[0]] if outage["start"] < t < outage["end"]]
    assert len(in_outage) > 30  # the outage held samples back
    for sender in service.senders:
        assert sender.dropped_rejected == 0 and sender.dropped_backlog == 0
        assert sender.samples_sent >= sum(len(v) for v in want.values())

    end_ms = max(v[-1][0] for v in want.values())
    prom = prometheus_samples(engines["prometheus"].base, end_ms)
    assert prom == want  # Prometheus ignores a resent identical sample: exact
    vm = victoria_samples(engines["victoria"].base)
    assert set(vm) == set(want)
    for key, samples in want.items():
        got = vm[key]
        unique = dict(got)  # a resent sample comes back twice: at-least-once
        assert list(unique) == [t for t, _ in samples]  # every timestamp, none missing
        # VictoriaMetrics keeps about 12 significant digits of a float (its decimal codec).
        assert list(unique.values()) == pytest.approx([v for _, v in samples], rel=1e-11)
        assert len(got) - len(unique) <= 100  # resent at most one batch


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Engine]:
    _need(PROMETHEUS, "prometheus")
    conf = tmp_path / "prometheus.yml"
    conf.write_text("global:\n  scrape_interval: 1h\n")
    port = free_port()
    engine = Engine(
        [
            PROMETHEUS,
            f"--config.file={conf}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
        ],
        "/-/ready",
        port,
        tmp_path / "prometheus.log",
    )
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


def test_prometheus_refusing_one_series_out_of_order_drops_only_that_series(
    tmp_path: Path, prometheus: Engine
) -> None:
    """Prometheus refuses a whole request for one out-of-order sample (400): the sender
    splits it and loses only the refused series' samples, for a window and for late
    samples alike."""
    a, b, c, d = (SeriesKey.of(f"ewtest_{n}") for n in "abcd")
    now = round(time.time()) * 1000
    store = Store.open(tmp_path / "data", StoreOptions(timestamp_tolerance=0))
    ticks = [now - 65_000 + i * 1000 for i in range(60)]
    for i, ts in enumerate(ticks):
        store.append(ts, [Sample(a, i), Sample(b, 10.0 + i), Sample(c, 20.0 + i)])
    # Series b already has a newer sample in Prometheus (written by another client).
    newer = Encoder(DEVICE).compressed([Part(b, np.array([now - 2_000]), np.array([999.0]))])
    r = httpx.post(f"{prometheus.base}/api/v1/write", content=newer, headers=HEADERS)
    assert r.status_code == 204, r.text
    ep = RemoteWriteEndpoint.model_validate(
        {"url": f"{prometheus.base}/api/v1/write", "extra_labels": DEVICE, "delay": "1s"}
    )
    sender = EndpointSender(ep, store, Checkpoints(store.path), start_ms=now - 70_000)
    late_ts = ticks[30] + 500

    async def drain() -> None:
        for _ in range(50):
            if not await sender.step():
                return
        raise AssertionError("the sender never caught up")

    async def scenario() -> tuple[int, int]:
        try:
            await drain()
            first = sender.dropped_rejected
            # Late samples: d is new (in order for Prometheus), a is older than a's newest.
            store.append(late_ts, [Sample(d, 5.0), Sample(a, -1.0)])
            await drain()
            return first, sender.dropped_rejected
        finally:
            await sender.client.aclose()

    try:
        dropped_window, dropped_all = asyncio.run(scenario())
    finally:
        store.close()
    assert dropped_window == 60  # b's samples in the window, and only those
    assert dropped_all - dropped_window == 30  # a's re-sent span: refused as a whole
    got = prometheus_samples(prometheus.base, now)
    assert got[a] == [(t, float(i)) for i, t in enumerate(ticks)]
    assert got[c] == [(t, 20.0 + i) for i, t in enumerate(ticks)]
    assert got[b] == [(now - 2_000, 999.0)]
    assert got[d] == [(late_ts, 5.0)]  # the late sample of a new series arrived
