"""The agent loads the web app (fastapi and the routers) on the first request, not at
start (web/lazy.py); bench/agent_overhead.py measures the memory this keeps free."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp

from agent_process import AgentProcess, read_all, wait_for
from edgewatch.web.lazy import LazyApp

WAIT_S = 20.0


def _hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def _client(app: LazyApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_concurrent_first_requests_share_one_build_in_a_worker_thread() -> None:
    builds: list[str] = []
    release = threading.Event()

    def build() -> ASGIApp:
        builds.append(threading.current_thread().name)
        if not release.wait(WAIT_S):
            raise AssertionError("never released")
        return _hello_app()

    async def main() -> list[httpx.Response]:
        lazy = LazyApp(build)
        assert not lazy.loaded
        async with _client(lazy) as client:
            requests = [asyncio.create_task(client.get("/hello")) for _ in range(5)]
            async with asyncio.timeout(WAIT_S):
                while not builds:  # the loop turns while the build runs
                    await asyncio.sleep(0.01)
            assert not lazy.loaded
            release.set()
            responses = await asyncio.gather(*requests)
            assert lazy.loaded
            responses.append(await client.get("/hello"))
        return responses

    responses = asyncio.run(main())
    assert [r.json() for r in responses] == [{"hello": "world"}] * 6
    assert len(builds) == 1
    assert builds[0] != threading.main_thread().name


def test_a_failed_build_answers_500_in_the_api_shape_and_the_next_request_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    def build() -> ASGIApp:
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("no module named 'fastapi_missing'")
        return _hello_app()

    async def main() -> list[httpx.Response]:
        lazy = LazyApp(build)
        async with _client(lazy) as client:
            first = await client.get("/api/v1/query", params={"query": "up"})
            assert not lazy.loaded
            second = await client.get("/hello")
            third = await client.get("/hello")
        return [first, second, third]

    caplog.set_level(logging.INFO, logger="edgewatch.web.lazy")
    first, second, third = asyncio.run(main())
    assert first.status_code == 500
    assert first.json()["status"] == "error"
    assert first.json()["errorType"] == "internal"
    assert "see the agent's log" in first.json()["error"]
    assert "fastapi_missing" not in first.text, "the reason is for the log, not the client"
    assert (second.status_code, second.json()) == (200, {"hello": "world"})
    assert third.status_code == 200
    assert len(attempts) == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "fastapi_missing" in errors[0].getMessage()


def test_a_failed_build_answers_the_plain_error_shape_outside_the_prometheus_api() -> None:
    def build() -> ASGIApp:
        raise RuntimeError("broken")

    async def main() -> httpx.Response:
        async with _client(LazyApp(build)) as client:
            return await client.get("/api/system")

    response = asyncio.run(main())
    assert response.status_code == 500
    assert response.json() == {
        "error": "the web app could not be loaded; see the agent's log",
        "detail": None,
    }


def test_lifespan_is_acknowledged_without_building() -> None:
    built: list[int] = []

    def build() -> ASGIApp:
        built.append(1)
        return _hello_app()

    async def main() -> list[str]:
        inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        for kind in ("lifespan.startup", "lifespan.shutdown"):
            inbox.put_nowait({"type": kind})
        sent: list[str] = []

        async def receive() -> dict[str, str]:
            return await inbox.get()

        async def send(message: object) -> None:
            assert isinstance(message, dict)
            sent.append(message["type"])

        lazy = LazyApp(build)
        async with asyncio.timeout(WAIT_S):
            await lazy({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        return sent

    assert asyncio.run(main()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert built == []


@pytest.mark.slow
def test_the_running_agent_imports_fastapi_on_the_first_request_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real agent, with ``-X importtime`` (PYTHONPROFILEIMPORTTIME): every module it
    imports is a line of its log, so the log says when fastapi came in."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    agent = AgentProcess(tmp_path)

    def imported(module: str) -> bool:
        return re.search(rf"^import time:.*\| +{re.escape(module)}$", agent.log(), re.M) is not None

    try:
        agent.start()
        agent.wait_log("edgewatch running")
        match = re.search(r"dashboard and API on (http://127\.0\.0\.1:\d+/)", agent.log())
        assert match is not None, agent.log()
        base = match.group(1)
        # Collections stored (cpu, memory and self every second), and still no fastapi.
        wait_for(lambda: read_all(agent.store_file), WAIT_S, "samples in the store")
        assert imported("edgewatch.agent"), "the check sees the agent's imports"
        for module in ("fastapi", "starlette", "edgewatch.web.app", "jinja2"):
            assert not imported(module), f"{module} imported before any request"
        with httpx.Client(base_url=base, timeout=WAIT_S) as client:
            system = client.get("/api/system")
            page = client.get("/")
            metrics = client.get("/metrics")
        assert system.status_code == 200, system.text
        assert system.json()["memory"]["total_bytes"] > 0
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        assert metrics.status_code == 200
        assert "edgewatch_" in metrics.text
        assert imported("fastapi")
        assert imported("edgewatch.web.app")
        agent.wait_log("web app loaded")
        assert agent.log().count("web app loaded") == 1
    finally:
        agent.stop()
