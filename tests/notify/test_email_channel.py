"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from edgewatch.alerting.notice import Notice, Notification
from edgewatch.config.notify_channels import EmailConfig
from edgewatch.notify.base import Channel, DeliveryError
from edgewatch.notify.email import EmailChannel

USER, PASSWORD = "alice", "s3cret-pa55word"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it is given, or answers ``reply`` instead."""

    envelopes: list[Envelope] = field(default_factory=list)
    reply: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.reply is not None:
            return self.reply
        self.envelopes.append(envelope)
        return "250 OK"

    def message(self, index: int = 0) -> EmailMessage:
        content = self.envelopes[index].original_content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is also the CA the client trusts)."""
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key_file), "-out", str(cert_file), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert_file, key_file


def _server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert[0], cert[1])
    return context


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def plain_server(inbox: Inbox) -> Iterator[int]:
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(inbox: Inbox, cert: tuple[Path, Path]) -> Iterator[int]:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=_server_context(cert),
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
def implicit_tls_server(inbox: Inbox, cert: tuple[Path, Path]) -> Iterator[int]:
    controller = Controller(
        inbox, hostname="127.0.0.1", port=_free_port(), ssl_context=_server_context(cert)
    )
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def _notification(**labels: str) -> Notification:
    notice = Notice(
        labels={"alertname": "DiskFull", "severity": "critical", **labels},
        annotations={"summary": "Disk / is 95% full"},
        starts_at_ms=1_714_560_000_000,
        value=0.953,
        generator_url="http://device:8700/alerts",
    )
    return Notification(
        receiver="ops",
        group_key='{}:{alertname="DiskFull"}',
        group_labels={"alertname": "DiskFull"},
        alerts=(notice,),
        dedupe_key="ops/abc123/1",
        created_ms=1_714_563_600_000,
        ack_url="http://device:8700/ack?token=t0ken",
    )


def _config(port: int, **options: Any) -> EmailConfig:
    values: dict[str, Any] = {
        "to": ["ops@example.com", "On call <oncall@example.org>"],
        "from": "edgewatch@device.example",
        "smarthost": f"127.0.0.1:{port}",
        "tls": "none",
        "timeout": 5,
    }
    values.update(options)
    return EmailConfig.model_validate(values)


def _send(config: EmailConfig, notification: Notification) -> None:
    asyncio.run(EmailChannel(config).send(notification))


def test_email_is_delivered_with_headers_and_both_parts(plain_server: int, inbox: Inbox) -> None:
    channel = EmailChannel(_config(plain_server))
    assert isinstance(channel, Channel)
    assert channel.describe() == (
        f"email to ops@example.com, oncall@example.org via 127.0.0.1:{plain_server}"
    )

    asyncio.run(channel.send(_notification()))

    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "edgewatch@device.example"
    assert envelope.rcpt_tos == ["ops@example.com", "oncall@example.org"]
    message = inbox.message()
    assert message["Subject"] == "[FIRING:1] DiskFull"
    assert message["X-Edgewatch-Dedupe"] == "ops/abc123/1"
    assert message["Message-ID"].endswith("@device.example>")
    assert message["Date"] == "Wed, 01 May 2024 11:40:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    text_content, html_content = text.get_content(), html.get_content()
    assert "Disk / is 95% full" in text_content
    assert "Acknowledge: http://device:8700/ack?token=t0ken" in text_content
    assert 'href="http://device:8700/ack?token=t0ken"' in html_content
    assert 'href="http://device:8700/alerts"' in html_content
    assert "953m" in html_content


def test_label_values_are_escaped_in_the_html_part(plain_server: int, inbox: Inbox) -> None:
    _send(_config(plain_server), _notification(instance="<b>x</b>"))

    html = inbox.message().get_body(preferencelist=("html",))
    text = inbox.message().get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    assert "instance=&lt;b&gt;x&lt;/b&gt;" in html.get_content()
    assert "<b>x</b>" not in html.get_content()
    assert "instance=<b>x</b>" in text.get_content()


def test_html_false_sends_plain_text_only(plain_server: int, inbox: Inbox) -> None:
    _send(_config(plain_server, html=False), _notification())

    assert inbox.message().get_content_type() == "text/plain"


def test_user_templates_and_inline_subject_replace_the_builtin_ones(
    plain_server: int, inbox: Inbox, tmp_path: Path
) -> None:
    (tmp_path / "email.txt").write_text("{{ alerts|length }} alert(s): {{ alerts[0].name }}\n")
    config = _config(
        plain_server, templates_dir=str(tmp_path), subject="{{ status }} on {{ receiver }}"
    )
    _send(config, _notification())

    message = inbox.message()
    assert message["Subject"] == "firing on ops"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content().strip() == "1 alert(s): DiskFull"


def test_auth_over_starttls_with_a_trusted_ca(
    starttls_server: int, inbox: Inbox, cert: tuple[Path, Path]
) -> None:
    config = _config(
        starttls_server,
        tls="starttls",
        ca_file=str(cert[0]),
        auth_username=USER,
        auth_password=PASSWORD,
    )
    _send(config, _notification())

    assert len(inbox.envelopes) == 1


def test_failed_login_is_permanent_and_hides_the_password(
    starttls_server: int, inbox: Inbox, cert: tuple[Path, Path]
) -> None:
    config = _config(
        starttls_server,
        tls="starttls",
        ca_file=str(cert[0]),
        auth_username=USER,
        auth_password="wrong-password-123",
    )
    with pytest.raises(DeliveryError) as caught:
        _send(config, _notification())

    assert caught.value.permanent
    assert "535" in str(caught.value)
    assert "wrong-password-123" not in str(caught.value)
    assert inbox.envelopes == []


def test_an_untrusted_certificate_is_a_permanent_failure(starttls_server: int) -> None:
    config = _config(starttls_server, tls="starttls", auth_username=USER, auth_password=PASSWORD)
    with pytest.raises(DeliveryError, match="certificate not trusted") as caught:
        _send(config, _notification())

    assert caught.value.permanent


def test_starttls_required_but_not_offered_is_permanent(plain_server: int, inbox: Inbox) -> None:
    with pytest.raises(DeliveryError, match="does not offer STARTTLS") as caught:
        _send(_config(plain_server, tls="starttls"), _notification())

    assert caught.value.permanent
    assert inbox.envelopes == []


def test_implicit_tls(implicit_tls_server: int, inbox: Inbox, cert: tuple[Path, Path]) -> None:
    _send(_config(implicit_tls_server, tls="tls", ca_file=str(cert[0])), _notification())

    assert len(inbox.envelopes) == 1


def test_a_server_that_is_down_is_retryable() -> None:
    with pytest.raises(DeliveryError) as caught:
        _send(_config(_free_port()), _notification())

    assert not caught.value.permanent
    assert "refused" in str(caught.value).lower()


def test_a_4xx_reply_is_retryable(plain_server: int, inbox: Inbox) -> None:
    inbox.reply = "451 4.3.0 Mail server temporarily rejected message"
    with pytest.raises(DeliveryError) as caught:
        _send(_config(plain_server), _notification())

    assert not caught.value.permanent
    assert "451" in str(caught.value)
    assert "temporarily rejected" in str(caught.value)


def test_a_5xx_reply_is_permanent(plain_server: int, inbox: Inbox) -> None:
    inbox.reply = "550 5.7.1 Message rejected as spam"
    with pytest.raises(DeliveryError) as caught:
        _send(_config(plain_server), _notification())

    assert caught.value.permanent
    assert "550 5.7.1 Message rejected as spam" in str(caught.value)


def test_config_refuses_bad_addresses_and_smarthosts() -> None:
    with pytest.raises(ValueError, match="not an email address"):
        _config(25, to=["not-an-address"])
    with pytest.raises(ValueError, match="not a smarthost"):
        EmailConfig.model_validate(
            {"to": ["a@b.c"], "from": "x@y.z", "smarthost": "smtp.example.com"}
        )
    with pytest.raises(ValueError, match="without auth_password"):
        _config(25, auth_username=USER)
    with pytest.raises(ValueError, match="template syntax error on line 1"):
        _config(25, subject="{{ status ")


def test_auth_without_tls_works_when_explicit_and_warns_once(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        channel = EmailChannel(_config(controller.port, auth_username=USER, auth_password=PASSWORD))
        with caplog.at_level(logging.WARNING, logger="edgewatch.notify.email"):
            asyncio.run(channel.send(_notification()))
            asyncio.run(channel.send(_notification()))
    finally:
        controller.stop()

    assert len(inbox.envelopes) == 2
    warnings = [r for r in caplog.records if "unencrypted" in r.getMessage()]
    assert len(warnings) == 1
    assert PASSWORD not in caplog.text
