"""Message text from a ``Notification`` through sandboxed Jinja2 templates.

The built-in templates live in ``notify/templates/``; a user's ``templates_dir``
replaces any of them by name. Templates run in Jinja2's immutable sandbox: they
read the notification and call the helpers below, and cannot reach Python
internals (``''.__class__``) nor call arbitrary code. HTML templates
(``.html``) escape every value, so a label ``<script>`` shows as text.

A user template that fails (a typo, an undefined variable) does not lose the
alert: the error is logged and the built-in template is used instead.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from edgewatch.alerting.notice import Notice, NoticeStatus, Notification

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES_DIR = Path(__file__).parent / "templates"
_MAX_REPEAT = 100_000  # longest string or list that ``*`` may build
_MAX_EXPONENT = 1000


class RenderError(ValueError):
    """A template could not be rendered; the message names the template and the cause."""


@dataclass(frozen=True)
class AlertView:
    """One alert as templates see it."""

    name: str
    status: str
    severity: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    summary: str
    description: str
    value: float | None
    starts_at: datetime
    ends_at: datetime | None
    duration: float
    """Seconds the alert has been firing (until it resolved, or until the notification)."""
    generator_url: str
    fingerprint: str


def alert_view(notice: Notice, now_ms: int) -> AlertView:
    end_ms = notice.ends_at_ms if notice.ends_at_ms is not None else now_ms
    return AlertView(
        name=notice.name,
        status=notice.status.value,
        severity=notice.labels.get("severity", ""),
        labels=dict(sorted(notice.labels.items())),
        annotations=dict(sorted(notice.annotations.items())),
        summary=notice.annotations.get("summary", ""),
        description=notice.annotations.get("description", ""),
        value=notice.value,
        starts_at=_datetime(notice.starts_at_ms),
        ends_at=_datetime(notice.ends_at_ms) if notice.ends_at_ms is not None else None,
        duration=max(0.0, (end_ms - notice.starts_at_ms) / 1000),
        generator_url=notice.generator_url,
        fingerprint=notice.fingerprint,
    )


def template_context(notification: Notification) -> dict[str, Any]:
    """The variables every template gets (documented in docs/notify.md, "Message templates")."""
    alerts = [alert_view(a, notification.created_ms) for a in notification.alerts]
    return {
        "status": notification.status.value,
        "kind": notification.kind.value,
        "receiver": notification.receiver,
        "group_key": notification.group_key,
        "group_labels": dict(sorted(notification.group_labels.items())),
        "common_labels": dict(sorted(notification.common_labels().items())),
        "common_annotations": dict(sorted(notification.common_annotations().items())),
        "alerts": alerts,
        "firing": [a for a in alerts if a.status == NoticeStatus.FIRING.value],
        "resolved": [a for a in alerts if a.status == NoticeStatus.RESOLVED.value],
        "ack_url": notification.ack_url,
        "created_at": _datetime(notification.created_ms),
        "dedupe_key": notification.dedupe_key,
    }


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, also refusing ``*`` and ``**`` that would build huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large for a template")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            too_large = (
                isinstance(seq, str | list | tuple)
                and isinstance(count, int)
                and len(seq) * count > _MAX_REPEAT
            )
            if too_large:
                raise SecurityError("a template may not build a value that large")
        return operator.mul(left, right)


class MessageRenderer:
    """Renders notifications with the built-in templates, or the user's where given."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir
        default_loader = FileSystemLoader(DEFAULT_TEMPLATES_DIR)
        self._default = _environment(default_loader)
        self._user = (
            _environment(ChoiceLoader([FileSystemLoader(templates_dir), default_loader]))
            if templates_dir is not None
            else None
        )

    def render(self, name: str, notification: Notification) -> str:
        """The template ``name`` (e.g. ``email.html``) rendered for ``notification``."""
        context = template_context(notification)
        if self._user is not None:
            try:
                return _render(self._user, name, context)
            except RenderError as err:
                log.error("%s; using the built-in template instead", err)
        return _render(self._default, name, context)

    def render_string(self, source: str, notification: Notification, *, fallback: str = "") -> str:
        """An inline template (a config ``subject:``), never autoescaped.

        When it fails and ``fallback`` names a template, the error is logged and
        that template is rendered instead; without one, ``RenderError`` is raised.
        """
        context = template_context(notification)
        try:
            template = self._default.from_string(source)
            return _wrap_errors("inline template", lambda: template.render(context))
        except TemplateSyntaxError as err:
            error = RenderError(f"inline template line {err.lineno}: {err.message}")
        except RenderError as err:
            error = err
        if not fallback:
            raise error
        log.error("%s; using the built-in template %s instead", error, fallback)
        return _render(self._default, fallback, context)


def _environment(loader: BaseLoader) -> _Sandbox:
    env = _Sandbox(
        loader=loader,
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm"), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(FILTERS)
    return env


def _render(env: _Sandbox, name: str, context: dict[str, Any]) -> str:
    try:
        template = env.get_template(name)
    except TemplateNotFound:
        raise RenderError(f"template {name} not found") from None
    except TemplateSyntaxError as err:
        raise RenderError(f"template {name} line {err.lineno}: {err.message}") from None
    return _wrap_errors(f"template {name}", lambda: template.render(context))


def _wrap_errors(what: str, render: Callable[[], str]) -> str:
    try:
        return render()
    except SecurityError as err:
        raise RenderError(f"{what} is not allowed to do that: {err}") from None
    except UndefinedError as err:
        raise RenderError(f"{what}: {err}") from None
    except TemplateError as err:
        raise RenderError(f"{what}: {err}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as err:
        raise RenderError(f"{what}: {type(err).__name__}: {err}") from None


# --- helpers for templates ----------------------------------------------------


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _as_datetime(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return _datetime(int(value))


def humanize(value: float | None) -> str:
    """A number with an SI prefix, as Prometheus' ``humanize``: 1234567 -> ``1.235M``."""
    if value is None:
        return "-"
    number = float(value)
    if number == 0 or not math.isfinite(number):
        return f"{number:.4g}"
    prefixes = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"]
    if abs(number) >= 1:
        index = 0
        while abs(number) >= 1000 and index < len(prefixes) - 1:
            number /= 1000
            index += 1
        return f"{number:.4g}{prefixes[index]}"
    small = ["", "m", "µ", "n", "p", "f", "a", "z", "y"]
    index = 0
    while abs(number) < 1 and index < len(small) - 1:
        number *= 1000
        index += 1
    return f"{number:.4g}{small[index]}"


def humanize1024(value: float | None) -> str:
    """A number with a binary prefix: 1536 -> ``1.5Ki``."""
    if value is None:
        return "-"
    number = float(value)
    if abs(number) < 1 or not math.isfinite(number):
        return f"{number:.4g}"
    prefixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]
    index = 0
    while abs(number) >= 1024 and index < len(prefixes) - 1:
        number /= 1024
        index += 1
    return f"{number:.4g}{prefixes[index]}"


def humanize_percentage(value: float | None) -> str:
    """A ratio as a percentage: 0.1234 -> ``12.34%``."""
    if value is None:
        return "-"
    return f"{float(value) * 100:.4g}%"


def humanize_duration(seconds: float | None) -> str:
    """Seconds as ``1d 2h 3m 4s`` (sub-second values as ``250ms``)."""
    if seconds is None:
        return "-"
    total = float(seconds)
    if not math.isfinite(total):
        return f"{total}"
    if abs(total) < 1:
        return f"{total * 1000:.4g}ms"
    sign = "-" if total < 0 else ""
    rest = int(abs(total))
    parts = []
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{suffix}")
            rest %= size
    return sign + " ".join(parts)


def rfc3339(value: datetime | float) -> str:
    """A time (datetime or epoch milliseconds) in RFC 3339, UTC: ``2024-05-01T12:00:00Z``."""
    return _as_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(value: datetime | float) -> str:
    """A time (datetime or epoch milliseconds) for people: ``2024-05-01 12:00:00 UTC``."""
    return _as_datetime(value).strftime("%Y-%m-%d %H:%M:%S UTC")


FILTERS: dict[str, Callable[..., str]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanize_percentage": humanize_percentage,
    "humanize_duration": humanize_duration,
    "rfc3339": rfc3339,
    "utc": utc,
}
