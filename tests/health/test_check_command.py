"""The ``command`` check with real subprocesses (argv lists, never a shell string)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from health_net_helpers import run_check

from edgewatch.health.kinds.command import parse_perfdata, verdict
from edgewatch.health.model import Status


def command(*argv: str, **settings: Any) -> dict[str, Any]:
    return {"name": "cmd", "kind": "command", "argv": list(argv), **settings}


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (0, Status.PASS, "OK - all fine"),
        (1, Status.WARN, "OK - all fine"),
        (2, Status.FAIL, "OK - all fine"),
        (3, Status.UNKNOWN, "OK - all fine"),
        (7, Status.UNKNOWN, "exit code 7: OK - all fine"),
    ],
)
def test_nagios_exit_codes(code: int, status: Status, message: str) -> None:
    result = run_check(command("sh", "-c", f"echo 'OK - all fine'; echo second line; exit {code}"))
    assert (result.status, result.message, result.value) == (status, message, None)


def test_no_output_says_the_exit_code() -> None:
    assert run_check(command("sh", "-c", "exit 2")).message == "exit code 2, no output"
    assert run_check(command("true")).status is Status.PASS


def test_stderr_is_captured_too() -> None:
    result = run_check(command("sh", "-c", "echo 'CRITICAL: disk gone' >&2; exit 2"))
    assert (result.status, result.message) == (Status.FAIL, "CRITICAL: disk gone")


def test_argv_is_never_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    result = run_check(command("echo", f"hello; touch {marker}"))
    assert result.message == f"hello; touch {marker}"
    assert not marker.exists()


def test_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWATCH_SECRET_TOKEN", "do-not-leak")
    result = run_check(command("sh", "-c", "env | sort | tr '\\n' ' '"))
    assert "EDGEWATCH_SECRET_TOKEN" not in result.message
    assert "LANG=C.UTF-8" in result.message
    assert "PATH=/usr/sbin:/usr/bin:/sbin:/bin" in result.message


def test_perfdata_gives_the_observed_value_for_thresholds() -> None:
    line = "OK - load 0.42 | load1=0.42;1;2;0; load5=0.3"
    ok = run_check(command("sh", "-c", f"echo '{line}'", fail_above=1))
    assert (ok.status, ok.value, ok.message) == (Status.PASS, 0.42, "OK - load 0.42")
    high = run_check(command("sh", "-c", "echo 'OK | load1=3.5;1;2'", fail_above=1))
    assert high.status is Status.FAIL
    assert high.message == "3.5 is above 1; OK"


def test_parse_perfdata_units() -> None:
    value, unit = parse_perfdata(" time=250ms;500;900")
    assert value == pytest.approx(0.25) and unit == "seconds"
    assert parse_perfdata("'free space'=2KB") == (2048.0, "bytes")
    assert parse_perfdata("used=87.5%;90;95") == (87.5, "percent")
    assert parse_perfdata("n=-3") == (-3.0, "")
    assert parse_perfdata("garbage") == (None, "")


def test_huge_output_is_truncated() -> None:
    big = "head -c 3000000 /dev/zero | tr '\\0' x; echo; exit 1"
    result = run_check(command("sh", "-c", big, max_output=1000))
    assert result.status is Status.WARN
    assert len(result.message) == 200 and result.message.endswith("…")


def test_output_kept_is_capped_at_max_output() -> None:
    obs = verdict(0, b"a" * 50 + b"\n")
    assert obs.message == "a" * 50
    text = "".join(f"{i:04d}" for i in range(100))
    result = run_check(command("printf", text, max_output=64))
    assert result.message == text[:64]


def test_missing_program_is_unknown() -> None:
    result = run_check(command("/nonexistent/edgewatch-probe", "--x"))
    assert result.status is Status.UNKNOWN
    assert result.message == "program not found: /nonexistent/edgewatch-probe"


def test_not_executable_is_unknown(tmp_path: Path) -> None:
    script = tmp_path / "probe.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    result = run_check(command(str(script)))
    assert result.status is Status.UNKNOWN
    assert result.message == f"program not executable: {script}"


def _gone(pid: int) -> bool:
    """The process no longer exists (or is a zombie no one has reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_timeout_kills_and_reaps_the_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The shell runs a background sleep (same process group) and then becomes sleep.
    script = f"sleep 30 & echo $! > {pids}; echo $$ >> {pids}; exec sleep 30"
    result = run_check(command("sh", "-c", script, timeout=0.5, interval=1))
    assert result.status is Status.UNKNOWN
    assert result.message == "timed out after 0.5s"
    background, leader = (int(line) for line in pids.read_text().split())
    with pytest.raises(ProcessLookupError):
        os.kill(leader, 0)  # killed and reaped by the check
    assert _gone(background)


def test_killed_by_a_signal_is_unknown() -> None:
    result = run_check(command("sh", "-c", "echo started; kill -TERM $$"))
    assert result.status is Status.UNKNOWN
    assert result.message == "killed by SIGTERM: started"
