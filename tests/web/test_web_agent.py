"""The agent serves the web app inside its own loop; it refuses unsafe or busy addresses."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from agent_process import FAST_CONFIG
from edgewatch.agent import Agent
from edgewatch.config import load_config

CONFIG = FAST_CONFIG  # a free port: the tests pass listen=(..., 0) anyway
WAIT_S = 20.0


async def _poll(client: httpx.AsyncClient, path: str, ok: str) -> httpx.Response:
    """GET ``path`` until ``ok`` (a dotted key of the JSON body) is not null; bounded."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        response = await client.get(path)
        if response.status_code == 200:
            value = response.json()
            for part in ok.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is not None:
                return response
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path}: no {ok} in time: {response.text}")
        await asyncio.sleep(0.1)


def test_agent_serves_the_api_on_an_ephemeral_port_and_stops_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_path = tmp_path / "edgewatch.yaml"
    config_path.write_text(CONFIG)
    caplog.set_level(logging.INFO, logger="edgewatch.agent")

    async def main() -> int:
        agent = Agent(load_config(config_path), tmp_path / "data", listen=("127.0.0.1", 0))
        task = asyncio.create_task(agent.run())
        try:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while agent.http_port is None:
                assert not task.done(), task
                assert asyncio.get_running_loop().time() < deadline, "never listened"
                await asyncio.sleep(0.05)
            port = agent.http_port
            assert port > 0
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                await _poll(client, "/readyz", "status")
                system = (await _poll(client, "/api/system", "cpu.usage_ratio")).json()
                assert 0.0 <= system["cpu"]["usage_ratio"] <= 1.0
                assert system["memory"]["total_bytes"] > 0
                # The same collections reach the store: the query API reads them back.
                query = await _poll(client, "/api/v1/query?query=node_load1", "data.result")
                assert query.json()["data"]["result"]
                metadata = (await client.get("/api/v1/metadata")).json()["data"]
                assert metadata["node_load1"][0]["type"] == "gauge"
                assert "edgewatch_process_cpu_seconds_total" in metadata
        finally:
            agent.stop()
            await asyncio.wait_for(task, timeout=30)
        assert not agent.ready()
        return port

    port = asyncio.run(main())
    assert f"dashboard and API on http://127.0.0.1:{port}/" in caplog.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5)


def test_agent_without_http_has_no_port_and_still_feeds_the_hub(tmp_path: Path) -> None:
    config_path = tmp_path / "edgewatch.yaml"
    config_path.write_text(CONFIG)

    async def main() -> None:
        agent = Agent(load_config(config_path), tmp_path / "data", serve_http=False)
        task = asyncio.create_task(agent.run())
        try:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while not any(k.name == "node_load1" for k in agent.hub.latest()):
                assert not task.done(), task
                assert asyncio.get_running_loop().time() < deadline, "nothing published"
                await asyncio.sleep(0.05)
            assert agent.http_port is None
            assert agent.ready()
            assert "node_load1" in agent.families()
        finally:
            agent.stop()
            await asyncio.wait_for(task, timeout=30)

    asyncio.run(main())


def test_agent_stops_with_open_streams_ending_them_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Open /api/stream clients end when the agent stops: no cancelled tasks, no ERROR."""
    config_path = tmp_path / "edgewatch.yaml"
    config_path.write_text(CONFIG)
    caplog.set_level(logging.INFO)

    async def read_stream(client: httpx.AsyncClient, opened: asyncio.Event) -> list[str]:
        lines: list[str] = []
        params = {"match": "node_load1", "heartbeat": "1"}
        async with client.stream("GET", "/api/stream", params=params) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():  # ends when the server ends the body
                lines.append(line)
                opened.set()
        return lines

    async def main() -> list[list[str]]:
        agent = Agent(load_config(config_path), tmp_path / "data", listen=("127.0.0.1", 0))
        task = asyncio.create_task(agent.run())
        try:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while agent.http_port is None:
                assert not task.done(), task
                assert asyncio.get_running_loop().time() < deadline, "never listened"
                await asyncio.sleep(0.05)
            base = f"http://127.0.0.1:{agent.http_port}"
            async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as client:
                opened = [asyncio.Event(), asyncio.Event()]
                readers = [asyncio.create_task(read_stream(client, e)) for e in opened]
                async with asyncio.timeout(WAIT_S):
                    for event in opened:
                        await event.wait()
                agent.stop()
                async with asyncio.timeout(WAIT_S):
                    return await asyncio.gather(*readers)
        finally:
            agent.stop()
            await asyncio.wait_for(task, timeout=30)

    streams = asyncio.run(main())
    assert all(lines[0] == "retry: 2000" for lines in streams), streams
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems, [f"{r.name}: {r.getMessage()}" for r in problems]
    assert "edgewatch stopped" in caplog.text


def _run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config_path = tmp_path / "edgewatch.yaml"
    config_path.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "edgewatch", "run", "--config", str(config_path),
         "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip


def test_run_refuses_a_non_loopback_address_without_auth(tmp_path: Path) -> None:
    result = _run_cli(tmp_path, "--listen", "0.0.0.0:0")
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on 0.0.0.0:0 without authentication" in result.stderr
    assert "auth.tokens" in result.stderr and "edgewatch user add" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_reports_an_address_in_use_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = _run_cli(tmp_path, "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
