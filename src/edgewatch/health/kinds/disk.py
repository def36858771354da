"""``disk``: free space and free inodes of a mount, and its time to full.

Free space is what non-root users may still write (``f_bavail / f_blocks``, as
``df`` shows); the observed value is that ratio. A filesystem that reports no inode
count (btrfs, some FUSE mounts) is not judged on inodes.

With ``full_within``, the store's trend decides whether the mount fills soon:
``predict_linear(node_filesystem_avail_bytes{mountpoint="MP"}[6h], full_within)``
(the disk collector's series), at or below zero means full within that time: warn.
No data for the trend leaves the check as the space and inodes make it.
"""

from __future__ import annotations

import logging
import os

from edgewatch.config.health import DiskCheck
from edgewatch.health.blocking import run_blocking
from edgewatch.health.model import CheckEnv, Observation, Status
from edgewatch.query import QueryError

log = logging.getLogger(__name__)

TREND_RANGE = "6h"


def trend_query(mountpoint: str, seconds: float) -> str:
    quoted = mountpoint.replace("\\", "\\\\").replace('"', '\\"')
    selector = f'node_filesystem_avail_bytes{{mountpoint="{quoted}"}}'
    return f"predict_linear({selector}[{TREND_RANGE}], {seconds:g})"


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 3600 == 0:
        return f"{seconds / 86400:g}d" if seconds % 86400 == 0 else f"{seconds / 3600:g}h"
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}m" if seconds >= 60 else f"{seconds:g}s"


class DiskKind:
    def __init__(self, settings: DiskCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env

    async def observe(self) -> Observation:
        return await run_blocking(self._observe)

    def _observe(self) -> Observation:
        s = self.settings
        mp = s.mountpoint
        try:
            st = os.statvfs(mp)
        except FileNotFoundError:
            return Observation(Status.FAIL, message=f"{mp} does not exist")
        except OSError as exc:
            return Observation(Status.FAIL, message=f"{mp}: {exc.strerror or exc}")
        if st.f_blocks == 0:
            return Observation(Status.UNKNOWN, message=f"{mp} reports no size")
        free = st.f_bavail / st.f_blocks
        space = f"{free:.1%} free of {st.f_blocks * st.f_frsize / (1 << 30):.1f} GiB"
        if free < s.min_free_ratio:
            message = f"{mp}: {space}, below {s.min_free_ratio:.1%}"
            return Observation(Status.FAIL, free, message, "ratio")
        inodes = ""
        if st.f_files > 0:
            free_inodes = st.f_favail / st.f_files
            inodes = f", {free_inodes:.1%} of inodes free"
            if free_inodes < s.min_free_inodes_ratio:
                message = f"{mp}: {free_inodes:.1%} of inodes free, below "
                message += f"{s.min_free_inodes_ratio:.1%}"
                return Observation(Status.FAIL, free, message, "ratio")
        if s.full_within is not None and self.env.engine is not None:
            predicted = self._predicted_avail(s.full_within)
            if predicted is not None and predicted <= 0:
                message = f"{mp}: full within {_duration(s.full_within)} at the rate of "
                message += f"the last {TREND_RANGE} ({space})"
                return Observation(Status.WARN, free, message, "ratio")
        return Observation(Status.PASS, free, f"{mp}: {space}{inodes}", "ratio")

    def _predicted_avail(self, seconds: float) -> float | None:
        """Bytes available ``seconds`` from now at the trend's rate (the lowest, if
        several series match), or None without data."""
        query = trend_query(self.settings.mountpoint, seconds)
        try:
            result = self.env.engine.instant(query, round(self.env.clock() * 1000))
        except QueryError as exc:
            log.warning("disk check %s: trend query failed: %s", self.settings.name, exc)
            return None
        values = [float(v) for series in result.series for v in series.values]
        return min(values) if values else None
