"""The webhook channel against a real receiver: Alertmanager-compatible JSON,
the HMAC signature verified the way a receiver would, failure classes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math

import pytest
from webhook_receiver import Receiver, free_port, notification

from edgewatch.alerting.notice import Notice, NoticeStatus, Notification, NotificationKind
from edgewatch.config.notify import WebhookConfig
from edgewatch.config.secret import Secret
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.payload import ZERO_TIME, from_record, rfc3339, to_record, webhook_payload
from edgewatch.notify.webhook import SIGNATURE_HEADER, WebhookChannel, redact_url


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """The recipe docs/notify.md gives receivers."""
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def test_signed_webhook_carries_alertmanager_json_and_verifies() -> None:
    with Receiver() as receiver:
        config = WebhookConfig(
            url=receiver.url + "/hook",
            hmac_secret=Secret("s3cret-key"),
            headers={"Authorization": Secret("Bearer tok")},
        )
        asyncio.run(WebhookChannel(config).send(notification()))
        [request] = receiver.requests
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"] == "application/json"
    signature = request.headers[SIGNATURE_HEADER]
    assert verify(b"s3cret-key", request.body, signature)
    assert not verify(b"wrong-key", request.body, signature)
    assert not verify(b"s3cret-key", request.body + b" ", signature)
    body = request.json()
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "ops"
    assert body["groupLabels"] == {"alertname": "DiskFull"}
    assert body["commonLabels"]["mount"] == "/data"
    assert body["commonAnnotations"] == {"summary": "disk /data is 97% full"}
    assert body["ackURL"] == "http://device.local:9100/ack/abc"
    assert body["kind"] == "notify"
    assert body["truncatedAlerts"] == 0
    [alert] = body["alerts"]
    assert alert["startsAt"] == "2023-11-14T22:12:20Z"
    assert alert["endsAt"] == ZERO_TIME
    assert (
        alert["fingerprint"]
        == Notice(labels={"alertname": "DiskFull", "mount": "/data"}).fingerprint
    )


def test_unsigned_webhook_has_no_signature_header() -> None:
    with Receiver() as receiver:
        asyncio.run(WebhookChannel(WebhookConfig(url=receiver.url)).send(notification()))
        assert SIGNATURE_HEADER not in receiver.requests[0].headers


@pytest.mark.parametrize(
    ("status", "permanent"), [(500, False), (503, False), (429, False), (404, True), (403, True)]
)
def test_http_status_classes(status: int, permanent: bool) -> None:
    with Receiver([(status, "nope")]) as receiver:
        channel = WebhookChannel(WebhookConfig(url=receiver.url + "/x"))
        with pytest.raises(DeliveryError) as caught:
            asyncio.run(channel.send(notification()))
    assert caught.value.permanent is permanent
    assert str(caught.value).startswith(f"{receiver.url}/x answered {status} ")
    assert str(caught.value).endswith(": nope")


def test_unreachable_and_slow_receivers_are_retryable() -> None:
    channel = WebhookChannel(WebhookConfig(url=f"http://127.0.0.1:{free_port()}/x"))
    with pytest.raises(DeliveryError) as refused:
        asyncio.run(channel.send(notification()))
    assert refused.value.permanent is False
    assert "ConnectError" in str(refused.value)


def test_describe_hides_credentials() -> None:
    config = WebhookConfig(url="https://bob:pw@hooks.example.org:8443/in/abc?token=t0k")
    assert WebhookChannel(config).describe() == "webhook https://hooks.example.org:8443/in/…"
    slack = WebhookConfig(url="https://hooks.slack.com/services/T0123/B0456/XyZsecretTokenAbc")
    assert WebhookChannel(slack).describe() == "webhook https://hooks.slack.com/services/…"
    assert redact_url("http://[::1]:80/p?q") == "http://[::1]:80/p"


def test_resolved_alert_ends_and_payload_truncates() -> None:
    n = notification(status="resolved")
    payload = webhook_payload(n, external_url="http://dev:9100", max_alerts=0)
    assert payload["status"] == "resolved"
    assert payload["alerts"][0]["endsAt"] == rfc3339(n.created_ms)
    assert payload["externalURL"] == "http://dev:9100"
    many = Notification("ops", "g", {}, n.alerts * 3, "k", 0, NotificationKind.TEST)
    cut = webhook_payload(many, max_alerts=2)
    assert (len(cut["alerts"]), cut["truncatedAlerts"], cut["kind"]) == (2, 1, "test")


def test_rfc3339() -> None:
    assert rfc3339(None) == ZERO_TIME
    assert rfc3339(0) == ZERO_TIME
    assert rfc3339(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def test_record_round_trips_including_odd_values() -> None:
    n = notification()
    assert from_record(to_record(n)) == n
    odd = Notification(
        "ops",
        "g",
        {"a": "é"},
        (Notice({"alertname": "X"}, status=NoticeStatus.RESOLVED, ends_at_ms=5, value=math.inf),),
        "k",
        1,
        NotificationKind.ESCALATION,
    )
    back = from_record(to_record(odd))
    assert back.alerts[0].value == math.inf
    assert back == odd
    with pytest.raises(ValueError, match="malformed outbox record"):
        from_record('{"receiver": "x"}')
