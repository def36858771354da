"""The whole alerting pipeline in-process, driven by a fake clock.

A real store in tmp_path, the real query engine, rule groups from YAML, the
``AlertingService`` (evaluator → dispatcher → outbox → channels) and real
receivers on 127.0.0.1: an HTTP webhook receiver (``webhook_receiver``) and an
SMTP server (aiosmtpd). ``Pipeline.step`` moves the clock, writes samples at the
new time, evaluates every group, ticks the dispatcher and delivers what is due:
one turn of what ``AlertingService.run`` does on its own, without sleeping.
"""

from __future__ import annotations

import email
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from edgewatch.alerting.evaluator import LoadedGroup
from edgewatch.alerting.notice import Notification
from edgewatch.alerting.rules import parse_rule_file
from edgewatch.alerting.service import AlertingService
from edgewatch.config import Config
from edgewatch.model import Sample, SeriesKey
from edgewatch.query import Engine
from edgewatch.store import Store, StoreOptions
from notify.webhook_receiver import Receiver, free_port

T0_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
EXTERNAL_URL = "http://shop-12.local:9100"
SENDER = "edgewatch@shop-12.example"
OPS_MAIL = "ops@example.com"


class Clock:
    """The injected clock: a float the test moves forward."""

    def __init__(self, t: float = T0_S) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# ------------------------------------------------------------------ SMTP


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        out = []
        for envelope in list(self.envelopes):
            content = envelope.original_content
            assert isinstance(content, bytes)
            parsed = email.message_from_bytes(content, policy=default_policy)
            assert isinstance(parsed, EmailMessage)
            out.append(parsed)
        return out


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started again on
    the same port; the inbox survives restarts."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        assert self._controller is None
        controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and the HTML part of ``message``."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return str(text.get_content()), str(html.get_content())


# --------------------------------------------------------------- config


def email_config(smtp_port: int) -> dict[str, Any]:
    return {
        "to": [OPS_MAIL],
        "from": SENDER,
        "smarthost": f"127.0.0.1:{smtp_port}",
        "tls": "none",
        "timeout": 5,
    }


def config(
    receivers: Sequence[Mapping[str, Any]],
    route: Mapping[str, Any],
    *,
    inhibit_rules: Sequence[Mapping[str, Any]] = (),
    backoff_initial: str = "30s",
) -> Config:
    return Config.model_validate(
        {
            "alerting": {"default_rules": False, "external_url": EXTERNAL_URL},
            "receivers": list(receivers),
            "route": dict(route),
            "inhibit_rules": list(inhibit_rules),
            "notify": {"outbox": {"backoff_initial": backoff_initial, "backoff_max": "5m"}},
        }
    )


def gauge(name: str, value: float, **labels: str) -> Sample:
    return Sample(SeriesKey.of(name, labels), value)


# ------------------------------------------------------------- pipeline


class Pipeline:
    """Store + engine + ``AlertingService`` over a fake clock."""

    def __init__(self, tmp_path: Path, cfg: Config, rules: str, *, clock: Clock) -> None:
        self.clock = clock
        self.store = Store.open(tmp_path / "edgewatch.db", StoreOptions(), clock=clock)
        self.store.start()
        groups = [
            LoadedGroup("rules.yml", g) for g in parse_rule_file(rules, file="rules.yml").groups
        ]
        self.service: AlertingService | None = None
        try:
            self.service = AlertingService(
                cfg,
                groups,
                db_path=self.store.path,
                engine=Engine(self.store),
                sink=self.store.append,
                clock=clock,
                ack_secret=b"e2e-secret-" * 3,
            )
        except BaseException:
            self.store.close()
            raise

    @property
    def svc(self) -> AlertingService:
        assert self.service is not None
        return self.service

    async def step(self, seconds: float, samples: Sequence[Sample] = ()) -> list[Notification]:
        """``seconds`` later: write ``samples``, evaluate, dispatch, deliver; what the
        dispatcher put into the outbox."""
        self.clock.t += seconds
        if samples:
            self.store.append(round(self.clock.t * 1000), samples)
        for group in self.svc.evaluator.groups:
            await self.svc.evaluate(group)
        due = await self.svc.flush()
        await self.svc.outbox.deliver_due()
        return due

    async def run_for(
        self, seconds: float, samples: Sequence[Sample] = (), *, every: float = 5.0
    ) -> list[Notification]:
        """``step`` every ``every`` seconds for ``seconds``, the same samples each time."""
        out: list[Notification] = []
        for _ in range(round(seconds / every)):
            out += await self.step(every, samples)
        return out

    def close(self) -> None:
        try:
            if self.service is not None:
                self.service.close()
        finally:
            self.store.close()


@contextmanager
def pipeline(tmp_path: Path, cfg: Config, rules: str, *, clock: Clock) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path, cfg, rules, clock=clock)
    try:
        yield p
    finally:
        p.close()


def hooks(receiver: Receiver, path: str) -> list[dict[str, Any]]:
    """The JSON bodies the webhook receiver got on ``path``, in order."""
    out = []
    for request in list(receiver.requests):
        if request.path == path:
            body = request.json()
            assert isinstance(body, dict)
            out.append(body)
    return out
