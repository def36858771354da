"""``process``: processes whose command line matches a pattern are running, within
count bounds, and their summed CPU use and resident memory stay under limits.

The pattern is searched (not anchored) in each process's command line: its
``cmdline`` arguments joined by spaces, or its ``comm`` name for kernel threads and
zombies whose ``cmdline`` is empty. It is compiled with RE2, so a pattern costs time
linear in the command line it reads, whatever it is.

CPU use is the growth of ``utime + stime`` of the processes seen on both of two
consecutive runs, divided by the time between the runs: the first run has no CPU
figure. A pid that was reused between runs (another start time) is not counted.
The agent's own process is never matched (its command line may hold the pattern).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2

from edgewatch.config.health import ProcessCheck
from edgewatch.health.blocking import run_blocking
from edgewatch.health.model import CheckEnv, Observation, Status
from edgewatch.store.regex import MAX_PATTERN_CHARS, MAX_PATTERN_MEMORY

log = logging.getLogger(__name__)

_PATTERN_SHOWN = 60  # characters of the pattern quoted in messages


@dataclass(frozen=True)
class ProcInfo:
    """What one matching process costs: CPU ticks so far, start time, resident bytes."""

    pid: int
    ticks: int  # utime + stime, in clock ticks
    start: int  # starttime, in clock ticks after boot: tells a reused pid apart
    rss: int  # bytes


def compile_search(pattern: str) -> Any:
    """``pattern`` compiled with RE2 for ``.search``; ValueError saying why it is bad."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"regular expression longer than {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.log_errors = False  # RE2 would write to stderr; the error is raised instead
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"bad regular expression {pattern!r}: {reason}") from None


def command_line(pid_dir: Path) -> str:
    """The process's arguments joined by spaces, or its ``comm`` when it has none."""
    raw = (pid_dir / "cmdline").read_bytes()
    if raw:
        return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    return (pid_dir / "comm").read_bytes().decode("utf-8", "replace").rstrip("\n")


def read_costs(pid_dir: Path, pid: int, page_size: int) -> ProcInfo:
    stat = (pid_dir / "stat").read_bytes()
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, starttime 22.
    ticks = int(fields[11]) + int(fields[12])
    start = int(fields[19])
    resident_pages = int((pid_dir / "statm").read_bytes().split()[1])
    return ProcInfo(pid, ticks, start, resident_pages * page_size)


class ProcessKind:
    def __init__(self, settings: ProcessCheck, env: CheckEnv) -> None:
        self.settings = settings
        self.env = env
        self._pattern = compile_search(settings.match)
        self._page_size = os.sysconf("SC_PAGE_SIZE")
        self._clock_ticks = os.sysconf("SC_CLK_TCK")
        self._lock = threading.Lock()  # a run cut off at its timeout may still be reading
        self._previous: tuple[float, dict[int, ProcInfo]] | None = None
        self._warned: set[str] = set()  # pids whose files could not be read

    async def observe(self) -> Observation:
        return await run_blocking(self._observe)

    def scan(self) -> list[ProcInfo]:
        """The processes matching the pattern now (the agent's own left out)."""
        own = os.getpid()
        found: list[ProcInfo] = []
        for entry in os.scandir(self.env.proc_root):
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            pid_dir = Path(entry.path)
            try:
                if self._pattern.search(command_line(pid_dir)) is None:
                    continue
                found.append(read_costs(pid_dir, int(entry.name), self._page_size))
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited while being read: it is not running
            except PermissionError:
                continue  # hidepid: processes of other users cannot be seen
            except (OSError, ValueError, IndexError) as exc:
                if entry.name not in self._warned:  # once per pid, not on every run
                    self._warned.add(entry.name)
                    log.warning("process check %s: cannot read %s: %s", self.settings.name,
                                pid_dir, exc)  # fmt: skip
        return found

    def _cpu_ratio(self, now: float, procs: dict[int, ProcInfo]) -> float | None:
        previous = self._previous
        self._previous = (now, procs)
        if previous is None:
            return None
        then, before = previous
        elapsed = now - then
        if elapsed <= 0:
            return None
        ticks = 0
        for pid, info in procs.items():
            old = before.get(pid)
            if old is not None and old.start == info.start:
                ticks += max(0, info.ticks - old.ticks)
        return ticks / self._clock_ticks / elapsed

    def _observe(self) -> Observation:
        s = self.settings
        try:
            found = self.scan()
        except OSError as exc:
            return Observation(Status.UNKNOWN, message=f"cannot list {self.env.proc_root}: {exc}")
        with self._lock:
            cpu = self._cpu_ratio(self.env.clock(), {p.pid: p for p in found})
        count = len(found)
        shown = s.match if len(s.match) <= _PATTERN_SHOWN else s.match[:_PATTERN_SHOWN] + "…"
        what = f"{count} process{'es' if count != 1 else ''} matching {shown!r}"
        if count < s.min_count:
            return Observation(Status.FAIL, count, f"{what}, fewer than {s.min_count}", "count")
        if s.max_count is not None and count > s.max_count:
            return Observation(Status.FAIL, count, f"{what}, more than {s.max_count}", "count")
        rss = sum(p.rss for p in found)
        costs = f"RSS {_mib(rss)}" + ("" if cpu is None else f", CPU {cpu:.0%} of a core")
        if s.max_rss is not None and rss > s.max_rss:
            message = f"{what}: RSS {_mib(rss)} above {_mib(s.max_rss)}"
            return Observation(Status.WARN, count, message, "count")
        if s.max_cpu_ratio is not None and cpu is not None and cpu > s.max_cpu_ratio:
            message = f"{what}: CPU {cpu:.0%} of a core, above {s.max_cpu_ratio:.0%}"
            return Observation(Status.WARN, count, message, "count")
        return Observation(Status.PASS, count, f"{what} ({costs})", "count")


def _mib(size: float) -> str:
    return f"{size / (1 << 20):.1f} MiB"
