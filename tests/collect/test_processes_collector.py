from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from collect_helpers import PROC, SYS, values

from edgewatch.collect.base import USER_HZ
from edgewatch.collect.processes import ProcessesCollector, ProcessInfo
from edgewatch.collect.procscan import PAGE_SIZE

VISION = {"vision": r"python.*detect", "web": r"nginx|http\.server", "absent": r"^nothing$"}


def _collector(proc: Path = PROC, **kw: object) -> ProcessesCollector:
    return ProcessesCollector(interval=15.0, proc_root=str(proc), sys_root=str(SYS),
                              **kw)  # type: ignore[arg-type]  # fmt: skip


def test_series_carry_names_and_groups_never_pids() -> None:
    c = _collector(top_n=10, groups=VISION)
    samples = list(c.collect())
    label_names = {name for s in samples for name, _ in s.key.labels}
    assert label_names == {"name", "group"}
    assert not any(s.key.name.startswith("system_process") and "pid" in str(s.key) for s in samples)
    assert {p.pid for p in c.snapshot()} == {1, 2, 9, 4242, 4243, 4300}


def test_groups_aggregate_matching_processes() -> None:
    v = values(_collector(top_n=2, groups=VISION).collect())
    assert v['system_process_group_num_procs{group="vision"}'] == 1
    assert v['system_process_group_cpu_seconds_total{group="vision"}'] == 10000 / USER_HZ
    assert v['system_process_group_resident_memory_bytes{group="vision"}'] == 60000 * PAGE_SIZE
    assert v['system_process_group_threads{group="vision"}'] == 12
    assert v['system_process_group_io_read_bytes_total{group="vision"}'] == 1048576
    assert v['system_process_group_io_write_bytes_total{group="vision"}'] == 2097152
    assert v['system_process_group_num_procs{group="web"}'] == 2  # nginx and http.server
    assert v['system_process_group_num_procs{group="absent"}'] == 0  # always present, for alerts


def test_snapshot_is_top_n_by_cpu_and_memory() -> None:
    c = _collector(top_n=1)
    assert c.snapshot() == []
    c.collect()
    snap = c.snapshot()
    assert [p.pid for p in snap] == [4242]
    top = snap[0]
    assert isinstance(top, ProcessInfo)
    assert top.name == "python3"
    assert top.cmdline == "python3 /opt/vision/detect.py --camera /dev/video0"
    assert top.threads == 12
    assert top.rss_bytes == 60000 * PAGE_SIZE
    assert top.io_write_bytes == 2097152
    assert top.user  # owner of the fixture directory
    # first scan: average over the process's life (100 s of CPU in 357.47 s)
    assert abs(top.cpu_ratio - 100 / (3357.47 - 3000)) < 1e-9


def test_names_are_capped_and_the_rest_folds_into_other() -> None:
    c = _collector(top_n=10, max_names=2)
    v = values(c.collect())
    names = {k.split('name="')[1].split('"')[0] for k in v if 'name="' in k}
    assert len(names) == 3 and "other" in names
    assert sum(val for k, val in v.items() if k.startswith("system_process_num_procs{")) == 6


def test_kernel_worker_names_are_folded() -> None:
    c = _collector(top_n=10)
    c.collect()
    assert "kworker" in {p.name for p in c.snapshot()}


def test_counters_survive_a_process_exiting(proc_copy: Path) -> None:
    c = _collector(proc_copy, top_n=10, groups=VISION)
    before = values(c.collect())
    shutil.rmtree(proc_copy / "4243")  # the http.server exits
    stat = proc_copy / "4242" / "stat"
    stat.write_text(stat.read_text().replace(" 9000 1000 ", " 9500 1000 "))  # +5 s of CPU
    (proc_copy / "uptime").write_text("3372.47 6646.36\n")
    after = values(c.collect())
    for key, value in before.items():
        if "_total{" in key:
            assert after[key] >= value, key
    cpu = 'system_process_cpu_seconds_total{name="python3"}'
    assert after[cpu] - before[cpu] == 500 / USER_HZ
    assert after['system_process_num_procs{name="python3"}'] == 1
    top = c.snapshot()[0]
    assert top.pid == 4242 and abs(top.cpu_ratio - 5 / 15) < 1e-9  # from the delta


def test_real_machine_scan_with_a_group(tmp_path: Path) -> None:
    marker = tmp_path / "edgewatch-test-marker"
    marker.write_text("")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", str(marker)])
    try:
        c = ProcessesCollector(interval=15.0, top_n=5, max_names=3,
                               groups={"marker": str(marker)})  # fmt: skip
        assert c.available() is None
        first = values(c.collect())
        second = values(c.collect())
        assert second['system_process_group_num_procs{group="marker"}'] == 1
        names = {k.split('name="')[1].split('"')[0] for k in second if 'name="' in k}
        assert len(names) <= 4  # max_names plus "other"
        snapshot = c.snapshot()
        assert 1 <= len(snapshot) <= 10  # top 5 by CPU plus top 5 by memory
        assert all(p.pid > 0 and p.rss_bytes >= 0 and p.cpu_ratio >= 0 for p in snapshot)
        for key, value in first.items():
            if "_total{" in key:
                assert second[key] >= value, key
    finally:
        child.kill()
        child.wait()


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _wait_comm(pid: int, wanted: Callable[[str], bool]) -> None:
    deadline = time.monotonic() + 20
    while not wanted(_comm(pid)):
        assert time.monotonic() < deadline, f"process {pid} is still {_comm(pid)!r}"
        time.sleep(0.01)


def test_process_that_execs_in_place_is_matched_under_its_new_command_line() -> None:
    marker = f"detect-{uuid.uuid4().hex}.py"
    # sh reads the command to exec from stdin, so its own command line does not match.
    child = subprocess.Popen(["sh", "-c", "read cmd; exec $cmd"], stdin=subprocess.PIPE)
    assert child.stdin is not None
    try:
        _wait_comm(child.pid, lambda comm: comm == "sh")
        c = ProcessesCollector(interval=15.0, top_n=0, groups={"vision": f"python.*{marker}"})
        group = 'system_process_group_num_procs{group="vision"}'
        assert values(c.collect())[group] == 0
        command = f"{sys.executable} -c exec(input()) {marker}\nimport sys; sys.stdin.read()\n"
        child.stdin.write(command.encode())
        child.stdin.flush()
        _wait_comm(child.pid, lambda comm: comm.startswith("python"))
        assert values(c.collect())[group] == 1  # same pid and start time, new program
    finally:
        child.stdin.close()  # the python reading stdin exits
        try:
            child.wait(timeout=10)
        finally:
            child.kill()
            child.wait()
