"""One pass over ``/proc/<pid>``: the few fields the process collector needs.

Reads ``stat`` and ``io`` of every process, and ``cmdline`` plus the owner only
once per process (cached by pid, start time and name, so a reused pid is a new
process, and so is one that replaces itself with another program by ``exec``,
as ``sh -c "exec python detect.py"`` does). About a third of what psutil reads for
the same fields.
"""

from __future__ import annotations

import os
import pwd
from typing import NamedTuple

from edgewatch.collect.base import read_small, read_text

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
PF_KTHREAD = 0x00200000  # /proc/<pid>/stat flags bit of kernel threads


class ProcStat(NamedTuple):
    """One process at one scan. ``start`` is its start time in ticks after boot."""

    pid: int
    start: int
    name: str
    cmdline: str
    user: str
    cpu_ticks: int
    threads: int
    rss_bytes: int
    read_bytes: int
    write_bytes: int


# What identifies a process's command line: pid, start time, name (exec changes it).
ProcIdent = tuple[int, int, str]


class ProcScanner:
    def __init__(self, proc_root: str) -> None:
        self._proc = proc_root
        self._static: dict[ProcIdent, tuple[str, str]] = {}  # (cmdline, user)
        self._users: dict[int, str] = {}

    def uptime(self) -> float | None:
        text = read_text(os.path.join(self._proc, "uptime"))
        return float(text.split()[0]) if text else None

    def scan(self) -> list[ProcStat]:
        found: list[ProcStat] = []
        static: dict[ProcIdent, tuple[str, str]] = {}
        for entry in os.listdir(self._proc):
            if not entry.isdigit():
                continue
            proc = self.read(entry, static)
            if proc is not None:
                found.append(proc)
        self._static = static  # forget processes that are gone
        return found

    def read(self, entry: str, static: dict[ProcIdent, tuple[str, str]]) -> ProcStat | None:
        base = f"{self._proc}/{entry}"
        raw = read_small(f"{base}/stat")
        if not raw:
            return None  # exited meanwhile
        close = raw.rfind(b")")
        name = raw[raw.find(b"(") + 1 : close].decode("utf-8", "replace")
        f = raw[close + 2 :].split(b" ", 23)
        if len(f) < 22:
            return None
        if int(f[6]) & PF_KTHREAD:
            name = name.split("/", 1)[0]  # kworker/1:1-events -> kworker: one name, not hundreds
        pid, start = int(entry), int(f[19])
        ident = (pid, start, name)
        known = self._static.get(ident)
        if known is None:
            known = (self._cmdline(base), self._user(base))
        static[ident] = known
        read_bytes = write_bytes = 0
        io = read_small(f"{base}/io")  # EACCES for other users' processes unless root
        if io:
            at = io.find(b"\nread_bytes: ")
            if at >= 0:
                read_bytes = int(io[at + 13 : io.index(b"\n", at + 13)])
            at = io.find(b"\nwrite_bytes: ")
            if at >= 0:
                write_bytes = int(io[at + 14 : io.index(b"\n", at + 14)])
        return ProcStat(
            pid=pid,
            start=start,
            name=name,
            cmdline=known[0],
            user=known[1],
            cpu_ticks=int(f[11]) + int(f[12]),
            threads=int(f[17]),
            rss_bytes=int(f[21]) * PAGE_SIZE,
            read_bytes=read_bytes,
            write_bytes=write_bytes,
        )

    def _cmdline(self, base: str) -> str:
        text = read_text(f"{base}/cmdline") or ""
        return text.rstrip("\0").replace("\0", " ")

    def _user(self, base: str) -> str:
        try:
            uid = os.stat(base).st_uid
        except OSError:
            return ""
        name = self._users.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            self._users[uid] = name
        return name
