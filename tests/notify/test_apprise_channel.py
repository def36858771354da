"""The Apprise channel, through Apprise's json:// plugin to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from edgewatch.alerting.notice import Notice, NoticeStatus, Notification
from edgewatch.config.notify_channels import AppriseConfig
from edgewatch.notify.apprise_channel import AppriseChannel
from edgewatch.notify.base import Channel, DeliveryError

TOKEN = "hookTOKEN0123456789secret"


@dataclass
class Receiver:
    port: int
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.posts.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output quiet; the posts are asserted on

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _notification(status: NoticeStatus = NoticeStatus.FIRING) -> Notification:
    notice = Notice(
        labels={"alertname": "HighTemperature", "severity": "warning", "zone": "cpu"},
        annotations={"summary": "CPU at 82 °C"},
        status=status,
        starts_at_ms=1_714_560_000_000,
        ends_at_ms=1_714_563_000_000 if status is NoticeStatus.RESOLVED else None,
        value=82.0,
    )
    return Notification(
        receiver="phone",
        group_key="{}:{}",
        group_labels={},
        alerts=(notice,),
        dedupe_key="phone/1",
        created_ms=1_714_563_600_000,
    )


def _url(receiver: Receiver) -> str:
    return f"json://127.0.0.1:{receiver.port}/hook/{TOKEN}"


def _send(config: AppriseConfig, notification: Notification) -> None:
    asyncio.run(AppriseChannel(config).send(notification))


def test_title_and_body_reach_the_receiver(receiver: Receiver) -> None:
    channel = AppriseChannel(AppriseConfig(urls=[_url(receiver)]))  # type: ignore[list-item]
    assert isinstance(channel, Channel)
    assert channel.describe() == "apprise json://…"
    assert TOKEN not in repr(channel.config)

    asyncio.run(channel.send(_notification()))

    assert len(receiver.posts) == 1
    path, payload = receiver.posts[0]
    assert path == f"/hook/{TOKEN}"
    assert payload["title"] == "[FIRING:1] HighTemperature"
    assert "CPU at 82 °C" in payload["message"]
    assert payload["type"] == "failure"


def test_resolved_uses_success_type_and_inline_templates(receiver: Receiver) -> None:
    config = AppriseConfig.model_validate(
        {
            "urls": [_url(receiver)],
            "title": "{{ status }}: {{ alerts[0].name }}",
            "body": "{{ alerts[0].labels.zone }} {{ alerts[0].value|humanize }}",
        }
    )
    _send(config, _notification(NoticeStatus.RESOLVED))

    _, payload = receiver.posts[0]
    assert payload["title"] == "resolved: HighTemperature"
    assert payload["message"] == "cpu 82"
    assert payload["type"] == "success"


def test_a_failing_endpoint_is_retryable_and_logs_no_token(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 500
    caplog.set_level(logging.DEBUG, logger="apprise")
    with pytest.raises(DeliveryError) as caught:
        _send(AppriseConfig(urls=[_url(receiver)]), _notification())  # type: ignore[list-item]

    assert not caught.value.permanent
    assert str(caught.value) == "apprise: json delivery failed"
    assert len(receiver.posts) == 1
    assert caplog.records, "Apprise logged nothing about the failure"
    assert TOKEN not in caplog.text
    assert not logging.getLogger("apprise").filters  # the redaction filter is removed after


def test_an_invalid_url_is_permanent_and_named_by_scheme_only() -> None:
    config = AppriseConfig.model_validate({"urls": ["tgram://not-a-bot-token-xyz123/"]})
    with pytest.raises(DeliveryError) as caught:
        _send(config, _notification())

    assert caught.value.permanent
    assert "tgram://" in str(caught.value)
    assert "not-a-bot-token" not in str(caught.value)


def test_a_url_without_scheme_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="URL #1 has no scheme") as caught:
        AppriseConfig.model_validate({"urls": ["secret-token-without-scheme"]})

    assert "secret-token-without-scheme" not in str(caught.value)
