"""What `make run` promises: the agent runs on built-in defaults, no config file, and the
CLI then lists and queries every family of series this machine has."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_process import wait_for

EDGEWATCH = [sys.executable, "-m", "edgewatch"]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGEWATCH, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.mark.slow
def test_agent_on_defaults_stores_every_family_and_the_cli_reads_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
    env["EDGEWATCH_DATA_DIR"] = str(tmp_path / "data")  # the environment form of --data-dir
    log_path = tmp_path / "agent.log"
    with log_path.open("wb") as log:
        agent = subprocess.Popen(
            [*EDGEWATCH, "run", "--listen", "127.0.0.1:0"],  # a free port: 8700 may be busy
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for(lambda: "edgewatch running" in log_path.read_text(), what="the agent to start")
        time.sleep(3)  # a few 1-second collections, the first process scan and self figures
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=5) == 0  # flushed and out within 5 s
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    assert "Traceback" not in log_path.read_text()

    listed = _cli("series", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    names = {s["name"] for s in json.loads(listed.stdout)}
    for family in (
        "node_cpu_seconds_total",  # cpu
        "node_memory_MemAvailable_bytes",  # memory
        "node_filesystem_avail_bytes",  # disk space
        "node_disk_read_bytes_total",  # disk I/O
        "node_network_receive_bytes_total",  # network
        "system_processes",  # system
        "system_process_cpu_seconds_total",  # processes
        "edgewatch_process_resident_memory_bytes",  # self
    ):
        assert family in names, f"{family} missing from {sorted(names)}"
    if Path("/sys/class/thermal/thermal_zone0").exists():
        assert "node_thermal_zone_temp" in names

    queried = _cli("query", "node_load1", "--start", "-5m", "--format", "csv", env=env)
    assert queried.returncode == 0, queried.stderr
    rows = queried.stdout.strip().splitlines()
    assert rows[0] == "series,timestamp,unix_ms,value"
    assert len(rows) >= 3  # a sample a second
    assert all(float(r.split(",")[-1]) >= 0 for r in rows[1:])
