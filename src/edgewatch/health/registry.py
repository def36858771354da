"""Check kinds by name, imported when first used (like the collectors' registry)."""

from __future__ import annotations

import importlib
from typing import Any

KINDS: dict[str, str] = {
    "http": "edgewatch.health.kinds.http:HttpKind",
    "tcp": "edgewatch.health.kinds.net:TcpKind",
    "dns": "edgewatch.health.kinds.net:DnsKind",
    "ping": "edgewatch.health.kinds.net:PingKind",
    "process": "edgewatch.health.kinds.process:ProcessKind",
    "systemd": "edgewatch.health.kinds.systemd:SystemdKind",
    "file": "edgewatch.health.kinds.file:FileKind",
    "disk": "edgewatch.health.kinds.disk:DiskKind",
    "metric": "edgewatch.health.kinds.metric:MetricKind",
    "command": "edgewatch.health.kinds.command:CommandKind",
    "heartbeat": "edgewatch.health.kinds.heartbeat:HeartbeatKind",
    "camera": "edgewatch.health.kinds.camera:CameraKind",
    "usb": "edgewatch.health.kinds.usb:UsbKind",
}


def load_kind(kind: str) -> Any:
    """The class implementing ``kind``; ModuleNotFoundError while it is not built yet."""
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
