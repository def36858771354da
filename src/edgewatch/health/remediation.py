"""Remediation: opt-in actions when a check keeps failing.

A ``Remediator`` per check (``remediate:`` in its config) is handed every result.
It counts consecutive runs whose *observed* status is fail; only a pass resets the
count (warn and unknown leave it as it is: resetting on anything but a success is
how Monit's restart loops happen). The ladder of steps, mildest first, is climbed
one step at a time: the next step not yet taken in this failure streak is due once
the count has reached its ``after_failures``, so the first action is always the
mildest one, even when failures piled up during ``grace`` or a backoff (restart at
3, a reset command at 6, reboot at 10).

A ``reboot`` step is never taken twice within ``REBOOT_GUARD`` (6 hours): neither
after one this remediator took, nor after one found by ``recent_reboot()`` (the
time of the check's last reboot, e.g. read from the audit log by
``reboots_in_audit``, so the guard holds across the reboot itself). A guarded reboot
stays due and is looked at again after the backoff; it is logged once per streak.

A due step waits while the monitor is in its start-up ``grace``, while an action is
still running, and until ``backoff`` has passed since the last action (the wait
doubles after each action and is reset by a pass). When taking it would make more
than ``max_per_hour`` actions in the last hour, the check gives up instead: no more
actions until a pass; the give-up is logged (error, once) and audited.

An action runs as its own task, never blocking the check loop: ``restart_unit`` is
``systemctl restart UNIT``, ``reboot`` is ``systemctl reboot`` (``systemctl`` is
``$EDGEWATCH_SYSTEMCTL`` or the one on ``PATH``), ``command`` its argv. Every one is
an argv (never a shell), runs with the minimal environment of the ``command`` check
in its own session, and is killed with its process group at ``timeout``. Its exit
code and the tail of its output are kept, logged at warning level and audited.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgewatch.config.health import Remediation, RemediationStep
from edgewatch.health.kinds.command import _end_group, spawn
from edgewatch.health.model import CheckResult, Status
from edgewatch.web.audit import AuditRow, read_audit

log = logging.getLogger(__name__)

SYSTEMCTL_ENV = "EDGEWATCH_SYSTEMCTL"
MAX_TAIL = 4096  # bytes of an action's output kept (its end: errors come last)
HOUR = 3600.0
REBOOT_GUARD = 6 * HOUR  # least time between two reboots of one check
DRAIN_S = 5.0  # after a kill: longest wait for the output pipe to close
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127
EXIT_TIMEOUT = 124
_CHUNK = 65_536


# Writes one audit row, blocking (``AuditLog.write``); called in a worker thread.
AuditWriter = Callable[[AuditRow], None]


def systemctl_program(name: str | None = None) -> str | None:
    """``name``, else ``$EDGEWATCH_SYSTEMCTL``, else ``systemctl``, found on ``PATH``."""
    return shutil.which(name or os.environ.get(SYSTEMCTL_ENV) or "systemctl")


@dataclass(frozen=True)
class ActionOutcome:
    """One action taken: what, when, after how many failures, and how it ended."""

    action: str
    target: str
    started_at: float
    failures: int
    exit_code: int  # 124: killed at the timeout; 126/127: could not be started
    output: str  # the tail of stdout and stderr together
    timed_out: bool = False

    @property
    def description(self) -> str:
        return f"{self.action} {self.target}".strip()


def _target(step: RemediationStep) -> str:
    if step.action == "restart_unit":
        return step.unit or ""
    if step.action == "command":
        return step.argv[0] if step.argv else ""
    return ""


class Remediator:
    """Decides and takes the remediation actions of one check."""

    def __init__(
        self,
        check: str,
        settings: Remediation,
        *,
        clock: Callable[[], float] = time.time,
        audit: AuditWriter | None = None,
        systemctl: str | None = None,
        recent_reboot: Callable[[], float | None] | None = None,
    ) -> None:
        """``recent_reboot()``: the time of this check's last reboot, or None (blocking
        is fine: it is called only when a reboot is due)."""
        self.check = check
        self._recent_reboot = recent_reboot
        self._last_reboot: float | None = None
        self._reboot_guard_logged = False
        self.settings = settings
        self._steps = sorted(settings.steps, key=lambda s: s.after_failures)
        self._clock = clock
        self._audit = audit
        self._systemctl = systemctl
        self._started = clock()
        self._failures = 0
        self._next_step = 0  # the steps before it were taken (or passed over) this streak
        self._delay = settings.backoff  # least wait after the next action
        self._next_allowed = float("-inf")
        self._last_at: float | None = None
        self._recent: collections.deque[float] = collections.deque()  # action times
        self._gave_up = False
        self._last: ActionOutcome | None = None
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    # -- deciding ----------------------------------------------------------------

    def feed(self, result: CheckResult) -> asyncio.Task[None] | None:
        """Account for one run; start the action now due, if any, as its own task (the
        task is returned, and awaited by ``settle``). Call it on the event loop."""
        step = self.decide(result.observed)
        if step is None:
            return None
        task = asyncio.get_running_loop().create_task(
            self._act(step, self._failures), name=f"remediate {self.check}"
        )
        task.add_done_callback(self._action_done)
        self._task = task
        return task

    def _action_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("health: %s: remediation action failed", self.check, exc_info=exc)

    def decide(self, observed: Status) -> RemediationStep | None:
        """Update the counters for one observed status; the step to take now, if any
        (recorded as taken)."""
        now = self._clock()
        if observed is Status.PASS:
            self._reset()
            return None
        if observed is not Status.FAIL:
            return None  # warn and unknown neither count nor reset
        self._failures += 1
        if self._gave_up or self.running:
            return None
        due = self._due()
        if due is None or now - self._started < self.settings.grace:
            return None
        if now < self._next_allowed:
            return None
        self._prune(now)
        step = self._steps[due]
        if step.action == "reboot" and self._reboot_guarded(now):
            self._next_allowed = now + self._delay  # looked at again after the backoff
            return None
        if len(self._recent) >= self.settings.max_per_hour:
            self._give_up(step, now)
            return None
        if step.action == "reboot":
            self._last_reboot = now
        self._next_step = due + 1
        self._recent.append(now)
        self._last_at = now
        self._next_allowed = now + self._delay
        self._delay *= 2
        return step

    def _due(self) -> int | None:
        """Index of the next step not taken, if the failure count has reached it."""
        if self._next_step >= len(self._steps):
            return None
        if self._steps[self._next_step].after_failures > self._failures:
            return None
        return self._next_step

    def _reboot_guarded(self, now: float) -> bool:
        """True (logged once per streak) if a reboot was taken within REBOOT_GUARD."""
        last = self._last_reboot
        if self._recent_reboot is not None:
            try:
                found = self._recent_reboot()
            except Exception:  # cannot tell: refuse to reboot, rather than risk a loop
                log.exception("health: %s: cannot look up the last reboot", self.check)
                return True
            if found is not None and (last is None or found > last):
                last = found
        if last is None or now - last >= REBOOT_GUARD:
            return False
        if not self._reboot_guard_logged:
            self._reboot_guard_logged = True
            log.error(
                "health: %s: reboot not taken: the last one was %.0f minutes ago "
                "(at most one in %.0f hours)",
                self.check,
                (now - last) / 60,
                REBOOT_GUARD / HOUR,
            )
        return True

    def _reset(self) -> None:
        self._failures = 0
        self._next_step = 0
        self._gave_up = False
        self._reboot_guard_logged = False
        self._delay = self.settings.backoff
        if self._last_at is not None:
            self._next_allowed = self._last_at + self.settings.backoff

    def _prune(self, now: float) -> None:
        while self._recent and self._recent[0] <= now - HOUR:
            self._recent.popleft()

    def _give_up(self, step: RemediationStep, now: float) -> None:
        self._gave_up = True
        log.error(
            "health: %s: giving up remediation after %d actions in the last hour "
            "(max_per_hour %d); %s not taken; no more actions until the check passes",
            self.check,
            len(self._recent),
            self.settings.max_per_hour,
            f"{step.action} {_target(step)}".strip(),
        )
        path = f"give_up {step.action} {_target(step)}".strip()
        task = asyncio.get_running_loop().create_task(self._write_audit(path, 1))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # -- acting ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _act(self, step: RemediationStep, failures: int) -> None:
        started = self._clock()
        code, output, timed_out = await self._run_step(step)
        outcome = ActionOutcome(
            step.action, _target(step), started, failures, code, output, timed_out
        )
        self._last = outcome
        last_line = next((ln for ln in reversed(output.splitlines()) if ln.strip()), "")
        how = "timed out" if timed_out else f"exit code {code}"
        log.warning(
            "health: %s failed %d times: %s: %s%s",
            self.check,
            failures,
            outcome.description,
            how,
            f": {last_line[:200]}" if last_line else "",
        )
        await self._write_audit(outcome.description, code)

    async def _run_step(self, step: RemediationStep) -> tuple[int, str, bool]:
        if step.action == "command":
            argv = list(step.argv or ())
        else:
            program = systemctl_program(self._systemctl)
            if program is None:
                return EXIT_NOT_FOUND, "systemctl not found", False
            if step.action == "reboot":
                argv = [program, "reboot"]
            else:
                argv = [program, "restart", step.unit or ""]
        return await run_action(argv, self.settings.timeout)

    async def _write_audit(self, path: str, status: int) -> None:
        if self._audit is None:
            return
        try:
            row = AuditRow(f"health:{self.check}", "remediation", "admin", "ACTION", path, status)
            await asyncio.to_thread(self._audit, row)
        except Exception:  # the audit store's fault: logged with context, the action stands
            log.exception("health: %s: cannot audit %s (status %d)", self.check, path, status)

    async def settle(self) -> None:
        """Wait for the action and audit writes in flight (tests, shutdown)."""
        pending = [t for t in (self._task, *self._writes) if t is not None]
        if pending:
            await asyncio.gather(*pending)

    async def aclose(self) -> None:
        """Stop an action in flight (its process group is killed) and pending writes."""
        pending = [t for t in (self._task, *self._writes) if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("health: %s: remediation task failed: %s", self.check, result)

    # -- reading -----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The counters for the API: plain JSON values."""
        self._prune(self._clock())
        finite = self._next_allowed != float("-inf")
        return {
            "failures": self._failures,
            "next_allowed_at": self._next_allowed if finite else None,
            "grace_until": self._started + self.settings.grace,
            "actions_in_last_hour": len(self._recent),
            "gave_up": self._gave_up,
            "running": self.running,
            "last_action": None if self._last is None else asdict(self._last),
        }


def reboots_in_audit(db_path: Path, check: str, rows: int = 1000) -> Callable[[], float | None]:
    """A ``recent_reboot`` for ``check``: the time of the newest audited ``reboot``
    action (actor ``health:CHECK``) among the last ``rows`` audit rows, or None."""

    def recent_reboot() -> float | None:
        for entry in read_audit(db_path, rows):
            if entry.actor == f"health:{check}" and entry.path.startswith("reboot"):
                return entry.ts_ms / 1000
        return None

    return recent_reboot


async def run_action(argv: list[str], timeout: float) -> tuple[int, str, bool]:
    """Run ``argv`` (minimal environment, own session); its exit code, output tail and
    whether it was killed at ``timeout`` (exit code 124 then)."""
    try:
        proc = await spawn(argv)
    except FileNotFoundError:
        return EXIT_NOT_FOUND, f"program not found: {argv[0]}", False
    except PermissionError:
        return EXIT_CANNOT_RUN, f"program not executable: {argv[0]}", False
    except OSError as exc:
        return EXIT_CANNOT_RUN, f"cannot run {argv[0]}: {exc.strerror}", False
    tail = bytearray()
    timed_out = False
    try:
        async with asyncio.timeout(timeout):
            if proc.stdout is not None:
                await _read_tail(proc.stdout, tail)
            await proc.wait()
    except TimeoutError:
        timed_out = True
    finally:
        await _finish(proc, argv[0], tail)
    code = proc.returncode if proc.returncode is not None else -1
    if timed_out:
        code = EXIT_TIMEOUT
    return code, tail.decode("utf-8", errors="replace"), timed_out


async def _finish(proc: asyncio.subprocess.Process, program: str, tail: bytearray) -> None:
    """Kill what is left of the process group and reap the process, reading the output
    meanwhile so that its pipe sees its end (a paused pipe would keep it unreaped)."""
    ender = asyncio.ensure_future(_end_group(proc))
    try:
        if proc.stdout is not None and not proc.stdout.at_eof():
            await asyncio.wait_for(_read_tail(proc.stdout, tail), DRAIN_S)
        await asyncio.wait_for(ender, DRAIN_S)
    except TimeoutError:
        log.error(
            "remediation: %s (pid %d) still holds its output open %gs after the kill "
            "(a process outside its group?)",
            program,
            proc.pid,
            DRAIN_S,
        )


async def _read_tail(stream: asyncio.StreamReader, tail: bytearray) -> None:
    """Read ``stream`` to its end, keeping its last ``MAX_TAIL`` bytes in ``tail``."""
    while chunk := await stream.read(_CHUNK):
        tail += chunk
        if len(tail) > MAX_TAIL:
            del tail[: len(tail) - MAX_TAIL]
