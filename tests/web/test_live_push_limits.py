"""POST /api/push against hostile bodies: a value grammar without backtracking blow-ups,
line and token length caps, parsing off the event loop, exact name checks."""

from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_helpers import live_context, make_app

from edgewatch.collect import push
from edgewatch.collect.push import MAX_LINE, MAX_TOKEN, PushRejected, parse_float, parse_text
from edgewatch.web import api_push
from edgewatch.web.context import AppContext

NOW_MS = 1_700_000_000_000


async def _post(ctx: AppContext, body: bytes, content_type: str = "text/plain") -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        return await c.post("/api/push", content=body, headers={"content-type": content_type})


def test_value_grammar_rejects_a_long_digit_run_without_backtracking() -> None:
    """The old grammar (\\d+\\.?\\d*) took minutes here: quadratic in the digits."""
    digits = "1" * 200_000
    assert push.FLOAT_RE.fullmatch(digits + "x") is None
    assert push.FLOAT_RE.fullmatch(digits + ".5e" + digits + "x") is None
    assert push.FLOAT_RE.fullmatch(digits) is not None
    with pytest.raises(ValueError, match=f"value longer than {MAX_TOKEN} characters"):
        parse_float(digits + "x")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("-1.5", -1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("+2e3", 2000.0),
        ("1.5E-3", 0.0015),
        ("Inf", math.inf),
        ("-inf", -math.inf),
        ("+Infinity", math.inf),
        ("1" * MAX_TOKEN, float("1" * MAX_TOKEN)),
    ],
)
def test_value_grammar_accepts_what_prometheus_writes(text: str, value: float) -> None:
    assert parse_float(text) == value


@pytest.mark.parametrize("text", [".", "e5", "1e", "1_0", "0x10", "1.2.3", "--1", "1e+", ""])
def test_value_grammar_refuses_what_is_no_float(text: str) -> None:
    with pytest.raises(ValueError, match="bad value"):
        parse_float(text)


def test_parse_float_keeps_nan() -> None:
    assert math.isnan(parse_float("NaN"))


def test_a_line_over_the_cap_is_refused_with_its_number() -> None:
    text = "ok 1\n" + "m " + "1" * (1024 * 1024) + "\n"
    with pytest.raises(PushRejected) as info:
        parse_text(text, now_ms=NOW_MS)
    assert info.value.status == 400
    assert str(info.value) == f"line 2: longer than {MAX_LINE} characters"


def test_a_long_timestamp_is_refused_and_not_echoed_whole() -> None:
    with pytest.raises(PushRejected) as info:
        parse_text("m 1 " + "1" * 5000, now_ms=NOW_MS)
    assert "line 1: bad timestamp" in str(info.value)
    assert len(str(info.value)) < 400


def test_the_redos_body_is_answered_400(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        with live_context(tmp_path) as ctx:
            return await _post(ctx, b"m " + b"1" * 30000 + b"x")

    r = asyncio.run(main())
    assert r.status_code == 400
    assert r.json()["detail"].startswith(f"line 1: value longer than {MAX_TOKEN} characters")


def test_a_megabyte_line_of_digits_is_answered_400(tmp_path: Path) -> None:
    async def main() -> httpx.Response:
        with live_context(tmp_path) as ctx:
            return await _post(ctx, b"m " + b"1" * (1024 * 1024 - 16))

    r = asyncio.run(main())
    assert r.status_code == 400
    assert r.json()["detail"] == f"line 1: longer than {MAX_LINE} characters"


def test_parsing_runs_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real_text, real_json = api_push.parse_text, api_push.parse_json

    def spy_text(*args: Any, **kwargs: Any) -> push.PushBatch:
        threads.append(threading.get_ident())
        return real_text(*args, **kwargs)

    def spy_json(*args: Any, **kwargs: Any) -> push.PushBatch:
        threads.append(threading.get_ident())
        return real_json(*args, **kwargs)

    monkeypatch.setattr(api_push, "parse_text", spy_text)
    monkeypatch.setattr(api_push, "parse_json", spy_json)

    async def main() -> tuple[int, list[httpx.Response]]:
        with live_context(tmp_path) as ctx:
            text = await _post(ctx, b"app_a 1\n")
            data = await _post(ctx, b'[{"name": "app_b", "value": 2}]', "application/json")
            return threading.get_ident(), [text, data]

    loop_thread, responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200, 200]
    assert len(threads) == 2
    assert loop_thread not in threads


@pytest.mark.parametrize(
    "body",
    ['[{"name": "up\\n", "value": 1}]', '[{"name": "up", "labels": {"a\\n": "v"}, "value": 1}]'],
)
def test_a_name_with_a_trailing_newline_is_refused(tmp_path: Path, body: str) -> None:
    async def main() -> httpx.Response:
        with live_context(tmp_path) as ctx:
            return await _post(ctx, body.encode(), "application/json")

    r = asyncio.run(main())
    assert r.status_code == 400
    assert "bad" in r.json()["detail"] and "name" in r.json()["detail"]
