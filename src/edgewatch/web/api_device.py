"""``GET /api/device``: what the dashboard needs to know about the device itself —
its time zone (for the dashboard's "device time" switch), its UTC offset now and
its clock.

The zone is the agent's: the ``TZ`` environment variable, else ``/etc/timezone``
(Debian), else the target of the ``/etc/localtime`` link (``.../zoneinfo/NAME``);
a name Python's ``zoneinfo`` does not know is left out (``timezone: null``), and
the dashboard then shifts times by ``utc_offset_seconds``.
"""

from __future__ import annotations

import logging
import os
import time
import zoneinfo
from collections.abc import Mapping
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel

import edgewatch

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])


class DeviceBody(BaseModel):
    timezone: str | None  # an IANA name, e.g. Europe/Berlin
    utc_offset_seconds: int  # the device's offset from UTC now
    time_ms: int  # the device's clock
    version: str


def _known(name: str) -> str | None:
    name = name.strip().lstrip(":")
    if not name:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.debug("time zone %r is not one zoneinfo knows", name)
        return None
    return name


def device_timezone(etc: Path = Path("/etc"), env: Mapping[str, str] = os.environ) -> str | None:
    """The device's IANA time zone name, or None when it cannot be told."""
    if env.get("TZ"):
        return _known(env["TZ"])
    tz_file = etc / "timezone"
    if tz_file.is_file():
        return _known(tz_file.read_text(encoding="utf-8").split("\n", 1)[0])
    try:
        target = os.readlink(etc / "localtime")
    except OSError:
        return None
    marker = "zoneinfo/"
    return _known(target.split(marker, 1)[1]) if marker in target else None


@router.get("/api/device", response_model=DeviceBody, summary="The device's time zone and clock")
async def device() -> DeviceBody:
    now = time.time()
    return DeviceBody(
        timezone=device_timezone(),
        utc_offset_seconds=time.localtime(now).tm_gmtoff,
        time_ms=round(now * 1000),
        version=edgewatch.__version__,
    )
