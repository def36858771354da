"""The Alertmanager channel against a real prometheus-alertmanager on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import Receiver, free_port, notification

from edgewatch.config.notify import AlertmanagerConfig
from edgewatch.notify.alertmanager import AlertmanagerChannel, postable_alert
from edgewatch.notify.base import DeliveryError

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AM_CONFIG = """
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    if BINARY is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus-alertmanager is required in CI")
        pytest.skip("prometheus-alertmanager is not installed")
    config = tmp_path / "am.yml"
    config.write_text(AM_CONFIG)
    port = free_port()
    log = (tmp_path / "am.log").open("wb")
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "am.log").read_text()[-2000:]
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "alertmanager did not get ready in 30 s"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_a_real_alertmanager_lists_our_alerts(alertmanager: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # a second, unreachable Alertmanager
    channel = AlertmanagerChannel(AlertmanagerConfig(urls=[alertmanager, dead + "/"]))
    now_ms = int(time.time() * 1000)
    asyncio.run(channel.send(notification("k", created_ms=now_ms)))
    asyncio.run(channel.send(notification("k2", alertname="Gone", status="resolved")))

    alerts = _get(alertmanager + "/api/v2/alerts?active=true")
    [alert] = [a for a in alerts if a["labels"]["alertname"] == "DiskFull"]
    assert alert["labels"] == {"alertname": "DiskFull", "severity": "critical", "mount": "/data"}
    assert alert["annotations"] == {"summary": "disk /data is 97% full"}
    assert alert["generatorURL"] == "http://device.local:9100/alerts"
    assert alert["status"]["state"] in ("active", "unprocessed")
    # The resolved one ended long ago: Alertmanager keeps it only as inactive.
    assert not [a for a in alerts if a["labels"]["alertname"] == "Gone"]


@pytest.mark.slow
def test_a_bad_alert_is_refused_permanently_by_alertmanager(alertmanager: str) -> None:
    channel = AlertmanagerChannel(AlertmanagerConfig(urls=[alertmanager]))
    good = notification("bad")
    notice = replace(good.alerts[0], labels={"alertname": "X", "not-a-label-name": "v"})
    bad = replace(good, alerts=(notice,))
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(channel.send(bad))
    assert caught.value.permanent is True
    assert "/api/… answered 400" in str(caught.value)


def test_4xx_from_all_is_permanent_and_a_5xx_keeps_it_retryable() -> None:
    with Receiver(default_status=400) as one, Receiver(default_status=422) as two:
        channel = AlertmanagerChannel(AlertmanagerConfig(urls=[one.url, two.url]))
        with pytest.raises(DeliveryError) as refused:
            asyncio.run(channel.send(notification()))
        assert refused.value.permanent is True
        assert one.paths() == ["/api/v2/alerts"]
        assert "answered 400" in str(refused.value)
        assert "answered 422" in str(refused.value)
    with Receiver(default_status=400) as one, Receiver(default_status=503) as two:
        channel = AlertmanagerChannel(AlertmanagerConfig(urls=[one.url, two.url]))
        with pytest.raises(DeliveryError) as mixed:
            asyncio.run(channel.send(notification()))
        assert mixed.value.permanent is False


def test_postable_alert_shape() -> None:
    firing = postable_alert(notification().alerts[0])
    assert set(firing) == {"labels", "annotations", "startsAt", "generatorURL"}
    resolved = postable_alert(notification(status="resolved").alerts[0])
    assert resolved["endsAt"] == "2023-11-14T22:13:20Z"
