"""``edgewatch install``: run the agent as a systemd service.

Writes ``/etc/systemd/system/edgewatch.service`` (``Type=notify``, watchdog,
hardening; ExecStart is the ``edgewatch`` beside the running interpreter, so a
venv under ``/opt/edgewatch`` or a pipx install is used as it is), creates the
system user if it is missing, writes a default ``/etc/edgewatch/edgewatch.yaml``
when there is none (an existing one is kept), then ``systemctl daemon-reload`` and
``enable --now`` when systemd runs as PID 1; elsewhere it prints those commands.

``--prefix DIR`` installs into another root file system: a mounted device image
(when ``DIR/etc/passwd`` exists, the user is created there with ``useradd
--prefix`` and the unit enabled with ``systemctl --root``, nothing is started) or
a staging folder for a package (files only; the other steps are printed).
``--dry-run`` prints the unit and the steps and changes nothing.

The service never runs as root (uid 0), and an existing account is taken only when
it is a system account with a nologin shell, unless ``--force``: a person's login
(``pi``) would let the agent into that person's files. ``RemoveIPC=yes`` (systemd
deletes the user's System V and POSIX IPC objects, ``/dev/shm`` included, whenever
the service stops) is written only for an account dedicated to edgewatch: one this
command creates, or an existing system account named ``edgewatch`` or carrying the
comment useradd gives it here.
"""

from __future__ import annotations

import grp
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.service_account import (
    DEFAULT_USER,
    USER_COMMENT,
    check_user,
    existing_account,
)
from edgewatch.errors import UsageError

UNIT_NAME = "edgewatch.service"
UNIT_DIR = "/etc/systemd/system"
CONFIG_DIR = "/etc/edgewatch"
CONFIG_FILE = f"{CONFIG_DIR}/edgewatch.yaml"
DATA_DIR = "/var/lib/edgewatch"
# Exists only when systemd runs as PID 1: the test sd_booted(3) makes.
SYSTEMD_RUN_DIR = Path("/run/systemd/system")
# useradd's own rule for portable names (shadow's is_valid_user_name, strict form).
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
HOME_DIRS = ("/home/", "/root/", "/run/user/")
COMMAND_TIMEOUT_S = 120
REMOVE_IPC = "RemoveIPC=yes"
NO_REMOVE_IPC = "# RemoveIPC= left out: the account existed before, its shared memory is not ours"

UNIT_TEMPLATE = """\
# edgewatch: monitoring agent. Written by `edgewatch install`; see docs/service.md.
# Local changes: `systemctl edit edgewatch` (a drop-in survives reinstalls).
[Unit]
Description=edgewatch monitoring agent
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start} run --config {config} --data-dir {data_dir}
ExecReload=/bin/kill -HUP $MAINPID
# The agent sends WATCHDOG=1 from its event loop every WatchdogSec/2: a hung loop
# is killed (SIGABRT) and, by Restart=on-failure, started again. The fault handler
# then writes every thread's traceback to the journal: where it hung.
WatchdogSec=30s
Environment=PYTHONFAULTHANDLER=1
Restart=on-failure
RestartSec=5s
TimeoutStartSec=120s
TimeoutStopSec=30s
User={user}
Group={user}
# Secrets (SMTP passwords, tokens) as NAME=value lines, root-only (mode 0600).
EnvironmentFile=-{config_dir}/edgewatch.env
StateDirectory=edgewatch
StateDirectoryMode=0750
ConfigurationDirectory=edgewatch
UMask=0027

# Hardening that leaves what a monitor reads readable: /proc (every process),
# /sys (thermal zones, hwmon, Tegra GPU load), /dev (NVIDIA GPUs), and D-Bus to
# systemd (service states). Deliberately not set: PrivateDevices (hides
# /dev/nvidia*), ProtectClock and DeviceAllow (both turn on a device allow-list),
# ProtectProc/ProcSubset (hide other processes and /proc/stat), PrivateNetwork,
# IPAddressDeny (remote_write, scrapes, notifications), MemoryDenyWriteExecute
# (ctypes/cffi callbacks in GPU bindings), PrivateUsers. See docs/service.md.
ProtectSystem=strict
ReadWritePaths={data_dir}
ProtectHome={protect_home}
PrivateTmp=yes
PrivateMounts=yes
NoNewPrivileges=yes
CapabilityBoundingSet=
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
{remove_ipc}
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""

DEFAULT_CONFIG = """\
# edgewatch configuration, written by `edgewatch install` (kept on reinstall).
# Every key is optional; docs/config.md lists them all, examples/edgewatch.yaml
# shows them with their defaults. The service passes --data-dir /var/lib/edgewatch.
# Check a change:  edgewatch config validate /etc/edgewatch/edgewatch.yaml
# Apply it:        systemctl reload edgewatch   (some sections need a restart)
# Secrets: ${NAME} here, NAME=value in /etc/edgewatch/edgewatch.env (mode 0600).

# Keep the dashboard on loopback unless authentication is set up (docs/auth.md).
listen: 127.0.0.1:8700
log_level: info
"""


@dataclass(frozen=True)
class WriteFile:
    path: Path
    text: str
    mode: int
    keep_existing: bool = False  # a config the admin may have edited
    group: str | None = None  # chgrp to this group (of the target root) when writing


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    why: str
    run: bool  # False: only printed (no systemd here, or a staging folder)


Step = WriteFile | Command


def default_executable(python: str | None = None) -> str:
    """The ``edgewatch`` script beside ``python`` (the venv's or pipx's ``bin/``), else
    ``python -m edgewatch``. Symlinks are not resolved: a venv's python is a link."""
    interpreter = Path(os.path.abspath(python or sys.executable))
    script = interpreter.parent / "edgewatch"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    return f"{interpreter} -m edgewatch"


def render_unit(executable: str, user: str = DEFAULT_USER, *, remove_ipc: bool = True) -> str:
    """The unit file running ``executable`` (a path, or ``PYTHON -m edgewatch``) as ``user``;
    ``remove_ipc``: the account is edgewatch's alone (see the module's docstring)."""
    program = executable.split(" ", 1)[0]
    return UNIT_TEMPLATE.format(
        exec_start=_exec_start(executable),
        config=CONFIG_FILE,
        config_dir=CONFIG_DIR,
        data_dir=DATA_DIR,
        user=user,
        # A program under a home directory must stay readable (pipx as a user).
        protect_home="read-only" if program.startswith(HOME_DIRS) else "yes",
        remove_ipc=REMOVE_IPC if remove_ipc else NO_REMOVE_IPC,
    )


def _exec_start(executable: str) -> str:
    """``executable`` as ExecStart= reads it. ``%`` starts a specifier: doubled. ``$``
    is not expanded in the program's path, but is in the argv[0] systemd passes (a
    venv's python finds its pyvenv.cfg from argv[0]), and ``$$`` is not unescaped in
    the path (the program is then not found): the ``:`` prefix (systemd 242+) turns
    expansion off for the whole command line, whose arguments hold no variable."""
    escaped = executable.replace("%", "%%")
    return f":{escaped}" if "$" in executable else escaped


def systemd_booted(run_dir: Path = SYSTEMD_RUN_DIR) -> bool:
    return run_dir.is_dir()


def useradd_argv(user: str, prefix: Path | None = None) -> tuple[str, ...]:
    into = ("--prefix", str(prefix)) if prefix is not None else ()
    return (
        "useradd",
        *into,
        "--system",
        "--user-group",
        "--home-dir",
        DATA_DIR,
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        "--comment",
        USER_COMMENT,
        user,
    )


def plan(prefix: Path, user: str, executable: str, *, booted: bool) -> list[Step]:
    """What installing means here: the files to write and the commands to run or print."""
    live = prefix == Path("/")
    image = not live and (prefix / "etc" / "passwd").is_file()
    account = existing_account(user, prefix) if live or image else None
    unit = render_unit(executable, user, remove_ipc=account is None or account.dedicated)
    steps: list[Step] = [WriteFile(_under(prefix, f"{UNIT_DIR}/{UNIT_NAME}"), unit, 0o644)]
    if live:
        if account is None:
            steps.append(Command(useradd_argv(user), f"create the system user {user}", True))
    elif image:
        if account is None:
            steps.append(
                Command(useradd_argv(user, prefix), f"create the user {user} in {prefix}", True)
            )
    else:
        why = f"on the target: create the system user {user} if missing"
        steps.append(Command(useradd_argv(user), why, False))
    group = user if live or image else None
    config = _under(prefix, CONFIG_FILE)
    steps.append(WriteFile(config, DEFAULT_CONFIG, 0o640, keep_existing=True, group=group))
    if live:
        note = "" if booted else " (systemd is not PID 1 here: not run)"
        steps.append(Command(("systemctl", "daemon-reload"), f"reload units{note}", booted))
        steps.append(
            Command(("systemctl", "enable", "--now", UNIT_NAME), f"enable and start{note}", booted)
        )
    elif image:
        steps.append(
            Command(
                ("systemctl", f"--root={prefix}", "enable", UNIT_NAME),
                "enable at boot in the image",
                True,
            )
        )
    else:
        steps.append(Command(("systemctl", "daemon-reload"), "on the target: reload units", False))
        steps.append(
            Command(("systemctl", "enable", "--now", UNIT_NAME), "on the target: start", False)
        )
    return steps


@click.command("install", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--prefix",
    type=click.Path(file_okay=False),
    default="/",
    show_default=True,
    help="Root file system to install into: a mounted device image (has etc/passwd) "
    "or a staging folder for a package. Nothing is started there.",
)
@click.option(
    "--user",
    default=DEFAULT_USER,
    show_default=True,
    help="System user the service runs as; created (useradd --system) if missing.",
)
@click.option(
    "--executable",
    default=None,
    metavar="PATH",
    help="The edgewatch command the unit runs (default: the one beside this Python).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Run as an existing --user even when it is not a system account with a nologin "
    "shell (a person's login). Never root.",
)
@click.option("--dry-run", is_flag=True, help="Print the unit and the steps; change nothing.")
def install_cmd(prefix: str, user: str, executable: str | None, force: bool, dry_run: bool) -> None:
    """Install the agent as a systemd service (Type=notify, watchdog, hardened)."""
    if not USER_NAME.fullmatch(user):
        raise click.BadParameter(
            f"{user!r}: use lower-case letters, digits, _ and -, starting with a letter or _",
            param_hint="--user",
        )
    root = Path(os.path.abspath(prefix))
    check_user(user, existing_account(user, root), force=force)
    exe = executable or default_executable()
    if not exe.startswith("/") or any(c in exe for c in "\"'\\\t\n"):
        raise click.BadParameter(
            f"{exe!r}: an absolute path without quotes or backslashes", param_hint="--executable"
        )
    steps = plan(root, user, exe, booted=systemd_booted())
    if dry_run:
        click.echo(next(s.text for s in steps if isinstance(s, WriteFile)), nl=False)
        click.echo("\n# steps (dry run, nothing changed):")
        for step in steps:
            click.echo(f"#   {_describe(step)}")
        return
    if root == Path("/") and os.geteuid() != 0:
        raise UsageError(
            "edgewatch install writes to /etc: run it as root (sudo), "
            "or see the steps with --dry-run"
        )
    if root == Path("/"):
        _check_program(exe)
    pending: list[Command] = []
    for step in steps:
        if isinstance(step, WriteFile):
            click.echo(_apply_write(step, root))
        elif step.run:
            _run(step)
            click.echo(f"ran: {shlex.join(step.argv)}")
        else:
            pending.append(step)
    if pending:
        click.echo("still to do:")
        for command in pending:
            click.echo(f"  {shlex.join(command.argv)}    # {command.why}")


def _under(prefix: Path, path: str) -> Path:
    return prefix / path.lstrip("/")


def _group_id(group: str, root: Path) -> int | None:
    if root == Path("/"):
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            return None
    path = root / "etc" / "group"
    if not path.is_file():
        return None
    for line in path.read_text(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == group and fields[2].isdigit():
            return int(fields[2])
    return None


def _describe(step: Step) -> str:
    if isinstance(step, WriteFile):
        verb = "create if absent" if step.keep_existing else "write"
        return f"{verb} {step.path} (mode {step.mode:o})"
    return f"{'run' if step.run else 'print'}: {shlex.join(step.argv)}    # {step.why}"


def _check_program(exe: str) -> None:
    program = Path(exe.split(" ", 1)[0])
    if not (program.is_file() and os.access(program, os.X_OK)):
        raise UsageError(f"{program} is not an executable file (see --executable)")


def _apply_write(step: WriteFile, root: Path) -> str:
    path = step.path
    if step.keep_existing and path.exists():
        return f"kept: {path} (exists)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(step.text)
        tmp.chmod(step.mode)
        gid = None if step.group is None else _group_id(step.group, root)
        if gid is not None:
            os.chown(tmp, 0, gid)  # root-owned, readable by the service's group
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return f"wrote: {path}"


def _run(command: Command) -> None:
    try:
        done = subprocess.run(
            command.argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"{shlex.join(command.argv)} failed: {exc}") from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        detail = reason[-1] if reason else "no output"
        raise UsageError(f"{shlex.join(command.argv)} exited {done.returncode}: {detail}")
