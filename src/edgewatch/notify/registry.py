"""The channel registry: integration kind -> the dotted path of its class.

A receiver's config has one list per kind (``webhook:``, ``email:``, ...);
each entry becomes one channel, built as ``ChannelClass(entry)``. Modules are
imported only when a receiver uses their kind (apprise is heavy).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, cast

from edgewatch.config.notify import Receiver
from edgewatch.notify.base import Channel

CHANNELS: Mapping[str, str] = {
    "webhook": "edgewatch.notify.webhook:WebhookChannel",
    "alertmanager": "edgewatch.notify.alertmanager:AlertmanagerChannel",
    "command": "edgewatch.notify.command:CommandChannel",
    "email": "edgewatch.notify.email:EmailChannel",
    "apprise": "edgewatch.notify.apprise_channel:AppriseChannel",
}
"""Every kind of integration, in the order a receiver's channels are built."""

ChannelFactory = Callable[[Any], Channel]


def channel_class(kind: str, registry: Mapping[str, str] = CHANNELS) -> ChannelFactory:
    """Import and return the class registered for ``kind`` (KeyError if unknown)."""
    module_name, _, attr = registry[kind].partition(":")
    module = importlib.import_module(module_name)
    return cast(ChannelFactory, getattr(module, attr))


def build_channels(receiver: Receiver, registry: Mapping[str, str] = CHANNELS) -> list[Channel]:
    """The channels of ``receiver``, kind by kind in registry order, each list
    in its config order (the outbox refers to a channel by its position)."""
    channels: list[Channel] = []
    for kind in registry:
        configs = getattr(receiver, kind, None) or []
        if not configs:
            continue
        factory = channel_class(kind, registry)
        channels.extend(factory(config) for config in configs)
    return channels
