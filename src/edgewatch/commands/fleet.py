"""``edgewatch fleet``: every device reporting to a PromQL engine, on one page.

Serves the fleet view (``edgewatch.fleet.app``) with uvicorn until Ctrl-C, or, with
``--once``, prints the rows and exits. It reads the engine and Alertmanager on each
request and stores nothing. See docs/fleet.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

import click
import uvicorn

from edgewatch.commands import CONTEXT_SETTINGS
from edgewatch.commands.run import LOG_FORMAT, QUIET_LOGGERS
from edgewatch.config import parse_listen
from edgewatch.config.units import parse_duration
from edgewatch.errors import UsageError
from edgewatch.web.server import ListenError, bind_socket, is_loopback, url_host

if TYPE_CHECKING:
    from edgewatch.fleet.view import FleetOptions, FleetView

# edgewatch.fleet is imported by the command's body, not here: its httpx and Jinja2
# would otherwise be loaded by every command, `edgewatch run` included (~9 MiB RSS).
# So the option defaults are written out: edgewatch.fleet.app.DEFAULT_REFRESH_S and
# edgewatch.fleet.engine.DEFAULT_TIMEOUT_S (tests/test_lazy_imports.py pins them equal).
DEFAULT_REFRESH_S = 30
DEFAULT_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)


@click.command("fleet", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--prometheus",
    "prometheus_url",
    required=True,
    metavar="URL",
    help="Base URL of a Prometheus-compatible PromQL API (the part before /api/v1/query).",
)
@click.option(
    "--alertmanager",
    "alertmanager_url",
    default=None,
    metavar="URL",
    help="Alertmanager for the worst alert per device (default: ALERTS in the engine).",
)
@click.option(
    "--listen",
    default="127.0.0.1:8710",
    show_default=True,
    metavar="HOST:PORT",
    help="Address of the fleet page.",
)
@click.option(
    "--public",
    is_flag=True,
    help="Allow a non-loopback --listen; the page has no login: put an authenticating "
    "proxy in front.",
)
@click.option(
    "--device-url",
    default=None,
    metavar="TEMPLATE",
    help="Link to each device's dashboard, with {device}, {site}, {instance}, e.g. "
    "'http://{device}.local:8700/' (default: http://{instance}/ for scraped devices).",
)
@click.option("--device-label", default="device", show_default=True, help="Label naming a device.")
@click.option("--site-label", default="site", show_default=True, help="Label naming its site.")
@click.option(
    "--agent-job",
    default="edgewatch",
    show_default=True,
    help="The engine's job that scrapes the agents: only its up and instance count.",
)
@click.option(
    "--window",
    default="24h",
    show_default=True,
    help="How long a device that went silent stays listed (a PromQL duration).",
)
@click.option(
    "--stale-after",
    default="2m",
    show_default=True,
    help="A device last seen longer ago than this is shown down.",
)
@click.option(
    "--timeout",
    default=f"{DEFAULT_TIMEOUT_S:g}s",
    show_default=True,
    help="Time limit of each request to the engine and Alertmanager.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="HTTP header sent to both sources, e.g. 'X-Scope-OrgID: fleet' for Mimir; "
    "repeatable. Values are never logged.",
)
@click.option(
    "--refresh",
    "refresh_s",
    type=click.IntRange(5, 3600),
    default=DEFAULT_REFRESH_S,
    show_default=True,
    help="Seconds between the page's reloads.",
)
@click.option(
    "--site",
    "site_filter",
    default=None,
    help="With --once: only the devices of this site (the page takes ?site=NAME).",
)
@click.option("--once", is_flag=True, help="Print the devices once and exit instead of serving.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output of --once.",
)
def fleet_cmd(
    prometheus_url: str,
    alertmanager_url: str | None,
    listen: str,
    public: bool,
    device_url: str | None,
    device_label: str,
    site_label: str,
    agent_job: str,
    window: str,
    stale_after: str,
    timeout: str,
    headers: Sequence[str],
    refresh_s: int,
    site_filter: str | None,
    once: bool,
    fmt: str,
) -> None:
    """Show every device that reports to a Prometheus-compatible engine.

    \b
      edgewatch fleet --prometheus http://prometheus:9090
      edgewatch fleet --prometheus http://vmselect:8481/select/0/prometheus \\
          --alertmanager http://alertmanager:9093 --device-url 'https://{device}.vpn:8700/'
      edgewatch fleet --prometheus http://127.0.0.1:9090 --once --format json

    Lists each value of the device label: site, last seen, health score, worst active
    alert, CPU, memory and fullest filesystem, and a link to the device's dashboard.
    Exits 2 when a source cannot be read (with --once) or an option is bad.
    """
    from edgewatch.fleet.engine import AlertmanagerClient, PromClient, check_base_url
    from edgewatch.fleet.view import FleetOptions

    try:
        options = FleetOptions(
            device_label=device_label,
            site_label=site_label,
            agent_job=agent_job,
            device_url=device_url,
            window=window,
            stale_after_s=parse_duration(stale_after),
        )
        timeout_s = parse_duration(timeout)
        header_map = _headers(headers)
        host, port = parse_listen(listen)
        check_base_url(prometheus_url, PromClient.kind)
        if alertmanager_url is not None:
            check_base_url(alertmanager_url, AlertmanagerClient.kind)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not once and not public and not is_loopback(host):
        raise UsageError(
            f"refusing to serve the fleet page on {url_host(host)}:{port} without --public: "
            "it has no login (put an authenticating reverse proxy in front)"
        )
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    sources = _Sources(prometheus_url, alertmanager_url, timeout_s, header_map)
    if once:
        asyncio.run(_print_once(sources, options, site_filter, fmt, sys.stdout))
        return
    try:
        sock = bind_socket(host, port)
    except ListenError as exc:
        raise UsageError(str(exc)) from None
    try:
        asyncio.run(_serve(sources, options, refresh_s, sock))
    except KeyboardInterrupt:
        # uvicorn stops gracefully on Ctrl-C / SIGTERM, then re-raises the signal.
        log.info("fleet view stopped")


class _Sources:
    """What is needed to build the clients inside the event loop that uses them."""

    def __init__(
        self,
        prometheus_url: str,
        alertmanager_url: str | None,
        timeout_s: float,
        headers: dict[str, str],
    ) -> None:
        self.prometheus_url = prometheus_url
        self.alertmanager_url = alertmanager_url
        self.timeout_s = timeout_s
        self.headers = headers

    def view(self, options: FleetOptions) -> FleetView:
        """The view and its clients (URLs already checked by the command)."""
        from edgewatch.fleet.engine import AlertmanagerClient, PromClient
        from edgewatch.fleet.view import FleetView

        prom = PromClient(self.prometheus_url, timeout_s=self.timeout_s, headers=self.headers)
        am = None
        if self.alertmanager_url is not None:
            am = AlertmanagerClient(
                self.alertmanager_url, timeout_s=self.timeout_s, headers=self.headers
            )
        return FleetView(prom, options, am)


async def _close(view: FleetView) -> None:
    await view.prom.aclose()
    if view.alertmanager is not None:
        await view.alertmanager.aclose()


async def _print_once(
    sources: _Sources, options: FleetOptions, site_filter: str | None, fmt: str, out: IO[str]
) -> None:
    from edgewatch.fleet.app import age_text, percent_text
    from edgewatch.fleet.engine import SourceError, display_url
    from edgewatch.fleet.view import sort_rows

    view = sources.view(options)
    try:
        rows = await view.rows(site_filter)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    finally:
        await _close(view)
    now = time.time()
    rows = sort_rows(rows, now, options.stale_after_s)
    if fmt == "json":
        body = {
            "generated": now,
            "site": site_filter,
            "sources": {
                "prometheus": display_url(view.prom.base_url),
                "alertmanager": None
                if view.alertmanager is None
                else display_url(view.alertmanager.base_url),
            },
            "stale_after_seconds": options.stale_after_s,
            "devices": [r.to_json(now, options.stale_after_s) for r in rows],
        }
        json.dump(body, out, indent=1)
        out.write("\n")
        return
    table = [["DEVICE", "SITE", "STATUS", "LAST SEEN", "HEALTH", "ALERT", "CPU", "MEM", "DISK"]]
    table[0].append("URL")
    for r in rows:
        alert = r.worst_alert
        table.append(
            [
                r.device,
                r.site or "-",
                r.status(now, options.stale_after_s),
                age_text(r.last_seen, now),
                "-" if r.health_score is None else f"{r.health_score:g}",
                "-" if alert is None else f"{alert.name} ({alert.severity or '?'})",
                percent_text(r.cpu_ratio).replace("—", "-"),
                percent_text(r.memory_ratio).replace("—", "-"),
                percent_text(r.disk_ratio).replace("—", "-"),
                r.url or "-",
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


async def _serve(
    sources: _Sources, options: FleetOptions, refresh_s: int, sock: socket.socket
) -> None:
    from edgewatch.fleet.app import create_fleet_app
    from edgewatch.fleet.engine import display_url

    view = sources.view(options)
    app = create_fleet_app(view, refresh_s=refresh_s)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none")
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    log.info(
        "fleet view on http://%s:%d/ (engine %s%s)",
        url_host(host),
        port,
        display_url(view.prom.base_url),
        "" if view.alertmanager is None else f", {display_url(view.alertmanager.base_url)}",
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        await _close(view)


def _headers(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip() or any(c in name for c in " \t\r\n"):
            raise ValueError(f"--header {name.strip()!r}...: write it as 'Name: value'")
        if any(c in text for c in "\r\n"):
            raise ValueError(f"--header {name.strip()!r}: the value has a line break")
        out[name.strip()] = text.strip()
    return out
