"""The account ``edgewatch install`` runs the service as: never root, and an existing
account only when it is fit for a service (a system account with a nologin shell)
unless the admin insists; whether it is edgewatch's alone (then ``RemoveIPC=yes``
cannot delete another program's shared memory)."""

from __future__ import annotations

import pwd
from dataclasses import dataclass
from pathlib import Path

import click

DEFAULT_USER = "edgewatch"
USER_COMMENT = "edgewatch monitoring agent"  # what useradd is given: marks our account
NOLOGIN_SHELLS = frozenset(
    {"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "/bin/true"}
)
SYS_UID_MAX = 999  # login.defs' default when it says nothing


@dataclass(frozen=True)
class Account:
    """An existing user, as /etc/passwd (this machine's or an image's) has it."""

    name: str
    uid: int
    comment: str
    shell: str
    system: bool  # uid within the system range (login.defs SYS_UID_MAX)

    @property
    def service_account(self) -> bool:
        """A system account without a login: fit to run a service as."""
        return self.system and self.shell in NOLOGIN_SHELLS

    @property
    def dedicated(self) -> bool:
        """Ours alone: no other program's IPC objects for RemoveIPC= to delete."""
        return self.service_account and (self.name == DEFAULT_USER or self.comment == USER_COMMENT)


def check_user(user: str, account: Account | None, *, force: bool) -> None:
    """Refuses root, and a person's account unless ``force`` (click.BadParameter)."""
    if user == "root" or (account is not None and account.uid == 0):
        raise click.BadParameter(
            f"{user!r} is uid 0: the agent must not run as root (it needs no privilege); "
            f"keep the default {DEFAULT_USER!r}, which is created as a system user",
            param_hint="--user",
        )
    if account is not None and not account.service_account and not force:
        raise click.BadParameter(
            f"{user!r} exists and is not a system account with a nologin shell (uid "
            f"{account.uid}, shell {account.shell or 'none'}): likely a person's login. The "
            "agent would reach that person's files, and share its IPC objects. Use a "
            f"dedicated user (default {DEFAULT_USER!r}), or --force",
            param_hint="--user",
        )


def existing_account(user: str, root: Path) -> Account | None:
    """``user`` as ``root``'s /etc/passwd has it (this machine's when root is /); None
    when absent, or when there is no passwd file (a staging folder)."""
    if root == Path("/"):
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            return None
        fields = [entry.pw_name, "", str(entry.pw_uid), "", entry.pw_gecos, "", entry.pw_shell]
    else:
        path = root / "etc" / "passwd"
        if not path.is_file():
            return None
        lines = path.read_text(errors="replace").splitlines()
        found = [f for f in (line.split(":") for line in lines) if f[0] == user and len(f) >= 7]
        if not found or not found[0][2].isdigit():
            return None
        fields = found[0]
    uid = int(fields[2])
    return Account(
        name=user,
        uid=uid,
        comment=fields[4],
        shell=fields[6],
        system=uid <= _sys_uid_max(root),
    )


def _sys_uid_max(root: Path) -> int:
    """The last system uid, as useradd reads it from login.defs (SYS_UID_MAX, else
    UID_MIN - 1)."""
    try:
        text = (root / "etc" / "login.defs").read_text(errors="replace")
    except OSError:
        return SYS_UID_MAX
    values = dict(
        parts[:2] for parts in (line.split() for line in text.splitlines()) if len(parts) >= 2
    )
    if values.get("SYS_UID_MAX", "").isdigit():
        return int(values["SYS_UID_MAX"])
    if values.get("UID_MIN", "").isdigit():
        return int(values["UID_MIN"]) - 1
    return SYS_UID_MAX
