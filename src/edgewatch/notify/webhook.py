"""The webhook channel: POST the Alertmanager-webhook JSON, optionally signed.

Also the HTTP failure classification the Alertmanager channel shares:
unreachable, timed out, 5xx and 429 are retried; any other 4xx is permanent.
Messages name only ``scheme://host:port/path`` of a URL, never its
credentials or query string.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from edgewatch import __version__
from edgewatch.alerting.notice import Notification
from edgewatch.config.notify import WebhookConfig
from edgewatch.notify.base import DeliveryError
from edgewatch.notify.payload import encode, webhook_payload

if TYPE_CHECKING:  # imported by the first request: not at the agent's start
    import httpx

SIGNATURE_HEADER = "X-Edgewatch-Signature"
USER_AGENT = f"edgewatch/{__version__}"
_BODY_CHARS = 200


def redact_url(url: str) -> str:
    """``scheme://host[:port]/first/…``: no user, password, query or fragment, and
    of the path only its first segment.

    For Slack, Discord, Teams or Mattermost incoming webhooks the rest of the path
    *is* the credential, and these strings reach logs and the API."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    first, _, rest = parts.path.lstrip("/").partition("/")
    path = f"/{first}/…" if rest else (f"/{first}" if first else parts.path)
    return f"{parts.scheme}://{netloc}{path}"


def _scrub(text: str, url: str) -> str:
    """``text`` with the URL's secret-bearing parts replaced by the redacted form."""
    parts = urlsplit(url)
    text = text.replace(url, redact_url(url))
    for secret in (parts.password, parts.query, parts.username):
        if secret:
            text = text.replace(secret, "***")
    return text


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of body>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def check_response(response: httpx.Response, url: str) -> None:
    """Raise ``DeliveryError`` unless ``response`` is a 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = " ".join(response.text[:_BODY_CHARS].split())
    where = redact_url(url)
    message = f"{where} answered {status} {response.reason_phrase}"
    if body:
        message = f"{message}: {_scrub(body, url)}"
    retryable = status >= 500 or status in (408, 429)
    raise DeliveryError(message, permanent=not retryable)


def transport_error(exc: httpx.HTTPError, url: str) -> DeliveryError:
    """A retryable ``DeliveryError`` for a connection failure or timeout; an
    invalid URL or protocol is permanent."""
    import httpx

    where = redact_url(url)
    detail = _scrub(str(exc), url) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError(f"{where}: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return DeliveryError(f"{where}: {detail}", permanent=True)
    return DeliveryError(f"{where}: {type(exc).__name__}: {detail}")


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> httpx.Response:
    """POST ``body``; transport failures become ``DeliveryError``."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            return await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise transport_error(exc, url) from None
    except ValueError as exc:  # httpx rejects some malformed URLs with ValueError
        raise DeliveryError(f"{redact_url(url)}: {_scrub(str(exc), url)}", permanent=True) from None


class WebhookChannel:
    """POSTs each notification's JSON to ``config.url``."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    def describe(self) -> str:
        return f"webhook {redact_url(self.config.url)}"

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        headers["Content-Type"] = "application/json"
        headers.setdefault("User-Agent", USER_AGENT)
        if self.config.hmac_secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.config.hmac_secret.get_secret_value(), body)
        return headers

    async def send(self, notification: Notification) -> None:
        body = encode(webhook_payload(notification))
        response = await post(self.config.url, body, self.headers(body), self.config.timeout)
        check_response(response, self.config.url)
