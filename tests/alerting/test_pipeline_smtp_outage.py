"""Faults on the way out: the SMTP server is stopped during a firing alert and
restarted, and the email arrives once; a notification the outbox could not take
is not lost. The whole pipeline in-process (real store, rules, dispatcher,
outbox, a real aiosmtpd server and webhook receiver on 127.0.0.1), driven by a
fake clock."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    Clock,
    Pipeline,
    SmtpServer,
    config,
    email_config,
    gauge,
    hooks,
    pipeline,
    smtp_server,
)

from edgewatch.notify.outbox import ItemState
from notify.webhook_receiver import Receiver

RULES = """
groups:
  - name: disk
    interval: 10s
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.9
        for: 10s
        labels: {severity: critical}
        annotations: {summary: "disk {{ $labels.mount }} is full"}
"""
FULL = [gauge("disk_used_ratio", 0.97, mount="/data")]
BACKOFF_S = 20
ROUTE = {
    "receiver": "ops",
    "group_by": ["alertname"],
    "group_wait": "0s",
    "group_interval": "30s",
    "repeat_interval": "1h",
}


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def ops(hook: Receiver, smtp: SmtpServer) -> dict[str, Any]:
    return {
        "name": "ops",
        "webhook": [{"url": f"{hook.url}/ops"}],
        "email": [email_config(smtp.port)],
    }


def test_email_sent_while_smtp_is_down_arrives_once_after_restart(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer
) -> None:
    cfg = config([ops(hook, smtp)], ROUTE, backoff_initial=f"{BACKOFF_S}s")

    async def scenario(p: Pipeline) -> None:
        outbox = p.svc.outbox
        await p.step(0, FULL)  # pending
        smtp.stop()  # the mail server goes away while the alert is pending
        (sent,) = await p.step(10, FULL)  # firing: sent to both channels
        assert len(hooks(hook, "/ops")) == 1  # the webhook is not held up
        assert smtp.inbox.envelopes == []
        (failed,) = [a for a in outbox.attempts() if not a.ok]
        assert "Connection refused" in failed.error
        (mail,) = [i for i in outbox.items() if i.channel_desc.startswith("email")]
        assert mail.state is ItemState.PENDING and mail.attempts == 1
        assert mail.dedupe_key == sent.dedupe_key

        await p.run_for(2 * BACKOFF_S, FULL)  # retried (and failed) while down
        failures = [a for a in outbox.attempts() if not a.ok]
        assert len(failures) >= 2
        assert smtp.inbox.envelopes == []

        smtp.start()  # the same port again
        await p.run_for(6 * BACKOFF_S, FULL)  # past the longest backoff so far
        (message,) = smtp.inbox.messages()
        assert message["Subject"] == "[FIRING:1] DiskFull"
        assert message["X-Edgewatch-Dedupe"] == sent.dedupe_key
        (mail,) = [i for i in outbox.items() if i.channel_desc.startswith("email")]
        assert mail.state is ItemState.DELIVERED
        assert mail.attempts == len(failures) + 1
        assert sum(a.ok for a in outbox.attempts()) == 2  # the webhook's and the email's

        # Nothing is sent twice: more deliveries and dispatcher ticks send nothing.
        assert await p.run_for(120, FULL) == []
        assert await outbox.deliver_due() == 0
        assert len(smtp.inbox.envelopes) == 1 and len(hooks(hook, "/ops")) == 1

    with pipeline(tmp_path, cfg, RULES, clock=Clock()) as p:
        asyncio.run(scenario(p))


def refuse(notification: object) -> bool:
    raise sqlite3.OperationalError("database is locked")


def test_notification_the_outbox_refused_is_sent_after_a_restart(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher records a message as sent only once the outbox took it:
    an enqueue that fails (and the process dies) loses nothing."""
    cfg = config([ops(hook, smtp)], ROUTE)
    clock = Clock()

    async def crash(p: Pipeline) -> None:
        monkeypatch.setattr(p.svc.outbox, "enqueue", refuse)
        with pytest.raises(sqlite3.OperationalError):
            await p.step(10, FULL)  # firing at once (for: 10s, pending since start)

    async def restart(p: Pipeline) -> None:
        (sent,) = await p.step(5, FULL)
        assert sent.dedupe_key.endswith("/notify/0")
        assert len(hooks(hook, "/ops")) == 1 and len(smtp.inbox.envelopes) == 1

    with pipeline(tmp_path, cfg, RULES, clock=clock) as p:
        asyncio.run(p.step(0, FULL))  # pending
        asyncio.run(crash(p))
    assert hook.count() == 0
    with pipeline(tmp_path, cfg, RULES, clock=clock) as p:
        asyncio.run(restart(p))


def test_running_service_keeps_dispatching_after_a_failed_flush(
    tmp_path: Path,
    hook: Receiver,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``run()``: a dispatcher tick that raises is logged, and the next one sends."""
    cfg = config([ops(hook, smtp)], ROUTE)

    async def scenario(p: Pipeline) -> None:
        await p.step(0, FULL)
        p.store.append(round((p.clock.t + 10) * 1000), FULL)
        p.clock.t += 10
        await p.svc.evaluate(p.svc.evaluator.groups[0])  # firing; not flushed yet
        real_tick = p.svc.dispatcher.tick
        calls = 0

        def tick(now_ms: int, deliver: Any = None) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise sqlite3.OperationalError("database is locked")
            return real_tick(now_ms, deliver)

        monkeypatch.setattr(p.svc.dispatcher, "tick", tick)
        task = asyncio.create_task(p.svc.run())
        try:
            for _ in range(200):  # bounded: 20 s at most
                if hook.count() and smtp.inbox.envelopes:
                    break
                await asyncio.sleep(0.1)
        finally:
            p.svc.stop()
            await asyncio.wait_for(task, 30)
        assert calls >= 2
        assert len(hooks(hook, "/ops")) == 1 and len(smtp.inbox.envelopes) == 1
        failed = [r for r in caplog.records if "alert dispatch failed" in r.getMessage()]
        assert len(failed) == 1 and failed[0].levelno == logging.ERROR

    with pipeline(tmp_path, cfg, RULES, clock=Clock()) as p:
        asyncio.run(scenario(p))


def test_notification_the_outbox_refused_is_sent_at_the_next_tick(
    tmp_path: Path, hook: Receiver, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running agent keeps what the outbox refused (a locked file) and enqueues it
    at the next tick, once."""
    cfg = config([ops(hook, smtp)], ROUTE)

    async def scenario(p: Pipeline) -> None:
        await p.step(0, FULL)  # pending
        with monkeypatch.context() as patch:
            patch.setattr(p.svc.outbox, "enqueue", refuse)
            with pytest.raises(sqlite3.OperationalError):
                await p.step(10, FULL)  # firing; the outbox refuses
        assert hook.count() == 0
        await p.step(1, FULL)  # the backlog goes first
        assert len(hooks(hook, "/ops")) == 1 and len(smtp.inbox.envelopes) == 1
        await p.run_for(60, FULL)
        assert len(hooks(hook, "/ops")) == 1 and len(smtp.inbox.envelopes) == 1

    with pipeline(tmp_path, cfg, RULES, clock=Clock()) as p:
        asyncio.run(scenario(p))
