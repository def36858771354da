"""The ``email:`` and ``apprise:`` integrations of a receiver.

A receiver (``edgewatch.config.notify``) holds lists of these; each entry
becomes one channel (``edgewatch.notify.email``, ``edgewatch.notify.apprise_channel``).
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from edgewatch.config.secret import Secret
from edgewatch.config.section import Section
from edgewatch.config.units import Duration

TlsMode = Literal["starttls", "tls", "none"]

_ADDRESS_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SMARTHOST_HINT = "use HOST:PORT, e.g. smtp.example.com:587, [::1]:25"


def check_address(value: str) -> str:
    """An email address, bare (``ops@example.com``) or with a name (``Ops <ops@example.com>``)."""
    if "\r" in value or "\n" in value:
        raise ValueError("an email address must be on one line")
    _, address = parseaddr(value)
    if not _ADDRESS_RE.match(address):
        raise ValueError(
            f"{value!r} is not an email address; use e.g. ops@example.com "
            "or 'Ops <ops@example.com>'"
        )
    return value


def address_of(value: str) -> str:
    """The bare address of ``value`` (``Ops <ops@x>`` -> ``ops@x``), for the SMTP envelope."""
    return parseaddr(value)[1]


def parse_smarthost(value: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); IPv6 hosts in brackets."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{value!r} is not a smarthost; {_SMARTHOST_HINT}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} in {value!r} is out of range 1..65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() or c in "/@[]" for c in host):
        raise ValueError(f"{value!r} is not a smarthost; {_SMARTHOST_HINT}")
    return host, port


def _check_smarthost(value: str) -> str:
    parse_smarthost(value)
    return value


def url_scheme(url: str) -> str:
    """The scheme of an Apprise URL (``tgram`` of ``tgram://token/chat``); ``?`` when none."""
    match = _SCHEME_RE.match(url)
    return match.group(1).lower() if match else "?"


def check_template(value: str | None) -> str | None:
    """A Jinja2 template, checked to parse (its syntax error names the line)."""
    if value is None:
        return None
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment().parse(value)
    except TemplateSyntaxError as err:
        raise ValueError(f"template syntax error on line {err.lineno}: {err.message}") from None
    return value


EmailAddress = Annotated[str, AfterValidator(check_address)]
Smarthost = Annotated[str, AfterValidator(_check_smarthost)]
Template = Annotated[str | None, AfterValidator(check_template)]


class EmailConfig(Section):
    """Email over SMTP to one list of addresses."""

    model_config = ConfigDict(populate_by_name=True)

    to: list[EmailAddress] = Field(
        min_length=1, description="Recipients, e.g. [ops@example.com, 'On call <oncall@x.org>']."
    )
    from_: EmailAddress = Field(
        alias="from", description="Sender address (From: and the SMTP envelope sender)."
    )
    smarthost: Smarthost = Field(
        description="The SMTP server as HOST:PORT: 587 for STARTTLS, 465 for implicit TLS "
        "(tls: tls), 25 for a local relay."
    )
    tls: TlsMode = Field(
        default="starttls",
        description="starttls (upgrade a plain connection; refused if the server does not "
        "offer it), tls (implicit TLS from the first byte, port 465) or none (unencrypted, "
        "for a relay on the device or the LAN).",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of CA certificates to trust instead of the system's "
        "(a relay with a private CA or a self-signed certificate).",
    )
    auth_username: str | None = Field(
        default=None, description="Log in (SMTP AUTH) as this user; none: send without login."
    )
    auth_password: Secret | None = Field(
        default=None, description="The SMTP password; give it as ${ENV_VAR} (or ENV_VAR_FILE)."
    )
    hello: str | None = Field(
        default=None, description="Host name sent in EHLO; default: this machine's FQDN."
    )
    timeout: Duration = Field(
        default=10.0, gt=0, description="Limit for each network step (connect, TLS, each reply)."
    )
    subject: Template = Field(
        default=None,
        description="Subject template (Jinja2, one line); default: the built-in email_subject.txt.",
    )
    html: bool = Field(default=True, description="Send an HTML part beside the plain-text one.")
    templates_dir: Path | None = Field(
        default=None,
        description="Folder of templates (email_subject.txt, email.txt, email.html) that "
        "replace the built-in ones of the same name.",
    )

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailConfig:
        if self.auth_password is not None and not self.auth_username:
            raise ValueError("auth_password is set without auth_username")
        if self.auth_username and self.auth_password is None:
            raise ValueError(f"auth_username {self.auth_username!r} is set without auth_password")
        return self

    @property
    def host(self) -> str:
        return parse_smarthost(self.smarthost)[0]

    @property
    def port(self) -> int:
        return parse_smarthost(self.smarthost)[1]


class AppriseConfig(Section):
    """Notifications through Apprise URLs (Slack, Telegram, Discord, ntfy, Pushover, ...)."""

    # The URLs hold tokens: a validation error must not repeat them.
    model_config = ConfigDict(hide_input_in_errors=True)

    urls: list[Secret] = Field(
        min_length=1,
        description="Apprise URLs, e.g. tgram://BOT_TOKEN/CHAT_ID; they hold tokens, so give "
        "them as ${ENV_VAR}. Only their scheme is ever logged.",
    )
    title: Template = Field(
        default=None, description="Title template (Jinja2); default: built-in apprise_title.txt."
    )
    body: Template = Field(
        default=None, description="Body template (Jinja2); default: built-in apprise_body.txt."
    )

    @field_validator("urls")
    @classmethod
    def _have_schemes(cls, urls: list[Secret]) -> list[Secret]:
        for index, url in enumerate(urls):
            if url_scheme(url.get_secret_value()) == "?":
                raise ValueError(
                    f"URL #{index + 1} has no scheme; write e.g. tgram://TOKEN/CHAT_ID "
                    "or ntfy://topic"
                )
        return urls

    def schemes(self) -> list[str]:
        """The URLs' schemes, in order: what may be shown of them."""
        return [url_scheme(url.get_secret_value()) for url in self.urls]
