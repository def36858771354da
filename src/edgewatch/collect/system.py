"""System: uptime, boot time, process counts, file descriptors, users, clock sync, board health."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

import psutil

from edgewatch.collect.base import (
    GAUGE,
    KeyCache,
    OnceLogger,
    family,
    read_small,
    read_text,
)
from edgewatch.collect.board import BoardHealth
from edgewatch.collect.timex import TimexReader, open_adjtimex
from edgewatch.model import MetricFamily, Sample

log = logging.getLogger(__name__)

BOOT_TIME = family("node_boot_time_seconds", GAUGE, "Boot time, seconds since the Unix epoch.")
TIME = family("node_time_seconds", GAUGE, "System time, seconds since the Unix epoch.")
UPTIME = family("system_uptime_seconds", GAUGE, "Seconds since boot.")
PROCS_RUNNING = family("node_procs_running", GAUGE, "Processes in runnable state.")
PROCS_BLOCKED = family("node_procs_blocked", GAUGE, "Processes blocked waiting for I/O.")
PROCESSES = family("system_processes", GAUGE, "Processes by scheduler state.", "state")
THREADS = family("node_processes_threads", GAUGE, "Threads of all processes.")
FD_ALLOCATED = family("node_filefd_allocated", GAUGE, "Allocated file descriptors.")
FD_MAXIMUM = family("node_filefd_maximum", GAUGE, "Most file descriptors the system allows.")
USERS = family("system_users_logged_in", GAUGE, "Login sessions (utmp entries).")
TIMEX_SYNC = family("node_timex_sync_status", GAUGE, "1 when the kernel clock is synchronised.")
TIMEX_OFFSET = family("node_timex_offset_seconds", GAUGE, "Time offset to the reference clock.")
TIMEX_MAXERR = family("node_timex_maxerror_seconds", GAUGE, "Maximum error estimate.")
TIMEX_ESTERR = family("node_timex_estimated_error_seconds", GAUGE, "Estimated error.")
TIMEX_FREQ = family(
    "node_timex_frequency_adjustment_ratio", GAUGE,
    "Local clock frequency adjustment: 1 + the kernel's correction in ppm / 1e6.",
)  # fmt: skip
TIMEX_TAI = family("node_timex_tai_offset_seconds", GAUGE, "International Atomic Time offset.")

# /proc/<pid>/stat state letter -> label value
STATES = {
    "R": "running", "S": "sleeping", "D": "disk_sleep", "Z": "zombie", "T": "stopped",
    "t": "tracing_stop", "I": "idle", "X": "dead", "P": "parked", "W": "paging",
}  # fmt: skip
_REPORTED_STATES = ("running", "sleeping", "disk_sleep", "zombie", "stopped", "idle", "other")

FAMILIES = (
    BOOT_TIME, TIME, UPTIME, PROCS_RUNNING, PROCS_BLOCKED, PROCESSES, THREADS, FD_ALLOCATED,
    FD_MAXIMUM, USERS, TIMEX_SYNC, TIMEX_OFFSET, TIMEX_MAXERR, TIMEX_ESTERR, TIMEX_FREQ,
    TIMEX_TAI,
)  # fmt: skip


class SystemCollector:
    name = "system"

    def __init__(
        self,
        *,
        interval: float = 15.0,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        utmp: str | None = None,
        adjtimex: Callable[[], TimexReader] = open_adjtimex,
    ) -> None:
        """``utmp``: the login records file; None asks psutil (the system's utmp).

        ``adjtimex`` opens the kernel clock reader (replaced in tests)."""
        self.interval = interval
        self._proc = proc_root
        self._utmp = utmp
        self._keys = KeyCache()
        self._once = OnceLogger(log)
        self._board = BoardHealth(sys_root, self._keys)
        self._open_adjtimex = adjtimex
        self._timex: TimexReader | None = None
        self._timex_tried = False

    def available(self) -> str | None:
        if read_text(os.path.join(self._proc, "stat")) is None:
            return f"{self._proc}/stat is not readable"
        found = self._board.found()
        if found:
            log.info("system collector: board reports %s", ", ".join(found))
        return None

    def families(self) -> Iterable[MetricFamily]:
        return (*FAMILIES, *self._board.families())

    def collect(self) -> Iterable[Sample]:
        key = self._keys.key
        out: list[Sample] = [Sample(key(TIME), round(time.time(), 3))]
        stat = read_text(os.path.join(self._proc, "stat")) or ""
        for line in stat.splitlines():
            word, _, value = line.partition(" ")
            if word == "btime":
                out.append(Sample(key(BOOT_TIME), float(value)))
            elif word == "procs_running":
                out.append(Sample(key(PROCS_RUNNING), float(value)))
            elif word == "procs_blocked":
                out.append(Sample(key(PROCS_BLOCKED), float(value)))
        uptime = read_text(os.path.join(self._proc, "uptime"))
        if uptime:
            out.append(Sample(key(UPTIME), float(uptime.split()[0])))
        file_nr = read_text(os.path.join(self._proc, "sys/fs/file-nr"))
        if file_nr:
            allocated, _, maximum = file_nr.split()[:3]
            out.append(Sample(key(FD_ALLOCATED), float(allocated)))
            out.append(Sample(key(FD_MAXIMUM), float(maximum)))
        self._process_states(out)
        self._users(out)
        self._clock(out)
        self._board.collect(out)
        return out

    def _process_states(self, out: list[Sample]) -> None:
        counts = dict.fromkeys(_REPORTED_STATES, 0)
        threads = 0
        try:
            entries = os.listdir(self._proc)
        except OSError as err:
            self._once.warning(f"cannot list {self._proc}: {err}")
            return
        for pid in entries:
            if not pid.isdigit():
                continue
            raw = read_small(f"{self._proc}/{pid}/stat")
            if not raw:
                continue  # exited while we looked
            fields = raw[raw.rfind(b")") + 2 :].split(b" ", 18)
            state = STATES.get(fields[0].decode("ascii", "replace"), "other")
            counts[state if state in counts else "other"] += 1
            if len(fields) > 17:
                threads += int(fields[17])
        key = self._keys.key
        out.extend(Sample(key(PROCESSES, s), float(n)) for s, n in counts.items())
        out.append(Sample(key(THREADS), float(threads)))

    def _users(self, out: list[Sample]) -> None:
        try:
            users = len(psutil.users()) if self._utmp is None else _count_utmp(self._utmp)
        except OSError as err:
            self._once.info(f"logged-in users unknown: {err}")
            return
        out.append(Sample(self._keys.key(USERS), float(users)))

    def _clock(self, out: list[Sample]) -> None:
        if not self._timex_tried:
            self._timex_tried = True
            try:
                self._timex = self._open_adjtimex()
            except (OSError, AttributeError) as err:
                self._once.info(f"clock synchronisation unknown, adjtimex unavailable: {err}")
        if self._timex is None:
            return
        try:
            tx = self._timex()
        except OSError as err:
            self._once.warning(f"adjtimex failed: {err}")
            return
        key = self._keys.key
        out.append(Sample(key(TIMEX_SYNC), 1.0 if tx.synced else 0.0))
        out.append(Sample(key(TIMEX_OFFSET), tx.offset_seconds))
        out.append(Sample(key(TIMEX_MAXERR), tx.maxerror_seconds))
        out.append(Sample(key(TIMEX_ESTERR), tx.esterror_seconds))
        out.append(Sample(key(TIMEX_FREQ), 1.0 + tx.frequency_ppm / 1e6))
        out.append(Sample(key(TIMEX_TAI), tx.tai_offset_seconds))


UTMP_RECORD = 384  # sizeof(struct utmp) on Linux (glibc, every architecture)
USER_PROCESS = 7


def _count_utmp(path: str) -> int:
    """Login sessions in a utmp file: records whose ut_type is USER_PROCESS."""
    with open(path, "rb") as f:
        data = f.read()
    return sum(
        1
        for at in range(0, len(data) - UTMP_RECORD + 1, UTMP_RECORD)
        if int.from_bytes(data[at : at + 2], "little") == USER_PROCESS
    )
