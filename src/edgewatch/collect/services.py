"""Services: the systemd units named in the config, from one ``systemctl show`` call.

``systemctl show a.service b.service -p ...`` prints one block of ``Key=value``
lines per unit, in the order asked, separated by blank lines. A unit that does
not exist still gets a block (``LoadState=not-found``). Memory and CPU come from
the unit's cgroup accounting; they read ``[not set]`` (or 2^64-1) when
accounting is off, and are then left out. The ``name`` label is the unit's
``Id`` (``vision`` in the config is reported as ``vision.service``). Globs are
refused by the config: they would change the number of blocks.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence

from edgewatch.collect.base import COUNTER, GAUGE, INFO, KeyCache, family
from edgewatch.model import MetricFamily, Sample

log = logging.getLogger(__name__)

PROPERTIES = (
    "Id", "Type", "LoadState", "ActiveState", "SubState", "NRestarts", "MainPID",
    "MemoryCurrent", "CPUUsageNSec",
)  # fmt: skip
UNIT_STATES = ("activating", "active", "deactivating", "inactive", "failed")
UNSET = 2**64 - 1  # systemd's "infinity"/unset for uint64 properties
SYSTEMCTL_TIMEOUT_S = 10.0

UNIT_STATE = family(
    "node_systemd_unit_state", GAUGE, "1 for the unit's current active state, else 0.",
    "name", "state", "type",
)  # fmt: skip
RESTARTS = family(
    "node_systemd_service_restart_total", COUNTER,
    "Automatic restarts of the service by systemd (NRestarts).", "name",
)  # fmt: skip
MEMORY = family("edgewatch_service_memory_bytes", GAUGE, "Memory of the unit's cgroup.", "name")
CPU = family(
    "edgewatch_service_cpu_seconds_total", COUNTER, "CPU time of the unit's cgroup.", "name"
)
MAIN_PID = family(
    "edgewatch_service_main_pid", GAUGE, "Main process id of the unit; 0 when not running.",
    "name",
)  # fmt: skip
INFO_FAMILY = family(
    "edgewatch_service_info", INFO, "The unit's load and sub state, in labels.",
    "name", "load_state", "sub_state",
)  # fmt: skip
FAMILIES = (UNIT_STATE, RESTARTS, MEMORY, CPU, MAIN_PID, INFO_FAMILY)


class ServicesCollector:
    name = "services"
    expensive = True  # a systemctl process per collection: the CPU budget may slow it down

    def __init__(
        self,
        *,
        interval: float = 15.0,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        units: Sequence[str] = (),
        systemctl: str = "systemctl",
        systemd_run_dir: str = "/run/systemd/system",
    ) -> None:
        """``systemd_run_dir`` exists only while systemd is PID 1 (sd_booted(3))."""
        self.interval = interval
        self.units = tuple(units)
        self._systemctl = systemctl
        self._run_dir = systemd_run_dir
        self._argv: list[str] = []
        self._keys = KeyCache()

    def available(self) -> str | None:
        if not self.units:
            return "no units configured"
        binary = shutil.which(self._systemctl)
        if binary is None:
            return f"no systemd: {self._systemctl!r} not found"
        if not os.path.isdir(self._run_dir):
            return f"no systemd: {self._run_dir} missing (systemd is not the init system)"
        self._argv = [binary, "show", "--no-pager", "-p", ",".join(PROPERTIES), "--", *self.units]
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        if not self._argv:
            reason = self.available()
            if reason is not None:
                raise RuntimeError(f"services collector unusable: {reason}")
        done = subprocess.run(
            self._argv, capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no message"])[0]
            raise RuntimeError(f"systemctl show exited {done.returncode}: {first}")
        blocks = parse_show(done.stdout)
        if len(blocks) != len(self.units):
            raise RuntimeError(
                f"systemctl show printed {len(blocks)} blocks for {len(self.units)} units"
            )
        out: list[Sample] = []
        for unit, props in zip(self.units, blocks, strict=True):
            # The unit's id as systemd names it ("vision" asks for "vision.service").
            self._unit_samples(props.get("Id") or unit, props, out)
        return out

    def _unit_samples(self, unit: str, props: Mapping[str, str], out: list[Sample]) -> None:
        key = self._keys.key
        active = props.get("ActiveState", "")
        kind = props.get("Type", "")
        for state in UNIT_STATES:
            out.append(Sample(key(UNIT_STATE, unit, state, kind), float(state == active)))
        load, sub = props.get("LoadState", ""), props.get("SubState", "")
        out.append(Sample(key(INFO_FAMILY, unit, load, sub), 1.0))
        restarts = _number(props.get("NRestarts"))
        if restarts is not None:
            out.append(Sample(key(RESTARTS, unit), restarts))
        pid = _number(props.get("MainPID"))
        if pid is not None:
            out.append(Sample(key(MAIN_PID, unit), pid))
        memory = _number(props.get("MemoryCurrent"))
        if memory is not None:
            out.append(Sample(key(MEMORY, unit), memory))
        cpu = _number(props.get("CPUUsageNSec"))
        if cpu is not None:
            out.append(Sample(key(CPU, unit), cpu / 1e9))


def parse_show(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output -> one dict of properties per unit block."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip():
            current = None
            continue
        if current is None:
            current = {}
            blocks.append(current)
        prop, sep, value = line.partition("=")
        if sep:
            current[prop] = value
    return blocks


def _number(text: str | None) -> float | None:
    if text is None or not text.isdigit():
        return None  # absent, "[not set]" or empty
    value = int(text)
    return None if value == UNSET else float(value)
