"""A real Alertmanager (Debian's prometheus-alertmanager) gets the agent's alerts.

The agent runs as a subprocess with a rule over a pushed metric and a receiver
forwarding to an Alertmanager on loopback; the alert must be listed on the
Alertmanager's v2 API with edgewatch's labels and annotations, and be resolved
there once the condition stops.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_alerting_helpers import AlertingAgent, Pusher, agent_config, webhook_receiver

from agent_process import wait_for

BINARY = "/usr/bin/prometheus-alertmanager"

AM_CONFIG = """\
route:
  receiver: "null"
receivers:
  - name: "null"
"""

RULES = """\
groups:
  - name: shop
    interval: 1s
    rules:
      - alert: BinFull
        expr: shop_bin_fill_ratio > 0.9
        labels: {severity: critical}
        annotations:
          summary: "bin {{ $labels.bin }} is {{ $value | humanizePercentage }} full"
"""

ROUTING = """\
receivers:
  - name: fleet
    alertmanager: [{{urls: ["{am}"]}}]
route:
  receiver: fleet
  group_by: ["..."]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1m
"""


def _binary() -> str:
    if shutil.which(BINARY) is None:
        reason = f"{BINARY} is missing (Debian package prometheus-alertmanager)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return BINARY


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager on a free loopback port; yields its base URL."""
    binary = _binary()
    port = webhook_receiver().free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(AM_CONFIG)
    log_path = tmp_path / "alertmanager.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                "--cluster.listen-address=",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"alertmanager exited:\n{log_path.read_text()}")
            try:
                return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 30, "alertmanager's /-/ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _listed(am: str, **labels: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager lists (active, silenced and inhibited) with ``labels``."""
    response = httpx.get(f"{am}/api/v2/alerts", timeout=5)
    assert response.status_code == 200, response.text
    return [a for a in response.json() if all(a["labels"].get(k) == v for k, v in labels.items())]


def _past(rfc3339: str) -> bool:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() <= time.time()


@pytest.mark.slow
def test_alertmanager_lists_the_agents_alert_and_sees_it_resolve(
    tmp_path: Path, alertmanager: str
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    agent = AlertingAgent(tmp_path, agent_config(rules, ROUTING.format(am=alertmanager)))
    try:
        agent.start()
        with Pusher(agent) as pusher:
            pusher.set('shop_bin_fill_ratio{bin="a"}', 0.95)
            pusher.push_now()
            found = wait_for(
                lambda: _listed(alertmanager, alertname="BinFull"), 30, "BinFull in Alertmanager"
            )
            assert len(found) == 1
            alert = found[0]
            assert alert["labels"] == {"alertname": "BinFull", "bin": "a", "severity": "critical"}
            assert alert["annotations"] == {"summary": "bin a is 95% full"}
            assert alert["status"]["state"] == "active"
            # startsAt is when the condition began, before Alertmanager got it.
            assert _past(alert["startsAt"])

            # The condition stops: edgewatch sends the alert resolved (send_resolved
            # is on by default), so Alertmanager no longer lists it as active.
            pusher.set('shop_bin_fill_ratio{bin="a"}', 0.1)
            pusher.push_now()

            def resolved() -> bool:
                listed = _listed(alertmanager, alertname="BinFull")
                return not listed or all(_past(a["endsAt"]) for a in listed)

            wait_for(resolved, 30, "BinFull resolved in Alertmanager")
            pusher.check()
        history = agent.history("BinFull")
        assert [(e["from"], e["to"]) for e in reversed(history)] == [
            ("inactive", "firing"),
            ("firing", "resolved"),
        ]
    finally:
        agent.stop()
    assert "Traceback" not in agent.process.log_path.read_text()
