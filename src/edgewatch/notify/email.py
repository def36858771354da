"""Email over SMTP: a multipart (plain text + HTML) message per notification.

smtplib blocks, so delivery runs in a thread. Failures are classified at the
edge: a 4xx reply, a refused or timed-out connection, a dropped session are
retried; a 5xx reply (a refused address, failed login), a certificate that does
not verify, or a server without STARTTLS when it is required are permanent.
Error strings carry the SMTP code and text, never the password.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from edgewatch.alerting.notice import Notification
from edgewatch.config.notify_channels import EmailConfig, address_of
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.render import MessageRenderer

log = logging.getLogger(__name__)

_MAX_SUBJECT = 200
_RETRYABLE_CODES = range(400, 500)


class EmailChannel:
    """Sends each notification as one email to ``config.to``."""

    def __init__(self, config: EmailConfig, *, renderer: MessageRenderer | None = None) -> None:
        self.config = config
        self.renderer = renderer or MessageRenderer(config.templates_dir)
        self._warned_plaintext_auth = False

    def describe(self) -> str:
        recipients = ", ".join(address_of(a) for a in self.config.to)
        return f"email to {recipients} via {self.config.smarthost}"

    async def send(self, notification: Notification) -> None:
        message = self.build_message(notification)
        await asyncio.to_thread(self._deliver, message)

    def build_message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification``: headers, a text part and (by default) an HTML part."""
        config = self.config
        if config.subject is not None:
            subject = self.renderer.render_string(
                config.subject, notification, fallback="email_subject.txt"
            )
        else:
            subject = self.renderer.render("email_subject.txt", notification)
        message = EmailMessage()
        message["Subject"] = _one_line(subject)
        message["From"] = config.from_
        message["To"] = ", ".join(config.to)
        message["Date"] = format_datetime(
            datetime.fromtimestamp(notification.created_ms / 1000, tz=UTC)
        )
        message["Message-ID"] = _message_id(notification.dedupe_key, config.from_)
        message["X-Edgewatch-Dedupe"] = notification.dedupe_key
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.renderer.render("email.txt", notification))
        if config.html:
            message.add_alternative(
                self.renderer.render("email.html", notification), subtype="html"
            )
        return message

    # --- the blocking part, in a thread -----------------------------------------

    def _deliver(self, message: EmailMessage) -> None:
        config = self.config
        where = f"smtp {config.smarthost}"
        try:
            self._session(message)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as err:
            codes = {code for code, _ in err.recipients.values()}
            detail = "; ".join(
                f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in err.recipients.items()
            )
            permanent = not all(code in _RETRYABLE_CODES for code in codes)
            raise DeliveryError(
                f"{where}: recipients refused: {detail}", permanent=permanent
            ) from None
        except smtplib.SMTPNotSupportedError as err:
            raise DeliveryError(f"{where}: {err}", permanent=True) from None
        except smtplib.SMTPResponseException as err:
            permanent = err.smtp_code >= 500
            raise DeliveryError(
                f"{where}: {err.smtp_code} {_text(err.smtp_error)}", permanent=permanent
            ) from None
        except ssl.SSLCertVerificationError as err:
            raise DeliveryError(
                f"{where}: TLS certificate not trusted: {err.verify_message}"
                " (set ca_file to trust a private CA)",
                permanent=True,
            ) from None
        except smtplib.SMTPServerDisconnected as err:
            raise DeliveryError(f"{where}: server disconnected: {err}") from None
        except smtplib.SMTPException as err:
            raise DeliveryError(f"{where}: {type(err).__name__}: {err}") from None
        except TimeoutError:
            raise DeliveryError(f"{where}: timed out after {config.timeout:g}s") from None
        except OSError as err:
            reason = err.strerror or str(err) or type(err).__name__
            raise DeliveryError(f"{where}: {reason}") from None

    def _session(self, message: EmailMessage) -> None:
        config = self.config
        context = ssl.create_default_context(
            cafile=str(config.ca_file) if config.ca_file is not None else None
        )
        smtp: smtplib.SMTP
        if config.tls == "tls":
            smtp = smtplib.SMTP_SSL(
                config.host,
                config.port,
                local_hostname=config.hello,
                timeout=config.timeout,
                context=context,
            )
        else:
            smtp = smtplib.SMTP(
                config.host, config.port, local_hostname=config.hello, timeout=config.timeout
            )
        with smtp:
            smtp.ehlo()
            if config.tls == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"smtp {config.smarthost}: the server does not offer STARTTLS; "
                        "set tls: tls for implicit TLS (port 465), or tls: none to send "
                        "unencrypted",
                        permanent=True,
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.auth_username and config.auth_password is not None:
                if config.tls == "none":
                    self._warn_plaintext_auth()
                smtp.login(config.auth_username, config.auth_password.get_secret_value())
            refused = smtp.send_message(
                message,
                from_addr=address_of(config.from_),
                to_addrs=[address_of(a) for a in config.to],
            )
        if refused:
            log.warning(
                "%s: delivered, but some recipients were refused: %s",
                self.describe(),
                "; ".join(f"{r}: {c} {_text(t)}" for r, (c, t) in refused.items()),
            )

    def _warn_plaintext_auth(self) -> None:
        if not self._warned_plaintext_auth:
            self._warned_plaintext_auth = True
            log.warning(
                "%s: logging in as %s over an unencrypted connection (tls: none); "
                "the password can be read on the network",
                self.describe(),
                self.config.auth_username,
            )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_SUBJECT else line[: _MAX_SUBJECT - 1] + "…"


def _message_id(dedupe_key: str, sender: str) -> str:
    """The same id for the same notification, so a retry is recognisably the same email."""
    domain = address_of(sender).rpartition("@")[2] or "edgewatch.invalid"
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return re.sub(r"\s+", " ", text).strip()
