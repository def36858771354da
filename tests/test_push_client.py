"""edgewatch.client.push against the served app on a loopback socket."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent / "web"))  # the live helpers module
from live_helpers import LiveServer, live_context, make_app, make_config

from edgewatch.client import PushError, push
from edgewatch.model import SeriesKey


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_push_lands_in_the_store_and_in_metrics(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            async with LiveServer(make_app(ctx)) as srv:
                accepted = await asyncio.to_thread(
                    push,
                    {"vision_fps": 29.5, "vision_inference_seconds": 0.041},
                    url=srv.url + "/",
                    labels={"camera": "front"},
                )
                assert accepted == 2
                items = [
                    {
                        "name": "vision_dropped_frames_total",
                        "value": 3,
                        "type": "counter",
                        "help": "Frames the pipeline dropped.",
                        "labels": {"camera": "back"},
                    },
                    {"name": "vision_confidence", "value": math.nan},
                ]
                assert await asyncio.to_thread(push, items, url=srv.url, labels={"site": "s1"}) == 2
                async with httpx.AsyncClient(base_url=srv.url) as c:
                    metrics = (await c.get("/metrics")).text
            assert ctx.store is not None
            now = int(time.time() * 1000)
            got = ctx.store.read("vision_fps", now - 60_000, now + 1000)
            assert [(s.key, list(s.values)) for s in got] == [
                (SeriesKey.of("vision_fps", camera="front"), [29.5])
            ]
            assert ctx.store.has_series(
                SeriesKey.of("vision_dropped_frames_total", camera="back", site="s1")
            )
            assert 'vision_inference_seconds{camera="front"} 0.041 ' in metrics
            assert "# TYPE vision_dropped_frames_total counter\n" in metrics
            assert 'vision_dropped_frames_total{camera="back",site="s1"} 3 ' in metrics
            assert 'vision_confidence{site="s1"} NaN ' in metrics

    run(main())


def test_refusals_raise_push_error_with_the_agents_message(tmp_path: Path) -> None:
    async def main() -> None:
        config = make_config(max_new_series_per_minute=1)
        with live_context(tmp_path, config=config) as ctx:
            async with LiveServer(make_app(ctx)) as srv:
                with pytest.raises(PushError) as err:
                    await asyncio.to_thread(push, {"bad name": 1.0}, url=srv.url)
                assert err.value.status == 400
                assert "bad metric name 'bad name'" in str(err.value)
                assert await asyncio.to_thread(push, {"one": 1.0}, url=srv.url) == 1
                with pytest.raises(PushError) as err:
                    await asyncio.to_thread(push, {"two": 1.0}, url=srv.url)
                assert err.value.status == 429 and err.value.retry_after is not None
                assert "max_new_series_per_minute" in str(err.value)

    run(main())


def test_unreachable_agent_raises_push_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(PushError, match=f"cannot reach edgewatch at http://127.0.0.1:{port}"):
            push({"x": 1.0}, url=f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(TypeError, match="cannot push a object"):
        push({"x": object()}, url="http://127.0.0.1:1")  # type: ignore[dict-item]


def test_client_import_is_light() -> None:
    code = (
        "import sys, edgewatch.client\n"
        "heavy = {'numpy', 'fastapi', 'pydantic', 'starlette', 'edgewatch.model'}\n"
        "heavy &= set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
