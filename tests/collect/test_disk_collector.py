from __future__ import annotations

import logging
from pathlib import Path

import pytest
from collect_helpers import PROC, SYS, values

from edgewatch.collect.disk import DEFAULT_EXCLUDE_FSTYPES, DiskCollector
from edgewatch.config import Config


def _collector(tmp_path: Path, **kw: object) -> DiskCollector:
    for mountpoint in ("boot/firmware", "mnt/usb stick"):
        (tmp_path / "root" / mountpoint).mkdir(parents=True)
    return DiskCollector(
        interval=1.0, proc_root=str(PROC), sys_root=str(SYS),
        statvfs_root=str(tmp_path / "root"), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_pseudo_filesystems_and_bind_mounts_are_skipped(tmp_path: Path) -> None:
    c = _collector(tmp_path)
    mounts = {m.mountpoint: m for m in c.mounts()}
    # proc, sysfs, devtmpfs, tmpfs, overlay, squashfs and cgroup2 are pseudo; /srv/bind
    # is the root device mounted a second time; the octal escape is decoded
    assert sorted(mounts) == ["/", "/boot/firmware", "/mnt/usb stick"]
    assert mounts["/boot/firmware"].readonly
    assert mounts["/"].device == "/dev/mmcblk0p2"


def test_filesystem_space_and_inodes(tmp_path: Path) -> None:
    c = _collector(tmp_path)
    v = values(c.collect())
    labels = 'device="/dev/mmcblk0p1",fstype="vfat",mountpoint="/boot/firmware"'
    assert v[f"node_filesystem_size_bytes{{{labels}}}"] > 0
    assert (
        v[f"node_filesystem_size_bytes{{{labels}}}"] >= v[f"node_filesystem_free_bytes{{{labels}}}"]
    )
    assert (
        v[f"node_filesystem_free_bytes{{{labels}}}"]
        >= v[f"node_filesystem_avail_bytes{{{labels}}}"]
    )
    assert v[f"node_filesystem_readonly{{{labels}}}"] == 1.0
    assert 0.0 <= v[f"system_filesystem_usage_ratio{{{labels}}}"] <= 1.0
    assert not any('fstype="tmpfs"' in k or 'fstype="proc"' in k for k in v)


def test_io_counters_for_whole_disks_only(tmp_path: Path) -> None:
    v = values(_collector(tmp_path).collect())
    assert v['node_disk_read_bytes_total{device="sda"}'] == 2370922 * 512
    assert v['node_disk_written_bytes_total{device="mmcblk0"}'] == 480000 * 512
    assert v['node_disk_reads_completed_total{device="sda"}'] == 22057
    assert v['node_disk_io_time_seconds_total{device="mmcblk0"}'] == 12.0
    assert v['node_disk_io_now{device="mmcblk0"}'] == 2
    devices = {k.split('device="')[1].split('"')[0] for k in v if k.startswith("node_disk_")}
    assert devices == {"sda", "mmcblk0"}  # no loop0, no partitions


def test_filesystems_sampled_only_every_filesystems_interval(tmp_path: Path) -> None:
    c = _collector(tmp_path, filesystems_interval=3.0)
    has_fs = [
        any(s.key.name == "node_filesystem_size_bytes" for s in c.collect()) for _ in range(7)
    ]
    assert has_fs == [True, False, False, True, False, False, True]


def test_failed_statvfs_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = _collector(tmp_path, filesystems_interval=1.0)
    (tmp_path / "root" / "boot" / "firmware").rmdir()
    with caplog.at_level(logging.INFO, logger="edgewatch.collect.disk"):
        for _ in range(5):
            c.collect()
    lines = [r for r in caplog.records if "/boot/firmware" in r.getMessage()]
    assert len(lines) == 1


def test_real_machine_reports_root_filesystem() -> None:
    c = DiskCollector(interval=1.0)
    assert c.available() is None
    first = values(c.collect())
    second = values(c.collect())
    assert any(k.startswith("node_filesystem_size_bytes") and 'mountpoint="/"' in k for k in first)
    for key, value in first.items():
        if key.endswith("_total") or "_total{" in key:
            assert second[key] >= value, key


NETWORK_MOUNTS = """\
nas:/export/video /mnt/video nfs4 rw,relatime,vers=4.2,hard 0 0
nas:/old /mnt/old nfs rw,relatime,vers=3 0 0
//nas/share /mnt/share cifs rw,relatime 0 0
//nas/smb3 /mnt/smb3 smb3 rw,relatime 0 0
pi@host:/data /mnt/ssh fuse.sshfs rw,nosuid,nodev 0 0
share /mnt/9p 9p rw,trans=virtio 0 0
10.0.0.1:/ /mnt/ceph ceph rw,name=admin 0 0
gluster:/vol /mnt/gluster glusterfs rw 0 0
"""


def test_network_filesystems_are_skipped_by_default(tmp_path: Path, proc_copy: Path) -> None:
    mounts = proc_copy / "mounts"
    mounts.write_text(mounts.read_text() + NETWORK_MOUNTS)
    (tmp_path / "root" / "mnt" / "video").mkdir(parents=True)
    c = DiskCollector(interval=1.0, proc_root=str(proc_copy), sys_root=str(SYS),
                      statvfs_root=str(tmp_path / "root"))  # fmt: skip
    assert [m.mountpoint for m in c.mounts()] == ["/", "/boot/firmware", "/mnt/usb stick"]
    assert not any(k.startswith("node_filesystem") and "/mnt/" in k for k in values(c.collect()))
    # Asked for explicitly (an exclude list without them), they are reported.
    c = DiskCollector(interval=1.0, proc_root=str(proc_copy), sys_root=str(SYS),
                      statvfs_root=str(tmp_path / "root"), exclude_fstypes=("proc",))  # fmt: skip
    assert "/mnt/video" in [m.mountpoint for m in c.mounts()]


def test_config_default_excludes_what_the_collector_excludes() -> None:
    default = Config().collectors.disk.exclude_fstypes
    assert default == DEFAULT_EXCLUDE_FSTYPES
    assert {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "ceph"} <= set(default)
