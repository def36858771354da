"""``edgewatch user add|list|remove``: dashboard users in the store file, agent running or not."""

from __future__ import annotations

import json
import sys

import click

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.data import store_options
from edgewatch.config import load_config, resolve_config_path, resolve_data_dir
from edgewatch.errors import UsageError
from edgewatch.store import Store, StoreError
from edgewatch.timespec import format_time
from edgewatch.web.accounts import AccountError, Accounts, check_name, check_password, db_file


def _accounts(config_file: str | None, data_dir: str | None, *, create: bool) -> Accounts:
    """The users of the data directory's store; ``create`` makes the store if it is missing."""
    config = load_config(resolve_config_path(config_file))
    directory = resolve_data_dir(data_dir, config)
    path = db_file(directory)
    try:
        # Opening checks the file is an edgewatch store; a first user may come before
        # the agent's first run, so ``create`` makes an empty store then.
        Store.open(directory, readonly=not (create and not path.exists())).close()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return Accounts(path)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: no password on standard input")
    else:
        password = str(
            click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        )
    try:
        return check_password(password)
    except AccountError as exc:
        raise UsageError(str(exc)) from None


@click.group("user", context_settings=CONTEXT_SETTINGS)
def user_group() -> None:
    """Dashboard users: who may log in to the web UI and API, and their role.

    Users live in the store file (edgewatch.db in the data directory); changes apply
    to a running agent within a few seconds.
    """


@user_group.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["viewer", "admin"]),
    default="viewer",
    show_default=True,
    help="viewer reads; admin reads and changes.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Change the password and role of an existing user (ends its sessions).",
)
@store_options
def add_cmd(
    name: str,
    role: str,
    password_stdin: bool,
    update: bool,
    config_file: str | None,
    data_dir: str | None,
) -> None:
    """Add the dashboard user NAME (or change it with --update).

    The password (at least 10 characters) is asked twice, or read from standard
    input with --password-stdin; it is stored as a scrypt hash.
    """
    try:
        check_name(name)
    except AccountError as exc:
        raise UsageError(str(exc)) from None
    accounts = _accounts(config_file, data_dir, create=True)
    if not update and accounts.get(name) is not None:
        raise UsageError(f"user {name!r} exists (use --update to change it)")
    password = _read_password(password_stdin)
    try:
        user = accounts.add(name, password, role, update=update)
    except AccountError as exc:
        raise UsageError(str(exc)) from None
    verb = "updated" if user.created_ms != user.updated_ms else "added"
    click.echo(f"{verb} user {user.name} ({user.role}) in {accounts.path}", err=True)


@user_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@store_options
def list_cmd(fmt: str, config_file: str | None, data_dir: str | None) -> None:
    """List the dashboard users: name, role, when created and last changed."""
    users = _accounts(config_file, data_dir, create=False).users()
    if fmt == "json":
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "created": format_time(u.created_ms),
                "updated": format_time(u.updated_ms),
            }
            for u in users
        ]
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    width = max([4, *(len(u.name) for u in users)])
    click.echo(f"{'NAME':<{width}}  {'ROLE':<6}  {'CREATED':<20}  UPDATED")
    for u in users:
        created, updated = (format_time(ms - ms % 1000) for ms in (u.created_ms, u.updated_ms))
        click.echo(f"{u.name:<{width}}  {u.role:<6}  {created:<20}  {updated}")
    click.echo(f"{len(users)} users", err=True)


@user_group.command("remove", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@store_options
def remove_cmd(name: str, config_file: str | None, data_dir: str | None) -> None:
    """Remove the dashboard user NAME (its sessions end)."""
    accounts = _accounts(config_file, data_dir, create=False)
    if not accounts.remove(name):
        raise UsageError(f"no user {name!r} in {accounts.path}")
    click.echo(f"removed user {name}", err=True)
