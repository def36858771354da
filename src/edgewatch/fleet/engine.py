"""Clients of the two APIs the fleet view reads: PromQL over HTTP and Alertmanager v2.

``PromClient`` asks a Prometheus-compatible engine (Prometheus, VictoriaMetrics single
or ``vmselect``, Mimir, Thanos Query) for instant vectors on ``/api/v1/query``;
``AlertmanagerClient`` lists active alerts on ``/api/v2/alerts``. Both take the base
URL the engine's own docs give (``http://vmselect:8481/select/0/prometheus``,
``http://mimir:8080/prometheus``) and raise ``SourceError`` with one line fit to show
a person: which source, what went wrong. Credentials in a URL's user part are used
for basic auth but never appear in a message; header values never appear at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import httpx

DEFAULT_TIMEOUT_S = 10.0
MAX_ERROR_TEXT = 200


class SourceError(Exception):
    """A source could not be read; the message names it (without credentials) and says why."""


@dataclass(frozen=True)
class VectorSample:
    """One element of an instant vector: its labels (``__name__`` included when kept)."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class ActiveAlert:
    """An active alert as Alertmanager lists it."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: str  # RFC 3339, as Alertmanager gives it
    state: str  # "active" (silenced and inhibited ones are not asked for)


def display_url(url: str) -> str:
    """``url`` without its user part (``user:password@``), for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def check_base_url(url: str, what: str) -> str:
    """``url`` without a trailing slash; ValueError unless it is an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} {display_url(url)!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} {display_url(url)!r} must not have a query or fragment")
    return url.rstrip("/")


class _Source:
    """What both clients share: one httpx client, its timeout, and error wording."""

    kind = "source"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url, self.kind)
        self.name = f"{self.kind} at {display_url(self.base_url)}"
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            headers=dict(headers or {}),
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get_json(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        try:
            response = await self._client.get(self.base_url + path, params=list(params))
        except httpx.TimeoutException:
            raise SourceError(f"{self.name}: no answer in time") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise SourceError(f"{self.name}: cannot connect: {reason}") from None
        if response.status_code != 200:
            raise SourceError(
                f"{self.name}: HTTP {response.status_code} on {path}: {_error_text(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{self.name}: {path} did not answer JSON") from None


class PromClient(_Source):
    """Instant queries on a Prometheus-compatible ``/api/v1/query``."""

    kind = "PromQL engine"

    async def query(self, expr: str) -> list[VectorSample]:
        """The instant vector ``expr`` evaluates to now; a scalar or matrix is an error."""
        body = await self._get_json("/api/v1/query", [("query", expr)])
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceError(f"{self.name}: query {expr!r} failed: {error or 'bad answer'}")
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise SourceError(f"{self.name}: query {expr!r} did not give an instant vector")
        out: list[VectorSample] = []
        for item in data.get("result") or []:
            try:
                labels = {str(k): str(v) for k, v in item["metric"].items()}
                value = float(item["value"][1])
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                raise SourceError(f"{self.name}: query {expr!r}: malformed sample") from None
            if not math.isnan(value):
                out.append(VectorSample(labels, value))
        return out


class AlertmanagerClient(_Source):
    """Active, unsilenced, uninhibited alerts from Alertmanager's v2 API."""

    kind = "Alertmanager"

    async def alerts(self, matchers: Sequence[str] = ()) -> list[ActiveAlert]:
        """``matchers`` in Alertmanager's filter syntax, e.g. ``device=~".+"``."""
        params = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
        params += [("filter", m) for m in matchers]
        body = await self._get_json("/api/v2/alerts", params)
        if not isinstance(body, list):
            raise SourceError(f"{self.name}: /api/v2/alerts did not answer a list")
        out: list[ActiveAlert] = []
        for item in body:
            try:
                out.append(
                    ActiveAlert(
                        labels={str(k): str(v) for k, v in item["labels"].items()},
                        annotations={
                            str(k): str(v) for k, v in (item.get("annotations") or {}).items()
                        },
                        starts_at=str(item.get("startsAt", "")),
                        state=str((item.get("status") or {}).get("state", "active")),
                    )
                )
            except (KeyError, TypeError, AttributeError):
                raise SourceError(f"{self.name}: /api/v2/alerts: malformed alert") from None
        return out


def _error_text(response: httpx.Response) -> str:
    """The engine's own error message (Prometheus' JSON ``error``), else the body, short."""
    text = response.text.strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"]
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_TEXT:
        text = text[: MAX_ERROR_TEXT - 3] + "..."
    return text or response.reason_phrase
