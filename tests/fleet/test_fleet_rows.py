"""The fleet view's pieces that need no peer: options, URL templates, status, order,
the command's refusals, and a source that is not there (a closed loopback port)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from click.testing import CliRunner

from edgewatch.cli import cli
from edgewatch.fleet.app import age_text, create_fleet_app, percent_text
from edgewatch.fleet.engine import AlertmanagerClient, PromClient, SourceError, display_url
from edgewatch.fleet.view import DeviceRow, FleetOptions, FleetView, WorstAlert, sort_rows

NOW = 1_700_000_000.0


def _row(
    device: str, *, last_seen: float | None = NOW, up: bool | None = True, severity: str = ""
) -> DeviceRow:
    alert = WorstAlert("X", severity, "", "") if severity else None
    return DeviceRow(
        device=device,
        site="",
        last_seen=last_seen,
        up=up,
        health_score=None,
        worst_alert=alert,
        active_alerts=1 if alert else 0,
        cpu_ratio=None,
        memory_ratio=None,
        disk_ratio=None,
        url=None,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device_label": "dev-ice"}, "device label 'dev-ice' is not a label name"),
        ({"window": "1 day"}, "window '1 day' is not a PromQL duration"),
        ({"device_url": "http://{host}/"}, "uses {host}; only {device}, {site} and {instance}"),
        ({"device_url": "javascript:alert({device})"}, "must start with http:// or https://"),
        ({"device_url": "http://{device/"}, "device URL template 'http://{device/'"),
    ],
)
def test_bad_options_say_what_is_wrong(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("{", r"\{")):
        FleetOptions(**kwargs)  # type: ignore[arg-type]


def test_status_is_down_when_unscraped_silent_or_never_seen() -> None:
    assert _row("a").status(NOW, 120) == "ok"
    assert _row("a", up=False).status(NOW, 120) == "down"
    assert _row("a", last_seen=NOW - 121).status(NOW, 120) == "down"
    assert _row("a", last_seen=None, up=None).status(NOW, 120) == "down"
    assert _row("a", severity="critical").status(NOW, 120) == "critical"
    assert _row("a", severity="warning").status(NOW, 120) == "warning"
    assert _row("a", severity="info").status(NOW, 120) == "ok"


def test_rows_sort_worst_first_then_by_name() -> None:
    rows = [
        _row("b"),
        _row("a"),
        _row("c", severity="warning"),
        _row("d", severity="critical"),
        _row("e", up=False),
    ]
    assert [r.device for r in sort_rows(rows, NOW, 120)] == ["e", "d", "c", "a", "b"]


def test_ages_and_percentages_read_plainly() -> None:
    assert age_text(None, NOW) == "never"
    assert age_text(NOW - 0.2, NOW) == "just now"
    assert age_text(NOW - 42, NOW) == "42 s ago"
    assert age_text(NOW - 300, NOW) == "5 min ago"
    assert age_text(NOW - 3 * 86400 - 5, NOW) == "3 d ago"
    assert percent_text(0.424) == "42 %"
    assert percent_text(None) == "—"


def test_urls_in_messages_lose_their_credentials() -> None:
    assert display_url("https://fleet:s3cret@vm.example:8481/select/0/prometheus") == (
        "https://vm.example:8481/select/0/prometheus"
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_engine_that_is_not_there_is_a_clear_error_without_the_password() -> None:
    url = f"http://fleet:s3cret@127.0.0.1:{_closed_port()}"

    async def ask() -> None:
        async with PromClient(url, timeout_s=2) as prom:
            await prom.query("up")

    with pytest.raises(SourceError) as caught:
        asyncio.run(ask())
    message = str(caught.value)
    assert message.startswith(f"PromQL engine at {display_url(url)}: cannot connect")
    assert "s3cret" not in message


def test_an_alertmanager_that_is_not_there_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    async def ask() -> None:
        async with AlertmanagerClient(url, timeout_s=2) as am:
            await am.alerts()

    with pytest.raises(SourceError, match=r"^Alertmanager at http://127\.0\.0\.1:\d+: cannot"):
        asyncio.run(ask())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:8710"], "without --public"),
        (["--header", "X-Scope-OrgID fleet", "--once"], "write it as 'Name: value'"),
        (["--device-url", "ftp://{device}/", "--once"], "must start with http://"),
        (["--stale-after", "soon", "--once"], "'soon' is not a duration"),
    ],
)
def test_the_command_refuses_bad_options_with_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["fleet", "--prometheus", "http://127.0.0.1:9", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_once_against_a_closed_port_exits_2_with_one_line() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = CliRunner().invoke(cli, ["fleet", "--prometheus", url, "--once", "--timeout", "2s"])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: PromQL engine at {url}: cannot connect")


def test_the_page_and_api_say_which_source_failed_with_502() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    async def fetch() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        prom = PromClient(url, timeout_s=2)
        app = create_fleet_app(FleetView(prom, FleetOptions()), clock=lambda: NOW)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://fleet") as c:
                return await c.get("/"), await c.get("/api/fleet"), await c.get("/fleet.css")
        finally:
            await prom.aclose()

    page, api, css = asyncio.run(fetch())
    assert page.status_code == 502
    assert f"PromQL engine at {url}: cannot connect" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert api.status_code == 502
    assert api.json()["error"].startswith(f"PromQL engine at {url}: cannot connect")
    assert api.json()["detail"] is None
    assert css.status_code == 200 and ".badge" in css.text
