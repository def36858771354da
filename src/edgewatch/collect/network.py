"""Network: per-interface counters from ``/proc/net/dev``, link state and speed from sysfs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from edgewatch.collect.base import COUNTER, GAUGE, KeyCache, family, read_stripped, read_text
from edgewatch.model import MetricFamily, Sample

DEFAULT_EXCLUDE_DEVICES: tuple[str, ...] = ("^lo$", "^veth", "^docker", "^br-")
# /proc/net/dev columns (after "iface:") we export, with their metric families.
_COLUMNS = (
    (0, "receive_bytes"), (1, "receive_packets"), (2, "receive_errs"), (3, "receive_drop"),
    (8, "transmit_bytes"), (9, "transmit_packets"), (10, "transmit_errs"),
    (11, "transmit_drop"),
)  # fmt: skip
_COUNTERS = tuple(
    (column, family(f"node_network_{what}_total", COUNTER,
                    f"/proc/net/dev {what.replace('_', ' ')} since boot.", "device"))
    for column, what in _COLUMNS
)  # fmt: skip
UP = family("node_network_up", GAUGE, "1 when the interface's operstate is up.", "device")
SPEED = family(
    "node_network_speed_bytes", GAUGE, "Link speed in bytes per second, where known.", "device"
)
FAMILIES = (*(f for _, f in _COUNTERS), UP, SPEED)
# Collections between two reads of the link speed (it only changes on renegotiation).
SPEED_EVERY = 15


class NetworkCollector:
    name = "network"

    def __init__(
        self,
        *,
        interval: float = 1.0,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        exclude_devices: Sequence[str] = DEFAULT_EXCLUDE_DEVICES,
    ) -> None:
        self.interval = interval
        self._dev = os.path.join(proc_root, "net/dev")
        self._class_net = os.path.join(sys_root, "class/net")
        self._exclude = [re.compile(p) for p in exclude_devices]
        self._excluded: dict[str, bool] = {}
        self._keys = KeyCache()
        self._speeds: dict[str, float | None] = {}
        self._collections = 0

    def available(self) -> str | None:
        if read_text(self._dev) is None:
            return f"{self._dev} is not readable"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        text = read_text(self._dev)
        if text is None:
            raise OSError(f"cannot read {self._dev}")
        if self._collections % SPEED_EVERY == 0:
            self._speeds.clear()
        self._collections += 1
        key = self._keys.key
        out: list[Sample] = []
        for line in text.splitlines()[2:]:
            name, _, rest = line.partition(":")
            device = name.strip()
            if self._is_excluded(device):
                continue
            values = rest.split()
            if len(values) < 16:
                continue
            for column, fam in _COUNTERS:
                out.append(Sample(key(fam, device), float(values[column])))
            state = read_stripped(f"{self._class_net}/{device}/operstate")
            if state is not None:
                out.append(Sample(key(UP, device), 1.0 if state == "up" else 0.0))
            speed = self._speed(device)
            if speed is not None:
                out.append(Sample(key(SPEED, device), speed))
        return out

    def _is_excluded(self, device: str) -> bool:
        excluded = self._excluded.get(device)
        if excluded is None:
            if len(self._excluded) > 1024:
                self._excluded.clear()
            excluded = any(p.search(device) for p in self._exclude)
            self._excluded[device] = excluded
        return excluded

    def _speed(self, device: str) -> float | None:
        if device in self._speeds:
            return self._speeds[device]
        # Reading speed of a down or virtual link fails (EINVAL) or gives -1: unknown.
        text = read_stripped(f"{self._class_net}/{device}/speed")
        speed = None
        if text is not None and text.isdigit() and int(text) > 0:
            speed = int(text) * 1_000_000 / 8.0
        self._speeds[device] = speed
        return speed
