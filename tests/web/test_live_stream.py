"""GET /api/stream: Server-Sent Events of live samples, filters, heartbeat, resume, cleanup."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from live_helpers import LiveServer, live_context, make_app, wait_until

from edgewatch.live import SUBSCRIBER_QUEUE, LiveHub
from edgewatch.model import Sample, SeriesKey
from edgewatch.web.context import AppContext

LOAD = SeriesKey.of("node_load1")
CPU = SeriesKey.of("system_cpu_usage_ratio", cpu="total")
APP = SeriesKey.of("app_fps", camera="front")
READ_TIMEOUT = 10.0


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Sse:
    """Reads an SSE response block by block (each block: its field lines)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def block(self) -> list[str] | None:
        """The next block, or None at the end of the stream."""
        lines: list[str] = []
        async with asyncio.timeout(READ_TIMEOUT):
            async for line in self._lines:
                if line == "":
                    if lines:
                        return lines
                    continue
                lines.append(line)
        return lines or None

    async def event(self) -> dict[str, Any]:
        """The next ``samples`` event (skipping comments and the retry hint)."""
        for _ in range(100):
            block = await self.block()
            assert block is not None, "stream ended"
            fields = dict(line.split(": ", 1) for line in block if not line.startswith(":"))
            if fields.get("event") == "samples":
                return {"id": int(fields["id"]), **json.loads(fields["data"])}
        raise AssertionError("no event in 100 blocks")


async def subscribed(hub: LiveHub, n: int = 1) -> None:
    await wait_until(lambda: hub.subscribers == n, what=f"{n} subscriber(s)")


async def with_stream(
    ctx: AppContext, params: dict[str, Any], headers: dict[str, str] | None, body: Any
) -> None:
    async with (
        LiveServer(make_app(ctx)) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=READ_TIMEOUT) as c,
        c.stream("GET", "/api/stream", params=params, headers=headers) as r,
    ):
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        await body(r, Sse(r))
        await wait_until(lambda: ctx.hub.subscribers == 0, what="the subscriber to go")


def test_events_carry_core_metrics_with_non_finite_values_as_strings(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            hub = ctx.hub

            async def body(r: httpx.Response, sse: Sse) -> None:
                first = await sse.block()
                assert first == ["retry: 2000"]
                await subscribed(hub)
                hub.publish(1000, [Sample(LOAD, 0.5), Sample(CPU, math.nan), Sample(APP, 30.0)])
                hub.publish(2000, [Sample(APP, 31.0)])  # nothing core: no event
                hub.publish(3000, [Sample(LOAD, math.inf), Sample(CPU, -math.inf)])
                one, two = await sse.event(), await sse.event()
                assert one == {
                    "id": 1,
                    "ts": 1000,
                    "samples": [
                        {"name": "node_load1", "labels": {}, "value": 0.5},
                        {
                            "name": "system_cpu_usage_ratio",
                            "labels": {"cpu": "total"},
                            "value": "NaN",
                        },
                    ],
                }
                assert two["id"] == 3
                assert [s["value"] for s in two["samples"]] == ["+Inf", "-Inf"]

            await with_stream(ctx, {"heartbeat": 1}, None, body)

    run(main())


def test_match_selects_series_and_a_bad_selector_is_400(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            hub = ctx.hub

            async def body(r: httpx.Response, sse: Sse) -> None:
                await subscribed(hub)
                hub.publish(1000, [Sample(LOAD, 0.5), Sample(APP, 30.0)])
                hub.publish(2000, [Sample(SeriesKey.of("app_fps", camera="back"), 2.0)])
                event = await sse.event()
                assert event["samples"] == [
                    {"name": "app_fps", "labels": {"camera": "front"}, "value": 30.0},
                ]
                event = await sse.event()
                assert event["id"] == 2 and event["samples"][0]["value"] == 2.0

            params = {"match": ['app_fps{camera="front"}', 'app_fps{camera="back"}']}
            await with_stream(ctx, params, None, body)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=make_app(ctx)), base_url="http://t"
            ) as c:
                bad = await c.get("/api/stream", params={"match": "up{"})
                assert bad.status_code == 400 and "bad match selector" in bad.text
                assert (await c.get("/api/stream", params={"heartbeat": 0})).status_code == 422

    run(main())


def test_keepalive_comment_when_idle(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:

            async def body(r: httpx.Response, sse: Sse) -> None:
                assert await sse.block() == ["retry: 2000"]
                assert await sse.block() == [": keepalive"]
                assert await sse.block() == [": keepalive"]

            await with_stream(ctx, {"heartbeat": 1}, None, body)

    run(main())


def test_last_event_id_replays_kept_events(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            hub = ctx.hub
            for ts in (1000, 2000, 3000):
                hub.publish(ts, [Sample(LOAD, ts / 1000)])

            async def replay(r: httpx.Response, sse: Sse) -> None:
                assert [(await sse.event())["id"] for _ in range(2)] == [2, 3]
                hub.publish(4000, [Sample(LOAD, 4.0)])
                assert (await sse.event())["id"] == 4

            await with_stream(ctx, {}, {"Last-Event-ID": "1"}, replay)

            async def by_param(r: httpx.Response, sse: Sse) -> None:
                assert (await sse.event())["id"] == 4

            await with_stream(ctx, {"last_event_id": 3}, None, by_param)

            async def after_restart(r: httpx.Response, sse: Sse) -> None:
                # An id the hub never gave (the agent restarted): no replay, new events only.
                await subscribed(hub)
                hub.publish(5000, [Sample(LOAD, 5.0)])
                assert (await sse.event())["id"] == 5

            await with_stream(ctx, {}, {"Last-Event-ID": "99999"}, after_restart)

    run(main())


def test_lagging_subscriber_is_cut_off_and_resumes(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            hub = ctx.hub
            total = SUBSCRIBER_QUEUE + 50
            seen: list[int] = []

            async def flood(r: httpx.Response, sse: Sse) -> None:
                await subscribed(hub)
                for i in range(total):  # no await: the stream cannot keep up
                    hub.publish(1000 + i, [Sample(LOAD, float(i))])
                for _ in range(total + 10):
                    block = await sse.block()
                    if block is None:
                        break
                    if block[0].startswith("id: "):
                        seen.append(int(block[0][4:]))
                assert block is None, "the stream should end"

            await with_stream(ctx, {}, None, flood)
            assert len(seen) < total
            # What it saw came in order from the first event; nothing it had not read yet
            # is skipped: the cut-off drops its whole queue and the resume replays it.
            assert seen == list(range(1, len(seen) + 1))
            last = seen[-1] if seen else 0

            async def resume(r: httpx.Response, sse: Sse) -> None:
                ids = [(await sse.event())["id"] for _ in range(total - last)]
                assert ids == list(range(last + 1, total + 1))

            await with_stream(ctx, {}, {"Last-Event-ID": str(last)}, resume)

    run(main())


def test_disconnect_releases_the_subscription(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            hub = ctx.hub
            async with (
                LiveServer(make_app(ctx)) as srv,
                httpx.AsyncClient(base_url=srv.url, timeout=READ_TIMEOUT) as c,
            ):
                for _ in range(3):
                    async with c.stream("GET", "/api/stream", params={"heartbeat": 60}) as r:
                        assert r.status_code == 200
                        await subscribed(hub)
                    # The client hung up mid-stream, with no event or keepalive due.
                    await wait_until(lambda: hub.subscribers == 0, what="the unsubscribe")
                streams = [
                    await c.send(c.build_request("GET", "/api/stream"), stream=True)
                    for _ in range(2)
                ]
                await subscribed(hub, 2)
                for s in streams:
                    await s.aclose()
                await wait_until(lambda: hub.subscribers == 0, what="both to go")

    run(main())


def test_stream_through_the_full_app(tmp_path: Path) -> None:
    from edgewatch.web.app import create_app

    async def main() -> None:
        with live_context(tmp_path) as ctx:
            hub = ctx.hub
            async with (
                LiveServer(create_app(ctx)) as srv,
                httpx.AsyncClient(base_url=srv.url, timeout=READ_TIMEOUT) as c,
                c.stream("GET", "/api/stream", params={"heartbeat": 1}) as r,
            ):
                assert r.status_code == 200
                await subscribed(hub)
                hub.publish(1000, [Sample(LOAD, 0.25)])
                event = await Sse(r).event()
                assert event["samples"] == [{"name": "node_load1", "labels": {}, "value": 0.25}]
            await wait_until(lambda: hub.subscribers == 0, what="the subscriber to go")

    run(main())
