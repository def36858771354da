"""The ``usb`` check on a fake /sys tree (tests/health/fixtures/sys): a root hub,
two identical webcams (ids in either case), a barcode reader, interfaces."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from health_local_helpers import FAKE_SYS, observe

from edgewatch.config.health import HealthConfig, UsbCheck
from edgewatch.health.kinds.usb import UsbKind, usb_ids
from edgewatch.health.model import CheckEnv, Status
from edgewatch.health.runner import HealthMonitor


def _kind(vendor: str, product: str, sys_root: Path = FAKE_SYS, **fields: object) -> UsbKind:
    settings = UsbCheck.model_validate(
        {"name": "usb", "vendor_id": vendor, "product_id": product, **fields}
    )
    return UsbKind(settings, CheckEnv(sys_root=sys_root))


def test_present_device_passes_with_its_count() -> None:
    obs = observe(_kind("046D", "0825"))
    assert (obs.status, obs.value, obs.unit) == (Status.PASS, 2, "count")
    assert obs.message == "046d:0825 present at 1-1, 1-3"
    obs = observe(_kind("0c2e", "0b61"))
    assert (obs.status, obs.value) == (Status.PASS, 1)


def test_absent_device_fails() -> None:
    obs = observe(_kind("0c2e", "0b62"))
    assert (obs.status, obs.value, obs.message) == (Status.FAIL, 0, "0c2e:0b62 not present")


def test_unplugging_fails(tmp_path: Path) -> None:
    sys_root = Path(shutil.copytree(FAKE_SYS, tmp_path / "sys"))
    kind = _kind("0c2e", "0b61", sys_root)
    assert observe(kind).status is Status.PASS
    shutil.rmtree(sys_root / "bus/usb/devices/1-2")
    assert observe(kind).status is Status.FAIL


def test_no_usb_bus_fails(tmp_path: Path) -> None:
    obs = observe(_kind("046d", "0825", tmp_path))
    assert obs.status is Status.FAIL and obs.message == "046d:0825 not present: no USB bus"


def test_interfaces_are_skipped() -> None:
    names = [name for name, _, _ in usb_ids(FAKE_SYS / "bus/usb/devices")]
    assert names == ["1-1", "1-2", "1-3", "usb1"]


def test_through_the_monitor_fail_below_requires_two_cameras() -> None:
    config = HealthConfig.model_validate({"checks": [
        {"kind": "usb", "name": "cams", "vendor_id": "046d", "product_id": "0825",
         "fail_below": 2},
        {"kind": "usb", "name": "scanners", "vendor_id": "0c2e", "product_id": "0b61",
         "fail_below": 2},
    ]})  # fmt: skip
    monitor = HealthMonitor(config, CheckEnv(sys_root=FAKE_SYS))

    async def main() -> list[Status]:
        return [(await monitor.run_once(name)).status for name in ("cams", "scanners")]

    assert asyncio.run(main()) == [Status.PASS, Status.FAIL]
