"""The real agent as a subprocess: store, series, signals, reload, and bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_process import FAST_CONFIG, AgentProcess, read_all, wait_for

pytestmark = pytest.mark.slow


def _names(data: dict[str, dict[int, float]]) -> set[str]:
    return {key.split("{", 1)[0] for key, samples in data.items() if samples}


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "edgewatch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_agent_stores_cpu_memory_and_self_series_and_stops_on_sigterm(tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path)
    try:
        agent.start()
        agent.wait_log("edgewatch running")
        start_line = next(line for line in agent.log().splitlines() if "edgewatch running" in line)
        assert str(agent.data_dir) in start_line
        assert "cpu" in start_line and "memory" in start_line and "self" in start_line
        assert "3 collectors" in start_line

        def series_present() -> dict[str, dict[int, float]] | None:
            if not agent.store_file.exists():
                return None
            data = read_all(agent.store_file)
            wanted = {
                "node_load1",
                "edgewatch_process_cpu_seconds_total",
                "edgewatch_collector_duration_seconds",
            }
            return data if wanted <= _names(data) else None

        data = wait_for(series_present, what="cpu, memory and self series in the store")
        names = _names(data)
        assert any(n.startswith("node_cpu") for n in names)
        assert any(n.startswith("node_memory") for n in names)
        assert 'edgewatch_collector_duration_seconds{collector="cpu"}' in data
        # Timestamps are ticks of the 1 s grid.
        assert all(ts % 1000 == 0 for ts in data["node_load1"])

        agent.signal(signal.SIGTERM)
        assert agent.wait(timeout=5) == 0
        log = agent.log()
        assert "edgewatch stopped" in log
        assert "Traceback" not in log
    finally:
        agent.stop()


def test_sigterm_flushes_samples_not_yet_committed(tmp_path: Path) -> None:
    # A commit interval longer than the run: whatever is stored came from the final flush.
    agent = AgentProcess(
        tmp_path, FAST_CONFIG.replace("commit_interval: 1s", "commit_interval: 1h")
    )
    try:
        agent.start()
        agent.wait_log("edgewatch running")
        time.sleep(2.5)
        sent = time.time()
        agent.signal(signal.SIGTERM)
        assert agent.wait(timeout=5) == 0
    finally:
        agent.stop()
    data = read_all(agent.store_file)
    load = data["node_load1"]
    assert len(load) >= 2
    assert max(load) >= (sent - 3) * 1000  # the last ticks before the signal are there


def test_sighup_reloads_config_and_keeps_the_old_one_when_broken(tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path)
    try:
        agent.start()
        agent.wait_log("edgewatch running")

        def memory_stored() -> bool:
            if not agent.store_file.exists():
                return False
            return any(k.startswith("node_memory") for k in read_all(agent.store_file))

        wait_for(memory_stored, what="memory samples before the reload")
        agent.config_path.write_text(
            FAST_CONFIG.replace("memory: {interval: 1s}", "memory: {enabled: false}")
        )
        agent.signal(signal.SIGHUP)
        agent.wait_log("config reloaded")
        reloaded_at = time.time()
        reload_line = next(line for line in agent.log().splitlines() if "config reloaded" in line)
        assert "2 collectors (cpu, self)" in reload_line

        def cpu_after_reload() -> dict[str, dict[int, float]] | None:
            data = read_all(agent.store_file)
            newest = max(data.get("node_load1", {0: 0.0}))
            return data if newest >= (reloaded_at + 2) * 1000 else None

        data = wait_for(cpu_after_reload, what="cpu samples after the reload")
        memory = [ts for key, s in data.items() if key.startswith("node_memory") for ts in s]
        assert memory, "memory was collected before the reload"
        assert max(memory) <= reloaded_at * 1000

        agent.config_path.write_text("collectors:\n  cpu: {interval: soon}\n")
        agent.signal(signal.SIGHUP)
        agent.wait_log("config reload failed")
        failed_at = time.time()
        assert agent.proc is not None and agent.proc.poll() is None
        error_line = next(
            line for line in agent.log().splitlines() if "config reload failed" in line
        )
        assert "keeping the previous config" in error_line

        def still_collecting() -> bool:
            return max(read_all(agent.store_file)["node_load1"]) >= (failed_at + 2) * 1000

        wait_for(still_collecting, what="cpu samples after the failed reload")
        agent.signal(signal.SIGTERM)
        assert agent.wait(timeout=5) == 0
        assert "Traceback" not in agent.log()
    finally:
        agent.stop()


def test_data_dir_that_is_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = _run_cli("run", "--data-dir", str(a_file / "data"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"cannot use data directory {a_file / 'data'}: Not a directory" in result.stderr


def test_foreign_file_at_the_store_path_is_refused_and_kept(tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path)
    agent.data_dir.mkdir()
    garbage = b"this is not an edgewatch store\n" * 100
    agent.store_file.write_bytes(garbage)
    result = _run_cli("run", "--data-dir", str(agent.data_dir), "--config", str(agent.config_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot open the store" in result.stderr
    assert agent.store_file.read_bytes() == garbage


def test_bad_config_and_bad_listen_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("collectors:\n  cpu: {intervall: 1s}\n")
    result = _run_cli("run", "--config", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "intervall" in result.stderr

    result = _run_cli("run", "--listen", "nowhere", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "--listen" in result.stderr
    assert not (tmp_path / "d").exists()
