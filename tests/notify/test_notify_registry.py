"""Receivers in config and the channel registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edgewatch.config.notify import NotifyConfig, OutboxSettings, Receiver
from edgewatch.notify.alertmanager import AlertmanagerChannel
from edgewatch.notify.base import Channel
from edgewatch.notify.command import CommandChannel
from edgewatch.notify.registry import CHANNELS, build_channels, channel_class
from edgewatch.notify.webhook import WebhookChannel


def test_build_channels_in_registry_order() -> None:
    receiver = Receiver.model_validate(
        {
            "name": "ops",
            "command": [{"argv": ["/usr/bin/true"]}],
            "webhook": [{"url": "http://a/1"}, {"url": "https://b/2", "timeout": "30s"}],
            "alertmanager": [{"urls": ["http://am:9093"]}],
        }
    )
    channels = build_channels(receiver)
    assert [type(c) for c in channels] == [
        WebhookChannel,
        WebhookChannel,
        AlertmanagerChannel,
        CommandChannel,
    ]
    assert all(isinstance(c, Channel) for c in channels)
    assert [c.describe() for c in channels][:2] == ["webhook http://a/1", "webhook https://b/2"]
    assert build_channels(Receiver(name="null")) == []


def test_every_registered_kind_is_a_receiver_field_and_imports() -> None:
    for kind in CHANNELS:
        assert kind in Receiver.model_fields
        assert callable(channel_class(kind))


def test_config_errors_say_what_is_valid() -> None:
    with pytest.raises(ValidationError, match="not an http"):
        Receiver.model_validate({"name": "x", "webhook": [{"url": "ftp://x/y"}]})
    with pytest.raises(ValidationError, match="not a receiver name"):
        Receiver(name="bad name")
    with pytest.raises(ValidationError, match="backoff_max must be at least backoff_initial"):
        OutboxSettings(backoff_initial=60, backoff_max=10)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        NotifyConfig.model_validate({"outbox": {"retries": 3}})


def test_durations_accept_units() -> None:
    config = NotifyConfig.model_validate(
        {"outbox": {"max_age": "12h", "backoff_initial": "2s"}, "deadman": {"interval": "5m"}}
    )
    assert config.outbox.max_age == 43200
    assert config.outbox.backoff_initial == 2
    assert config.deadman.interval == 300
    assert config.deadman.url is None
