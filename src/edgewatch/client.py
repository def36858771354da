"""A tiny client for pushing application metrics to an edgewatch agent.

Standard library only, so that any application (a vision pipeline, a script)
can import it without numpy, FastAPI or the rest of edgewatch::

    from edgewatch.client import push
    push({"vision_fps": 29.7, "vision_inference_seconds": 0.041}, labels={"camera": "front"})
    heartbeat("vision-loop")  # a dead man's switch: the heartbeat check of that name

See docs/live.md and docs/health.md.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_URL", "PushError", "heartbeat", "push"]

DEFAULT_URL = "http://127.0.0.1:8700"
_MAX_ERROR_BODY = 4096


class PushError(Exception):
    """The agent refused the push or could not be reached.

    ``status`` is the HTTP status (None when no answer came); ``retry_after``
    the seconds the agent asked to wait (429), when it said.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def push(
    metrics: Mapping[str, float] | Iterable[Mapping[str, Any]],
    *,
    url: str = DEFAULT_URL,
    token: str | None = None,
    timeout: float = 5.0,
    labels: Mapping[str, str] | None = None,
) -> int:
    """Push metrics to the agent at ``url``; returns how many samples it accepted.

    ``metrics`` is a mapping ``name -> value`` or a list of items of the JSON
    form (``{"name", "labels", "value", "timestamp", "help", "type"}``).
    ``labels`` are added to every item (an item's own labels win). Raises
    PushError with the agent's message on any refusal or connection failure.
    """
    items = _items(metrics, labels or {})
    body = json.dumps(items, default=_no_json).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url.rstrip("/") + "/api/push", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            raise _http_error(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PushError(f"cannot reach edgewatch at {url}: {reason}") from exc
    except ValueError as exc:
        raise PushError(f"edgewatch at {url} answered something that is not JSON") from exc
    accepted = answer.get("accepted") if isinstance(answer, dict) else None
    if not isinstance(accepted, int):
        raise PushError(f"unexpected answer from edgewatch at {url}: {answer!r:.200}")
    return accepted


def heartbeat(
    name: str,
    *,
    url: str = DEFAULT_URL,
    token: str | None = None,
    kind: str = "success",
    timeout: float = 5.0,
) -> None:
    """Ping the heartbeat check ``name`` of the agent at ``url``.

    ``kind``: ``"success"`` (the loop or job ran), ``"start"`` (a job starts: the
    check then measures its duration) or ``"fail"`` (it failed). Raises PushError
    when the agent refuses the ping (404: no heartbeat check of that name) or
    cannot be reached.
    """
    if kind not in ("success", "start", "fail"):
        raise ValueError(f"unknown heartbeat kind {kind!r}: success, start or fail")
    path = "/api/heartbeat/" + urllib.parse.quote(name, safe="")
    if kind != "success":
        path += "/" + kind
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url.rstrip("/") + path, data=b"", headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            raise _http_error(exc, "heartbeat") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PushError(f"cannot reach edgewatch at {url}: {reason}") from exc


def _items(
    metrics: Mapping[str, float] | Iterable[Mapping[str, Any]], labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    if isinstance(metrics, Mapping):
        raw: list[dict[str, Any]] = [{"name": n, "value": v} for n, v in metrics.items()]
    else:
        raw = [dict(item) for item in metrics]
    for item in raw:
        if labels:
            item["labels"] = {**labels, **(item.get("labels") or {})}
        value = item.get("value")
        if isinstance(value, float) and not math.isfinite(value):
            # JSON has no NaN/Inf numbers; the agent takes these strings.
            item["value"] = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return raw


def _no_json(value: Any) -> Any:
    try:
        return float(value)  # numpy scalars and the like
    except (TypeError, ValueError):
        raise TypeError(f"cannot push a {type(value).__name__}: {value!r:.80}") from None


def _http_error(exc: urllib.error.HTTPError, what: str = "push") -> PushError:
    text = exc.read(_MAX_ERROR_BODY).decode("utf-8", "replace")
    message = text
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        found = data.get("error") or data.get("detail")
        if isinstance(found, str):
            message = found
    retry: float | None = None
    header = exc.headers.get("Retry-After") if exc.headers else None
    if header:
        try:
            retry = float(header)
        except ValueError:
            retry = None
    return PushError(
        f"edgewatch refused the {what} ({exc.code}): {message.strip() or exc.reason}",
        status=exc.code,
        retry_after=retry,
    )
