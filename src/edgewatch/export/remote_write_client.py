"""POSTing one remote_write body, and what the answer means for the batch.

- 2xx: accepted.
- 429, 5xx, 408, connection failures and timeouts: ``retry`` (the same batch,
  after a backoff; a 429's ``Retry-After`` is honoured).
- 400 and 422: ``rejected``: the receiver refuses the data itself (Prometheus'
  "out of order sample", a bad label); the sender splits the batch to find the
  series at fault and drops only those.
- 413: ``too_large``: the sender splits the batch and sends the halves.
- anything else (a 3xx redirect, 401, 403, 404, 405, ...): ``needs_user``: the
  endpoint, the path or the credentials are wrong (a rotated token, http moved to
  https). Sending again unchanged cannot help, but the data is fine: it waits in
  the store and the batch is retried every ``backoff_max`` until someone fixes it.

Messages name only ``scheme://host:port/path`` of the URL, never credentials;
the endpoint's ``headers`` are sent with every request and never logged.
"""

from __future__ import annotations

import enum
import ssl
from typing import NamedTuple

import httpx

from edgewatch import __version__
from edgewatch.config.remote_write import RemoteWriteEndpoint
from edgewatch.notify.webhook import redact_url

USER_AGENT = f"edgewatch/{__version__}"
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "User-Agent": USER_AGENT,
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
_BODY_CHARS = 200


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    RETRY = "retry"  # may pass by itself: back off and send again
    REJECTED = "rejected"  # bad data: split, drop only the series at fault
    TOO_LARGE = "too_large"  # split and send the halves
    NEEDS_USER = "needs_user"  # wrong URL, path or credentials: keep the data, retry slowly


BAD_DATA = frozenset({400, 422})


class Answer(NamedTuple):
    outcome: Outcome
    status: int | None  # None: no HTTP answer (connection failure, timeout)
    detail: str  # for logs: status and body excerpt, or the transport error
    retry_after: float | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None  # absent, or an HTTP date: the backoff decides
    return seconds if seconds >= 0 else None


def classify(response: httpx.Response, where: str) -> Answer:
    status = response.status_code
    if 200 <= status < 300:
        return Answer(Outcome.ACCEPTED, status, "")
    body = " ".join(response.text[:_BODY_CHARS].split())
    detail = f"{where} answered {status} {response.reason_phrase}"
    if 300 <= status < 400 and "Location" in response.headers:
        target = str(response.url.join(response.headers["Location"]))  # may be relative
        detail += f" (redirects to {redact_url(target)})"
    detail += f": {body}" if body else ""
    if status >= 500 or status in (408, 429):
        return Answer(Outcome.RETRY, status, detail, _retry_after(response))
    if status in BAD_DATA:
        return Answer(Outcome.REJECTED, status, detail)
    if status == 413:
        return Answer(Outcome.TOO_LARGE, status, detail)
    return Answer(Outcome.NEEDS_USER, status, detail)


def ssl_context(endpoint: RemoteWriteEndpoint) -> ssl.SSLContext | bool:
    tls = endpoint.tls
    if tls.insecure_skip_verify:
        return False
    if tls.ca_file is not None:
        return ssl.create_default_context(cafile=str(tls.ca_file))
    return True


class WriteClient:
    """One endpoint's HTTP client (a kept-alive connection)."""

    def __init__(
        self,
        endpoint: RemoteWriteEndpoint,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = endpoint.url
        self.where = redact_url(endpoint.url)
        headers = dict(HEADERS)
        # The config refuses the names above and Authorization (remote_write config).
        headers.update({k: v.get_secret_value() for k, v in endpoint.headers.items()})
        if endpoint.bearer_token is not None:
            headers["Authorization"] = f"Bearer {endpoint.bearer_token.get_secret_value()}"
        auth = None
        if endpoint.basic_auth is not None:
            auth = httpx.BasicAuth(
                endpoint.basic_auth.username, endpoint.basic_auth.password.get_secret_value()
            )
        self._client = httpx.AsyncClient(
            headers=headers,
            auth=auth,
            timeout=endpoint.timeout,
            verify=ssl_context(endpoint),
            transport=transport,
            follow_redirects=False,
        )

    async def post(self, body: bytes) -> Answer:
        try:
            response = await self._client.post(self.url, content=body)
        except httpx.TimeoutException as exc:
            return Answer(Outcome.RETRY, None, f"{self.where}: timed out ({type(exc).__name__})")
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            if self.url in reason:
                reason = reason.replace(self.url, self.where)
            return Answer(Outcome.RETRY, None, f"{self.where}: {reason}")
        return classify(response, self.where)

    async def aclose(self) -> None:
        await self._client.aclose()
