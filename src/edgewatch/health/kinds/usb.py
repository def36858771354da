"""``usb``: a USB device with a given vendor:product id is plugged in.

Reads ``idVendor`` and ``idProduct`` of every device under
``SYS/bus/usb/devices/`` (interfaces there have neither and are skipped). The
observed value is how many matching devices are present: two identical cameras
can be required with ``fail_below: 2``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edgewatch.config.health import UsbCheck
from edgewatch.health.blocking import run_blocking
from edgewatch.health.model import CheckEnv, Observation, Status

log = logging.getLogger(__name__)


def usb_ids(devices_dir: Path) -> list[tuple[str, str, str]]:
    """(device name, vendor id, product id) of each USB device, ids in lowercase."""
    found: list[tuple[str, str, str]] = []
    for entry in sorted(os.scandir(devices_dir), key=lambda e: e.name):
        device = Path(entry.path)
        try:
            vendor = (device / "idVendor").read_text().strip().lower()
            product = (device / "idProduct").read_text().strip().lower()
        except FileNotFoundError:
            continue  # an interface (1-1:1.0), or a device unplugged while being read
        except OSError as exc:
            log.warning("usb check: cannot read %s: %s", device, exc)
            continue
        found.append((entry.name, vendor, product))
    return found


class UsbKind:
    def __init__(self, settings: UsbCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env
        self._wanted = (settings.vendor_id.lower(), settings.product_id.lower())

    async def observe(self) -> Observation:
        return await run_blocking(self._observe)

    def _observe(self) -> Observation:
        ident = ":".join(self._wanted)
        devices_dir = self.env.sys_root / "bus" / "usb" / "devices"
        try:
            devices = usb_ids(devices_dir)
        except FileNotFoundError:
            return Observation(Status.FAIL, 0, f"{ident} not present: no USB bus", "count")
        except OSError as exc:
            return Observation(Status.UNKNOWN, message=f"cannot list {devices_dir}: {exc}")
        names = [name for name, vendor, product in devices if (vendor, product) == self._wanted]
        if not names:
            return Observation(Status.FAIL, 0, f"{ident} not present", "count")
        return Observation(
            Status.PASS, len(names), f"{ident} present at {', '.join(names)}", "count"
        )
