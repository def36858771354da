"""Disk: block-device I/O counters every collection, filesystem space less often.

I/O comes from ``/proc/diskstats`` for whole disks only (the names under
``/sys/block``), skipping loop, ram, zram and floppy devices; partitions are
skipped because their disk already counts their I/O. Filesystems come from
``/proc/mounts`` (re-read with each filesystem refresh) and ``os.statvfs``;
pseudo and network filesystems (by type) and system mount points (by pattern)
are skipped, and a device mounted twice (bind mounts) is reported once, at its
first mount. Network filesystems are skipped because ``statvfs`` on a hung
server blocks forever: the collector's worker thread, then the agent's exit.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from edgewatch.collect.base import (
    COUNTER,
    GAUGE,
    KeyCache,
    OnceLogger,
    family,
    list_dir,
    ratio,
    read_text,
)
from edgewatch.model import MetricFamily, Sample

log = logging.getLogger(__name__)

SECTOR_BYTES = 512.0  # /proc/diskstats always counts 512-byte sectors
PSEUDO_FSTYPES: tuple[str, ...] = (
    "proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "overlay",
    "squashfs", "autofs", "mqueue", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
    "configfs", "fusectl", "hugetlbfs", "binfmt_misc", "nsfs", "ramfs", "rpc_pipefs",
    "efivarfs",
)  # fmt: skip
# statvfs on a hung network mount blocks its thread for good (and then the agent's exit).
NETWORK_FSTYPES: tuple[str, ...] = (
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "ceph", "glusterfs", "afs",
    "lustre", "ncpfs", "davfs",
)  # fmt: skip
DEFAULT_EXCLUDE_FSTYPES = PSEUDO_FSTYPES + NETWORK_FSTYPES
DEFAULT_EXCLUDE_MOUNTPOINTS: tuple[str, ...] = (r"^/(dev|proc|sys|run/credentials)($|/)",)
SKIP_DEVICES = re.compile(r"^(loop|ram|zram|fd)\d+$")

READ_BYTES = family("node_disk_read_bytes_total", COUNTER, "Bytes read.", "device")
WRITTEN_BYTES = family("node_disk_written_bytes_total", COUNTER, "Bytes written.", "device")
READS = family("node_disk_reads_completed_total", COUNTER, "Reads completed.", "device")
WRITES = family("node_disk_writes_completed_total", COUNTER, "Writes completed.", "device")
READ_TIME = family(
    "node_disk_read_time_seconds_total", COUNTER, "Seconds spent by all reads.", "device"
)
WRITE_TIME = family(
    "node_disk_write_time_seconds_total", COUNTER, "Seconds spent by all writes.", "device"
)
IO_TIME = family(
    "node_disk_io_time_seconds_total", COUNTER, "Seconds the device was busy with I/O.", "device"
)
IO_NOW = family("node_disk_io_now", GAUGE, "I/Os currently in progress.", "device")

_FS = ("device", "fstype", "mountpoint")
FS_SIZE = family("node_filesystem_size_bytes", GAUGE, "Filesystem size.", *_FS)
FS_FREE = family("node_filesystem_free_bytes", GAUGE, "Free space, root's reserve included.", *_FS)
FS_AVAIL = family("node_filesystem_avail_bytes", GAUGE, "Space available to non-root users.", *_FS)
FS_FILES = family("node_filesystem_files", GAUGE, "Inodes in total.", *_FS)
FS_FILES_FREE = family("node_filesystem_files_free", GAUGE, "Free inodes.", *_FS)
FS_READONLY = family("node_filesystem_readonly", GAUGE, "1 when mounted read-only.", *_FS)
FS_USAGE = family(
    "system_filesystem_usage_ratio", GAUGE,
    "Used share of the space non-root users can have, as df shows it, 0-1.", *_FS,
)  # fmt: skip

FAMILIES = (
    READ_BYTES, WRITTEN_BYTES, READS, WRITES, READ_TIME, WRITE_TIME, IO_TIME, IO_NOW,
    FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE, FS_READONLY, FS_USAGE,
)  # fmt: skip


class Mount(NamedTuple):
    """One reported filesystem."""

    device: str
    fstype: str
    mountpoint: str
    readonly: bool


class DiskCollector:
    name = "disk"

    def __init__(
        self,
        *,
        interval: float = 1.0,
        proc_root: str = "/proc",
        sys_root: str = "/sys",
        filesystems_interval: float = 15.0,
        exclude_fstypes: Sequence[str] = DEFAULT_EXCLUDE_FSTYPES,
        exclude_mountpoints: Sequence[str] = DEFAULT_EXCLUDE_MOUNTPOINTS,
        statvfs_root: str = "",
    ) -> None:
        """``statvfs_root`` is prefixed to mount points before statvfs (tests only)."""
        self.interval = interval
        self._diskstats = os.path.join(proc_root, "diskstats")
        self._mounts_path = os.path.join(proc_root, "mounts")
        self._block_dir = os.path.join(sys_root, "block")
        self._fs_every = max(1, round(filesystems_interval / interval))
        self._exclude_fstypes = frozenset(exclude_fstypes)
        self._exclude_mp = [re.compile(p) for p in exclude_mountpoints]
        self._statvfs_root = statvfs_root
        self._keys = KeyCache()
        self._once = OnceLogger(log)
        self._collections = 0
        self._disks: frozenset[str] = frozenset()
        self._mounts: list[Mount] = []

    def available(self) -> str | None:
        if read_text(self._diskstats) is None and read_text(self._mounts_path) is None:
            return f"neither {self._diskstats} nor {self._mounts_path} is readable"
        return None

    def families(self) -> Iterable[MetricFamily]:
        return FAMILIES

    def collect(self) -> Iterable[Sample]:
        refresh = self._collections % self._fs_every == 0
        self._collections += 1
        if refresh:
            self._disks = frozenset(
                d for d in list_dir(self._block_dir) if not SKIP_DEVICES.match(d)
            )
            self._mounts = self.mounts()
        out = self._io()
        if refresh:  # space is sampled every filesystems_interval, not every second
            out.extend(self._filesystems())
        return out

    def mounts(self) -> list[Mount]:
        """The filesystems reported, from the mount table, pseudo ones skipped."""
        text = read_text(self._mounts_path)
        if text is None:
            self._once.info(f"{self._mounts_path} unreadable: no filesystem metrics")
            return []
        found: list[Mount] = []
        seen: set[str] = set()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            device, mountpoint, fstype, options = parts[:4]
            mountpoint = _unescape(mountpoint)
            if fstype in self._exclude_fstypes or fstype.startswith("fuse."):
                continue
            if any(p.search(mountpoint) for p in self._exclude_mp) or device in seen:
                continue
            seen.add(device)
            found.append(Mount(device, fstype, mountpoint, "ro" in options.split(",")))
        return found

    def _filesystems(self) -> list[Sample]:
        out: list[Sample] = []
        key = self._keys.key
        for device, fstype, mountpoint, readonly in self._mounts:
            try:
                st = os.statvfs(self._statvfs_root + mountpoint)
            except OSError as err:
                self._once.info(f"statvfs({mountpoint}) failed, skipped: {err}")
                continue
            labels = (device, fstype, mountpoint)
            size = float(st.f_blocks * st.f_frsize)
            free = float(st.f_bfree * st.f_frsize)
            avail = float(st.f_bavail * st.f_frsize)
            out.append(Sample(key(FS_SIZE, *labels), size))
            out.append(Sample(key(FS_FREE, *labels), free))
            out.append(Sample(key(FS_AVAIL, *labels), avail))
            out.append(Sample(key(FS_FILES, *labels), float(st.f_files)))
            out.append(Sample(key(FS_FILES_FREE, *labels), float(st.f_ffree)))
            out.append(Sample(key(FS_READONLY, *labels), 1.0 if readonly else 0.0))
            used = size - free
            if used + avail > 0:
                out.append(Sample(key(FS_USAGE, *labels), ratio(used, used + avail)))
        return out

    def _io(self) -> list[Sample]:
        text = read_text(self._diskstats)
        out: list[Sample] = []
        if text is None:
            return out
        key = self._keys.key
        disks = self._disks
        for line in text.splitlines():
            f = line.split()
            if len(f) < 14 or f[2] not in disks:
                continue
            d = f[2]
            out.append(Sample(key(READS, d), float(f[3])))
            out.append(Sample(key(READ_BYTES, d), float(f[5]) * SECTOR_BYTES))
            out.append(Sample(key(READ_TIME, d), float(f[6]) / 1000.0))
            out.append(Sample(key(WRITES, d), float(f[7])))
            out.append(Sample(key(WRITTEN_BYTES, d), float(f[9]) * SECTOR_BYTES))
            out.append(Sample(key(WRITE_TIME, d), float(f[10]) / 1000.0))
            out.append(Sample(key(IO_NOW, d), float(f[11])))
            out.append(Sample(key(IO_TIME, d), float(f[12]) / 1000.0))
        return out


def _unescape(path: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    if "\\" not in path:
        return path
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)
