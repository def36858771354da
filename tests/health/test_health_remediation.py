"""Remediation driven through the monitor: a file check made to fail and pass by
deleting and creating its file, a fake ``systemctl`` (a script that appends its
arguments to a file), real action subprocesses and a clock moved by hand."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shlex
import shutil
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from health_local_helpers import Clock

from edgewatch.config.health import HealthConfig
from edgewatch.health.model import CheckEnv, Status
from edgewatch.health.runner import HealthMonitor
from edgewatch.store.store import Store
from edgewatch.web.audit import AuditLog, AuditRow, read_audit

SH = shutil.which("sh") or "/bin/sh"


class Audits:
    """An audit writer keeping its rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def __call__(self, row: AuditRow) -> None:
        self.rows.append(asdict(row))

    @property
    def paths(self) -> list[str]:
        return [r["path"] for r in self.rows]


class Rig:
    """A monitor over one file check ``app`` (at ``flag``) with ``remediate``."""

    def __init__(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        audit: Any = None,
        clock: Clock | None = None,
        **remediate: Any,
    ) -> None:
        self.calls = tmp_path / "systemctl-calls"
        fake = tmp_path / "systemctl"
        fake.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(self.calls))}\necho "did $*"\n')
        fake.chmod(0o755)
        monkeypatch.setenv("EDGEWATCH_SYSTEMCTL", str(fake))
        self.flag = tmp_path / "flag"
        self.clock = clock or Clock(1_000_000.0)
        settings = {"grace": 0, "backoff": 1, "max_per_hour": 60, "timeout": 5, **remediate}
        check = {"kind": "file", "name": "app", "path": str(self.flag), "remediate": settings}
        config = HealthConfig.model_validate({"checks": [check]})
        self.audit = audit if audit is not None else Audits()
        self.monitor = HealthMonitor(config, CheckEnv(clock=self.clock), audit=self.audit)

    async def run(self, up: bool, *, then: float = 10.0) -> Status:
        """One run with the file present (pass) or not (fail), its action awaited, then
        the clock moved on by ``then`` seconds."""
        if up:
            self.flag.write_text("up")
        else:
            self.flag.unlink(missing_ok=True)
        result = await self.monitor.run_once("app")
        await self.monitor.settle()
        self.clock.now += then
        return result.observed

    async def fail(self, times: int, *, then: float = 10.0) -> None:
        for _ in range(times):
            assert await self.run(False, then=then) is Status.FAIL

    def systemctl_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def state(self) -> dict[str, Any]:
        return self.monitor.remediation()["app"]


def drive(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def restart(unit: str = "app.service", after: int = 3) -> dict[str, Any]:
    return {"action": "restart_unit", "unit": unit, "after_failures": after}


def test_restart_after_three_failures_once_per_streak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, monkeypatch, steps=[restart()])

    async def body() -> None:
        await rig.fail(2)
        assert rig.systemctl_calls() == []
        await rig.fail(1)
        assert rig.systemctl_calls() == ["restart app.service"]
        last = rig.state()["last_action"]
        assert (last["action"], last["target"], last["exit_code"]) == (
            "restart_unit",
            "app.service",
            0,
        )
        assert last["failures"] == 3 and last["output"] == "did restart app.service\n"
        await rig.fail(5)  # the step is taken at most once per failure streak
        assert rig.systemctl_calls() == ["restart app.service"]
        assert rig.state()["failures"] == 8

    drive(body)
    assert rig.audit.paths == ["restart_unit app.service"]


def test_no_action_during_the_start_up_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, monkeypatch, steps=[restart()], grace=60)

    async def body() -> None:
        await rig.fail(6)  # t = 0 .. 50 s after the start: within the grace
        assert rig.systemctl_calls() == []
        assert rig.state()["failures"] == 6
        await rig.fail(1)  # t = 60 s: the grace is over and the step is due
        assert rig.systemctl_calls() == ["restart app.service"]

    drive(body)


def test_backoff_doubles_between_actions_and_a_pass_resets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each step is due soon after the one before it, and waits for the backoff
    steps = [restart(f"u{i}.service", after=n) for i, n in enumerate((1, 2, 12, 32), 1)]
    rig = Rig(tmp_path, monkeypatch, steps=steps, backoff=100)

    async def body() -> None:
        taken: list[float] = []
        for _ in range(100):  # a run every 10 s until all four steps were taken
            await rig.run(False, then=0)
            last = rig.state()["last_action"]
            if last is not None and (not taken or last["started_at"] != taken[-1]):
                taken.append(last["started_at"])
            rig.clock.now += 10
            if len(taken) == 4:
                break
        assert [b - a for a, b in itertools.pairwise(taken)] == [100, 200, 400]
        assert rig.state()["last_action"]["failures"] == 71  # due at 32, waited until 71
        assert rig.systemctl_calls() == [f"restart u{i}.service" for i in range(1, 5)]
        assert rig.state()["next_allowed_at"] == taken[-1] + 800
        await rig.run(True)  # a pass: the wait is back to backoff after the last action
        assert rig.state()["next_allowed_at"] == taken[-1] + 100
        assert rig.state()["failures"] == 0

    drive(body)


def test_the_ladder_climbs_to_the_command_then_reboot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "reset-ran"
    reset = [SH, "-c", f"echo reset >> {shlex.quote(str(marker))}; echo 'reset done'"]
    steps = [
        {"action": "reboot", "after_failures": 10},  # listed out of order on purpose
        restart(),
        {"action": "command", "argv": reset, "after_failures": 6},
    ]
    rig = Rig(tmp_path, monkeypatch, steps=steps)

    async def body() -> None:
        await rig.fail(5)
        assert rig.systemctl_calls() == ["restart app.service"] and not marker.exists()
        await rig.fail(1)
        assert marker.read_text() == "reset\n"
        last = rig.state()["last_action"]
        assert (last["action"], last["failures"], last["output"]) == ("command", 6, "reset done\n")
        await rig.fail(3)
        assert rig.systemctl_calls() == ["restart app.service"]
        await rig.fail(1)
        assert rig.systemctl_calls() == ["restart app.service", "reboot"]

    drive(body)
    assert rig.audit.paths == ["restart_unit app.service", f"command {SH}", "reboot"]
    assert [r["status"] for r in rig.audit.rows] == [0, 0, 0]


def test_budget_exhausted_gives_up_until_a_pass_and_audits_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, monkeypatch, steps=[restart(after=1)], max_per_hour=2)

    async def body() -> None:
        for _ in range(2):  # two streaks, one restart each: the budget is spent
            await rig.fail(1)
            await rig.run(True)
        assert len(rig.systemctl_calls()) == 2
        with caplog.at_level(logging.ERROR, logger="edgewatch.health.remediation"):
            await rig.fail(4)
        assert len(rig.systemctl_calls()) == 2
        gave_up = [r for r in caplog.records if "giving up" in r.getMessage()]
        assert len(gave_up) == 1, "logged once"
        assert "app: giving up remediation after 2 actions in the last hour" in (
            gave_up[0].getMessage()
        )
        state = rig.state()
        assert state["gave_up"] and state["actions_in_last_hour"] == 2
        await rig.run(True)  # a pass ends the give-up...
        assert not rig.state()["gave_up"]
        rig.clock.now += 3600  # ... and an hour later the budget is free again
        await rig.fail(1)
        assert len(rig.systemctl_calls()) == 3
        assert rig.state()["actions_in_last_hour"] == 1

    drive(body)
    assert rig.audit.paths == [
        "restart_unit app.service",
        "restart_unit app.service",
        "give_up restart_unit app.service",
        "restart_unit app.service",
    ]
    assert rig.audit.rows[2]["status"] == 1


def test_a_pass_resets_the_failure_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig(tmp_path, monkeypatch, steps=[restart()])

    async def body() -> None:
        await rig.fail(2)
        await rig.run(True)
        assert rig.state()["failures"] == 0
        await rig.fail(2)
        assert rig.systemctl_calls() == []
        await rig.fail(1)
        assert rig.systemctl_calls() == ["restart app.service"]

    drive(body)


def test_warn_and_unknown_neither_count_nor_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"  # the command check exits with the code written here
    calls = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(calls))}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("EDGEWATCH_SYSTEMCTL", str(fake))
    check = {
        "kind": "command",
        "name": "job",
        "argv": [SH, "-c", f"exit $(cat {shlex.quote(str(code))})"],
        "remediate": {"steps": [restart()], "grace": 0, "backoff": 1},
    }
    monitor = HealthMonitor(HealthConfig.model_validate({"checks": [check]}), CheckEnv())

    async def body() -> list[Status]:
        seen = []
        for exit_code in (2, 1, 3, 2, 1, 3):  # fail warn unknown fail warn unknown
            code.write_text(str(exit_code))
            seen.append((await monitor.run_once("job")).observed)
            await monitor.settle()
        assert monitor.remediation()["job"]["failures"] == 2
        assert not calls.exists()
        code.write_text("2")
        await monitor.run_once("job")  # the third failure, despite the runs between
        await monitor.settle()
        return seen

    seen = asyncio.run(body())
    assert seen == [Status.FAIL, Status.WARN, Status.UNKNOWN] * 2
    assert calls.read_text() == "restart app.service\n"


def _dead(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_an_action_that_hangs_is_killed_with_its_group_at_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    script = tmp_path / "hang.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{child.pid}}\\n')\n"
        "print('resetting', flush=True)\n"
        "time.sleep(60)\n"
    )
    step = {"action": "command", "argv": [sys.executable, str(script)], "after_failures": 1}
    rig = Rig(tmp_path, monkeypatch, steps=[step], timeout=1)

    async def body() -> None:
        await rig.fail(1)

    drive(body)
    last = rig.state()["last_action"]
    assert last["timed_out"] and last["exit_code"] == 124
    assert last["output"] == "resetting\n"
    assert _dead(int(pids.read_text()))
    assert rig.audit.rows[0]["status"] == 124


def test_an_action_runs_beside_the_check_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = tmp_path / "go"
    wait = [SH, "-c", f"while [ ! -e {shlex.quote(str(go))} ]; do sleep 0.05; done; echo went"]
    step = {"action": "command", "argv": wait, "after_failures": 1}
    rig = Rig(tmp_path, monkeypatch, steps=[step, restart(after=2)], timeout=30)

    async def body() -> None:
        rig.flag.unlink(missing_ok=True)
        await rig.monitor.run_once("app")  # starts the action and returns
        assert rig.state()["running"] and rig.state()["last_action"] is None
        await rig.monitor.run_once("app")  # no second action while one runs
        assert rig.state()["failures"] == 2
        go.touch()
        await rig.monitor.settle()
        assert rig.state()["last_action"]["output"] == "went\n"
        assert not rig.state()["running"]

    drive(body)
    assert rig.systemctl_calls() == []


def test_systemctl_missing_or_failing_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, monkeypatch, steps=[restart(after=1), restart("b.service", after=2)])
    failing = tmp_path / "failing-systemctl"
    failing.write_text(
        "#!/bin/sh\necho 'Failed to restart b.service: Unit not found.' >&2\nexit 5\n"
    )
    failing.chmod(0o755)

    async def body() -> None:
        monkeypatch.setenv("EDGEWATCH_SYSTEMCTL", str(tmp_path / "no-such-systemctl"))
        await rig.fail(1)
        assert rig.state()["last_action"]["exit_code"] == 127
        assert rig.state()["last_action"]["output"] == "systemctl not found"
        monkeypatch.setenv("EDGEWATCH_SYSTEMCTL", str(failing))
        await rig.fail(1)
        assert rig.state()["last_action"]["exit_code"] == 5
        assert "Unit not found" in rig.state()["last_action"]["output"]

    drive(body)
    assert [(r["path"], r["status"]) for r in rig.audit.rows] == [
        ("restart_unit app.service", 127),
        ("restart_unit b.service", 5),
    ]


def test_audit_rows_land_in_the_store_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    store = Store.open(data)
    store.start()
    try:
        clock = Clock(1_000_000.0)
        audit = AuditLog(data, clock=clock)
        rig = Rig(
            tmp_path, monkeypatch, audit=audit.write, clock=clock, steps=[restart()], max_per_hour=1
        )

        async def body() -> None:
            await rig.fail(3)
            await rig.run(True)
            await rig.fail(3)  # the budget (1 an hour) is spent: gives up

        drive(body)
    finally:
        store.close()
    rows = read_audit(data)
    assert [(r.path, r.status) for r in rows] == [
        ("give_up restart_unit app.service", 1),
        ("restart_unit app.service", 0),
    ]
    newest = rows[0]
    assert (newest.actor, newest.via, newest.role, newest.method, newest.client) == (
        "health:app",
        "remediation",
        "admin",
        "ACTION",
        None,
    )
    assert rows[1].ts_ms == 1_000_020_000  # the third failure, 20 s after the start


def _ladder(**extra: Any) -> Any:
    from edgewatch.config.health import Remediation

    steps = [
        {"action": "restart_unit", "unit": "vision.service", "after_failures": 3},
        {"action": "reboot", "after_failures": 10},
    ]
    return Remediation.model_validate(
        {"grace": 120, "backoff": 60, "max_per_hour": 5, "steps": steps, **extra}
    )


def test_failures_piled_up_in_grace_take_the_mildest_step_first() -> None:
    from edgewatch.health.remediation import Remediator

    clock = Clock(0.0)
    remediator = Remediator("cam", _ladder(), clock=clock)
    taken = []
    for i in range(20):  # failing every 10 s since boot
        clock.now = i * 10.0
        if (step := remediator.decide(Status.FAIL)) is not None:
            taken.append((clock.now, step.action))
    assert taken == [(120.0, "restart_unit"), (180.0, "reboot")]


def test_no_second_reboot_within_six_hours_of_an_audited_one(tmp_path: Path) -> None:
    from edgewatch.health.remediation import Remediator, reboots_in_audit

    clock = Clock(100_000.0)
    store = Store.open(tmp_path)
    store.start()
    try:
        audit = AuditLog(tmp_path, clock=clock)

        def row(actor: str, path: str) -> AuditRow:
            return AuditRow(actor, "remediation", "admin", "ACTION", path, 0)

        audit.write(row("health:other", "reboot"))
        clock.now = 50_000.0  # an older one of this check's, before the other's
        audit.write(row("health:cam", "restart_unit x"))
        clock.now = 100_000.0
        audit.write(row("health:cam", "reboot"))
    finally:
        store.close()
    remediator = Remediator(
        "cam", _ladder(grace=0), clock=clock, recent_reboot=reboots_in_audit(tmp_path, "cam")
    )
    actions = []
    for _ in range(30):  # failing every 10 s after the reboot
        clock.now += 10.0
        if (step := remediator.decide(Status.FAIL)) is not None:
            actions.append(step.action)
    assert actions == ["restart_unit"]
    clock.now = 100_000.0 + 6 * 3600.0 + 1  # the guard's six hours are over
    step = remediator.decide(Status.FAIL)
    assert step is not None and step.action == "reboot"


def test_no_remediation_nor_counting_in_a_maintenance_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "missing"
    steps = [{"action": "restart_unit", "unit": "app.service", "after_failures": 1}]
    remediate = {"steps": steps, "grace": 0, "backoff": 1}
    check = {"kind": "file", "name": "app", "path": str(flag), "remediate": remediate}
    window = [True]
    monitor = HealthMonitor(
        HealthConfig.model_validate({"checks": [check]}),
        CheckEnv(),
        maintenance=lambda now: window[0],
    )

    async def main() -> list[object]:
        counts: list[object] = []
        for _ in range(3):
            await monitor.run_once("app")
            counts.append(monitor.remediation()["app"]["failures"])
        window[0] = False
        await monitor.run_once("app")
        counts.append(monitor.remediation()["app"]["failures"])
        await monitor.settle()
        return counts

    monkeypatch.setenv("EDGEWATCH_SYSTEMCTL", "/nonexistent/systemctl")
    assert asyncio.run(main()) == [0, 0, 0, 1]
    last = monitor.remediation()["app"]["last_action"]
    assert isinstance(last, dict) and last["action"] == "restart_unit"
