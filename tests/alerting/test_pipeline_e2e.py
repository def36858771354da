"""The alerting pipeline end to end, in-process: rules over a real store → the
dispatcher → the outbox → a real webhook receiver and a real SMTP server on
127.0.0.1, driven by a fake clock. Each test asserts on what the receivers got:
an alert fires after ``for``, is grouped and repeated, silenced, inhibited,
acknowledged, escalated after its delay, and resolved."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    EXTERNAL_URL,
    OPS_MAIL,
    SENDER,
    Clock,
    Pipeline,
    SmtpServer,
    config,
    email_config,
    gauge,
    hooks,
    pipeline,
    smtp_server,
    text_and_html,
)

from edgewatch.alerting.lifecycle import AlertState
from edgewatch.alerting.matchers import parse_matcher
from edgewatch.notify.payload import ZERO_TIME, rfc3339
from notify.webhook_receiver import Receiver

TIMERS = {"group_by": ["alertname"], "group_interval": "30s", "repeat_interval": "2m"}


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def ops(hook: Receiver, smtp: SmtpServer, **options: Any) -> dict[str, Any]:
    """The receiver ``ops``: a webhook on /ops and an email."""
    return {
        "name": "ops",
        "webhook": [{"url": f"{hook.url}/ops"}],
        "email": [email_config(smtp.port)],
        **options,
    }


def alertnames(body: dict[str, Any]) -> list[str]:
    return [a["labels"]["alertname"] for a in body["alerts"]]


def subjects(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in smtp.inbox.messages()]


DISK_RULES = """
groups:
  - name: disk
    interval: 10s
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.9
        for: 20s
        labels: {severity: warning}
        annotations:
          summary: "disk {{ $labels.mount }} is {{ $value }} full"
"""


def test_alert_fires_after_for_grouped_sent_once_and_repeated(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer
) -> None:
    cfg = config([ops(hook, smtp)], {"receiver": "ops", "group_wait": "5s", **TIMERS})
    full = [
        gauge("disk_used_ratio", 0.95, mount="/"),
        gauge("disk_used_ratio", 0.97, mount="/data"),
    ]

    async def scenario(p: Pipeline) -> None:
        assert await p.step(0, full) == []
        assert [a.state for a in p.svc.evaluator.alerts()] == [AlertState.PENDING] * 2
        assert await p.step(10, full) == []  # 10s < for: still pending
        assert await p.step(10, full) == []  # firing now, the group waits group_wait
        assert [a.state for a in p.svc.evaluator.alerts()] == [AlertState.FIRING] * 2
        assert hook.count() == 0 and smtp.inbox.envelopes == []

        (sent,) = await p.step(5, full)  # group_wait over: one message for both
        (body,) = hooks(hook, "/ops")
        assert body["status"] == "firing" and body["kind"] == "notify"
        assert body["receiver"] == "ops"
        assert body["groupLabels"] == {"alertname": "DiskFull"}
        assert body["commonLabels"] == {"alertname": "DiskFull", "severity": "warning"}
        mounts = sorted(a["labels"]["mount"] for a in body["alerts"])
        assert mounts == ["/", "/data"]
        assert {a["annotations"]["summary"] for a in body["alerts"]} == {
            "disk / is 0.95 full",
            "disk /data is 0.97 full",
        }
        assert all(a["endsAt"] == ZERO_TIME for a in body["alerts"])
        assert all(a["startsAt"] == rfc3339(round((p.clock.t - 5) * 1000)) for a in body["alerts"])
        assert body["ackURL"].startswith(f"{EXTERNAL_URL}/")
        assert body["externalURL"] == EXTERNAL_URL

        (message,) = smtp.inbox.messages()
        assert message["Subject"] == "[FIRING:2] DiskFull"
        assert message["From"] == SENDER and message["To"] == OPS_MAIL
        assert message["X-Edgewatch-Dedupe"] == sent.dedupe_key
        assert sent.dedupe_key == f"ops/{body['groupKey']}/notify/0"
        text, html_part = text_and_html(message)
        assert "2 firing" in text
        assert "disk / is 0.95 full" in text and "disk /data is 0.97 full" in text
        assert f"Acknowledge: {body['ackURL']}" in text
        assert f'href="{html.escape(body["ackURL"])}"' in html_part
        assert "disk /data is 0.97 full" in html_part

        # Unchanged: nothing more until repeat_interval (2m after the first message).
        assert await p.run_for(115, full) == []
        assert hook.count() == 1 and len(smtp.inbox.envelopes) == 1
        (repeat,) = await p.step(5, full)
        assert repeat.dedupe_key == f"ops/{body['groupKey']}/notify/1"
        first, second = hooks(hook, "/ops")
        assert second["alerts"] == first["alerts"]  # the same two alerts again
        assert subjects(smtp) == ["[FIRING:2] DiskFull"] * 2
        assert smtp.inbox.messages()[1]["Message-ID"] != message["Message-ID"]

    with pipeline(tmp_path, cfg, DISK_RULES, clock=Clock()) as p:
        asyncio.run(scenario(p))


TWO_RULES = """
groups:
  - name: shop
    interval: 10s
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.9
        labels: {severity: warning}
      - alert: CpuHot
        expr: cpu_temp_celsius > 80
        labels: {severity: warning}
"""
DISK_AND_CPU = [
    gauge("disk_used_ratio", 0.95, mount="/data"),
    gauge("cpu_temp_celsius", 91.0, zone="0"),
]


def test_silenced_alert_is_not_sent_until_the_silence_expires(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer
) -> None:
    cfg = config([ops(hook, smtp)], {"receiver": "ops", "group_wait": "0s", **TIMERS})

    async def scenario(p: Pipeline) -> None:
        silence = p.svc.silences.create(
            [parse_matcher('alertname="DiskFull"')],
            ends_ms=round((p.clock.t + 3600) * 1000),
            created_by="ana",
            comment="replacing the disk",
        )
        await p.step(5, DISK_AND_CPU)
        (body,) = hooks(hook, "/ops")
        assert alertnames(body) == ["CpuHot"]  # the other group still notifies
        assert subjects(smtp) == ["[FIRING:1] CpuHot"]
        disk = next(a for a in p.svc.dispatcher.alerts() if a.name == "DiskFull")
        muting = p.svc.dispatcher.status(disk.labels, round(p.clock.t * 1000))
        assert muting.silenced_by == (silence.id,)

        await p.run_for(60, DISK_AND_CPU)  # silenced all along
        assert [alertnames(b) for b in hooks(hook, "/ops")] == [["CpuHot"]]
        assert len(smtp.inbox.envelopes) == 1

        p.svc.silences.expire(silence.id)
        await p.run_for(30, DISK_AND_CPU)  # the group's next look sends it
        bodies = hooks(hook, "/ops")
        assert [alertnames(b) for b in bodies] == [["CpuHot"], ["DiskFull"]]
        assert bodies[1]["status"] == "firing"
        assert subjects(smtp) == ["[FIRING:1] CpuHot", "[FIRING:1] DiskFull"]
        await p.run_for(20, DISK_AND_CPU)
        assert hook.count() == 2 and len(smtp.inbox.envelopes) == 2

    with pipeline(tmp_path, cfg, TWO_RULES, clock=Clock()) as p:
        asyncio.run(scenario(p))


SEVERITY_RULES = """
groups:
  - name: disk
    interval: 10s
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.95
        labels: {severity: critical}
      - alert: DiskAlmostFull
        expr: disk_used_ratio > 0.8
        labels: {severity: warning}
"""


def test_critical_alert_inhibits_the_warning_of_the_same_instance(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer
) -> None:
    inhibit = {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["instance"],
    }
    cfg = config(
        [ops(hook, smtp)],
        {"receiver": "ops", "group_wait": "0s", **TIMERS},
        inhibit_rules=[inhibit],
    )
    disks = [
        gauge("disk_used_ratio", 0.97, instance="a"),  # critical and warning
        gauge("disk_used_ratio", 0.85, instance="b"),  # warning only
    ]

    async def scenario(p: Pipeline) -> None:
        await p.step(5, disks)
        firing = {(a.labels["alertname"], a.labels["instance"]) for a in p.svc.evaluator.alerts()}
        assert firing == {("DiskFull", "a"), ("DiskAlmostFull", "a"), ("DiskAlmostFull", "b")}
        await p.run_for(20, disks)
        sent = {
            (a["labels"]["alertname"], a["labels"]["instance"])
            for body in hooks(hook, "/ops")
            for a in body["alerts"]
        }
        assert sent == {("DiskFull", "a"), ("DiskAlmostFull", "b")}  # not the warning on a
        assert hook.count() == 2
        assert sorted(subjects(smtp)) == ["[FIRING:1] DiskAlmostFull", "[FIRING:1] DiskFull"]
        (warning_mail,) = [m for m in smtp.inbox.messages() if "AlmostFull" in m["Subject"]]
        text, _ = text_and_html(warning_mail)
        assert "instance=b" in text and "instance=a" not in text
        warning_a = next(
            a
            for a in p.svc.dispatcher.alerts()
            if a.name == "DiskAlmostFull" and a.labels["instance"] == "a"
        )
        critical_a = next(a for a in p.svc.dispatcher.alerts() if a.name == "DiskFull")
        muting = p.svc.dispatcher.status(warning_a.labels, round(p.clock.t * 1000))
        assert muting.inhibited_by == (critical_a.fingerprint,)

    with pipeline(tmp_path, cfg, SEVERITY_RULES, clock=Clock()) as p:
        asyncio.run(scenario(p))


def test_unacked_group_escalates_after_its_delay_and_acked_group_never(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer
) -> None:
    boss = {"name": "boss", "webhook": [{"url": f"{hook.url}/boss"}]}
    route = {
        "receiver": "ops",
        "group_wait": "0s",
        **TIMERS,
        "escalation": {"steps": [{"after": "5m", "receiver": "boss"}]},
    }
    cfg = config([ops(hook, smtp), boss], route)

    async def scenario(p: Pipeline) -> None:
        await p.step(5, DISK_AND_CPU)  # both groups fire (and are notified) now
        fired_at = p.clock.t
        bodies = hooks(hook, "/ops")
        assert sorted(n for b in bodies for n in alertnames(b)) == ["CpuHot", "DiskFull"]
        (cpu,) = [b["alerts"][0] for b in bodies if alertnames(b) == ["CpuHot"]]
        await p.run_for(55, DISK_AND_CPU)
        ack = p.svc.acks.ack(cpu["fingerprint"], by="ana", comment="on it")
        assert ack.acked_by == "ana" and ack.comment == "on it"

        await p.run_for(fired_at + 295 - p.clock.t, DISK_AND_CPU)
        assert hooks(hook, "/boss") == []  # 4m55s: not yet
        await p.step(5, DISK_AND_CPU)  # 5m after the group fired
        (escalation,) = hooks(hook, "/boss")
        assert escalation["kind"] == "escalation" and escalation["receiver"] == "boss"
        assert escalation["status"] == "firing"
        assert alertnames(escalation) == ["DiskFull"]  # the acked CpuHot group: never
        assert escalation["ackURL"].startswith(f"{EXTERNAL_URL}/")

        await p.run_for(300, DISK_AND_CPU)  # one step, sent once
        assert len(hooks(hook, "/boss")) == 1
        assert {b["kind"] for b in hooks(hook, "/ops")} == {"notify"}
        assert not any(s.startswith("[ESCALATED]") for s in subjects(smtp))

    with pipeline(tmp_path, cfg, TWO_RULES, clock=Clock()) as p:
        asyncio.run(scenario(p))


def test_resolved_is_sent_once_and_not_to_a_receiver_without_send_resolved(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer
) -> None:
    quiet = {"name": "quiet", "send_resolved": False, "webhook": [{"url": f"{hook.url}/quiet"}]}
    route = {
        "receiver": "ops",
        "group_wait": "0s",
        **TIMERS,
        "routes": [
            {"matchers": ['alertname="DiskFull"'], "receiver": "ops", "continue": True},
            {"matchers": ['alertname="DiskFull"'], "receiver": "quiet"},
        ],
    }
    cfg = config([ops(hook, smtp), quiet], route)
    rules = DISK_RULES.replace("for: 20s", "for: 0s")

    async def scenario(p: Pipeline) -> None:
        full = [gauge("disk_used_ratio", 0.95, mount="/data")]
        await p.step(5, full)
        fired_ms = round(p.clock.t * 1000)
        assert [b["status"] for b in hooks(hook, "/ops")] == ["firing"]
        assert [b["status"] for b in hooks(hook, "/quiet")] == ["firing"]

        await p.step(15, [gauge("disk_used_ratio", 0.5, mount="/data")])  # condition stops
        resolved_ms = round(p.clock.t * 1000)
        await p.run_for(60, [gauge("disk_used_ratio", 0.5, mount="/data")])
        firing, resolved = hooks(hook, "/ops")
        assert resolved["status"] == "resolved" and resolved["kind"] == "notify"
        (alert,) = resolved["alerts"]
        assert alert["status"] == "resolved"
        assert alert["fingerprint"] == firing["alerts"][0]["fingerprint"]
        assert alert["startsAt"] == rfc3339(fired_ms)
        assert alert["endsAt"] == rfc3339(resolved_ms) != ZERO_TIME
        assert subjects(smtp) == ["[FIRING:1] DiskFull", "[RESOLVED] DiskFull"]
        text, _ = text_and_html(smtp.inbox.messages()[1])
        assert "1 resolved" in text and "Ended:" in text
        assert len(hooks(hook, "/quiet")) == 1  # send_resolved: false

        await p.run_for(180, [gauge("disk_used_ratio", 0.5, mount="/data")])
        assert hook.count() == 3 and len(smtp.inbox.envelopes) == 2  # resolved once

    with pipeline(tmp_path, cfg, rules, clock=Clock()) as p:
        asyncio.run(scenario(p))
