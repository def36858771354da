"""/api/system, /api/processes and /api/services over a live hub with known values."""

from __future__ import annotations

import math
import time
from pathlib import Path

from web_helpers import running_app

from edgewatch.live import LiveHub
from edgewatch.model import Sample, SeriesKey
from edgewatch.timespec import format_time


def _s(metric: str, value: float, /, **labels: str) -> Sample:
    return Sample(SeriesKey.of(metric, **labels), value)


SYSTEM = [
    _s("system_cpu_usage_ratio", 0.25, cpu="total"),
    _s("system_cpu_usage_ratio", 0.5, cpu="0"),
    _s("system_cpu_usage_ratio", 0.0, cpu="1"),
    _s("system_cpu_mode_ratio", 0.2, mode="user"),
    _s("system_cpus", 2),
    _s("node_load1", 0.75),
    _s("node_memory_MemTotal_bytes", 8e9),
    _s("node_memory_MemAvailable_bytes", 6e9),
    _s("system_memory_used_bytes", 2e9),
    _s("system_memory_usage_ratio", 0.25),
    _s("node_filesystem_size_bytes", 100e9, device="/dev/sda1", fstype="ext4", mountpoint="/"),
    _s("node_filesystem_avail_bytes", 40e9, device="/dev/sda1", fstype="ext4", mountpoint="/"),
    _s("system_filesystem_usage_ratio", 0.6, device="/dev/sda1", fstype="ext4", mountpoint="/"),
    _s("node_filesystem_readonly", 0, device="/dev/sda1", fstype="ext4", mountpoint="/"),
    _s("node_disk_read_bytes_total", 1234, device="sda"),
    _s("node_network_receive_bytes_total", 5678, device="eth0"),
    _s("node_network_up", 1, device="eth0"),
    _s("node_thermal_zone_temp", 48.5, type="cpu-thermal", zone="0"),
    _s("node_hwmon_temp_celsius", 51.0, chip="platform_coretemp_0", sensor="temp1"),
    _s("node_hwmon_chip_names", 1, chip="platform_coretemp_0", chip_name="coretemp"),
    _s("node_hwmon_fan_rpm", math.nan, chip="platform_fan", sensor="fan1"),
    _s("system_uptime_seconds", 3600),
    _s("node_timex_sync_status", 1),
    _s("system_undervoltage", 0, source="firmware"),
    _s("system_thermal_throttled", 1, source="cooling_device"),
]


def test_system_snapshot_groups_the_latest_values_with_units(tmp_path: Path) -> None:
    hub = LiveHub()
    now_ms = 1_700_000_000_000
    hub.publish(now_ms - 1000, [_s("node_load1", 9.0)])
    hub.publish(now_ms, SYSTEM)
    with running_app(tmp_path, hub=hub) as (client, _):
        response = client.get("/api/system")
    assert response.status_code == 200
    body = response.json()
    assert body["timestamp"] == format_time(now_ms)
    assert body["cpu"] == {
        "usage_ratio": 0.25,
        "count": 2,
        "load1": 0.75,  # the newest value, not the older one
        "load5": None,
        "load15": None,
        "per_cpu_usage_ratio": {"0": 0.5, "1": 0.0},
        "mode_ratio": {"user": 0.2},
        "frequency_hertz": {},
    }
    memory = body["memory"]
    assert memory["total_bytes"] == 8e9
    assert memory["used_bytes"] == 2e9
    assert memory["usage_ratio"] == 0.25
    assert memory["swap_total_bytes"] is None
    (fs,) = body["disk"]["filesystems"]
    assert fs == {
        "mountpoint": "/",
        "device": "/dev/sda1",
        "fstype": "ext4",
        "size_bytes": 100e9,
        "avail_bytes": 40e9,
        "free_bytes": None,
        "usage_ratio": 0.6,
        "readonly": False,
    }
    assert body["disk"]["devices"][0]["device"] == "sda"
    assert body["disk"]["devices"][0]["read_bytes_total"] == 1234
    (eth0,) = body["network"]["interfaces"]
    assert (eth0["device"], eth0["up"], eth0["receive_bytes_total"]) == ("eth0", True, 5678)
    temps = body["sensors"]["temperatures"]
    assert {"source": "hwmon", "name": "coretemp temp1", "celsius": 51.0} in temps
    assert {"source": "thermal_zone", "name": "cpu-thermal", "celsius": 48.5} in temps
    assert body["sensors"]["fans"] == [{"chip": "platform_fan", "sensor": "fan1", "rpm": None}]
    system = body["system"]
    assert system["uptime_seconds"] == 3600
    assert system["clock_synchronised"] is True
    assert system["undervoltage"] is False
    assert system["thermal_throttled"] is True
    assert system["frequency_capped"] is None


def test_system_snapshot_before_any_collection_is_empty_not_an_error(tmp_path: Path) -> None:
    with running_app(tmp_path) as (client, _):
        body = client.get("/api/system").json()
    assert body["timestamp"] is None
    assert body["cpu"]["usage_ratio"] is None
    assert body["disk"] == {"filesystems": [], "devices": []}


def test_processes_lists_running_names_by_cpu_with_groups(tmp_path: Path) -> None:
    hub = LiveHub()
    now_ms = int(time.time() * 1000)
    with running_app(tmp_path, hub=hub) as (client, ctx):
        assert ctx.store is not None
        for i, t in enumerate((now_ms - 30_000, now_ms - 15_000)):
            samples = [
                _s("system_process_num_procs", 1, name="python3"),
                _s("system_process_cpu_seconds_total", 10 + 3 * i, name="python3"),
                _s("system_process_resident_memory_bytes", 500e6, name="python3"),
                _s("system_process_threads", 12, name="python3"),
                _s("system_process_num_procs", 2, name="nginx"),
                _s("system_process_cpu_seconds_total", 5 + 15 * i, name="nginx"),
                _s("system_process_resident_memory_bytes", 20e6, name="nginx"),
                _s("system_process_num_procs", 0, name="gone"),
                _s("system_process_group_num_procs", 0, group="vision"),
                _s("system_process_group_cpu_seconds_total", 0, group="vision"),
            ]
            ctx.store.append(t, samples)
            hub.publish(t, samples)
        body = client.get("/api/processes").json()
        limited = client.get("/api/processes", params={"limit": 1}).json()
    names = [p["name"] for p in body["processes"]]
    assert names == ["nginx", "python3"]  # by CPU; "gone" runs no process
    nginx, python3 = body["processes"]
    assert nginx["cpu_usage_ratio"] == 1.0  # 15 CPU seconds in 15 s
    assert python3["cpu_usage_ratio"] == 0.2
    assert python3 == {
        "name": "python3",
        "count": 1,
        "cpu_usage_ratio": 0.2,
        "cpu_seconds_total": 13,
        "resident_memory_bytes": 500e6,
        "threads": 12,
        "io_read_bytes_total": None,
        "io_write_bytes_total": None,
    }
    (vision,) = body["groups"]
    assert (vision["name"], vision["count"], vision["cpu_usage_ratio"]) == ("vision", 0, 0.0)
    assert [p["name"] for p in limited["processes"]] == ["nginx"]


def test_services_reports_each_unit_state(tmp_path: Path) -> None:
    hub = LiveHub()
    samples = [
        *(
            _s("node_systemd_unit_state", 1.0 if state == "active" else 0.0,
               name="vision.service", state=state, type="simple")
            for state in ("activating", "active", "deactivating", "failed", "inactive")
        ),
        _s("edgewatch_service_info", 1, name="vision.service", load_state="loaded",
           sub_state="running"),
        _s("edgewatch_service_main_pid", 4242, name="vision.service"),
        _s("node_systemd_service_restart_total", 3, name="vision.service"),
        _s("edgewatch_service_memory_bytes", 300e6, name="vision.service"),
        _s("node_systemd_unit_state", 1.0, name="camera.service", state="failed", type="simple"),
        _s("node_systemd_unit_state", 0.0, name="camera.service", state="active", type="simple"),
    ]  # fmt: skip
    hub.publish(1_700_000_000_000, samples)
    with running_app(tmp_path, hub=hub) as (client, _):
        body = client.get("/api/services").json()
    camera, vision = body["services"]
    assert vision == {
        "name": "vision.service",
        "type": "simple",
        "active_state": "active",
        "sub_state": "running",
        "load_state": "loaded",
        "main_pid": 4242,
        "restarts_total": 3,
        "memory_bytes": 300e6,
        "cpu_seconds_total": None,
    }
    assert (camera["name"], camera["active_state"], camera["sub_state"]) == (
        "camera.service",
        "failed",
        None,
    )


def test_openapi_documents_the_snapshot_models(tmp_path: Path) -> None:
    with running_app(tmp_path) as (client, _):
        spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, model in (
        ("/api/system", "SystemSnapshot"),
        ("/api/processes", "ProcessesSnapshot"),
        ("/api/services", "ServicesSnapshot"),
    ):
        ok = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["$ref"] == f"#/components/schemas/{model}"
    assert "usage_ratio" in schemas["CpuSnapshot"]["properties"]
    assert "size_bytes" in schemas["Filesystem"]["properties"]


def test_system_snapshot_follows_each_new_collection(tmp_path: Path) -> None:
    hub = LiveHub()
    hub.publish(1_700_000_000_000, [_s("node_load1", 1.5)])
    with running_app(tmp_path, hub=hub) as (client, _):
        first = client.get("/api/system").json()["cpu"]["load1"]
        again = client.get("/api/system").json()["cpu"]["load1"]  # served from the cache
        hub.publish(1_700_000_001_000, [_s("node_load1", 2.5)])
        after = client.get("/api/system").json()["cpu"]["load1"]
    assert (first, again, after) == (1.5, 1.5, 2.5)
