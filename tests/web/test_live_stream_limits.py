"""GET /api/stream under pressure: a cap on open streams (503), hub shutdown ending
every stream, and bad selectors refused before a stream opens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_helpers import LiveServer, live_context, make_app, wait_until

from edgewatch.live import MAX_SUBSCRIBERS, HubFull, LiveEvent, LiveHub, SubscriberLagged
from edgewatch.model import Sample, SeriesKey
from edgewatch.web.api_stream import FULL_RETRY_AFTER_S, MAX_MATCH
from edgewatch.web.app import create_app

LOAD = SeriesKey.of("node_load1")
TIMEOUT = 10.0


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _collect(hub: LiveHub, into: list[int]) -> str:
    try:
        async for event in hub.subscribe():
            into.append(event.id)
    except SubscriberLagged:
        return "lagged"
    return "ended"


def test_close_ends_every_subscriber_and_later_ones_at_once() -> None:
    async def main() -> None:
        hub = LiveHub()
        seen: list[list[int]] = [[], []]
        tasks = [asyncio.create_task(_collect(hub, s)) for s in seen]
        await wait_until(lambda: hub.subscribers == 2, what="two subscribers")
        hub.publish(1, [Sample(LOAD, 1.0)])
        await wait_until(lambda: all(seen), what="the first event")
        hub.close()
        async with asyncio.timeout(TIMEOUT):
            assert await asyncio.gather(*tasks) == ["ended", "ended"]
        assert seen == [[1], [1]]
        assert hub.closed and hub.subscribers == 0
        late: list[int] = []
        async with asyncio.timeout(TIMEOUT):
            assert await _collect(hub, late) == "ended"
        hub.publish(2, [Sample(LOAD, 2.0)])  # publishing after close harms nothing
        subscription = hub.open(after_id=0)
        async with asyncio.timeout(TIMEOUT):
            assert [e async for e in subscription] == [], "a closed hub ends at once"
            assert [e async for e in subscription] == [], "and stays ended"
        assert late == []

    run(main())


def test_open_registers_at_once_and_refuses_past_the_cap() -> None:
    async def main() -> None:
        hub = LiveHub(max_subscribers=2)
        assert LiveHub().max_subscribers == MAX_SUBSCRIBERS == 64
        first, second = hub.open(), hub.open()
        assert hub.subscribers == 2, "counted before the first iteration"
        with pytest.raises(HubFull):
            hub.open()
        first.close()
        first.close()  # idempotent
        third = hub.open()
        event = hub.publish(5, [Sample(LOAD, 1.0)])
        async with asyncio.timeout(TIMEOUT):
            got: list[LiveEvent] = [await anext(second), await anext(third)]
        assert got == [event, event]

    run(main())


def test_the_stream_past_the_cap_gets_503_with_retry_after(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            hub = ctx.hub
            held = [hub.open() for _ in range(MAX_SUBSCRIBERS - 1)]
            async with (
                LiveServer(create_app(ctx)) as srv,
                httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as c,
            ):
                async with c.stream("GET", "/api/stream") as last:
                    assert last.status_code == 200
                    assert hub.subscribers == MAX_SUBSCRIBERS
                    full = await c.get("/api/stream")
                    assert full.status_code == 503
                    assert full.headers["retry-after"] == str(FULL_RETRY_AFTER_S)
                    assert full.json() == {
                        "error": f"{MAX_SUBSCRIBERS} live streams are open already; retry later",
                        "detail": None,
                    }
                await wait_until(
                    lambda: hub.subscribers == MAX_SUBSCRIBERS - 1, what="the slot to free"
                )
                async with c.stream("GET", "/api/stream") as again:
                    assert again.status_code == 200, "a freed slot is usable again"
            for subscription in held:
                subscription.close()
            assert hub.subscribers == 0

    run(main())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"match": "(" * 200 + "up" + ")" * 200}, "nested deeper"),
        ({"match": "x" * 10_000}, "longer than"),
        ({"match": '{a=~"("}'}, "bad match selector"),
        ({"match": ["up"] * (MAX_MATCH + 1)}, f"more than {MAX_MATCH} match selectors"),
    ],
)
def test_bad_selectors_are_400_before_a_stream_opens(
    tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    async def main() -> httpx.Response:
        with live_context(tmp_path) as ctx:
            transport = httpx.ASGITransport(app=create_app(ctx))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                response = await c.get("/api/stream", params=params)
            assert ctx.hub.subscribers == 0
            return response

    response = run(main())
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_stream_ends_cleanly_when_the_hub_closes(tmp_path: Path) -> None:
    async def main() -> list[str]:
        with live_context(tmp_path) as ctx:
            async with (
                LiveServer(make_app(ctx)) as srv,
                httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as c,
                c.stream("GET", "/api/stream", params={"heartbeat": 60}) as r,
            ):
                await wait_until(lambda: ctx.hub.subscribers == 1, what="the subscriber")
                ctx.hub.close()
                async with asyncio.timeout(TIMEOUT):
                    return [line async for line in r.aiter_lines()]

    assert run(main()) == ["retry: 2000", ""]
