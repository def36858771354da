"""``edgewatch silence add|list|expire``, ``edgewatch mute`` and ``edgewatch alerts ack``.

They write the store file directly, so they work whether the agent runs or not;
a running agent sees the change within about a second.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from pathlib import Path

import click

from edgewatch.alerting.acks import AckError, AckStore
from edgewatch.alerting.matchers import Matcher, MatcherError, parse_matchers
from edgewatch.alerting.silences import Silence, SilenceError, SilenceNotFound, SilenceStore
from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.data import store_options
from edgewatch.config import load_config, parse_duration, resolve_config_path, resolve_data_dir
from edgewatch.errors import UsageError
from edgewatch.store import Store, StoreError
from edgewatch.timespec import format_time, parse_time
from edgewatch.web.accounts import db_file


def _db(config_file: str | None, data_dir: str | None, *, create: bool) -> Path:
    """The store file of the data directory; ``create`` makes an empty store if missing."""
    config = load_config(resolve_config_path(config_file))
    directory = resolve_data_dir(data_dir, config)
    path = db_file(directory)
    try:
        Store.open(directory, readonly=not (create and not path.exists())).close()
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return path


def _me() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without the user in passwd)
        return "cli"


def _seconds(text: str, what: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"bad {what}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"bad {what} {text!r}: it must be above zero")
    return seconds


def _matchers(texts: tuple[str, ...]) -> list[Matcher]:
    found: list[Matcher] = []
    for text in texts:
        try:
            found.extend(parse_matchers(text))
        except MatcherError as exc:
            raise UsageError(str(exc)) from None
    return found


def _show(s: Silence) -> str:
    return "{" + ", ".join(str(m) for m in s.matchers) + "}"


def _as_json(s: Silence, now_ms: int) -> dict[str, object]:
    return {
        "id": s.id,
        "status": {"state": s.state(now_ms)},
        "matchers": [m.to_dict() for m in s.matchers],
        "startsAt": format_time(s.starts_ms),
        "endsAt": format_time(s.ends_ms),
        "createdBy": s.created_by,
        "comment": s.comment,
    }


@click.group("silence", context_settings=CONTEXT_SETTINGS)
def silence_group() -> None:
    """Silences: alerts matching their matchers notify nobody until they end.

    Silences live in the store file (edgewatch.db in the data directory); a running
    agent applies a change within about a second. See docs/silences.md.
    """


@silence_group.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("matchers", metavar="MATCHER...", nargs=-1, required=True)
@click.option("--duration", required=True, help="How long, from the start: 30m, 2h, 1d.")
@click.option("--comment", required=True, help="Why (required).")
@click.option("--author", default=None, help="Who silences (default: the login name).")
@click.option("--start", default=None, help="Start: now (default), +1h, or RFC 3339.")
@store_options
def add_cmd(
    matchers: tuple[str, ...],
    duration: str,
    comment: str,
    author: str | None,
    start: str | None,
    config_file: str | None,
    data_dir: str | None,
) -> None:
    """Silence the alerts matching every MATCHER, e.g. alertname=DiskFull 'device=~"sd.*"'.

    Prints the new silence's id.
    """
    found = _matchers(matchers)
    seconds = _seconds(duration, "--duration")
    store = SilenceStore(_db(config_file, data_dir, create=True))
    try:
        start_ms = parse_time(start, now=store.clock()) if start else store.now_ms()
        silence = store.create(
            found,
            starts_ms=start_ms,
            ends_ms=start_ms + round(seconds * 1000),
            created_by=author or _me(),
            comment=comment,
        )
    except (SilenceError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    click.echo(silence.id)
    click.echo(f"silenced {_show(silence)} until {format_time(silence.ends_ms)}", err=True)


@silence_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@store_options
def list_cmd(show_all: bool, fmt: str, config_file: str | None, data_dir: str | None) -> None:
    """List the active and pending silences (with --all, the expired ones too)."""
    store = SilenceStore(_db(config_file, data_dir, create=False))
    now = store.now_ms()
    silences = [s for s in store.list() if show_all or s.state(now) != "expired"]
    if fmt == "json":
        json.dump([_as_json(s, now) for s in silences], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    click.echo(f"{'ID':<36}  {'STATE':<8}  {'ENDS':<20}  {'AUTHOR':<12}  MATCHERS  COMMENT")
    for s in silences:
        ends = format_time(s.ends_ms - s.ends_ms % 1000)
        click.echo(
            f"{s.id:<36}  {s.state(now):<8}  {ends:<20}  {s.created_by:<12}  "
            f"{_show(s)}  {s.comment}"
        )
    click.echo(f"{len(silences)} silences", err=True)


@silence_group.command("expire", context_settings=CONTEXT_SETTINGS)
@click.argument("ids", metavar="ID...", nargs=-1, required=True)
@store_options
def expire_cmd(ids: tuple[str, ...], config_file: str | None, data_dir: str | None) -> None:
    """End the silences ID... now."""
    store = SilenceStore(_db(config_file, data_dir, create=False))
    for silence_id in ids:
        try:
            store.expire(silence_id)
        except SilenceNotFound:
            raise UsageError(f"no silence {silence_id!r}") from None
        except SilenceError as exc:
            raise UsageError(str(exc)) from None
        click.echo(f"expired silence {silence_id}", err=True)


@click.command("mute", context_settings=CONTEXT_SETTINGS)
@click.argument("duration")
@click.option("--comment", required=True, help="Why (required).")
@click.option("--author", default=None, help="Who mutes (default: the login name).")
@store_options
def mute_cmd(
    duration: str, comment: str, author: str | None, config_file: str | None, data_dir: str | None
) -> None:
    """Mute every alert for DURATION (30m, 2h): a silence on alertname=~".+".

    Prints the silence's id; `edgewatch silence expire ID` ends the mute early.
    """
    seconds = _seconds(duration, "duration")
    store = SilenceStore(_db(config_file, data_dir, create=True))
    try:
        silence = store.mute(seconds, created_by=author or _me(), comment=comment)
    except SilenceError as exc:
        raise UsageError(str(exc)) from None
    click.echo(silence.id)
    click.echo(f"every alert muted until {format_time(silence.ends_ms)}", err=True)


@click.command("ack", context_settings=CONTEXT_SETTINGS)
@click.argument("fingerprint")
@click.option("--by", "by", default=None, help="Who acknowledges (default: the login name).")
@click.option("--comment", default="", help="What is being done about it.")
@click.option("--undo", is_flag=True, help="Withdraw the acknowledgement instead.")
@store_options
def ack_cmd(
    fingerprint: str,
    by: str | None,
    comment: str,
    undo: bool,
    config_file: str | None,
    data_dir: str | None,
) -> None:
    """Acknowledge the alert FINGERPRINT: its escalation stops until it resolves."""
    store = AckStore(_db(config_file, data_dir, create=not undo), clock=time.time)
    if undo:
        if not store.unack(fingerprint):
            raise UsageError(f"alert {fingerprint[:64]!r} is not acknowledged")
        click.echo(f"alert {fingerprint} no longer acknowledged", err=True)
        return
    try:
        done = store.ack(fingerprint, by=by or _me(), comment=comment)
    except AckError as exc:
        raise UsageError(str(exc)) from None
    click.echo(f"alert {fingerprint} acknowledged by {done.acked_by}", err=True)
