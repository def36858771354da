"""The ``process`` check: real processes started and killed, count bounds, RSS; CPU
use and pid reuse on a fake /proc whose counters the test moves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from health_local_helpers import Clock, observe, write_proc_entry

from edgewatch.config.health import ProcessCheck
from edgewatch.health.kinds.process import ProcessKind, command_line
from edgewatch.health.model import CheckEnv, Status


def _check(**fields: object) -> ProcessCheck:
    return ProcessCheck.model_validate({"name": "proc", **fields})


@pytest.fixture
def marker() -> str:
    return f"edgewatch-test-{uuid.uuid4().hex}"


@pytest.fixture
def sleepers(marker: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait(timeout=30)


def _start(procs: list[subprocess.Popen[bytes]], marker: str, n: int) -> None:
    for _ in range(n):
        argv = [sys.executable, "-c", "import time; time.sleep(60)", marker]
        procs.append(subprocess.Popen(argv))


def test_real_processes_are_counted_and_their_death_fails(
    marker: str, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    _start(sleepers, marker, 2)
    kind = ProcessKind(_check(match=f"time\\.sleep.* {marker}$", min_count=2, max_count=2),
                       CheckEnv())  # fmt: skip
    obs = observe(kind)
    assert (obs.status, obs.value, obs.unit) == (Status.PASS, 2, "count")
    assert "2 processes matching" in obs.message and "RSS" in obs.message
    # the second run has a CPU figure (two sleeping processes use next to none)
    assert "CPU" in observe(kind).message

    _start(sleepers, marker, 1)
    obs = observe(kind)
    assert (obs.status, obs.value) == (Status.FAIL, 3)
    assert obs.message.endswith("more than 2")

    for p in sleepers:
        p.kill()
        p.wait(timeout=30)
    obs = observe(kind)
    assert (obs.status, obs.value) == (Status.FAIL, 0)
    shown = kind.settings.match[:60] + "…"  # a long pattern is cut short in messages
    assert obs.message == f"0 processes matching {shown!r}, fewer than 2"


def test_rss_above_the_limit_warns(marker: str, sleepers: list[subprocess.Popen[bytes]]) -> None:
    _start(sleepers, marker, 1)
    obs = observe(ProcessKind(_check(match=marker, max_rss=1), CheckEnv()))
    assert obs.status is Status.WARN and obs.value == 1
    assert "RSS" in obs.message and "above 0.0 MiB" in obs.message
    obs = observe(ProcessKind(_check(match=marker, max_rss="10 GiB"), CheckEnv()))
    assert obs.status is Status.PASS


def test_the_agent_itself_never_matches() -> None:
    # a pattern made of this very process's whole command line (the agent's, here)
    own = command_line(Path(f"/proc/{os.getpid()}"))
    assert own
    obs = observe(ProcessKind(_check(match=f"^{re.escape(own)}$", min_count=0, max_count=0),
                              CheckEnv()))  # fmt: skip
    assert obs.status is Status.PASS and obs.value == 0


def test_cpu_ratio_from_tick_deltas_between_runs(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    write_proc_entry(proc, 100, ["/usr/bin/vision", "--camera", "0"], ticks=1000, start=50)
    write_proc_entry(proc, 101, ["/usr/bin/vision", "--camera", "1"], ticks=500, start=60)
    write_proc_entry(proc, 102, ["/usr/bin/other"], ticks=9999)
    clock = Clock()
    kind = ProcessKind(_check(match="vision --camera", max_cpu_ratio=0.5),
                       CheckEnv(proc_root=proc, clock=clock))  # fmt: skip
    obs = observe(kind)
    assert obs.status is Status.PASS and obs.value == 2 and "CPU" not in obs.message
    clk_tck = kind._clock_ticks
    clock.now += 10.0
    # 3 s of CPU in 10 s between the two: 30 % of a core
    write_proc_entry(proc, 100, ["/usr/bin/vision", "--camera", "0"], ticks=1000 + 2 * clk_tck,
                     start=50)  # fmt: skip
    write_proc_entry(proc, 101, ["/usr/bin/vision", "--camera", "1"], ticks=500 + clk_tck,
                     start=60)  # fmt: skip
    obs = observe(kind)
    assert obs.status is Status.PASS and "CPU 30% of a core" in obs.message
    clock.now += 10.0
    # 8 s in 10 s: above the limit of 50 %
    write_proc_entry(proc, 100, ["/usr/bin/vision", "--camera", "0"], ticks=1000 + 10 * clk_tck,
                     start=50)  # fmt: skip
    obs = observe(kind)
    assert obs.status is Status.WARN
    assert obs.message.endswith("CPU 80% of a core, above 50%")


def test_a_reused_pid_is_not_counted_as_cpu(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    write_proc_entry(proc, 100, ["vision"], ticks=100, start=50)
    clock = Clock()
    kind = ProcessKind(_check(match="vision", max_cpu_ratio=0.01),
                       CheckEnv(proc_root=proc, clock=clock))  # fmt: skip
    observe(kind)
    clock.now += 1.0
    # the process died and a new one got its pid: its ticks are not a delta
    write_proc_entry(proc, 100, ["vision"], ticks=100_000, start=9000)
    obs = observe(kind)
    assert obs.status is Status.PASS and "CPU 0% of a core" in obs.message


def test_comm_is_matched_when_cmdline_is_empty(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    write_proc_entry(proc, 7, [], comm="kworker/0:1")
    write_proc_entry(proc, 8, ["/sbin/init"])
    kind = ProcessKind(_check(match="^kworker/"), CheckEnv(proc_root=proc))
    assert observe(kind).value == 1
    # RSS: 100 pages of the machine's page size
    obs = observe(ProcessKind(_check(match="init", max_rss=1), CheckEnv(proc_root=proc)))
    assert obs.status is Status.WARN


def test_processes_vanishing_while_read_are_skipped(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    write_proc_entry(proc, 10, ["vision"])
    (proc / "11").mkdir(parents=True)  # exited: its files are gone
    (proc / "self").mkdir()
    obs = observe(ProcessKind(_check(match="vision|^$"), CheckEnv(proc_root=proc)))
    assert (obs.status, obs.value) == (Status.PASS, 1)


def test_a_bad_pattern_is_refused_at_build_time() -> None:
    with pytest.raises(ValueError, match="bad regular expression"):
        ProcessKind(_check(match="(unclosed"), CheckEnv())


def test_a_missing_proc_is_unknown(tmp_path: Path) -> None:
    obs = observe(ProcessKind(_check(match="x"), CheckEnv(proc_root=tmp_path / "none")))
    assert obs.status is Status.UNKNOWN and "cannot list" in obs.message
