"""The systemd unit: packaging/edgewatch.service is what `edgewatch install` writes, and
systemd's own checker (systemd-analyze, Debian package systemd) accepts it without a
warning; the journald-friendly log format."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgewatch.commands.install import default_executable, render_unit
from edgewatch.commands.run import JOURNAL_LOG_FORMAT, LOG_FORMAT, log_format

REPO = Path(__file__).resolve().parent.parent
PACKAGED_UNIT = REPO / "packaging" / "edgewatch.service"
OPT_EXECUTABLE = "/opt/edgewatch/bin/edgewatch"
# systemd-analyze security's score: 0 is the most locked down, 10 fully exposed.
MAX_EXPOSURE = 3.0


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze not found: make test must apt-install systemd")
        pytest.skip("systemd-analyze not found (Debian package systemd)")
    return found


def _directives(text: str) -> list[tuple[str, str]]:
    return [
        (key, value)
        for line in text.splitlines()
        if line and not line.startswith(("#", "[")) and "=" in line
        for key, value in [line.split("=", 1)]
    ]


def _verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    unit = tmp_path / "edgewatch.service"
    unit.write_text(text)
    return subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_packaged_unit_is_what_install_writes_for_a_venv_under_opt() -> None:
    assert PACKAGED_UNIT.read_text() == render_unit(OPT_EXECUTABLE)


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    executable = default_executable()  # this venv's edgewatch: verify checks it exists
    assert Path(executable).is_file(), executable
    text = PACKAGED_UNIT.read_text().replace(OPT_EXECUTABLE, executable)
    assert f"ExecStart={executable} run " in text
    done = _verify(tmp_path, text)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # unknown keys and bad values are only warnings


def test_verify_reports_what_it_would_not_accept(tmp_path: Path) -> None:
    """The check above can fail: a typo'd key, a bad value, a missing program."""
    text = render_unit(default_executable())
    typo = _verify(tmp_path, text.replace("WatchdogSec=30s", "WatchdogSecs=30s"))
    assert "Unknown key 'WatchdogSecs'" in typo.stderr
    bad = _verify(tmp_path, text.replace("ProtectSystem=strict", "ProtectSystem=very"))
    assert "Failed to parse" in bad.stderr
    missing = _verify(tmp_path, render_unit("/nonexistent/bin/edgewatch"))
    assert missing.returncode != 0 and "/nonexistent/bin/edgewatch" in missing.stderr


def test_hardening_scores_well_in_systemd_analyze_security(tmp_path: Path) -> None:
    unit = tmp_path / "edgewatch.service"
    unit.write_text(render_unit(default_executable()))
    done = subprocess.run(
        [_systemd_analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"Overall exposure level for edgewatch\.service: ([0-9.]+)", done.stdout)
    assert found is not None, done.stdout[-2000:]
    assert float(found.group(1)) <= MAX_EXPOSURE, done.stdout


def test_unit_runs_a_notify_service_with_watchdog_as_its_own_user() -> None:
    settings = dict(_directives(render_unit(OPT_EXECUTABLE)))
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"] == "30s"
    assert settings["Restart"] == "on-failure"
    assert settings["User"] == settings["Group"] == "edgewatch"
    assert settings["StateDirectory"] == "edgewatch"
    assert settings["ProtectSystem"] == "strict"
    assert settings["ReadWritePaths"] == "/var/lib/edgewatch"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectHome"] == "yes"
    assert settings["PrivateTmp"] == "yes"
    assert settings["ExecStart"] == (
        f"{OPT_EXECUTABLE} run --config /etc/edgewatch/edgewatch.yaml --data-dir /var/lib/edgewatch"
    )


def test_unit_leaves_what_a_monitor_reads_readable() -> None:
    """Each of these would hide /dev/nvidia*, other processes' /proc, /proc/stat, or the
    network remote_write needs (the unit's comment says which)."""
    keys = {key for key, _ in _directives(render_unit(OPT_EXECUTABLE))}
    hiding = {
        "PrivateDevices",
        "DevicePolicy",
        "DeviceAllow",
        "ProtectClock",
        "ProtectProc",
        "ProcSubset",
        "PrivateNetwork",
        "IPAddressDeny",
        "MemoryDenyWriteExecute",
        "InaccessiblePaths",
    }
    assert keys & hiding == set()


def test_a_program_under_a_home_directory_keeps_home_readable() -> None:
    settings = dict(_directives(render_unit("/home/pi/.local/bin/edgewatch")))
    assert settings["ProtectHome"] == "read-only"


def test_percent_in_the_program_path_is_escaped_for_systemd() -> None:
    settings = dict(_directives(render_unit("/opt/ew%1/bin/edgewatch")))
    assert settings["ExecStart"].startswith("/opt/ew%%1/bin/edgewatch run ")


def test_log_lines_drop_the_timestamp_only_when_stderr_is_the_journal() -> None:
    st = os.fstat(2)
    assert log_format({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}) == JOURNAL_LOG_FORMAT
    # Set by a parent service but stderr redirected elsewhere: keep the timestamps.
    assert log_format({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}) == LOG_FORMAT
    assert log_format({}) == LOG_FORMAT
    assert "asctime" in LOG_FORMAT and "asctime" not in JOURNAL_LOG_FORMAT
