"""``edgewatch notify test RECEIVER``: send a test message through each of a
receiver's channels now, and say which took it."""

from __future__ import annotations

import asyncio
import sys
import time

import click

from edgewatch.alerting.notice import Notice, Notification, NotificationKind
from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.config import Config, load_config, resolve_config_path
from edgewatch.errors import UsageError
from edgewatch.notify.base import Channel, DeliveryError
from edgewatch.notify.registry import build_channels


@click.group("notify", context_settings=CONTEXT_SETTINGS)
def notify_group() -> None:
    """Notification receivers."""


@notify_group.command("test", context_settings=CONTEXT_SETTINGS)
@click.argument("receiver")
@click.option("--config", "config_file", default=None, help="Config file (YAML).")
def notify_test_cmd(receiver: str, config_file: str | None) -> None:
    """Send a test notification to RECEIVER's channels now (not through the outbox).

    Prints one line per channel; exits 0 when every channel took the message,
    1 when one failed, 2 when there is no such receiver.
    """
    config = load_config(resolve_config_path(config_file))
    channels = _channels(config, receiver)
    notification = test_notification(receiver, config.alerting.external_labels)
    results = asyncio.run(_send_all(channels, notification))
    failed = 0
    for channel, error in results:
        if error is None:
            click.echo(f"ok      {channel.describe()}")
        else:
            failed += 1
            kind = "permanent" if error.permanent else "retryable"
            click.echo(f"failed  {channel.describe()}: {error} ({kind})")
    sys.exit(1 if failed else 0)


def _channels(config: Config, name: str) -> list[Channel]:
    known = {r.name: r for r in config.receivers}
    receiver = known.get(name)
    if receiver is None:
        names = ", ".join(sorted(known)) or "none configured"
        raise UsageError(f"no receiver named {name!r} (receivers: {names})")
    channels = build_channels(receiver)
    if not channels:
        raise UsageError(f"receiver {name!r} has no channels to send to")
    return channels


def test_notification(receiver: str, external_labels: dict[str, str]) -> Notification:
    """A firing notification that says it is a test."""
    now_ms = round(time.time() * 1000)
    labels = {**external_labels, "alertname": "EdgewatchTest", "severity": "info"}
    notice = Notice(
        labels=labels,
        annotations={
            "summary": "Test notification from edgewatch",
            "description": f"Sent by `edgewatch notify test {receiver}`; no action needed.",
        },
        starts_at_ms=now_ms,
    )
    return Notification(
        receiver=receiver,
        group_key=f"test/{receiver}",
        group_labels={"alertname": "EdgewatchTest"},
        alerts=(notice,),
        dedupe_key=f"{receiver}/test/{now_ms}",
        created_ms=now_ms,
        kind=NotificationKind.TEST,
    )


async def _send_all(
    channels: list[Channel], notification: Notification
) -> list[tuple[Channel, DeliveryError | None]]:
    results: list[tuple[Channel, DeliveryError | None]] = []
    for channel in channels:
        try:
            await channel.send(notification)
        except DeliveryError as exc:
            results.append((channel, exc))
        else:
            results.append((channel, None))
    return results
