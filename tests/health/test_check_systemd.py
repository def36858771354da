"""The ``systemd`` check against a fake ``systemctl`` (a real subprocess whose answer
the test writes to a file): states, the restart loop, a missing systemctl."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from health_local_helpers import FAKE_BIN, Clock, observe

from edgewatch.config.health import SystemdCheck
from edgewatch.health.kinds.systemd import SystemdKind, parse_properties
from edgewatch.health.model import CheckEnv, Status

UNIT = "rvm-vision.service"


@pytest.fixture
def answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the fake systemctl prints; the fake is first on PATH."""
    out = tmp_path / "show.txt"
    monkeypatch.setenv("FAKE_SYSTEMCTL_OUTPUT", str(out))
    monkeypatch.setenv("FAKE_SYSTEMCTL_ARGS", str(tmp_path / "args.txt"))
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:{Path('/bin')}")
    monkeypatch.delenv("EDGEWATCH_SYSTEMCTL", raising=False)
    return out


def _show(path: Path, active: str, sub: str, restarts: int = 0, *, result: str = "success",
          pid: int = 4242, load: str = "loaded") -> None:  # fmt: skip
    path.write_text(
        f"MainPID={pid}\nNRestarts={restarts}\nResult={result}\nLoadState={load}\n"
        f"ActiveState={active}\nSubState={sub}\n"
    )


def _kind(clock: Clock | None = None, **fields: object) -> SystemdKind:
    settings = SystemdCheck.model_validate({"name": "vision", "unit": UNIT, **fields})
    return SystemdKind(settings, CheckEnv(clock=clock or Clock()))


def test_active_unit_passes_and_systemctl_gets_an_argv(answer: Path) -> None:
    _show(answer, "active", "running", 2)
    obs = observe(_kind())
    assert (obs.status, obs.value, obs.unit) == (Status.PASS, 2, "count")
    assert obs.message == f"{UNIT} active (running), main PID 4242"
    args = (answer.parent / "args.txt").read_text().splitlines()
    assert args[:2] == ["show", UNIT]
    assert "--property=LoadState,ActiveState,SubState,NRestarts,Result,MainPID" in args


@pytest.mark.parametrize(
    ("active", "sub", "status"),
    [
        ("activating", "auto-restart", Status.WARN),
        ("reloading", "reload", Status.WARN),
        ("failed", "failed", Status.FAIL),
        ("inactive", "dead", Status.FAIL),
    ],
)
def test_states_map_to_statuses(answer: Path, active: str, sub: str, status: Status) -> None:
    _show(answer, active, sub, result="exit-code" if active == "failed" else "success")
    obs = observe(_kind())
    assert obs.status is status
    assert obs.message.startswith(f"{UNIT} {active} ({sub})")
    if active == "failed":
        assert obs.message.endswith("result exit-code")


def test_unknown_unit_fails(answer: Path) -> None:
    _show(answer, "inactive", "dead", pid=0, load="not-found")
    obs = observe(_kind())
    assert obs.status is Status.FAIL and obs.message == f"{UNIT} not found"


def test_restart_loop_fails_even_while_active(answer: Path) -> None:
    clock = Clock()
    kind = _kind(clock, max_restarts=3, restart_window="10m")
    seen = []
    for restarts in (5, 6, 7, 8, 9):  # one restart a minute
        _show(answer, "active", "running", restarts)
        seen.append(observe(kind).status)
        clock.now += 60
    # 9 - 5 = 4 restarts within 4 minutes: more than 3
    assert seen == [Status.PASS] * 4 + [Status.FAIL]
    _show(answer, "active", "running", 9)
    obs = observe(kind)
    assert obs.status is Status.FAIL and obs.value == 9
    assert obs.message.startswith(f"{UNIT} restarting in a loop: 4 restarts in 300s")

    # no more restarts: once the window has passed them, it passes again
    statuses = []
    for _ in range(12):
        clock.now += 60
        statuses.append(observe(kind).status)
    assert statuses[-1] is Status.PASS and Status.FAIL in statuses


def test_slow_restarts_outside_the_window_pass(answer: Path) -> None:
    clock = Clock()
    kind = _kind(clock, max_restarts=1, restart_window="5m")
    for restarts in range(6):  # one restart every 10 minutes: never a loop
        _show(answer, "active", "running", restarts)
        assert observe(kind).status is Status.PASS
        clock.now += 600


def test_counter_reset_starts_the_history_over(answer: Path) -> None:
    clock = Clock()
    kind = _kind(clock, max_restarts=2)
    for restarts in (10, 12, 0, 1, 2):  # restarted by hand after 12: NRestarts is 0
        _show(answer, "active", "running", restarts)
        assert observe(kind).status is Status.PASS
        clock.now += 30


def test_systemctl_failure_is_unknown_with_its_message(
    answer: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SYSTEMCTL_EXIT", "1")
    obs = observe(_kind())
    assert obs.status is Status.UNKNOWN
    reason = "Failed to connect to bus: No such file or directory"
    assert obs.message == f"systemctl show {UNIT}: {reason}"


def test_missing_systemctl_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemctl there
    monkeypatch.delenv("EDGEWATCH_SYSTEMCTL", raising=False)
    obs = observe(_kind())
    assert obs.status is Status.UNKNOWN and obs.message == "systemctl not found"
    monkeypatch.setenv("EDGEWATCH_SYSTEMCTL", str(tmp_path / "nope"))
    assert observe(_kind()).message == "systemctl not found"


def test_systemctl_from_env_var_or_argument(
    answer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _show(answer, "active", "running")
    monkeypatch.setenv("PATH", str(tmp_path))  # not found on PATH any more
    monkeypatch.setenv("EDGEWATCH_SYSTEMCTL", str(FAKE_BIN / "systemctl"))
    assert observe(_kind()).status is Status.PASS
    monkeypatch.delenv("EDGEWATCH_SYSTEMCTL")
    settings = SystemdCheck.model_validate({"name": "vision", "unit": UNIT})
    kind = SystemdKind(settings, CheckEnv(), systemctl=str(FAKE_BIN / "systemctl"))
    assert observe(kind).status is Status.PASS


def test_a_hanging_systemctl_is_killed_when_the_check_times_out(
    answer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(answer)  # nobody writes to it: the fake systemctl blocks reading it
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("FAKE_SYSTEMCTL_PID", str(pid_file))
    kind = _kind()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(kind.observe(), 0.5)

    asyncio.run(main())
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left behind
        os.kill(pid, 0)


def test_parse_properties_reads_the_first_block() -> None:
    text = "\nActiveState=active\nExecStart={ path=/a=b }\n\nActiveState=failed\n"
    assert parse_properties(text) == {"ActiveState": "active", "ExecStart": "{ path=/a=b }"}
