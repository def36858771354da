"""``command``: run an argv list (never a shell) and read its Nagios exit code.

0 pass, 1 warn, 2 fail, 3 (or anything else) unknown. The command runs with a
minimal environment, no stdin, in its own session so that at the check's timeout
its whole process group is killed and reaped. Output (stdout and stderr together)
is kept up to ``max_output`` bytes; the message is its first line, and Nagios
performance data on that line (``text | label=value[unit];warn;crit``) gives the
observed value (its first metric; ``ms``/``us`` become seconds, ``KB``… bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Sequence

from edgewatch.config.health import CommandCheck
from edgewatch.health.model import CheckEnv, Observation, Status

ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
MAX_LINE = 200  # characters of the first output line kept in the message
_CHUNK = 65_536
_STATUSES = {0: Status.PASS, 1: Status.WARN, 2: Status.FAIL, 3: Status.UNKNOWN}

_PERF_RE = re.compile(r"^\s*(?:'[^']*'|[^=\s]+)=([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)([A-Za-z%]*)")
_UNITS: dict[str, tuple[float, str]] = {
    "s": (1.0, "seconds"),
    "ms": (1e-3, "seconds"),
    "us": (1e-6, "seconds"),
    "B": (1.0, "bytes"),
    "KB": (1024.0, "bytes"),
    "MB": (1024.0**2, "bytes"),
    "GB": (1024.0**3, "bytes"),
    "TB": (1024.0**4, "bytes"),
    "%": (1.0, "percent"),
    "c": (1.0, "count"),
}


async def spawn(argv: Sequence[str]) -> asyncio.subprocess.Process:
    """Start ``argv`` the way every command edgewatch runs is started: no shell, the
    minimal environment, stdin closed, output merged into one pipe, its own session
    (so a timeout kills the whole process group)."""
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=ENV,
        start_new_session=True,
    )


class CommandKind:
    def __init__(self, settings: CommandCheck, env: CheckEnv) -> None:
        self.settings = settings

    async def observe(self) -> Observation:
        argv = self.settings.argv
        try:
            proc = await spawn(argv)
        except FileNotFoundError:
            return Observation(Status.UNKNOWN, message=f"program not found: {argv[0]}")
        except PermissionError:
            return Observation(Status.UNKNOWN, message=f"program not executable: {argv[0]}")
        except OSError as exc:
            return Observation(Status.UNKNOWN, message=f"cannot run {argv[0]}: {exc.strerror}")
        try:
            assert proc.stdout is not None  # PIPE was asked for
            output = await read_capped(proc.stdout, self.settings.max_output)
            code = await proc.wait()
        finally:
            await _end_group(proc)
        return verdict(code, output)


async def read_capped(stream: asyncio.StreamReader, cap: int) -> bytes:
    """The stream's first ``cap`` bytes; the rest is read and dropped (the writer never
    blocks on a full pipe) until end of file."""
    kept = bytearray()
    while chunk := await stream.read(_CHUNK):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return bytes(kept)


async def _end_group(proc: asyncio.subprocess.Process) -> None:
    """Kill what is left of the command's process group and reap the command.

    Safe after a normal exit too: while any member lives the group id cannot be
    reused, and an empty group answers ProcessLookupError."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode is None:
        await asyncio.shield(proc.wait())


def verdict(code: int, output: bytes) -> Observation:
    """The observation for an exit ``code`` and the captured ``output``."""
    text = output.decode("utf-8", errors="replace")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    summary, _, perfdata = first.partition("|")
    summary = summary.strip()
    value, unit = parse_perfdata(perfdata) if perfdata else (None, "")
    if code < 0:
        status = Status.UNKNOWN
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        reason = f"killed by {name}"
    else:
        status = _STATUSES.get(code, Status.UNKNOWN)
        reason = f"exit code {code}" if code not in _STATUSES else ""
    message = summary or (reason or f"exit code {code}, no output")
    if reason and summary:
        message = f"{reason}: {summary}"
    if len(message) > MAX_LINE:
        message = message[: MAX_LINE - 1] + "…"
    return Observation(status, value, message, unit)


def parse_perfdata(perfdata: str) -> tuple[float | None, str]:
    """The first metric's value and unit from Nagios performance data, or (None, "")."""
    match = _PERF_RE.match(perfdata)
    if match is None:
        return None, ""
    number = float(match[1])
    scale, unit = _UNITS.get(match[2], (1.0, ""))
    return number * scale, unit
