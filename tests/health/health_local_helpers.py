"""Helpers of the check kind tests for local targets (processes, units, disks, USB,
cameras); imported by name: tests/health is on sys.path."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgewatch.health.model import Observation

FIXTURES = Path(__file__).parent / "fixtures"
FAKE_SYS = FIXTURES / "sys"
FAKE_BIN = FIXTURES / "bin"  # a fake systemctl


class Clock:
    """Wall clock the test moves by hand (seconds, like time.time)."""

    def __init__(self, now: float = 1_767_225_600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def observe(kind: Any) -> Observation:
    """One run of a check kind, on a fresh event loop."""
    result: Observation = asyncio.run(kind.observe())
    return result


def write_pnm(path: Path, pixels: np.ndarray, *, mtime: float | None = None) -> None:
    """A binary PGM (2-D array) or PPM (H x W x 3), 8 or 16 bit by dtype, written
    atomically as a pipeline would (a new inode each time), with the given mtime."""
    height, width = pixels.shape[:2]
    magic = b"P6" if pixels.ndim == 3 else b"P5"
    maxval = 65535 if pixels.dtype == np.uint16 else 255
    data = pixels.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    header = magic + b"\n# written by a test\n" + f"{width} {height}\n{maxval}\n".encode()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(header + data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def write_proc_entry(
    proc: Path, pid: int, cmdline: list[str], *, comm: str = "", ticks: int = 0,
    start: int = 1000, rss_pages: int = 100,
) -> None:  # fmt: skip
    """A /proc/PID directory with cmdline, comm, stat and statm as the kernel writes them
    (utime holds ``ticks``, stime 0)."""
    d = proc / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    d.joinpath("cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in cmdline))
    name = comm or (Path(cmdline[0]).name[:15] if cmdline else "kworker/0:1")
    d.joinpath("comm").write_text(name + "\n")
    fields = ["S", "1", str(pid), str(pid), "0", "-1", "4194560", "100", "0", "0", "0",
              str(ticks), "0", "0", "0", "20", "0", "1", "0", str(start), "10000000",
              str(rss_pages)]  # fmt: skip
    d.joinpath("stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")
    d.joinpath("statm").write_text(f"2500 {rss_pages} 300 10 0 200 0\n")
