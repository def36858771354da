"""One scrape: fetch a Prometheus endpoint over HTTP and parse what it answers.

The parser is prometheus_client's (the library that vision apps already use to
expose their metrics): the text format 0.0.4 and OpenMetrics 1.0, chosen by the
answer's Content-Type, as Prometheus does. It is imported on first use, so an
agent without scrape targets never loads it (about 0.9 MiB of RSS when it does).

Failures are classified at the edge (``ScrapeFailure.reason``): ``unreachable``
(no connection), ``timeout``, ``http_status`` (an answer other than 2xx),
``too_large`` (over the body limit), ``sample_limit`` (more samples than the
target's limit) and ``malformed`` (not UTF-8, or text the parser refuses).

Both limits bound the work one scrape can cost: the body is read in chunks and
abandoned at the first byte past the limit (at once when Content-Length says
so), and the parser reads the text line by line and is stopped at the first
sample past the limit, so a huge exposition is never held as a list.
"""

from __future__ import annotations

import http.client
import io
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple, TextIO, cast
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
OPENMETRICS = "application/openmetrics-text"
BODY_SIZE_LIMIT = 4 * 1024 * 1024  # bytes of one answer (Prometheus: body_size_limit)
SAMPLE_LIMIT = 50_000  # samples of one answer (Prometheus: sample_limit)
_CHUNK = 64 * 1024
_NAME = re.compile(r"[^{\s]*")
# Families whose ``<name>_created`` samples are creation timestamps, not values.
_CREATED_OF = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
REASONS = ("unreachable", "timeout", "http_status", "too_large", "sample_limit", "malformed")


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
    max_body: int = BODY_SIZE_LIMIT,
    opener: urllib.request.OpenerDirector | None = None,
    authorization: str | None = None,
) -> tuple[bytes, str]:
    """The body and Content-Type of a GET of ``url``; ScrapeFailure on any failure.

    ``timeout`` bounds the connection and each read, and the whole read is
    abandoned once it has run past ``timeout``. No more than ``max_body`` bytes
    are read. ``authorization`` is the Authorization header's value; it is not
    sent on to where a redirect points.
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
    if authorization is not None:
        request.add_unredirected_header("Authorization", authorization)
    too_large = ScrapeFailure("too_large", f"answer larger than {max_body} bytes (body_size_limit)")
    try:
        with opener.open(request, timeout=timeout) as response:
            content_type = str(response.headers.get("Content-Type", ""))
            length = str(response.headers.get("Content-Length", "")).strip()
            if length.isdigit() and int(length) > max_body:
                raise too_large
            body = io.BytesIO()
            while True:
                if time.monotonic() > deadline:
                    raise ScrapeFailure("timeout", f"no complete answer within {timeout:g}s")
                chunk = response.read1(min(_CHUNK, max_body + 1 - body.tell()))
                if not chunk:
                    break
                body.write(chunk)
                if body.tell() > max_body:
                    raise too_large
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
    return body.getvalue(), content_type


class _OverLimit(Exception):
    """Raised from inside the parser's read loop at the first sample past the limit."""


class _Lines:
    """The exposition as the parsers read it (``for line in fd``): one line at a time,
    decoded as it is read (the text is never held whole), counting sample lines
    (``_created`` timestamps left out) and stopping at the first past ``limit``."""

    def __init__(self, body: bytes, limit: int) -> None:
        self.body = body
        self.limit = limit
        self.pos = 0
        self.samples = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        body, pos = self.body, self.pos
        if pos >= len(body):
            raise StopIteration
        end = body.find(b"\n", pos)  # never inside a UTF-8 sequence
        end = len(body) if end < 0 else end + 1
        self.pos = end
        try:
            line = body[pos:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScrapeFailure(
                "malformed", f"answer is not UTF-8 (byte {pos + exc.start})"
            ) from None
        head = line.lstrip()
        if head and head[0] != "#":
            match = _NAME.match(head)
            if match is None or not match.group().endswith("_created"):
                self.samples += 1
                if self.samples > self.limit:
                    raise _OverLimit
        return line


def parse(body: bytes, content_type: str, *, sample_limit: int = SAMPLE_LIMIT) -> list[Scraped]:
    """The samples of an exposition, without ``_created`` timestamps; ScrapeFailure
    ("malformed") names what the parser refused, ("sample_limit") says the text has
    more than ``sample_limit`` samples (the parser stops at the first one past it)."""
    parser = _parser(content_type)
    out: list[Scraped] = []
    # Exposition libraries write a counter (or histogram, summary) before its
    # ``<name>_created`` family, so the names to skip are known when those come.
    created: set[str] = set()
    lines = cast("TextIO", _Lines(body, sample_limit))  # the parsers only iterate it
    try:
        for f in parser(lines):
            if f.type in _CREATED_OF:
                created.add(f"{f.name}_created")
            out.extend(
                Scraped(s.name, s.labels, float(s.value))
                for s in f.samples
                if s.name not in created
            )
    except ScrapeFailure:
        raise
    except _OverLimit:
        raise ScrapeFailure(
            "sample_limit", f"more than {sample_limit} samples (sample_limit)"
        ) from None
    except Exception as exc:  # the parser's error types are not part of its API
        raise ScrapeFailure("malformed", f"bad exposition text: {_clip(str(exc))}") from None
    return out


def _parser(content_type: str) -> Callable[[TextIO], Iterable[Metric]]:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == OPENMETRICS:
        from prometheus_client.openmetrics import parser as om

        return om.text_fd_to_metric_families
    from prometheus_client import parser as text

    return text.text_fd_to_metric_families


def _clip(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."
