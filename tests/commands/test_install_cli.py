"""``edgewatch install``: dry run, a staging folder for a package, and a device image
(real useradd --prefix and systemctl --root on a copy of this machine's /etc)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edgewatch.cli import cli
from edgewatch.commands.install import (
    DEFAULT_CONFIG,
    Command,
    WriteFile,
    default_executable,
    plan,
    render_unit,
)
from edgewatch.config import load_config

UNIT = Path("etc/systemd/system/edgewatch.service")
CONFIG = Path("etc/edgewatch/edgewatch.yaml")
ACCOUNT_FILES = ("passwd", "group", "shadow", "gshadow", "login.defs")


def _install(*args: str) -> Result:
    return CliRunner().invoke(cli, ["install", *args])


def _need(program: str, package: str) -> str:
    found = shutil.which(program)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{program} not found: make test must apt-install {package}")
        pytest.skip(f"{program} not found (Debian package {package})")
    return found


def test_dry_run_prints_the_unit_for_this_venv_and_changes_nothing(tmp_path: Path) -> None:
    r = _install("--dry-run", "--prefix", str(tmp_path))
    assert r.exit_code == 0, r.output
    executable = default_executable()
    assert executable == str(Path(sys.executable).parent / "edgewatch")
    assert r.output.startswith(render_unit(executable))
    assert f"ExecStart={executable} run --config /etc/edgewatch/edgewatch.yaml" in r.output
    assert "# steps (dry run, nothing changed):" in r.output
    assert f"write {tmp_path / UNIT} (mode 644)" in r.output
    assert "useradd --system --user-group" in r.output
    assert "systemctl enable --now edgewatch.service" in r.output
    assert list(tmp_path.iterdir()) == []


def test_staging_folder_gets_the_files_and_the_rest_is_printed(tmp_path: Path) -> None:
    r = _install("--prefix", str(tmp_path), "--executable", "/opt/edgewatch/bin/edgewatch")
    assert r.exit_code == 0, r.output
    unit = tmp_path / UNIT
    assert unit.read_text() == render_unit("/opt/edgewatch/bin/edgewatch")
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    config = tmp_path / CONFIG
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    loaded = load_config(config)  # the default config is valid
    assert loaded.listen == "127.0.0.1:8700"
    lines = r.output.splitlines()
    todo = lines[lines.index("still to do:") + 1 :]
    assert [line.split("#")[0].split()[:3] for line in todo] == [
        ["useradd", "--system", "--user-group"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now"],
    ]


def test_reinstall_rewrites_the_unit_and_keeps_an_edited_config(tmp_path: Path) -> None:
    assert _install("--prefix", str(tmp_path)).exit_code == 0
    (tmp_path / CONFIG).write_text("log_level: debug\n")
    (tmp_path / UNIT).write_text("stale")
    r = _install("--prefix", str(tmp_path), "--user", "monitor")
    assert r.exit_code == 0, r.output
    assert (tmp_path / CONFIG).read_text() == "log_level: debug\n"
    assert f"kept: {tmp_path / CONFIG} (exists)" in r.output
    assert "\nUser=monitor\nGroup=monitor\n" in (tmp_path / UNIT).read_text()


def test_bad_user_and_executable_are_usage_errors(tmp_path: Path) -> None:
    r = _install("--prefix", str(tmp_path), "--user", "Root User")
    assert r.exit_code == 2 and "--user" in r.output
    r = _install("--prefix", str(tmp_path), "--executable", "bin/edgewatch")
    assert r.exit_code == 2 and "absolute path" in r.output
    assert list(tmp_path.iterdir()) == []


def test_installing_into_this_system_needs_root() -> None:
    setpriv = _need("setpriv", "util-linux")
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    argv = [*(as_nobody if os.geteuid() == 0 else []), sys.executable, "-m", "edgewatch"]
    done = subprocess.run(
        [*argv, "install"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "run it as root (sudo), or see the steps with --dry-run" in done.stderr


def test_on_this_system_systemctl_runs_only_when_systemd_is_pid_1(tmp_path: Path) -> None:
    def systemctl_steps(booted: bool) -> list[Command]:
        steps = plan(Path("/"), "edgewatch", "/opt/edgewatch/bin/edgewatch", booted=booted)
        assert isinstance(steps[0], WriteFile)
        assert steps[0].path == Path("/etc/systemd/system/edgewatch.service")
        return [s for s in steps if isinstance(s, Command) and s.argv[0] == "systemctl"]

    booted = systemctl_steps(True)
    assert [s.argv for s in booted] == [
        ("systemctl", "daemon-reload"),
        ("systemctl", "enable", "--now", "edgewatch.service"),
    ]
    assert all(s.run for s in booted)
    assert not any(s.run for s in systemctl_steps(False))


def test_device_image_gets_the_user_and_the_unit_enabled(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("useradd --prefix and chgrp need root")
    _need("useradd", "passwd")
    _need("systemctl", "systemd")
    image = tmp_path / "rootfs"
    (image / "etc").mkdir(parents=True)
    for name in ACCOUNT_FILES:
        shutil.copy2(Path("/etc") / name, image / "etc" / name)
    before = Path("/etc/passwd").read_text()

    r = _install("--prefix", str(image), "--executable", "/opt/edgewatch/bin/edgewatch")
    assert r.exit_code == 0, r.output
    assert "still to do:" not in r.output
    entry = next(
        line.split(":")
        for line in (image / "etc/passwd").read_text().splitlines()
        if line.startswith("edgewatch:")
    )
    assert entry[5:] == ["/var/lib/edgewatch", "/usr/sbin/nologin"]
    gid = next(
        int(line.split(":")[2])
        for line in (image / "etc/group").read_text().splitlines()
        if line.startswith("edgewatch:")
    )
    assert entry[3] == str(gid)
    config = image / CONFIG
    assert (config.stat().st_uid, config.stat().st_gid) == (0, gid)
    assert config.read_text() == DEFAULT_CONFIG
    wants = image / "etc/systemd/system/multi-user.target.wants/edgewatch.service"
    assert os.readlink(wants) == "/etc/systemd/system/edgewatch.service"
    assert Path("/etc/passwd").read_text() == before, "this machine's users are untouched"

    again = _install("--prefix", str(image), "--executable", "/opt/edgewatch/bin/edgewatch")
    assert again.exit_code == 0, again.output
    assert "useradd" not in again.output  # the user exists now
    assert (image / "etc/passwd").read_text().count("\nedgewatch:") == 1
