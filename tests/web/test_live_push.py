"""POST /api/push: both body forms, all-or-nothing validation, the limits and their codes."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from live_helpers import live_context, make_app, make_config

from edgewatch.collect.push import NewSeriesLimiter, PushRejected, parse_json, parse_text
from edgewatch.export.exposition import FamilyMeta, render_text
from edgewatch.model import MetricFamily, MetricType, SeriesKey
from edgewatch.web.context import AppContext

NOW_MS = 1_700_000_000_000


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def client(ctx: AppContext) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(ctx))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def values(ctx: AppContext, selector: str) -> dict[SeriesKey, list[float]]:
    assert ctx.store is not None
    now = int(time.time() * 1000)
    got = ctx.store.read(selector, 0, now + 10 * 60_000)
    return {s.key: [float(v) for v in s.values] for s in got}


TEXT_BODY = """\
# HELP vision_fps Frames per second of the detector.
# TYPE vision_fps gauge
vision_fps{camera="front",model="yolo \\"n\\""} 29.5
# TYPE vision_frames_total counter
vision_frames_total{camera="front"} 1234
vision_latency_seconds 0.042 1700000000000
"""


def test_text_push_is_stored_published_and_exposed(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            async with client(ctx) as c:
                r = await c.post(
                    "/api/push", content=TEXT_BODY, headers={"content-type": "text/plain"}
                )
                assert r.status_code == 200, r.text
                assert r.json() == {"accepted": 3}
                fps = SeriesKey.of("vision_fps", camera="front", model='yolo "n"')
                assert values(ctx, "vision_fps") == {fps: [29.5]}
                lat = values(ctx, "vision_latency_seconds")
                assert list(lat.values()) == [[0.042]]
                assert ctx.hub.latest()[fps][1] == 29.5
                assert ctx.hub.latest()[SeriesKey.of("vision_latency_seconds")][0] == NOW_MS
                m = await c.get("/metrics")
                assert "# HELP vision_fps Frames per second of the detector.\n" in m.text
                assert "# TYPE vision_fps gauge\n" in m.text
                assert "# TYPE vision_frames_total counter\n" in m.text
                assert 'vision_fps{camera="front",model="yolo \\"n\\""} 29.5 ' in m.text
                assert "vision_latency_seconds 0.042 1700000000000\n" in m.text

    run(main())


def test_json_push_takes_seconds_or_milliseconds_and_defaults_to_now(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path) as ctx:
            body = [
                {"name": "app_a", "value": 1, "timestamp": NOW_MS / 1000},
                {"name": "app_b", "labels": {"k": "v"}, "value": "+Inf", "timestamp": NOW_MS},
                {"name": "app_c", "value": 2.5, "type": "counter", "help": "C."},
            ]
            before = int(time.time() * 1000)
            async with client(ctx) as c:
                r = await c.post("/api/push", json=body)
            after = int(time.time() * 1000)
            assert r.status_code == 200, r.text
            assert r.json() == {"accepted": 3}
            latest = ctx.hub.latest()
            assert latest[SeriesKey.of("app_a")] == (NOW_MS, 1.0)
            assert latest[SeriesKey.of("app_b", k="v")] == (NOW_MS, math.inf)
            ts_c, v_c = latest[SeriesKey.of("app_c")]
            assert before <= ts_c <= after and v_c == 2.5

    run(main())


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("text/plain", 'ok_metric 1\n9bad{a="b"} 2\n', "line 2: bad metric name"),
        ("text/plain", 'ok_metric 1\nbad{__x="b"} 2\n', "line 2: label name '__x' is reserved"),
        ("text/plain", "ok_metric 1\nother nope\n", "line 2: bad value 'nope'"),
        ("text/plain", 'x{a="1",a="2"} 1\n', "line 1: label 'a' given twice"),
        (
            "application/json",
            '[{"name":"ok","value":1},{"name":"x","labels":{"l":NaN},"value":1}]',
            "item 1: label 'l': value must be a string, not NaN",
        ),
        ("application/json", '[{"name":"x","labels":{"l":5},"value":1}]', "must be a string"),
        ("application/json", '[{"name":"x","labels":{"__l":"v"},"value":1}]', "reserved"),
        ("application/json", '[{"name":"x y","value":1}]', "item 0: bad metric name 'x y'"),
        ("application/json", '[{"name":"x","value":true}]', "must be a number, not a boolean"),
        ("application/json", '[{"name":"x","value":1,"lables":{}}]', "unknown key 'lables'"),
        ("application/json", '{"name":"x","value":1}', "must be a list"),
        ("application/json", "[{", "not valid JSON"),
        ("application/json", '[{"name":"x","value":1,"timestamp":4102444800}]', "future"),
        ("text/plain", "x 1 4102444800000\n", "line 1: timestamp 4102444800000 is more than 5"),
        ("text/plain", "x 1\nx 2\n", "given twice for timestamp"),
        (
            "application/json",
            '[{"name":"x","value":1,"timestamp":1' + "0" * 400 + "}]",
            "too large",
        ),
        ("text/plain", "node_load1 5\n", "'node_load1' is a built-in edgewatch metric"),
    ],
)
def test_bad_push_is_rejected_whole_and_harms_nothing(
    tmp_path: Path, content_type: str, body: str, message: str
) -> None:
    families = {"node_load1": MetricFamily("node_load1", MetricType.GAUGE, "Load.")}

    async def main() -> None:
        with live_context(tmp_path, families=families) as ctx:
            async with client(ctx) as c:
                good = await c.post("/api/push", content="ok_metric 7\nx 3\n")
                assert good.status_code == 200, good.text
                before = values(ctx, '{__name__=~"ok_metric|x|other|bad|9bad|ok"}')
                events = ctx.hub.last_event_id
                r = await c.post("/api/push", content=body, headers={"content-type": content_type})
                assert r.status_code == 400, r.text
                assert message in r.json()["detail"]
                after = values(ctx, '{__name__=~"ok_metric|x|other|bad|9bad|ok"}')
                assert after == before
                assert ctx.hub.last_event_id == events  # nothing published either
                assert ctx.store is not None
                assert not ctx.store.has_series(SeriesKey.of("other"))

    run(main())


def test_body_size_limit_by_header_and_by_bytes_read(tmp_path: Path) -> None:
    config = make_config(max_body=1024)
    big = "".join(f'big_metric{{i="{i}"}} {i}\n' for i in range(200))

    async def chunks() -> AsyncIterator[bytes]:
        for line in big.splitlines(keepends=True):
            yield line.encode()

    async def main() -> None:
        with live_context(tmp_path, config=config) as ctx:
            async with client(ctx) as c:
                r = await c.post("/api/push", content=big)
                assert r.status_code == 413
                assert "push.max_body" in r.json()["detail"]
                r = await c.post("/api/push", content=chunks())  # no Content-Length
                assert "content-length" not in r.request.headers
                assert r.status_code == 413
                assert ctx.store is not None and ctx.store.series("big_metric") == []

    run(main())


def test_too_many_series_in_one_request_is_413(tmp_path: Path) -> None:
    config = make_config(max_series_per_request=3)

    async def main() -> None:
        with live_context(tmp_path, config=config) as ctx:
            async with client(ctx) as c:
                ok = await c.post("/api/push", content="a 1\nb 1\nc 1\n")
                assert ok.status_code == 200
                r = await c.post("/api/push", content="a 1\nb 1\nc 1\nd 1\n")
                assert r.status_code == 413
                assert "max_series_per_request" in r.json()["detail"]

    run(main())


def test_new_series_per_minute_answers_429_with_retry_after(tmp_path: Path) -> None:
    config = make_config(max_new_series_per_minute=3)

    async def main() -> None:
        with live_context(tmp_path, config=config) as ctx:
            async with client(ctx) as c:
                ok = await c.post("/api/push", content='s{id="1"} 1\ns{id="2"} 1\n')
                assert ok.status_code == 200
                r = await c.post("/api/push", content='s{id="3"} 1\ns{id="4"} 1\n')
                assert r.status_code == 429
                assert 1 <= int(r.headers["retry-after"]) <= 60
                assert "max_new_series_per_minute" in r.json()["detail"]
                # Known series are not new: they still go in, with one more new one.
                again = await c.post("/api/push", content='s{id="1"} 2\ns{id="2"} 2\ns{id="3"} 2\n')
                assert again.status_code == 200, again.text
                assert ctx.store is not None and len(ctx.store.series("s")) == 3

    run(main())


def test_disabled_no_store_and_wrong_media_type(tmp_path: Path) -> None:
    async def main() -> None:
        with live_context(tmp_path / "off", config=make_config(enabled=False)) as ctx:
            async with client(ctx) as c:
                r = await c.post("/api/push", content="a 1\n")
                assert r.status_code == 404 and "push.enabled" in r.json()["detail"]
        with live_context(tmp_path / "ro", writable=False) as ctx:
            async with client(ctx) as c:
                r = await c.post("/api/push", content="a 1\n")
                assert r.status_code == 503
        with live_context(tmp_path / "on") as ctx:
            async with client(ctx) as c:
                r = await c.post("/api/push", content="a", headers={"content-type": "image/png"})
                assert r.status_code == 415

    (tmp_path / "off").mkdir()
    (tmp_path / "ro").mkdir()
    (tmp_path / "on").mkdir()
    run(main())


def test_limiter_slides_over_the_window() -> None:
    now = [1000.0]
    lim = NewSeriesLimiter(5, clock=lambda: now[0])
    lim.admit(3)
    now[0] += 20
    lim.admit(2)
    with pytest.raises(PushRejected) as err:
        lim.admit(1)
    assert err.value.status == 429 and err.value.retry_after == 40
    now[0] += 40  # the first 3 leave the window
    lim.admit(3)
    with pytest.raises(PushRejected) as err:
        lim.admit(6)
    assert err.value.status == 429


def test_text_parser_details() -> None:
    batch = parse_text(
        '# comment\n\n# HELP h_seconds A "quoted" \\\\ help\\nline\n# TYPE h_seconds histogram\n'
        'h_seconds_bucket{le="0.1",} 3\nh_seconds_bucket{le="+Inf"} 5\nh_seconds_sum 0.4\n'
        'h_seconds_count 5\nplain{path="C:\\\\dir",empty=""} -1.5e3\n# EOF\nignored 1\n',
        now_ms=NOW_MS,
    )
    keys = [s.key for s in batch.samples]
    assert SeriesKey.of("h_seconds_bucket", le="0.1") in keys
    assert SeriesKey("plain", (("path", "C:\\dir"),)) in keys  # empty label = no label
    assert [s.value for s in batch.samples][-1] == -1500.0
    assert all(s.ts_ms == NOW_MS for s in batch.samples)
    assert batch.metadata["h_seconds_bucket"] == FamilyMeta(
        "untyped", 'A "quoted" \\ help\nline (bucket)'
    )
    assert batch.metadata["plain"] == FamilyMeta("untyped", "")
    assert math.isnan(parse_json(b'[{"name":"n","value":"NaN"}]', now_ms=0).samples[0].value)


label_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
series = st.builds(
    SeriesKey.of,
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True),
    st.dictionaries(
        st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,6}", fullmatch=True), label_values, max_size=3
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        series,
        st.tuples(st.integers(0, NOW_MS), st.floats(allow_nan=False, width=64)),
        max_size=8,
    )
)
def test_what_metrics_renders_the_push_parser_reads_back(
    latest: dict[SeriesKey, tuple[int, float]],
) -> None:
    text = render_text(latest, {})
    batch = parse_text(text, now_ms=NOW_MS)
    assert {s.key: (s.ts_ms, s.value) for s in batch.samples} == latest


def test_full_app_answers_push_errors_in_the_api_error_shape(tmp_path: Path) -> None:
    from edgewatch.web.app import create_app

    async def main() -> None:
        with live_context(tmp_path, config=make_config(max_new_series_per_minute=1)) as ctx:
            transport = httpx.ASGITransport(app=create_app(ctx))
            # A loopback Host: the app refuses changes asked for another host name.
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                bad = await c.post("/api/push", content="a 1\nb{ 2\n")
                assert bad.status_code == 400
                assert bad.json()["error"].startswith("line 2: ")
                assert (await c.post("/api/push", content="a 1\n")).json() == {"accepted": 1}
                limited = await c.post("/api/push", content="b 1\n")
                assert limited.status_code == 429 and "retry-after" in limited.headers
                metrics = await c.get("/metrics")
                assert metrics.status_code == 200 and "\na 1 " in metrics.text

    run(main())
