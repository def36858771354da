"""``systemd``: a unit is active and not restarting in a loop.

One ``systemctl show UNIT --property=...`` per run (an argv, never a shell). The
unit's state gives the status: ``active`` passes, ``activating``/``reloading``/
``deactivating`` warn, anything else (``failed``, ``inactive``) fails. ``NRestarts``
(systemd's count of automatic restarts) is the observed value; the check keeps the
counts it saw over the last ``restart_window`` and fails "restarting in a loop" when
the count rose by more than ``max_restarts`` within it, whatever the state of the
moment (a unit in a restart loop is ``active`` or ``activating`` most of the time).

``systemctl`` is the ``systemctl=`` argument, else ``$EDGEWATCH_SYSTEMCTL``, else
``systemctl`` found on ``PATH`` when the check runs.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil

from edgewatch.config.health import SystemdCheck
from edgewatch.health.model import CheckEnv, Observation, Status

PROPERTIES = ("LoadState", "ActiveState", "SubState", "NRestarts", "Result", "MainPID")
MAX_OUTPUT = 64 * 1024  # systemctl's answer for six properties is a few hundred bytes
_WARN_STATES = ("activating", "reloading", "deactivating")


def parse_properties(text: str) -> dict[str, str]:
    """``Key=value`` lines of ``systemctl show`` as a dict (the first block only)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if props:
                break
            continue
        key, sep, value = line.partition("=")
        if sep:
            props[key] = value
    return props


class SystemdKind:
    def __init__(
        self, settings: SystemdCheck, env: CheckEnv, *, systemctl: str | None = None
    ) -> None:
        self.settings = settings
        self.env = env
        self._systemctl = systemctl
        # (time, NRestarts) seen on the runs within restart_window, oldest first
        self._history: collections.deque[tuple[float, int]] = collections.deque()

    def _program(self) -> str | None:
        name = self._systemctl or os.environ.get("EDGEWATCH_SYSTEMCTL") or "systemctl"
        return shutil.which(name)

    async def observe(self) -> Observation:
        program = self._program()
        if program is None:
            return Observation(Status.UNKNOWN, message="systemctl not found")
        unit = self.settings.unit
        argv = [program, "show", unit, f"--property={','.join(PROPERTIES)}", "--no-pager"]
        code, out, err = await _run(argv)
        if code != 0:
            reason = err.strip().splitlines()[0] if err.strip() else f"exit status {code}"
            return Observation(Status.UNKNOWN, message=f"systemctl show {unit}: {reason[:200]}")
        return self.judge(parse_properties(out))

    def judge(self, props: dict[str, str]) -> Observation:
        """The status for one ``systemctl show`` answer, given the history of restarts."""
        unit = self.settings.unit
        if props.get("LoadState") == "not-found":
            return Observation(Status.FAIL, message=f"{unit} not found")
        active = props.get("ActiveState", "")
        if not active:
            return Observation(Status.UNKNOWN, message=f"systemctl gave no ActiveState for {unit}")
        sub = props.get("SubState", "")
        state = f"{active} ({sub})" if sub else active
        try:
            restarts: int | None = int(props.get("NRestarts", ""))
        except ValueError:
            restarts = None  # systemd before 235 has no NRestarts
        if restarts is not None:
            rose, span = self._restarts_within_window(restarts)
            if rose > self.settings.max_restarts:
                message = f"{unit} restarting in a loop: {rose} restarts in {span:.0f}s, {state}"
                return Observation(Status.FAIL, restarts, message, "count")
        value = None if restarts is None else float(restarts)
        unit_ = "" if restarts is None else "count"
        if active == "active":
            pid = props.get("MainPID", "0")
            detail = f", main PID {pid}" if pid not in ("", "0") else ""
            return Observation(Status.PASS, value, f"{unit} {state}{detail}", unit_)
        if active in _WARN_STATES:
            return Observation(Status.WARN, value, f"{unit} {state}", unit_)
        result = props.get("Result", "")
        why = f", result {result}" if result and result != "success" else ""
        return Observation(Status.FAIL, value, f"{unit} {state}{why}", unit_)

    def _restarts_within_window(self, restarts: int) -> tuple[int, float]:
        """How much NRestarts rose since the oldest run within restart_window, and over
        how long. A count that went down (the unit was restarted by hand, systemd
        reloaded) starts the history over."""
        now = self.env.clock()
        history = self._history
        if history and restarts < history[-1][1]:
            history.clear()
        history.append((now, restarts))
        horizon = now - self.settings.restart_window
        while len(history) > 1 and history[0][0] < horizon:
            history.popleft()
        then, first = history[0]
        return restarts - first, now - then


async def _run(argv: list[str]) -> tuple[int, str, str]:
    """Run ``argv``; its exit status, stdout and stderr (bounded). Killed if cancelled."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LC_ALL": "C", "SYSTEMD_PAGER": ""},
    )
    try:
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:  # cancelled at the check's timeout
            proc.kill()
            await asyncio.shield(proc.wait())
    code = proc.returncode if proc.returncode is not None else -1
    return (
        code,
        out[:MAX_OUTPUT].decode("utf-8", "replace"),
        err[:MAX_OUTPUT].decode("utf-8", "replace"),
    )
