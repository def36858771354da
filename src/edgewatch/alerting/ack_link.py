"""Signed acknowledgement links for notifications.

``AckLinks.url(group_key, fingerprints)`` gives
``{external_url}/api/alerts/ack?t=TOKEN``; the token is
``base64url(payload) "." base64url(HMAC-SHA256)``, the payload a compact JSON
object with the alerts' fingerprints, the expiry (unix seconds) and a short hash
of the notification group. Whoever holds the link may acknowledge those alerts
until it expires (7 days by default) and nothing else: the link is the
credential, as in an on-call tool's e-mail.

The signing key is derived from the secret given (the agent passes the session
key of ``data_dir/session.key``, see ``edgewatch.web.sessions``) with a label of
its own, so a link can never pass for a session cookie or the reverse. Removing
``session.key`` ends every session and invalidates every link sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import time
from collections.abc import Callable, Sequence

ACK_PATH = "/api/alerts/ack"
DEFAULT_TTL_S = 7 * 86_400
MAX_TOKEN = 8192
MAX_FINGERPRINTS = 500
_KEY_LABEL = b"edgewatch ack links v1"


class BadAckLink(ValueError):
    """A token that is malformed, forged or expired; the message says which."""


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AckLinks:
    """Issues and checks the signed links of one agent."""

    def __init__(
        self,
        secret: bytes,
        external_url: str,
        *,
        clock: Callable[[], float] = time.time,
        ttl_s: float = DEFAULT_TTL_S,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the ack link secret needs at least 16 bytes")
        self._key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()
        self.external_url = external_url.rstrip("/")
        self._clock = clock
        self.ttl_s = ttl_s

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()

    def token(self, group_key: str, fingerprints: Sequence[str]) -> str:
        """The token alone (what ``url`` puts after ``?t=``)."""
        if not fingerprints:
            raise ValueError("an ack link needs at least one alert")
        group = hashlib.sha256(group_key.encode("utf-8")).hexdigest()[:12]
        payload = {
            "f": sorted(set(fingerprints)),
            "e": int(self._clock() + self.ttl_s),
            "g": group,
        }
        body = _b64e(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{_b64e(self._sign(body))}"

    def url(self, group_key: str, fingerprints: Sequence[str]) -> str:
        """The link to acknowledge ``fingerprints`` (the alerts of one notification)."""
        return f"{self.external_url}{ACK_PATH}?t={self.token(group_key, fingerprints)}"

    def verify(self, token: str) -> list[str]:
        """The fingerprints ``token`` acknowledges; raises BadAckLink."""
        token = token.strip()
        if not token or len(token) > MAX_TOKEN or token.count(".") != 1:
            raise BadAckLink("malformed acknowledgement link")
        body, signature = token.split(".")
        try:
            given = _b64d(signature)
            body_ascii = body.encode("ascii")
        except (binascii.Error, ValueError):
            raise BadAckLink("malformed acknowledgement link") from None
        expected = hmac.new(self._key, body_ascii, hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            raise BadAckLink("the acknowledgement link's signature is not valid")
        try:
            data = json.loads(_b64d(body))
            expires = data["e"]
            fingerprints = data["f"]
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise BadAckLink("malformed acknowledgement link") from None
        if not isinstance(expires, int) or not isinstance(fingerprints, list):
            raise BadAckLink("malformed acknowledgement link")
        if not fingerprints or len(fingerprints) > MAX_FINGERPRINTS:
            raise BadAckLink("malformed acknowledgement link")
        if not all(isinstance(f, str) and f.isalnum() and len(f) <= 64 for f in fingerprints):
            raise BadAckLink("malformed acknowledgement link")
        if expires <= self._clock():
            raise BadAckLink("the acknowledgement link has expired")
        return list(fingerprints)


# -- the landing page of a link (HTML, escaped; the router serves it) ---------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgewatch: {title}</title>
<style>body{{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}}
input,button{{font-size:1rem;margin:.25rem 0;padding:.4rem;width:100%}}</style>
</head><body><h1>{title}</h1>{content}</body></html>
"""
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to another site
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def page(title: str, content_html: str) -> str:
    return _PAGE.format(title=html.escape(title), content=content_html)


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def confirm_form(token: str, fingerprints: Sequence[str]) -> str:
    """The confirmation form: a GET never acknowledges (mail scanners follow links),
    this form POSTs the token back with an optional name and comment."""
    items = "".join(f"<li><code>{html.escape(f)}</code></li>" for f in fingerprints)
    return (
        f"<p>Acknowledge these {len(fingerprints)} alerts? Their escalation stops until "
        f"they resolve.</p><ul>{items}</ul>"
        '<form method="post" action="ack">'
        f'<input type="hidden" name="t" value="{html.escape(token, quote=True)}">'
        '<label>Your name <input name="name" maxlength="64"></label>'
        '<label>Comment <input name="comment" maxlength="500"></label>'
        "<button type=submit>Acknowledge</button></form>"
    )
