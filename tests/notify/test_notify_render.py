"""Notification templates: the sandbox, HTML escaping, user overrides and helpers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edgewatch.alerting.notice import Notice, NoticeStatus, Notification, NotificationKind
from edgewatch.notify.render import (
    DEFAULT_TEMPLATES_DIR,
    MessageRenderer,
    RenderError,
    humanize,
    humanize1024,
    humanize_duration,
    rfc3339,
)

BUILTIN = ["email_subject.txt", "email.txt", "email.html", "apprise_title.txt", "apprise_body.txt"]


def _notification(
    *notices: Notice, ack_url: str = "", kind: NotificationKind = NotificationKind.NOTIFY
) -> Notification:
    return Notification(
        receiver="ops",
        group_key="{}:{}",
        group_labels={"alertname": "DiskFull"},
        alerts=notices
        or (
            Notice(
                labels={"alertname": "DiskFull", "severity": "critical", "mount": "/data"},
                annotations={"summary": "Disk /data is 95% full"},
                starts_at_ms=1_714_560_000_000,
                value=0.95,
            ),
        ),
        dedupe_key="ops/1",
        created_ms=1_714_563_600_000,
        ack_url=ack_url,
        kind=kind,
    )


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ alerts[0].__init__.__globals__ }}",
        "{{ alerts[0].labels.__class__ }}",
        "{{ 'x' * 10000000 }}",
        "{{ 10 ** 100000000 }}",
    ],
)
def test_the_sandbox_refuses_python_internals_and_huge_values(source: str) -> None:
    with pytest.raises(RenderError, match="not allowed"):
        MessageRenderer().render_string(source, _notification())


def test_templates_cannot_mutate_the_context() -> None:
    with pytest.raises(RenderError, match="not allowed"):
        MessageRenderer().render_string("{{ alerts.clear() }}", _notification())


def test_an_undefined_variable_is_a_clear_error() -> None:
    with pytest.raises(RenderError, match="inline template: 'no_such_thing' is undefined"):
        MessageRenderer().render_string("{{ no_such_thing }}", _notification())


def test_html_escapes_label_values_and_text_does_not() -> None:
    notice = Notice(
        labels={"alertname": "Bad", "instance": "<script>alert(1)</script>"},
        annotations={"summary": "<b>bold</b> & co"},
    )
    renderer = MessageRenderer()

    html = renderer.render("email.html", _notification(notice))
    text = renderer.render("email.txt", _notification(notice))

    assert "<script>" not in html
    assert "instance=&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    assert "instance=<script>alert(1)</script>" in text


def test_every_builtin_template_renders_firing_resolved_test_and_empty() -> None:
    resolved = Notice(
        labels={"alertname": "DiskFull"},
        status=NoticeStatus.RESOLVED,
        starts_at_ms=1_000,
        ends_at_ms=61_000,
    )
    cases = [
        _notification(ack_url="https://dev/ack?t=1"),
        _notification(resolved),
        _notification(kind=NotificationKind.TEST),
        _notification(kind=NotificationKind.ESCALATION),
    ]
    renderer = MessageRenderer()
    for name in BUILTIN:
        assert (DEFAULT_TEMPLATES_DIR / name).is_file()
        for notification in cases:
            assert renderer.render(name, notification).strip()

    assert renderer.render("email_subject.txt", cases[1]) == "[RESOLVED] DiskFull"
    assert renderer.render("email_subject.txt", cases[2]).startswith("[TEST] [FIRING:1]")
    assert "Acknowledge: https://dev/ack?t=1" in renderer.render("email.txt", cases[0])
    assert "Acknowledge" not in renderer.render("email.txt", cases[1])
    assert "after 1m" in renderer.render("email.txt", cases[1])


def test_a_user_template_overrides_the_builtin_one_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "email.txt").write_text("custom: {{ alerts[0].labels.mount }}")
    renderer = MessageRenderer(tmp_path)

    assert renderer.render("email.txt", _notification()) == "custom: /data"
    # the others stay built-in
    assert renderer.render("email_subject.txt", _notification()) == "[FIRING:1] DiskFull"


def test_a_broken_user_template_falls_back_to_the_builtin_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "email.txt").write_text("{{ alerts[0].nope }}")
    (tmp_path / "email_subject.txt").write_text("{% if %}")

    with caplog.at_level(logging.ERROR, logger="edgewatch.notify.render"):
        text = MessageRenderer(tmp_path).render("email.txt", _notification())
        subject = MessageRenderer(tmp_path).render("email_subject.txt", _notification())

    assert "Disk /data is 95% full" in text
    assert subject == "[FIRING:1] DiskFull"
    assert "template email.txt" in caplog.text
    assert "template email_subject.txt line 1" in caplog.text


def test_a_user_html_template_is_escaped_too(tmp_path: Path) -> None:
    (tmp_path / "email.html").write_text("<p>{{ alerts[0].labels.x }}</p>")
    notice = Notice(labels={"alertname": "A", "x": "<img src=x onerror=alert(1)>"})

    html = MessageRenderer(tmp_path).render("email.html", _notification(notice))

    assert html == "<p>&lt;img src=x onerror=alert(1)&gt;</p>"


def test_helpers() -> None:
    assert humanize(1_234_567) == "1.235M"
    assert humanize(0.0042) == "4.2m"
    assert humanize(0) == "0"
    assert humanize(None) == "-"
    assert humanize1024(1536) == "1.5Ki"
    assert humanize_duration(3723) == "1h 2m 3s"
    assert humanize_duration(0.25) == "250ms"
    assert rfc3339(1_714_560_000_000) == "2024-05-01T10:40:00Z"
    renderer = MessageRenderer()
    notification = _notification()
    assert (
        renderer.render_string(
            "{{ alerts[0].starts_at|rfc3339 }} {{ created_at|utc }} "
            "{{ alerts[0].value|humanize_percentage }} {{ alerts[0].duration|humanize_duration }}",
            notification,
        )
        == "2024-05-01T10:40:00Z 2024-05-01 11:40:00 UTC 95% 1h"
    )
