"""A day of synthetic check history with known outages, written through a real Store,
and the figures it must give, worked out here from the outages (not by the report).

One sample a minute from T0 (2026-01-01T00:00:00Z) for 24 h; the checks' interval is
60 s, so a status holds at most 3 minutes (3 intervals) without a newer one.

- ``web`` (network, http): fails 10:00-10:36 -> down 36 min, 97.5 %.
- ``frame`` (camera, file): warns 02:00-03:00 (up), fails 12:00-12:12 and 18:00-18:12
  -> down 24 min, 1416/1440.
- ``loop`` (camera, heartbeat): the agent was off 06:00-08:00: the 05:59 sample
  holds until 06:02, so 118 min of no data, and 100 % of the measured time.
- ``usb-reader`` (usb): configured, never stored: no data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgewatch.config import Config
from edgewatch.model import Sample, SeriesKey
from edgewatch.store import Store, StoreOptions

MIN = 60_000
DAY_MIN = 1440
T0 = 1_767_225_600_000
END = T0 + DAY_MIN * MIN

# check -> (component, kind, {minute: code} overrides of pass, minutes without a sample)
WARN, FAIL = 1, 2
HISTORY: dict[str, tuple[str, str, dict[int, int], range]] = {
    "web": ("network", "http", dict.fromkeys(range(600, 636), FAIL), range(0)),
    "frame": (
        "camera",
        "file",
        dict.fromkeys(range(120, 180), WARN)
        | dict.fromkeys(range(720, 732), FAIL)
        | dict.fromkeys(range(1080, 1092), FAIL),
        range(0),
    ),
    "loop": ("camera", "heartbeat", {}, range(360, 480)),
}
DOWN_MIN = {"web": 36, "frame": 24, "loop": 0}
NO_DATA_MIN = {"web": 0, "frame": 0, "loop": 118}
INCIDENTS = {"web": [(600, 636)], "frame": [(720, 732), (1080, 1092)], "loop": []}


def expected_percent(check: str) -> float:
    measured = DAY_MIN - NO_DATA_MIN[check]
    return round((measured - DOWN_MIN[check]) / measured * 100, 3)


CHECKS: list[dict[str, Any]] = [
    {"kind": "http", "name": "web", "component": "network", "url": "http://127.0.0.1:9/"},
    {"kind": "file", "name": "frame", "component": "camera", "path": "/tmp/frame.jpg"},
    {"kind": "heartbeat", "name": "loop", "component": "camera", "period": 60},
    {
        "kind": "usb",
        "name": "usb-reader",
        "component": "usb",
        "vendor_id": "046d",
        "product_id": "0825",
    },
]


def config() -> Config:
    checks = [c | {"interval": 60, "timeout": 5} for c in CHECKS]
    return Config.model_validate({"health": {"checks": checks}})


def write_config(path: Path) -> Path:
    checks = [c | {"interval": 60, "timeout": 5} for c in CHECKS]
    path.write_text(json.dumps({"health": {"checks": checks}}))
    return path


def write_day(data_dir: Path, start_ms: int = T0) -> None:
    """The day of HISTORY from start_ms, through a real Store."""
    store = Store.open(data_dir, StoreOptions(timestamp_tolerance=0.0))
    try:
        for minute in range(DAY_MIN):
            samples = []
            for name, (component, kind, codes, off) in HISTORY.items():
                if minute in off:
                    continue
                key = SeriesKey.of(
                    "edgewatch_check_status", check=name, component=component, kind=kind
                )
                samples.append(Sample(key, float(codes.get(minute, 0))))
            store.append(start_ms + minute * MIN, samples)
        assert store.commit()
    finally:
        store.close()
