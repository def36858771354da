"""``GET /api/device`` and how the device's time zone is told (a checked-in-style
``/etc`` tree built in tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import edgewatch
from edgewatch.web import api_device
from edgewatch.web.api_device import device_timezone

pytestmark = pytest.mark.anyio


def test_tz_wins_then_etc_timezone_then_the_localtime_link(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    assert device_timezone(etc, {}) is None  # nothing to go by
    os.symlink("/usr/share/zoneinfo/Asia/Jakarta", etc / "localtime")
    assert device_timezone(etc, {}) == "Asia/Jakarta"
    (etc / "timezone").write_text("Europe/Berlin\n")
    assert device_timezone(etc, {}) == "Europe/Berlin"
    assert device_timezone(etc, {"TZ": ":America/Sao_Paulo"}) == "America/Sao_Paulo"
    # A name zoneinfo does not know is left out rather than passed to the browser.
    assert device_timezone(etc, {"TZ": "Mars/Olympus_Mons"}) is None
    (etc / "timezone").write_text("../../etc/passwd\n")
    assert device_timezone(etc, {}) is None


async def test_the_endpoint_answers_zone_offset_and_clock() -> None:
    app = FastAPI()
    app.include_router(api_device.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        body = (await c.get("/api/device")).json()
    assert set(body) == {"timezone", "utc_offset_seconds", "time_ms", "version"}
    assert body["timezone"] == device_timezone()
    assert isinstance(body["utc_offset_seconds"], int)
    assert body["version"] == edgewatch.__version__
