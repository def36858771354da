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


def _image(tmp_path: Path, *entries: str) -> Path:
    """A device image's /etc with these passwd lines (and login.defs as Debian's)."""
    image = tmp_path / "rootfs"
    (image / "etc").mkdir(parents=True)
    base = "root:x:0:0:root:/root:/bin/bash\n"
    (image / "etc/passwd").write_text(base + "".join(f"{e}\n" for e in entries))
    (image / "etc/login.defs").write_text("UID_MIN 1000\nSYS_UID_MAX 999\n")
    return image


def _unit_of(r: Result) -> str:
    return r.output.split("\n# steps (dry run", 1)[0]


@pytest.mark.parametrize("user", ["root", "toor"])
def test_root_is_refused(tmp_path: Path, user: str) -> None:
    image = _image(tmp_path, "toor:x:0:0:root alias:/root:/bin/sh")
    r = _install("--dry-run", "--prefix", str(image), "--user", user, "--force")
    assert r.exit_code == 2, r.output
    assert f"'{user}' is uid 0: the agent must not run as root" in r.output
    assert "User=" not in r.output


def test_a_persons_login_is_refused_unless_forced_and_then_keeps_its_ipc(
    tmp_path: Path,
) -> None:
    image = _image(tmp_path, "pi:x:1000:1000:,,,:/home/pi:/bin/bash")
    r = _install("--dry-run", "--prefix", str(image), "--user", "pi")
    assert r.exit_code == 2
    assert (
        "'pi' exists and is not a system account with a nologin shell (uid 1000, shell "
        "/bin/bash): likely a person's login"
    ) in " ".join(r.output.split())
    forced = _install("--dry-run", "--prefix", str(image), "--user", "pi", "--force")
    assert forced.exit_code == 0, forced.output
    unit = _unit_of(forced)
    assert "\nUser=pi\n" in unit
    # RemoveIPC=yes would delete pi's /dev/shm segments (the vision app's) at every stop.
    assert "RemoveIPC" not in "".join(d for d in unit.splitlines() if not d.startswith("#"))
    assert "useradd" not in forced.output


@pytest.mark.parametrize(
    ("entry", "remove_ipc"),
    [
        ("prometheus:x:120:127:Prometheus:/var/lib/prometheus:/usr/sbin/nologin", False),
        ("edgewatch:x:998:998::/var/lib/edgewatch:/usr/sbin/nologin", True),
        ("monitor:x:997:997:edgewatch monitoring agent:/var/lib/edgewatch:/bin/false", True),
        (None, True),  # created by the install: ours
    ],
)
def test_remove_ipc_only_for_an_account_that_is_edgewatch_s_alone(
    tmp_path: Path, entry: str | None, remove_ipc: bool
) -> None:
    image = _image(tmp_path, *([entry] if entry else []))
    user = entry.split(":")[0] if entry else "edgewatch"
    r = _install("--dry-run", "--prefix", str(image), "--user", user)
    assert r.exit_code == 0, r.output
    assert ("\nRemoveIPC=yes\n" in _unit_of(r)) is remove_ipc
    assert ("useradd" in r.output) is (entry is None)


def _verify(unit: str, where: Path) -> subprocess.CompletedProcess[str]:
    path = where / "edgewatch.service"
    path.write_text(unit)
    return subprocess.run(
        [_need("systemd-analyze", "systemd"), "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_percent_and_dollar_in_the_program_path_reach_systemd_literally(tmp_path: Path) -> None:
    program = tmp_path / "opt_100%_$HOME_${HOME}" / "edgewatch"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    unit = render_unit(str(program))
    # %% is systemd's escape for %; ":" turns $VAR expansion off (argv[0] included).
    literal = str(program).replace("%", "%%")
    assert f"\nExecStart=:{literal} run --config /etc/edgewatch/edgewatch.yaml " in unit
    done = _verify(unit, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    # What doubling $ would do: systemd does not undo it in the path, the program is lost.
    doubled = unit.replace(f":{literal}", literal.replace("$", "$$"))
    assert "is not executable: No such file or directory" in _verify(doubled, tmp_path).stderr
    plain = render_unit("/opt/edgewatch/bin/edgewatch")
    assert "\nExecStart=/opt/edgewatch/bin/edgewatch run " in plain  # no prefix without a $
