"""Real peers for the fleet view's tests: edgewatch agents, Prometheus, VictoriaMetrics,
Alertmanager, and ``edgewatch fleet`` itself, each a subprocess on loopback.

Every wait is bounded; every process is stopped by ``Peer.stop`` (called in the
fixtures' ``finally``). A missing Debian binary skips, except under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_process import FAST_CONFIG, AgentProcess, wait_for

AGENT_URL_RE = re.compile(r"dashboard and API on (http://127\.0\.0\.1:\d+)/?")
FLEET_URL_RE = re.compile(r"fleet view on (http://127\.0\.0\.1:\d+)/")


@dataclass(frozen=True)
class Device:
    name: str
    site: str
    fail_check: bool  # its one health check fails (score 0) instead of passing (100)


# The second name has every character HTML escaping must handle.
DEVICES = (
    Device("shop-1", "north", fail_check=False),
    Device('kiosk-<b>&"2"', "south", fail_check=True),
)


def agent_config(device: Device) -> str:
    """FAST_CONFIG with filesystems every second, one health check, no built-in rules."""
    threshold = 1_000_000 if device.fail_check else 1
    config = FAST_CONFIG.replace(
        "  disk: {enabled: false}\n", "  disk: {interval: 1s, filesystems_interval: 1s}\n"
    )
    return (
        config
        + "alerting:\n  default_rules: false\n"
        + "health:\n  checks:\n"
        + "    - {kind: metric, name: cpus, query: 'system_cpus', interval: 2s, timeout: 1s,\n"
        + f"       fail_below: {threshold}}}\n"
    )


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{names[0]} is required in CI (Debian package of the same name)")
    pytest.skip(f"{names[0]} is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_json(url: str, **params: str) -> Any:
    response = httpx.get(url, params=params, timeout=5)
    response.raise_for_status()
    return response.json()


class Peer:
    """A subprocess whose output goes to a log file."""

    def __init__(self, argv: Sequence[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.proc.args!r} exited:\n{self.log()[-3000:]}")

    def wait_ready(self, url: str, timeout: float = 60.0) -> None:
        def ready() -> bool:
            self.alive()
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout, f"{url} to answer 200")

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            self._log.close()


def start_agent(tmp: Path, device: Device) -> tuple[AgentProcess, str]:
    """A real agent; its URL (``listen: 127.0.0.1:0``, read from its log)."""
    agent = AgentProcess(tmp, agent_config(device))
    agent.start()
    try:
        agent.wait_log("dashboard and API on", 60)
        found = AGENT_URL_RE.search(agent.log())
        if found is None:
            raise AssertionError(f"no URL in the agent's log:\n{agent.log()}")
        return agent, found.group(1)
    except BaseException:
        agent.stop()
        raise


def scrape_config(targets: Sequence[tuple[Device, str]]) -> str:
    """A Prometheus scrape config (VictoriaMetrics reads the same) with per-target labels."""
    static = [
        {
            "targets": [url.removeprefix("http://")],
            "labels": {"device": device.name, "site": device.site},
        }
        for device, url in targets
    ]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "edgewatch", "static_configs": static}],
    }
    return json.dumps(config)  # JSON is YAML


def start_prometheus(tmp: Path, config: str) -> tuple[Peer, str]:
    exe = binary("prometheus")
    (tmp / "prometheus.yml").write_text(config)
    port = free_port()
    peer = Peer(
        [
            exe,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        peer.wait_ready(url + "/-/ready")
    except BaseException:
        peer.stop()
        raise
    return peer, url


def start_victoriametrics(tmp: Path, config: str) -> tuple[Peer, str]:
    exe = binary("victoria-metrics", "victoria-metrics-prod")
    (tmp / "vm-scrape.yml").write_text(config)
    port = free_port()
    peer = Peer(
        [
            exe,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={tmp / 'vm-data'}",
            f"-promscrape.config={tmp / 'vm-scrape.yml'}",
            # Fresh samples are hidden for 30 s by default (for late-arriving data).
            "-search.latencyOffset=1s",
            "-search.disableCache",
        ],
        tmp / "victoria-metrics.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        peer.wait_ready(url + "/health")
    except BaseException:
        peer.stop()
        raise
    return peer, url


def start_alertmanager(tmp: Path) -> tuple[Peer, str]:
    exe = binary("prometheus-alertmanager", "alertmanager")
    (tmp / "am.yml").write_text('route: {receiver: "null"}\nreceivers: [{name: "null"}]\n')
    port = free_port()
    peer = Peer(
        [
            exe,
            f"--config.file={tmp / 'am.yml'}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        tmp / "alertmanager.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        peer.wait_ready(url + "/-/ready")
    except BaseException:
        peer.stop()
        raise
    return peer, url


READY_QUERY = (
    'count by (device) (system_cpu_usage_ratio{cpu="total"})'
    " and count by (device) (system_memory_usage_ratio)"
    " and count by (device) (system_filesystem_usage_ratio)"
    " and count by (device) (edgewatch_check_status)"
)


def wait_scraped(engine_url: str, devices: Sequence[Device], timeout: float = 90.0) -> None:
    """Until the engine answers CPU, memory, disk and health series of every device."""
    wanted = {d.name for d in devices}

    def scraped() -> bool:
        body = get_json(engine_url + "/api/v1/query", query=READY_QUERY)
        return {r["metric"].get("device") for r in body["data"]["result"]} == wanted

    wait_for(scraped, timeout, f"{engine_url} to hold series of {sorted(wanted)}")


def run_fleet(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``edgewatch fleet ARGS`` in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "edgewatch", "fleet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def fleet_json(*args: str) -> dict[str, Any]:
    done = run_fleet(*args, "--once", "--format", "json")
    assert done.returncode == 0, done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def start_fleet_server(tmp: Path, *args: str) -> tuple[Peer, str]:
    """``edgewatch fleet ARGS --listen 127.0.0.1:0``; its URL, read from its log."""
    peer = Peer(
        [sys.executable, "-m", "edgewatch", "fleet", *args, "--listen", "127.0.0.1:0"],
        tmp / "fleet.log",
    )
    try:

        def listening() -> str | None:
            peer.alive()
            found = FLEET_URL_RE.search(peer.log())
            return found.group(1) if found else None

        url = wait_for(listening, 60, "the fleet view's URL in its log")
    except BaseException:
        peer.stop()
        raise
    return peer, url
