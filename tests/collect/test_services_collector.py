from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from collect_helpers import FIXTURES, values

from edgewatch.collect.services import ServicesCollector, parse_show

FAKE_SYSTEMCTL = str(FIXTURES / "systemctl")


def _collector(tmp_path: Path, units: tuple[str, ...]) -> ServicesCollector:
    run_dir = tmp_path / "run-systemd-system"
    run_dir.mkdir(exist_ok=True)
    return ServicesCollector(interval=15.0, units=units, systemctl=FAKE_SYSTEMCTL,
                             systemd_run_dir=str(run_dir))  # fmt: skip


def test_units_parsed_from_one_systemctl_show_call(tmp_path: Path) -> None:
    c = _collector(tmp_path, ("vision.service", "camera.service", "ghost.service"))
    assert c.available() is None
    v = values(c.collect())
    assert v['node_systemd_unit_state{name="vision.service",state="active",type="notify"}'] == 1
    assert v['node_systemd_unit_state{name="vision.service",state="failed",type="notify"}'] == 0
    assert v['node_systemd_unit_state{name="camera.service",state="failed",type="simple"}'] == 1
    assert v['node_systemd_service_restart_total{name="camera.service"}'] == 12
    assert v['edgewatch_service_main_pid{name="vision.service"}'] == 4242
    assert v['edgewatch_service_main_pid{name="camera.service"}'] == 0
    assert v['edgewatch_service_memory_bytes{name="vision.service"}'] == 734003200
    assert v['edgewatch_service_cpu_seconds_total{name="vision.service"}'] == 5.123456789
    # accounting off: "[not set]" and 2^64-1 are left out, not reported as huge numbers
    assert 'edgewatch_service_memory_bytes{name="camera.service"}' not in v
    assert 'edgewatch_service_cpu_seconds_total{name="camera.service"}' not in v
    ghost = 'edgewatch_service_info{load_state="not-found",name="ghost.service",sub_state="dead"}'
    assert v[ghost] == 1
    assert v['node_systemd_unit_state{name="ghost.service",state="inactive",type="simple"}'] == 1


def test_fake_systemctl_prints_the_real_block_format() -> None:
    out = subprocess.run(
        [FAKE_SYSTEMCTL, "show", "-p", "Id,ActiveState", "--", "vision.service", "x.service"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out == "Id=vision.service\nActiveState=active\n\nId=x.service\nActiveState=inactive\n"
    assert parse_show(out) == [
        {"Id": "vision.service", "ActiveState": "active"},
        {"Id": "x.service", "ActiveState": "inactive"},
    ]


def test_no_units_configured_disables(tmp_path: Path) -> None:
    assert _collector(tmp_path, ()).available() == "no units configured"


def test_no_systemd_disables(tmp_path: Path) -> None:
    c = ServicesCollector(interval=15.0, units=("a.service",), systemctl=FAKE_SYSTEMCTL,
                          systemd_run_dir=str(tmp_path / "missing"))  # fmt: skip
    reason = c.available()
    assert reason is not None and reason.startswith("no systemd:")
    c = ServicesCollector(interval=15.0, units=("a.service",),
                          systemctl=str(tmp_path / "no-such-systemctl"))  # fmt: skip
    assert c.available() == f"no systemd: {str(tmp_path / 'no-such-systemctl')!r} not found"


def test_real_machine_without_systemd_says_so() -> None:
    c = ServicesCollector(interval=15.0, units=("ssh.service",))
    if not Path("/run/systemd/system").is_dir():
        reason = c.available()
        assert reason is not None and reason.startswith("no systemd")


def test_systemctl_failure_raises_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = _collector(tmp_path, ("vision.service",))
    assert c.available() is None
    monkeypatch.setenv("FAKE_SYSTEMCTL_FAIL", "1")
    with pytest.raises(RuntimeError, match="exited 1: Failed to connect to bus"):
        list(c.collect())


def test_name_label_is_the_unit_id_systemd_reports(tmp_path: Path) -> None:
    c = _collector(tmp_path, ("vision", "camera.service"))
    assert c.available() is None
    v = values(c.collect())
    assert v['node_systemd_unit_state{name="vision.service",state="active",type="notify"}'] == 1
    assert v['node_systemd_service_restart_total{name="camera.service"}'] == 12
    assert not any('name="vision"' in key for key in v)


def test_services_are_expensive_for_the_cpu_budget() -> None:
    assert ServicesCollector.expensive is True
