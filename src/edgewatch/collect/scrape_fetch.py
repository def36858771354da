"""One scrape: fetch a Prometheus endpoint over HTTP and parse what it answers.

The parser is prometheus_client's (the library that vision apps already use to
expose their metrics): the text format 0.0.4 and OpenMetrics 1.0, chosen by the
answer's Content-Type, as Prometheus does. It is imported on first use, so an
agent without scrape targets never loads it (about 0.9 MiB of RSS when it does).

Failures are classified at the edge (``ScrapeFailure.reason``): ``unreachable``
(no connection), ``timeout``, ``http_status`` (an answer other than 2xx),
``too_large`` (over the body limit) and ``malformed`` (not UTF-8, or text the
parser refuses).
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
OPENMETRICS = "application/openmetrics-text"
MAX_BODY = 16 * 1024 * 1024  # bytes of one answer; Prometheus' own default is unlimited
_CHUNK = 64 * 1024
# Families whose ``<name>_created`` samples are creation timestamps, not values.
_CREATED_OF = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
REASONS = ("unreachable", "timeout", "http_status", "too_large", "malformed")


class ScrapeFailure(Exception):
    """A scrape that yielded nothing; ``reason`` is one of REASONS, str() says more."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Scraped(NamedTuple):
    """One sample as exposed: its full name (``_total``, ``_bucket`` ...), labels, value."""

    name: str
    labels: Mapping[str, str]
    value: float


def display_url(url: str) -> str:
    """The URL without user info and query, both of which may hold a secret (for logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def instance_of(url: str) -> str:
    """The ``instance`` label Prometheus gives a target: its host:port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


def no_proxy_opener() -> urllib.request.OpenerDirector:
    """An opener that ignores http_proxy and friends: the targets are local."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(
    url: str,
    *,
    timeout: float,
    max_body: int = MAX_BODY,
    opener: urllib.request.OpenerDirector | None = None,
) -> tuple[bytes, str]:
    """The body and Content-Type of a GET of ``url``; ScrapeFailure on any failure.

    ``timeout`` bounds the connection and each read, and the whole read is
    abandoned once it has run past ``timeout``.
    """
    opener = opener or no_proxy_opener()
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        url,
        headers={
            "Accept": ACCEPT,
            "User-Agent": "edgewatch-scrape",
            "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout:g}",
        },
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            content_type = str(response.headers.get("Content-Type", ""))
            chunks: list[bytes] = []
            total = 0
            while True:
                if time.monotonic() > deadline:
                    raise ScrapeFailure("timeout", f"no complete answer within {timeout:g}s")
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_body:
                    raise ScrapeFailure("too_large", f"answer larger than {max_body} bytes")
                chunks.append(chunk)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ScrapeFailure("http_status", f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise ScrapeFailure("timeout", f"no answer within {timeout:g}s") from None
        raise ScrapeFailure("unreachable", f"cannot connect: {exc.reason}") from None
    except TimeoutError:
        raise ScrapeFailure("timeout", f"no answer within {timeout:g}s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise ScrapeFailure("unreachable", f"connection failed: {exc!r}") from None
    return b"".join(chunks), content_type


def parse(body: bytes, content_type: str) -> list[Scraped]:
    """The samples of an exposition, without ``_created`` timestamps; ScrapeFailure
    ("malformed") names what the parser refused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScrapeFailure("malformed", f"answer is not UTF-8 (byte {exc.start})") from None
    parser = _parser(content_type)
    try:
        families = list(parser(text))
    except Exception as exc:  # the parser's error types are not part of its API
        raise ScrapeFailure("malformed", f"bad exposition text: {_clip(str(exc))}") from None
    created = {f"{f.name}_created" for f in families if f.type in _CREATED_OF}
    return [
        Scraped(s.name, s.labels, float(s.value))
        for f in families
        for s in f.samples
        if s.name not in created
    ]


def _parser(content_type: str) -> Callable[[str], Iterable[Metric]]:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == OPENMETRICS:
        from prometheus_client.openmetrics import parser as om

        return om.text_string_to_metric_families
    from prometheus_client import parser as text

    return text.text_string_to_metric_families


def _clip(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."
